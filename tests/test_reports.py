"""The HTML report and the runs page hold the numbers of validation.json."""

from __future__ import annotations

import html
import json
import re

import pytest

from include import history, reports
from include.formatting import csv_text
from include.contract import CPU_MEM_HEADER
from include.validation import RunValidation, compare, write_error


def make_run(tmp_path, produced_rows, expected_rows):
    exp, got = tmp_path / "expected.csv", tmp_path / "cpu_mem.csv"
    exp.write_text(csv_text(CPU_MEM_HEADER, expected_rows))
    got.write_text(csv_text(CPU_MEM_HEADER, produced_rows))
    result = RunValidation(cpu_mem=compare(exp, got, CPU_MEM_HEADER, ("avg_cpu", "avg_mem")), net_disk=None)
    return result, got


ROWS = [("server_1", "10:00:00", "10:00:30", "50.5", "60", ""),
        ("server_1", "10:00:10", "10:00:40", "81", "91", "CPU and Memory spike"),
        ("server_2", "10:00:00", "10:00:30", "12.25", "13", "")]


def test_report_shows_the_validation_numbers_and_mismatches(tmp_path):
    produced = [ROWS[0], ("server_1", "10:00:10", "10:00:40", "81.01", "91", "CPU and Memory spike")]
    result, got = make_run(tmp_path, produced, ROWS)
    v = result.record()
    page = reports.render(v, got, "manual__run-1", 80.07, 89.36)
    table = reports.summary_table(v)
    cm = v.cpu_mem
    cells = re.findall(r"<td>(\d+)</td>", table)
    assert cells == [str(getattr(cm, k)) for k in ("expected_rows", "produced_rows", "matching", "missing", "extra")]
    assert (cm.expected_rows, cm.produced_rows, cm.matching, cm.missing) == (3, 2, 1, 1)
    assert "FAIL" in page and "manual__run-1" in page
    assert "avg_cpu=1" in table and "not applicable" in table
    assert "81.01" in page and "server_2 / 10:00:00 / 10:00:30" in page  # the mismatch and the missing row
    assert page.count("<script") >= 2 and "plotly" in page.lower()  # plots embedded, self-contained
    assert "cpu_threshold 80.07" in page


def write_good_run(root, folder="ok", run_id="manual__ok", validated_at="2026-11-25T02:00:00"):
    (root / folder).mkdir()
    result, got = make_run(root / folder, ROWS, ROWS)
    result.write(root / folder / "validation.json", {"run_id": run_id, "validated_at": validated_at,
                                                     "duration_seconds": 42.0})
    reports.write(root / folder / "report.html", result.record(), got, run_id, 80.07, 89.36)


def test_runs_page_lists_runs_with_counts_and_report_links(tmp_path):
    write_good_run(tmp_path)
    runs = history.list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["manual__ok"] and runs[0].problem is None
    page = history.runs_page(runs)
    assert 'data-run-id="manual__ok"' in page and "PASS" in page and "42 s" in page
    assert "3/3 matching, produced 3, missing 0, extra 0" in page
    assert 'href="runs/ok/report"' in page
    assert json.loads((tmp_path / "ok" / "validation.json").read_text())["passed"] is True


# Each way a validation.json can be broken, and the words its row must show.
BROKEN = {
    "not-json": ("{not json", "Invalid JSON"),
    "no-verdict": (json.dumps({"run_id": "manual__x", "cpu_mem": {"status": "not applicable", "reason": "r"},
                               "net_disk": {"status": "not applicable", "reason": "r"}}), "field 'passed'"),
    "bad-count": (json.dumps({"passed": False, "cpu_mem": {"status": "error", "reason": "r"},
                              "net_disk": {"status": "fail", "matching": "many"}}), "net_disk"),
    "not-utf8": (b"\xff\xfe{}", "not UTF-8"),
}


def test_a_broken_validation_json_is_a_row_saying_so_beside_the_good_runs(tmp_path):
    write_good_run(tmp_path)
    for folder, (content, _) in BROKEN.items():
        (tmp_path / folder).mkdir()
        vfile = tmp_path / folder / "validation.json"
        vfile.write_bytes(content) if isinstance(content, bytes) else vfile.write_text(content)
    (tmp_path / "a-directory" / "validation.json").mkdir(parents=True)  # exists, cannot be read as a file

    runs = history.list_runs(tmp_path)
    by_folder = {r.folder: r for r in runs}
    assert set(by_folder) == {"ok", "a-directory", *BROKEN}  # none skipped
    assert by_folder["ok"].record is not None and by_folder["ok"].problem is None
    for folder, (_, words) in BROKEN.items():
        row = by_folder[folder]
        assert row.record is None and str(tmp_path / folder / "validation.json") in row.problem, row.problem
        assert words in row.problem, row.problem
    assert "unreadable" in by_folder["a-directory"].problem

    page = history.runs_page(runs)
    assert 'data-run-id="manual__ok"' in page and "3/3 matching" in page
    for folder in [*BROKEN, "a-directory"]:
        row = re.search(rf'<tr class="unreadable" data-folder="{folder}">(.*?)</tr>', page)
        assert row, f"no row for {folder}"
        assert f">{folder}<" in row.group(1) and "UNREADABLE" in row.group(1)
        assert html.escape(by_folder[folder].problem) in row.group(1)


def test_runs_are_newest_first_and_a_broken_file_sorts_by_when_it_was_written(tmp_path):
    write_good_run(tmp_path, "old", "manual__old", "2000-01-01T00:00:00+00:00")
    write_good_run(tmp_path, "new", "manual__new", "2999-01-01T00:00:00+00:00")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "validation.json").write_text("[]")  # written now: between the two
    assert [r.folder for r in history.list_runs(tmp_path)] == ["new", "broken", "old"]


def test_a_failed_and_an_uncompared_run_show_their_parts(tmp_path):
    produced = [ROWS[0], ROWS[2], ("server_3", "10:00:00", "10:00:30", "1", "1", "")]
    (tmp_path / "failed").mkdir()
    result, _ = make_run(tmp_path / "failed", produced, ROWS)
    result.write(tmp_path / "failed" / "validation.json", {"run_id": "manual__failed",
                                                           "validated_at": "2026-11-25T03:00:00",
                                                           "duration_seconds": None})
    (tmp_path / "error").mkdir()
    write_error(tmp_path / "error" / "validation.json", "cannot validate: expected.csv, line 3: bad",
                {"run_id": "manual__error", "validated_at": "2026-11-25T04:00:00", "duration_seconds": 7.0})
    runs = history.list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["manual__error", "manual__failed"]
    page = history.runs_page(runs)
    assert "2/3 matching, produced 3, missing 1, extra 1" in page and "FAIL" in page
    assert "not compared: cannot validate: expected.csv, line 3: bad" in page and "7 s" in page
    assert "UNREADABLE" not in page
    report = reports.render(runs[0].record, tmp_path / "error" / "cpu_mem.csv", "manual__error", 80.07, 89.36)
    assert "cannot validate: expected.csv, line 3: bad" in report and "No output at" in report


def test_report_plots_dated_windows_and_windows_across_midnight_in_time_order(tmp_path):
    """Dated outputs' window_start is a date-time; a time-of-day output across midnight goes on to the next
    day (each server's rows are in time order), so the charts run on instead of jumping back."""
    dated = tmp_path / "dated.csv"
    dated.write_text(csv_text(CPU_MEM_HEADER, [("s", "2024-03-30 23:59:50", "2024-03-31 00:00:20", "1", "2", ""),
                                               ("s", "2024-03-31 00:00:00", "2024-03-31 00:00:30", "1", "2", "")]))
    assert [str(t) for t in reports._windows(dated)["t"]] == ["2024-03-30 23:59:50", "2024-03-31 00:00:00"]
    night = tmp_path / "night.csv"
    night.write_text(csv_text(CPU_MEM_HEADER, [("a", "23:59:50", "00:00:20", "1", "2", ""),
                                               ("a", "00:00:00", "00:00:30", "1", "2", ""),
                                               ("b", "10:00:00", "10:00:30", "1", "2", "")]))
    assert [str(t) for t in reports._windows(night)["t"]] == ["2000-01-01 23:59:50", "2000-01-02 00:00:00",
                                                              "2000-01-01 10:00:00"]
    result, _ = make_run(tmp_path, ROWS, ROWS)
    assert "PASS" in reports.render(result.record(), dated, "manual__dated", 80.07, 89.36)


def test_report_shows_the_tolerance_and_the_numbers_within_it(tmp_path):
    exp, got = tmp_path / "expected.csv", tmp_path / "cpu_mem.csv"
    exp.write_text(csv_text(CPU_MEM_HEADER, ROWS))
    got.write_text(csv_text(CPU_MEM_HEADER, [ROWS[0][:3] + ("50.52", "60", ""), ROWS[1], ROWS[2]]))
    result = RunValidation(cpu_mem=compare(exp, got, CPU_MEM_HEADER, ("avg_cpu", "avg_mem"), 0.05), net_disk=None,
                           tolerance=0.05)
    page = reports.render(result.record(), got, "manual__tol", 80.07, 89.36)
    assert "PASS" in page and '<td class="tolerated">1</td>' in page
    assert "Tolerance &plusmn;0.05 (absolute, numeric columns): 1 window differs only within it" in page
    table = page.split('<table class="within-tolerance">', 1)[1].split("</table>", 1)[0]
    assert "server_1 / 10:00:00 / 10:00:30" in table and "<td>50.5</td><td>50.52</td><td>+0.02</td>" in table
    exact, _ = make_run(tmp_path, ROWS, ROWS)
    assert "Numbers compared exactly" in reports.render(exact.record(), got, "manual__exact", 80.07, 89.36)
    assert "within-tolerance" not in reports.render(exact.record(), got, "manual__exact", 80.07, 89.36)


def test_the_overview_grid_is_the_layout_make_subplots_makes():
    from plotly.subplots import make_subplots

    titles = [f"server_{i}" for i in range(1, 19)]  # 5 rows of 4, the last row half full
    theirs = make_subplots(rows=5, cols=4, subplot_titles=titles, shared_yaxes=True,
                           vertical_spacing=0.07).to_dict()["layout"]
    ours = reports.grid_layout(titles, 4, 0.07)
    axes = sorted(k for k in theirs if k.startswith(("xaxis", "yaxis")))
    assert sorted(k for k in ours if k.startswith(("xaxis", "yaxis"))) == axes
    for k in axes:
        assert ours[k].keys() == theirs[k].keys(), k
        assert ours[k]["domain"] == pytest.approx(theirs[k]["domain"]), k
        assert {a: v for a, v in ours[k].items() if a != "domain"} == {
            a: v for a, v in theirs[k].items() if a != "domain"}, k
    assert len(ours["annotations"]) == len(theirs["annotations"]) == 18
    for a, b in zip(ours["annotations"], theirs["annotations"]):
        assert a.keys() == b.keys() and a["text"] == b["text"]
        assert (a["x"], a["y"]) == pytest.approx((b["x"], b["y"]))
