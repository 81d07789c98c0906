"""The HTML report and the runs page hold the numbers of validation.json."""

from __future__ import annotations

import json
import re

from include import reports
from include.formatting import csv_text
from include.reference import CPU_MEM_HEADER
from include.validation import RunValidation, compare


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
    v = result.to_dict()
    page = reports.render(v, got, "manual__run-1", 80.07, 89.36)
    table = reports.summary_table(v)
    cm = v["cpu_mem"]
    cells = re.findall(r"<td>(\d+)</td>", table)
    assert cells == [str(cm[k]) for k in ("expected_rows", "produced_rows", "matching", "missing", "extra")]
    assert (cm["expected_rows"], cm["produced_rows"], cm["matching"], cm["missing"]) == (3, 2, 1, 1)
    assert "FAIL" in page and "manual__run-1" in page
    assert "avg_cpu=1" in table and "not applicable" in table
    assert "81.01" in page and "server_2 / 10:00:00 / 10:00:30" in page  # the mismatch and the missing row
    assert page.count("<script") >= 2 and "plotly" in page.lower()  # plots embedded, self-contained
    assert "cpu_threshold 80.07" in page


def test_runs_page_lists_runs_with_counts_and_report_links(tmp_path):
    (tmp_path / "ok").mkdir()
    result, got = make_run(tmp_path / "ok", ROWS, ROWS)
    result.write(tmp_path / "ok" / "validation.json", {"run_id": "manual__ok", "validated_at": "2026-11-25T02:00:00",
                                                       "duration_seconds": 42.0})
    reports.write(tmp_path / "ok" / "report.html", result.to_dict(), got, "manual__ok", 80.07, 89.36)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "validation.json").write_text("{not json")
    runs = reports.list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["manual__ok"]
    page = reports.runs_page(runs)
    assert 'data-run-id="manual__ok"' in page and "PASS" in page and "42 s" in page
    assert "3/3 matching, produced 3, missing 0, extra 0" in page
    assert 'href="runs/ok/report"' in page
    assert json.loads((tmp_path / "ok" / "validation.json").read_text())["passed"] is True
