"""End to end: the whole metrics_replay DAG through dag.test() on a real broker and real Spark."""

from __future__ import annotations

import json

import pytest

from devtools.cli import run_dag
from dag_module import step_states
from notice_servers import BASE_URL, SECRETS, WEBHOOK_ENDPOINT
from secret_scan import SecretScan

pytestmark = pytest.mark.e2e

def in_a_root(monkeypatch, folder) -> None:
    """``folder`` becomes the third output root (after the suite's two), so that the Replay validation page
    lists the run folders in it and the notices link their reports (?root=2)."""
    import os

    monkeypatch.setenv("METRICS_REPLAY_OUTPUT_ROOTS",
                       os.pathsep.join([os.environ["METRICS_REPLAY_OUTPUT_ROOTS"], str(folder)]))


ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]


def test_real_day_replays_byte_identical(tmp_path, real_data, airflow_db, airflow_connections, notice_servers,
                                         monkeypatch, capfd, caplog):
    """The recorded day replays byte-identical. It follows a run that failed (refused params, the cheapest failure),
    so its success sends the "recovered" notice naming that run: by webhook, while the mail server is down (the
    connection points at a closed port), which does not fail the run and is one warning in its log."""
    from devtools.kafka import free_port

    dataset, expected = real_data
    failed, _ = run_dag({"output_dir": str(tmp_path / "failed"), "seconds_per_group": 0, "slide_seconds": 40})
    assert str(failed.state) == "failed"
    assert [p.body["kind"] for p in notice_servers.posts] == ["failed"] and len(notice_servers.mails) == 1
    monkeypatch.setenv("AIRFLOW_CONN_REPLAY_EMAIL", notice_servers.connection_env(smtp_port=free_port())[
        "AIRFLOW_CONN_REPLAY_EMAIL"])
    out = tmp_path / "real run"  # a space in the path, like the seed's expected file name
    in_a_root(monkeypatch, tmp_path)
    with SecretScan(SECRETS, marker=str(out)) as scan:
        dr, out_dir = run_dag({"dataset_path": str(dataset), "expected_path": str(expected),
                               "output_dir": str(out), "seconds_per_group": 0, "partitions": 2})
    logged = scan.check(capfd, caplog, output_dir=out, texts=notice_servers.texts(),
                        expect=["Sent the recovered notice", "Could not send the recovered notice"])
    assert "by e-mail (connection 'replay_email'): failed: ConnectionRefusedError" in logged
    recovered = notice_servers.posts[-1].body
    assert len(notice_servers.posts) == 2 and len(notice_servers.mails) == 1  # the mail server was down
    assert (recovered["kind"], recovered["run_id"], recovered["previous_run_id"]) == ("recovered", dr.run_id,
                                                                                       failed.run_id)
    assert recovered["dataset"] == str(dataset)
    assert recovered["validation"]["cpu_mem"]["matching"] == 14_400
    assert recovered["links"]["report"] == f"{BASE_URL}/replay-validation/runs/real%20run/report?root=2"
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    assert str(dr.state) == "success"
    assert out_dir == out
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is True
    cpu_mem = report["cpu_mem"]
    assert (cpu_mem["expected_rows"], cpu_mem["produced_rows"], cpu_mem["matching"]) == (14_400, 14_400, 14_400)
    assert report["net_disk"]["status"] == "not applicable"  # the seed's file has no NET/DISK columns
    assert not (out / "net_disk.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"topic-cpu": 28_800, "topic-mem": 28_800}


def test_default_four_metric_day_validates_both_outputs(tmp_path, airflow_db, airflow_connections):
    from airflow import settings
    from airflow.models.xcom import XComModel

    from include.paths import DEFAULT_EXPECTED, DEFAULT_EXPECTED_NET_DISK

    out = tmp_path / "default"
    dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0})
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    assert (out / "cpu_mem.csv").read_bytes() == DEFAULT_EXPECTED.read_bytes()
    assert (out / "net_disk.csv").read_bytes() == DEFAULT_EXPECTED_NET_DISK.read_bytes()
    report = json.loads((out / "validation.json").read_text())
    assert report["cpu_mem"]["status"] == report["net_disk"]["status"] == "pass"
    assert report["net_disk"]["matching"] == 14_400
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {t: 28_800 for t in ("topic-cpu", "topic-mem", "topic-net", "topic-disk")}
    # It passed: validate_output skipped the review itself (step_states checked the skips), and its summary is
    # still its return value, beside the branch-style record of what it skipped.
    xcoms = {x.key: XComModel.deserialize_value(x) for x in settings.Session().scalars(
        XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids="validate_output"))}
    assert xcoms["return_value"]["passed"] is True and xcoms["return_value"]["output_dir"] == str(out), xcoms
    assert xcoms["skipmixin_key"] == {"skipped": ["review_output", "bless_output"]}, xcoms


def test_a_recording_with_every_quirk_replays_byte_identical_to_the_clean_one(tmp_path, airflow_db,
                                                                           airflow_connections, capfd, caplog):
    """The default four-metric day as a team would hand it over: gzip-compressed, a UTF-8 BOM, CRLF line ends,
    the columns in another order with spaces around their names, an extra `region` column and blank lines at
    the end. Both outputs are byte-identical to the clean file's expected ones; the extra column is counted in
    the manifest, and check_broker read the whole file first."""
    from include.paths import DEFAULT_DATASET, DEFAULT_EXPECTED, DEFAULT_EXPECTED_NET_DISK
    from recording_helpers import quirky_text, write_quirky

    dataset = write_quirky(DEFAULT_DATASET, tmp_path / "recordings" / "metrics export.csv.gz")
    text = quirky_text(DEFAULT_DATASET)
    assert text.startswith("\ufeff".encode()) and b"\r\n" in text and text.endswith(b"\r\n\r\n\r\n")
    assert text.split(b"\r\n", 1)[0] == "\ufeff disk_io ,region, net_out , net_in , mem_pct , cpu_pct , timestamp , server_id ".encode()
    out = tmp_path / "quirky"
    dr, _ = run_dag({"dataset_path": str(dataset), "output_dir": str(out), "seconds_per_group": 0})
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    assert (out / "cpu_mem.csv").read_bytes() == DEFAULT_EXPECTED.read_bytes()
    assert (out / "net_disk.csv").read_bytes() == DEFAULT_EXPECTED_NET_DISK.read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ignored_columns"] == {"region": 28_800}
    assert manifest["counts"] == {t: 28_800 for t in ("topic-cpu", "topic-mem", "topic-net", "topic-disk")}
    # Task logs reach stdout or the log records depending on how this worker's logging was set up first.
    captured = capfd.readouterr()
    sources = [captured.out + captured.err, caplog.text]
    assert any("columns ignored: region (28,800 values)" in text for text in sources)  # check_broker's summary
    # the producer's warning, once
    assert any(text.count("Column 'region' of") == 1 and "ignored (28800 values, none sent)" in text
               for text in sources) and all(text.count("Column 'region' of") <= 1 for text in sources)


def nudged(rows: list[tuple[str, ...]], column: int, by: str, which: range) -> list[tuple[str, ...]]:
    """``rows`` with the number in ``column`` moved by ``by`` in the rows ``which``."""
    from decimal import Decimal

    return [row[:column] + (str(Decimal(row[column]) + Decimal(by)),) + row[column + 1:] if i in which else row
            for i, row in enumerate(rows)]


def test_wrong_expected_file_fails_validate_output(tmp_path, real_data, airflow_db, airflow_connections,
                                                  notice_servers, monkeypatch, capfd, caplog):
    """A different expected file (other thresholds) must fail validation, with the differences counted; the
    validation-failure notice carries the counts, the first mismatches and the links, and no secret.

    The run has a tolerance of 0.05 (the param, through dag.test as `make run CONF=...` gives it), and the expected
    file also has ten avg_cpu values 0.02 off (within it) and five avg_mem values 0.5 off (beyond it): the ten are
    counted apart, the five are mismatches. Then the same output is validated again, as validate_output does,
    against the team's file with ten values 0.02 off: it passes at 0.05 with the ten counted and shown, and fails
    at tolerance 0 (exact)."""
    dataset, team_expected = real_data
    from devtools import reference
    from include import dataset as ds_mod
    from include import replay
    from include.contract import CPU_MEM_HEADER
    from include.formatting import csv_text

    other = tmp_path / "other_expected.csv"
    rows = reference.cpu_mem_rows(ds_mod.load(dataset), reference.WindowSpec(), 70.0, 89.36)
    rows = nudged(nudged(rows, 3, "0.02", range(100, 110)), 4, "0.5", range(200, 205))
    other.write_text(csv_text(CPU_MEM_HEADER, rows))
    out = tmp_path / "run"
    in_a_root(monkeypatch, tmp_path)
    with SecretScan(SECRETS, marker=str(out)) as scan:
        dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(other), "output_dir": str(out),
                         "seconds_per_group": 0, "tolerance": 0.05})
    states = step_states(dr)
    assert states["window_metrics"] == "success"
    assert states["validate_output"] == "failed"
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is False
    assert (report["tolerance"], report["dataset"], report["mode"]) == (0.05, str(dataset), "batch")
    cpu_mem = report["cpu_mem"]
    alerts = cpu_mem["mismatches_per_column"]["alert"]
    assert alerts > 0
    assert cpu_mem["mismatches_per_column"]["avg_cpu"] == 0 and cpu_mem["mismatches_per_column"]["avg_mem"] == 5
    assert cpu_mem["within_tolerance_per_column"] == {"avg_cpu": 10, "avg_mem": 0}
    produced = (out / "cpu_mem.csv").read_text().splitlines()[1:]
    assert cpu_mem["alerts"] == sum(1 for line in produced if not line.endswith(","))

    scan.check(capfd, caplog, output_dir=out, texts=notice_servers.texts(), expect=["Sent the validation_failed notice"])
    [mail], [post] = notice_servers.mails, notice_servers.posts
    notice = post.body
    assert (notice["kind"], notice["run_id"], notice["task_id"]) == ("validation_failed", dr.run_id, "validate_output")
    assert notice["dataset"] == str(dataset) and notice["mismatch_total"] == alerts + 5
    assert notice["validation"]["cpu_mem"]["mismatches_per_column"]["alert"] == alerts
    first = report["cpu_mem"]["first_mismatches"][0]
    line = (f"cpu_mem {' / '.join(first['key'])} {first['column']}: expected {first['expected']!r}, "
            f"produced {first['produced']!r}")
    assert notice["first_mismatches"][0] == line
    assert notice["links"]["report"] == f"{BASE_URL}/replay-validation/runs/run/report?root=2"
    assert notice["links"]["task_log"].startswith(f"{BASE_URL}/dags/metrics_replay/runs/")
    assert notice["links"]["task_log"].endswith("/tasks/validate_output?try_number=1")
    assert mail.subject == f"[metrics_replay] run {dr.run_id}: validation FAILED"
    assert line.replace("'", "&#x27;") in mail.body and f"alert={alerts}" in mail.body

    # The same output against the team's file with ten numbers 0.02 off.
    import csv

    with team_expected.open(newline="") as fh:
        team_rows = [tuple(r) for r in list(csv.reader(fh))[1:]]
    close = tmp_path / "close_expected.csv"
    close.write_text(csv_text(CPU_MEM_HEADER, nudged(team_rows, 3, "0.02", range(1000, 1010))))
    summary = replay.validate_output(str(out), str(close), None, dr.run_id, 80.07, 89.36, tolerance=0.05,
                                     dataset_path=str(dataset))
    assert summary["passed"] is True and "within tolerance 10 (+/-0.05" in summary["parts"]["cpu_mem"]
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is True and report["cpu_mem"]["status"] == "pass"
    assert (report["cpu_mem"]["matching"], report["cpu_mem"]["within_tolerance"]) == (14_390, 10)
    assert len(report["cpu_mem"]["first_within_tolerance"]) == 10
    page = (out / "report.html").read_text()
    assert "First differences within tolerance" in page and "Tolerance &plusmn;0.05" in page
    with pytest.raises(replay.ValidationFailed):
        replay.validate_output(str(out), str(close), None, dr.run_id, 80.07, 89.36, tolerance=0,
                               dataset_path=str(dataset))
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is False and report["cpu_mem"]["mismatches_per_column"]["avg_cpu"] == 10
    assert report["cpu_mem"]["within_tolerance"] == 0


def test_impossible_params_stop_the_run_before_kafka(tmp_path, airflow_db, airflow_connections, notice_servers,
                                                     capfd, caplog):
    """slide > window is refused by check_broker's first step, without retries; nothing later runs. One failure
    notice goes out by mail and by webhook, naming the task and its error, with no secret."""
    out = tmp_path / "rejected"
    with SecretScan(SECRETS, marker=str(out)) as scan:
        dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0, "slide_seconds": 40})
    states = step_states(dr)
    assert states["check_broker"] == "failed"
    assert all(states[t] == "upstream_failed" for t in ORDER[1:]), states
    assert str(dr.state) == "failed"
    assert not out.exists()  # nothing produced, nothing written

    scan.check(capfd, caplog, texts=notice_servers.texts(), expect=["Sent the failed notice"])
    [mail], [post] = notice_servers.mails, notice_servers.posts
    notice = post.body
    assert post.path == WEBHOOK_ENDPOINT
    assert (notice["kind"], notice["run_id"], notice["task_id"], notice["try_number"]) == (
        "failed", dr.run_id, "check_broker", 1)
    assert notice["error"].startswith("AirflowFailException: params rejected: ") and "slide_seconds" in notice["error"]
    assert notice["dataset"] == "data/metrics.csv"
    assert notice["links"]["report"] == f"{BASE_URL}/replay-validation/"  # no report: the page
    assert notice["links"]["task_log"].endswith("/tasks/check_broker?try_number=1")
    assert notice["text"].startswith(f"metrics_replay run {dr.run_id} failed: task check_broker (try 1) failed.")
    assert mail.subject == f"[metrics_replay] run {dr.run_id} FAILED at check_broker"
    assert "params rejected" in mail.body and notice["links"]["task_log"].replace("&", "&amp;") in mail.body
