"""Blessing a failed run's output (include.blessing): the expected file replaced atomically, the old one kept as a
numbered version that is never overwritten, one audit record per replaced file; and every refusal leaves the
files as they were. The review step's wiring and its run-time choices (include.review) are checked on the DAG.
The whole flow in the UI is tests/test_browser.py's."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from include import blessing, history
from include.blessing import BlessingError
from include.contract import CPU_MEM_HEADER, CPU_MEM_NUMERIC, NET_DISK_HEADER, NET_DISK_NUMERIC
from include.formatting import csv_text
from include.paths import PathNotAllowed
from include.validation import RunValidation, compare, read_record

OLD = [("server_1", "10:00:00", "10:00:30", "50.5", "60", ""),
       ("server_2", "10:00:00", "10:00:30", "82.25", "13", "")]
NEW = [("server_1", "10:00:00", "10:00:30", "50.5", "60", ""),
       ("server_2", "10:00:00", "10:00:30", "82.25", "13", "CPU spike suspected")]
ND = [("server_1", "10:00:00", "10:00:30", "10", "20", "")]
WHEN = datetime(2026, 11, 26, 3, 0, 0, tzinfo=timezone.utc)


def failed_run(root: Path, run_id: str = "manual__r1", net_disk: bool = False,
               produced: list = NEW) -> tuple[Path, Path, Path | None]:
    """A run folder whose cpu_mem.csv differs from data/expected.csv (its validation.json written as
    validate_output writes it); with ``net_disk`` a NET/DISK part that passes. Returns (out, expected, nd)."""
    data, out = root / "data", root / "output" / run_id
    data.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True)
    expected = data / "expected.csv"
    if not expected.exists():
        expected.write_text(csv_text(CPU_MEM_HEADER, OLD))
    (out / "cpu_mem.csv").write_text(csv_text(CPU_MEM_HEADER, produced))
    nd = None
    if net_disk:
        nd = data / "expected_nd.csv"
        nd.write_text(csv_text(NET_DISK_HEADER, ND))
        (out / "net_disk.csv").write_text(csv_text(NET_DISK_HEADER, ND))
    result = RunValidation(cpu_mem=compare(expected, out / "cpu_mem.csv", CPU_MEM_HEADER, CPU_MEM_NUMERIC),
                           net_disk=(compare(nd, out / "net_disk.csv", NET_DISK_HEADER, NET_DISK_NUMERIC)
                                     if nd else None))
    result.write(out / "validation.json", {"run_id": run_id, "validated_at": "2026-11-26T02:00:00+00:00",
                                           "duration_seconds": 3.0})
    return out, expected, nd


def bless(out: Path, expected: Path, run_id: str = "manual__r1", nd: Path | None = None, **kw):
    return blessing.bless_run(out, {"cpu_mem": str(expected), "net_disk": str(nd) if nd else None}, run_id,
                              approved_by=kw.pop("approved_by", "operator"), comment=kw.pop("comment", "new alert"),
                              now=WHEN, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_approval_replaces_the_expected_file_keeps_the_old_one_and_records_who_when_and_why(tmp_path):
    out, expected, nd = failed_run(tmp_path, net_disk=True)
    old_bytes, nd_bytes = expected.read_bytes(), nd.read_bytes()
    records = bless(out, expected, nd=nd, approved_by_id="operator", approved_at="2026-11-26T02:59:58+00:00")
    assert expected.read_bytes() == (out / "cpu_mem.csv").read_bytes()
    assert (tmp_path / "data" / "expected.v1.csv").read_bytes() == old_bytes
    # the NET/DISK part passed: left alone, no version, no record
    assert nd.read_bytes() == nd_bytes and blessing.versions(nd) == {}
    assert not blessing.history_path(nd).exists()
    [r] = records
    assert r.model_dump() == {
        "blessed_at": "2026-11-26T03:00:00+00:00", "approved_by": "operator", "approved_by_id": "operator",
        "approved_at": "2026-11-26T02:59:58+00:00", "run_id": "manual__r1", "output": "cpu_mem",
        "expected_path": str(expected), "produced_path": str(out / "cpu_mem.csv"),
        "previous_version": str(tmp_path / "data" / "expected.v1.csv"),
        "previous_sha256": blessing.sha256(tmp_path / "data" / "expected.v1.csv"),
        "new_sha256": blessing.sha256(expected), "expected_rows": 2, "produced_rows": 2, "matching": 1,
        "missing": 0, "extra": 0, "mismatches": 1, "comment": "new alert"}
    history = blessing.history_path(expected)
    assert history.name == "expected.csv.history.jsonl"
    assert [json.loads(line) for line in history.read_text().splitlines()] == [r.model_dump(mode="json")]
    assert blessing.read_history(history) == records
    assert not [p for p in expected.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_versions_are_numbered_on_and_never_overwritten(tmp_path):
    out, expected, _ = failed_run(tmp_path)
    (tmp_path / "data" / "expected.v3.csv").write_text("someone's v3\n")  # a gap and a hand-made version
    bless(out, expected)
    assert (tmp_path / "data" / "expected.v4.csv").read_text() == csv_text(CPU_MEM_HEADER, OLD)
    assert (tmp_path / "data" / "expected.v3.csv").read_text() == "someone's v3\n"
    # a second run, another change, blessed by someone else: v5, and a second record after the first
    newer = [(*row[:3], "99", *row[4:]) for row in NEW]
    out2, _, _ = failed_run(tmp_path, run_id="manual__r2", produced=newer)
    bless(out2, expected, run_id="manual__r2", approved_by="admin", comment="second")
    assert (tmp_path / "data" / "expected.v5.csv").read_text() == csv_text(CPU_MEM_HEADER, NEW)
    assert expected.read_text() == csv_text(CPU_MEM_HEADER, newer)
    assert sorted(blessing.versions(expected)) == [3, 4, 5]
    assert [(r.run_id, r.approved_by, r.comment) for r in blessing.read_history(blessing.history_path(expected))] \
        == [("manual__r1", "operator", "new alert"), ("manual__r2", "admin", "second")]
    found = blessing.histories([expected, str(expected), tmp_path / "nowhere.csv"])
    assert [r.run_id for r in found.records] == ["manual__r2", "manual__r1"] and found.problems == []


def test_keep_version_takes_the_next_number_when_one_appears_meanwhile(tmp_path, monkeypatch):
    expected = tmp_path / "e.csv"
    expected.write_text("old\n")
    real = blessing.versions
    # another blessing creates v1 between the listing and the exclusive create
    monkeypatch.setattr(blessing, "versions", lambda e: (real(e), (tmp_path / "e.v1.csv").write_text("theirs\n"))[0])
    assert blessing.keep_version(expected) == tmp_path / "e.v2.csv"
    assert (tmp_path / "e.v1.csv").read_text() == "theirs\n" and (tmp_path / "e.v2.csv").read_text() == "old\n"


@pytest.mark.parametrize("case", ["other run", "passed", "outside the data roots", "not the compared file",
                                  "produced header", "produced missing", "no expected path"])
def test_a_refused_blessing_changes_nothing(tmp_path, monkeypatch, case):
    out, expected, _ = failed_run(tmp_path)
    run_id, paths = "manual__r1", {"cpu_mem": str(expected)}
    if case == "other run":
        run_id, message = "manual__someone_else", "field 'run_id' is 'manual__r1', not this run's"
    elif case == "passed":
        passing, _, _ = failed_run(tmp_path, run_id="manual__ok", produced=OLD)
        out, run_id, message = passing, "manual__ok", "the run passed; there is nothing to bless"
    elif case == "outside the data roots":
        monkeypatch.setenv("METRICS_REPLAY_DATA_ROOTS", str(tmp_path / "elsewhere"))
        message = "expected_path: "
    elif case == "not the compared file":
        other = tmp_path / "data" / "other.csv"
        other.write_text(csv_text(CPU_MEM_HEADER, OLD))
        paths, message = {"cpu_mem": str(other)}, f"but {out / 'validation.json'} compared cpu_mem with {expected}"
    elif case == "produced header":
        (out / "cpu_mem.csv").write_text("a,b\n1,2\n")
        message = f"{out / 'cpu_mem.csv'} line 1: header 'a,b' is not the cpu_mem header"
    elif case == "produced missing":
        (out / "cpu_mem.csv").unlink()
        message = "the run's cpu_mem output is missing"
    else:
        paths, message = {"cpu_mem": None}, "expected_path is empty, but the run's cpu_mem output failed"
    before = snapshot(tmp_path / "data")
    with pytest.raises((BlessingError, PathNotAllowed), match=None) as err:
        blessing.bless_run(out, paths, run_id, approved_by="operator", comment="x")
    assert message in str(err.value)
    assert snapshot(tmp_path / "data") == before  # no version, no replacement, no record


def test_a_broken_history_line_is_named_by_file_line_and_field(tmp_path):
    out, expected, _ = failed_run(tmp_path)
    bless(out, expected)
    history = blessing.history_path(expected)
    with history.open("a") as fh:
        fh.write('{"run_id": "x"}\n')
    with pytest.raises(BlessingError, match=rf"{history} line 2: not a blessing record: field 'blessed_at': "):
        blessing.read_history(history)
    found = blessing.histories([expected])
    assert found.records == [] and len(found.problems) == 1 and "line 2" in found.problems[0]
    assert blessing.read_history(tmp_path / "none.jsonl") == []


def test_the_review_body_gives_counts_files_and_first_differences(tmp_path):
    out, expected, _ = failed_run(tmp_path)
    body = blessing.review_body(read_record(out / "validation.json"), {"cpu_mem": str(expected)},
                                "/replay-validation/runs/manual__r1/report")
    assert "**cpu_mem**: 1 of 2 expected rows match; produced 2, missing 0, extra 0, mismatched values alert=1." \
        in body
    assert f"- replaces `{expected}` with `{out / 'cpu_mem.csv'}`" in body
    assert "- server_2 10:00:00 10:00:30 alert: expected (empty), produced `CPU spike suspected`" in body
    assert body.endswith("[The run's report](/replay-validation/runs/manual__r1/report)")
    assert "net_disk" not in body  # only failed parts


def test_the_page_shows_the_records_of_the_listed_runs_expected_files(tmp_path):
    out, expected, _ = failed_run(tmp_path)
    bless(out, expected, comment="<b>thresholds changed</b>")
    runs = history.list_runs(tmp_path / "output")
    files = history.expected_files(runs)
    assert str(expected) in files
    page = history.runs_page(runs)
    assert 'data-run-id="manual__r1" data-output="cpu_mem"' in page
    assert "&lt;b&gt;thresholds changed&lt;/b&gt;" in page and "<b>thresholds" not in page  # escaped
    assert "1/2 matching, produced 2, missing 0, extra 0, 1 mismatched values" in page
    assert str(tmp_path / "data" / "expected.v1.csv") in page
    empty = history.blessings_section(blessing.Histories())
    assert "No expected output has been blessed yet." in empty


def test_the_review_step_is_wired_after_validation_and_cannot_decide_the_run(tmp_path):
    """review_output runs only after validate_output failed, bless_output only after it, and keep_verdict, the
    only leaf, fails whenever validate_output did, so approval never turns a failed run green."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from devtools.cli import load_dag, run_dag

    dag = load_dag()
    review, bless_task, verdict = (dag.get_task(t) for t in ("review_output", "bless_output", "keep_verdict"))
    assert isinstance(review, ApprovalOperator) and review.defaults == ["Reject"] and review.retries == 0
    assert review.upstream_task_ids == {"validate_output"} and review.trigger_rule == "all_failed"
    assert bless_task.upstream_task_ids == {"review_output"} and bless_task.retries == 0
    assert verdict.upstream_task_ids == {"validate_output", "bless_output"} and verdict.trigger_rule == "none_failed"
    assert [t.task_id for t in dag.tasks if not t.downstream_task_ids] == ["keep_verdict"]
    assert set(review.params) == {"comment"}  # the reviewer's form holds the comment alone
    param = dag.params.get_param("review_minutes")
    assert param.value == 60 and param.schema["minimum"] == 0 and param.schema["maximum"] == 1440
    with pytest.raises(ValueError, match="review_minutes must be 0 here"):
        run_dag({"review_minutes": 5})


class FakeTi:
    def __init__(self, summary):
        self.summary = summary

    def xcom_pull(self, task_ids, key):
        assert (task_ids, key) == ("validate_output", "validation_summary")
        return self.summary


class FakeRun:
    def __init__(self, run_type):
        self.run_type, self.run_id = run_type, "manual__r1"


@pytest.mark.parametrize("summary,run_type,minutes,reason", [
    (None, "manual", 60, "nothing to review"),
    ({"passed": True}, "manual", 60, "nothing to review"),
    ({"passed": False, "error": "cannot validate"}, "manual", 60, "nothing to review"),
    ({"passed": False}, "scheduled", 60, "scheduled runs are not reviewed"),
    ({"passed": False}, "manual", 0, "review_minutes is 0: no review"),
])
def test_the_review_is_offered_only_for_differences_on_manual_runs_with_minutes(summary, run_type, minutes, reason):
    from airflow.sdk.exceptions import AirflowSkipException

    from devtools.cli import load_dag

    review = load_dag().get_task("review_output")
    context = {"params": {"review_minutes": minutes, "output_dir": None}, "dag_run": FakeRun(run_type),
               "ti": FakeTi(summary)}
    with pytest.raises(AirflowSkipException, match=reason):
        review.execute(context)


def test_bless_output_carries_out_an_approval_and_refuses_anything_else(tmp_path):
    """The task body: the review step's result (as its XCom holds it) -> bless_run with who, when and why."""
    from airflow.sdk.exceptions import AirflowFailException

    from include import replay

    out, expected, _ = failed_run(tmp_path)
    params = {"output_dir": str(out), "expected_path": str(expected), "expected_net_disk_path": None}
    before = snapshot(tmp_path / "data")
    for answer in (None, {"chosen_options": ["Reject"]}):
        with pytest.raises(AirflowFailException, match="bless_output runs only after an approval"):
            replay.bless_output(params, "manual__r1", answer)
    assert snapshot(tmp_path / "data") == before
    review = {"chosen_options": ["Approve"], "params_input": {"comment": "ok"},
              "responded_at": datetime(2026, 11, 26, 2, 59, tzinfo=timezone.utc),
              "responded_by_user": {"id": "operator", "name": "operator"}}
    [record] = replay.bless_output(params, "manual__r1", review)
    assert (record["approved_by"], record["approved_by_id"], record["approved_at"], record["comment"]) == (
        "operator", "operator", "2026-11-26T02:59:00+00:00", "ok")
    assert expected.read_bytes() == (out / "cpu_mem.csv").read_bytes()
    with pytest.raises(AirflowFailException, match="cannot bless manual__r2's output: .*not this run's"):
        replay.bless_output(params, "manual__r2", review)
