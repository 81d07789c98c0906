"""The Replay validation page's history: runs from every output root, filters, pages, per-dataset summaries and
trends, links, the parse cache; and the bench's synthetic run folders (row 8)."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench import history as bench_history
from include import history
from include.history import FilterError, RunFilter

START = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)


def write_run(root: Path, folder: str, n: int, dataset: str, report: bool = True):
    """Run folder ``folder`` in ``root`` with the bench's record number ``n`` (every 7th, n % 7 == 3, fails;
    every 5th is live), validated ``n`` hours after START."""
    (root / folder).mkdir(parents=True)
    record = bench_history.synthetic_record(n, dataset, random.Random(n), START)
    record.write(root / folder / "validation.json")
    if report:
        (root / folder / "report.html").write_text(f"<title>report {folder}</title>")
    return record


@pytest.fixture
def roots(tmp_path):
    """Two output roots: five runs of data/a.csv and two of data/b.csv in the first, one of data/b.csv and an
    unreadable record in the second; a folder with the same name in both."""
    first, second = tmp_path / "output", tmp_path / "elsewhere"
    for n in range(5):
        write_run(first, f"a-{n}", n, "data/a.csv")  # run 3 fails, run 0 is live
    write_run(first, "b-5", 5, "data/b.csv")
    write_run(first, "same", 6, "data/b.csv")
    write_run(second, "same", 11, "data/b.csv")  # the same folder name, another root: the newest run
    (second / "broken").mkdir()
    (second / "broken" / "validation.json").write_text("{not json")
    (second / "no-record").mkdir()  # not a run: no validation.json
    return [first, second, tmp_path / "not-there-yet"]


def test_runs_of_every_output_root_are_listed_newest_first(roots):
    runs = history.list_runs(roots)
    assert [(r.root, r.folder) for r in runs if r.record] == [
        (1, "same"), (0, "same"), (0, "b-5"), (0, "a-4"), (0, "a-3"), (0, "a-2"), (0, "a-1"), (0, "a-0")]
    broken = [r for r in runs if r.record is None]
    assert [(r.root, r.folder, r.status, r.dataset) for r in broken] == [(1, "broken", "unreadable", "(not recorded)")]
    assert "Invalid JSON" in broken[0].problem
    assert history.list_runs(roots[0])[0].folder == "same"  # one root given as a path


def test_status_dataset_and_links_of_a_row(roots):
    by_key = {(r.root, r.folder): r for r in history.list_runs(roots)}
    failed, live, second = by_key[(0, "a-3")], by_key[(0, "a-0")], by_key[(1, "same")]
    part = failed.record.cpu_mem
    assert (failed.status, failed.dataset, failed.within_tolerance) == ("fail", "data/a.csv", 0)
    assert failed.differing == part.extra + 14_400 - part.matching
    assert failed.differing > 0 and by_key[(0, "a-1")].differing == 0
    assert live.latency == (live.record.latency.latency_seconds.p50, live.record.latency.latency_seconds.p95)
    assert by_key[(0, "a-1")].latency is None and failed.alerts == failed.record.cpu_mem.alerts
    run_id = failed.record.run_id  # scheduled__2026-01-01T05:00:00+00:00
    quoted = run_id.replace(":", "%3A").replace("+", "%2B")
    assert failed.grid_url == f"../dags/metrics_replay/runs/{quoted}"
    assert failed.log_url == f"../dags/metrics_replay/runs/{quoted}/tasks/validate_output"
    assert failed.report_url == "runs/a-3/report" and second.report_url == "runs/same/report?root=1"
    broken = by_key[(1, "broken")]
    assert broken.grid_url is None and broken.log_url is None and broken.report_url is None
    assert failed.to_json()["links"] == {"report": "runs/a-3/report", "grid": failed.grid_url, "log": failed.log_url}


def test_filters_by_dataset_status_and_dates(roots):
    runs = history.list_runs(roots)
    assert {r.folder for r in RunFilter.parse(dataset="data/b.csv").apply(runs)} == {"b-5", "same"}
    assert len(RunFilter.parse(dataset="data/b.csv").apply(runs)) == 3
    assert [r.folder for r in RunFilter.parse(status="fail").apply(runs)] == ["a-3"]
    assert [r.folder for r in RunFilter.parse(status="unreadable").apply(runs)] == ["broken"]
    assert [r.folder for r in RunFilter.parse(dataset="data/a.csv", status="pass").apply(runs)] == [
        "a-4", "a-2", "a-1", "a-0"]
    # START is 2026-01-01 02:00 UTC and run n is n hours later: all on that day; the broken file is written today
    day = RunFilter.parse(since="2026-01-01", until="2026-01-01").apply(runs)
    assert len(day) == 8 and all(r.record for r in day)
    assert RunFilter.parse(until="2025-12-31").apply(runs) == []
    assert RunFilter.parse(dataset="", status="", since="", until="") == RunFilter()  # an empty form: any
    assert RunFilter.parse(dataset="data/a.csv", status="fail", since="2026-01-01").query(page=2) == (
        "?dataset=data%2Fa.csv&status=fail&since=2026-01-01&page=2")


@pytest.mark.parametrize("query,words", [
    ({"status": "failed"}, "status: 'failed' is not one of pass, fail, error, unreadable"),
    ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
    ({"until": "2026-13-01"}, "until: '2026-13-01' is not a date"),
    ({"since": "2026-02-01", "until": "2026-01-01"}, "since (2026-02-01) is after until (2026-01-01)"),
])
def test_a_filter_that_cannot_be_used_names_its_parameter(query, words):
    with pytest.raises(FilterError, match=re.escape(words)):
        RunFilter.parse(**query)


def test_pages_cut_the_filtered_runs(roots):
    runs = history.list_runs(roots)
    page = history.paginate(runs, 2, 3)
    assert (page.number, page.pages, page.total) == (2, 3, 9)
    assert page.rows == runs[3:6]
    assert history.paginate(runs, 99, 3).number == 3 and history.paginate(runs, 0, 3).number == 1
    assert history.paginate([], 1).pages == 1
    html_page = history.runs_page(runs, RunFilter(), page=2, per_page=3)
    assert "page 2 of 3 (9 runs)" in html_page
    assert html_page.count("<tr data-run-id=") + html_page.count('<tr class="unreadable"') == 3
    assert 'href="?page=1&amp;per_page=3">first</a>' in html_page
    assert 'href="?page=3&amp;per_page=3">last</a>' in html_page


def test_each_dataset_has_its_latest_status_pass_rate_and_trends(roots):
    runs = history.list_runs(roots)
    summaries = {s.dataset: s for s in history.summarize(runs)}
    # by their latest run: the unreadable file's time is when it was written (today)
    assert list(summaries) == ["(not recorded)", "data/b.csv", "data/a.csv"]
    a = summaries["data/a.csv"]
    assert (len(a.runs), a.passed, a.latest.folder, a.latest.status) == (5, 4, "a-4", "pass")
    assert a.pass_rate == 0.8
    trend = a.trend()
    assert [p["run_id"] for p in trend] == [r.record.run_id for r in reversed(a.runs)]  # oldest first
    fig = history.trend_figure(a)
    titles = [title for title, _ in fig["panels"]]
    assert titles == ["duration (s)", "differing windows", "alerts", "alert latency (s)"]  # run 0 is live
    assert fig["x"][0] == "2026-01-01 02:00:00" and len(fig["x"]) == 5
    assert fig["symbol"] == ["circle", "circle", "circle", "x", "circle"]  # run 3 failed
    differing = dict(fig["panels"][1][1])["differing"]
    assert differing[3] == a.runs[1].differing > 0 and differing[:3] == [0, 0, 0]
    assert dict(fig["panels"][3][1])["latency p50"][1:] == [None] * 4  # batch runs: no latency
    b = summaries["data/b.csv"]
    assert [t for t, _ in history.trend_figure(b)["panels"]] == ["duration (s)", "differing windows", "alerts",
                                                                 "alert latency (s)"]  # run 5 is live
    assert json.loads(json.dumps(b.to_json()))["pass_rate"] == 1.0


def test_page_shows_filters_summaries_trends_and_rows(roots):
    runs = history.list_runs(roots)
    page = history.runs_page(runs, RunFilter.parse(dataset="data/a.csv"))
    assert '<option value="data/a.csv" selected>data/a.csv</option>' in page
    assert '<option value="data/b.csv">data/b.csv</option>' in page
    # the summary and plots are of the chosen dataset only; its rows only
    assert page.count('<tr data-dataset="') == 1 and '<td class="pass-rate">80% (4/5)</td>' in page
    assert page.count('class="trend"') == 1 and 'data-points="5"' in page and "replayTrend(" in page
    assert '<script src="plotly.min.js"></script>' in page
    rows = re.findall(r'<tr data-run-id="([^"]+)"[^>]*data-dataset="([^"]+)" data-status="(\w+)"', page)
    assert [(d, s) for _, d, s in rows] == [("data/a.csv", "pass"), ("data/a.csv", "fail")] + [
        ("data/a.csv", "pass")] * 3
    failed = next(r for r in runs if r.folder == "a-3")
    row = page.split(f'data-run-id="{failed.run_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'href="runs/a-3/report">report</a>' in row
    assert f'href="{failed.grid_url}" target="_top">grid</a>' in row and "/tasks/validate_output" in row
    assert "FAIL" in row and f"{14_400 - failed.differing}/14400 matching" in row
    # a status filter narrows the rows, not the dataset's summary
    page = history.runs_page(runs, RunFilter.parse(dataset="data/a.csv", status="fail"))
    assert page.count("<tr data-run-id=") == 1 and '<td class="pass-rate">80% (4/5)</td>' in page
    assert "No run matches." in history.runs_page(runs, RunFilter.parse(dataset="nothing"))
    assert "No replay has been validated yet." in history.runs_page([])
    assert "No expected output has been blessed yet." in history.audit_section(runs)  # the bless audit records


def test_names_cannot_break_out_of_the_page(tmp_path):
    evil = 'data/</script><script>alert(1)</script>"<b>.csv'
    record = write_run(tmp_path, "evil", 1, evil)
    record.model_copy(update={"run_id": "manual__</script><script>alert(1)</script>"}).write(
        tmp_path / "evil" / "validation.json")
    page = history.runs_page(history.list_runs(tmp_path))
    assert "<script>alert(1)" not in page and "<b>" not in page
    assert "manual__\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page  # in the plot's JSON, escaped


def test_records_are_parsed_once_until_they_change(roots, monkeypatch):
    calls: list[str] = []
    real = history.read_record
    monkeypatch.setattr(history, "read_record", lambda path: calls.append(path) or real(path))
    history._CACHE.clear()
    first = history.list_runs(roots)
    assert len(calls) == 9
    calls.clear()
    assert history.list_runs(roots) == first and calls == []  # nothing changed: nothing parsed
    record = first[-1].record.model_copy(update={"duration_seconds": 1.0})
    record.write(roots[0] / "a-0" / "validation.json")  # rewritten (atomically: a new file)
    again = history.list_runs(roots)
    assert calls == [str(roots[0] / "a-0" / "validation.json")]
    assert again[-1].record.duration_seconds == 1.0


def test_bench_row_and_synthetic_runs(tmp_path):
    folders = bench_history.write_runs(tmp_path / "out", runs=21)
    runs = history.list_runs(tmp_path / "out")
    assert len(runs) == len(folders) == 21 and all(r.record and r.has_report for r in runs)
    assert sum(r.status == "fail" for r in runs) == 3 and sum(r.latency is not None for r in runs) == 5
    assert {r.dataset for r in runs} == set(bench_history.DATASETS)
    figures = {"median_ms": 12.0, "max_ms": 20.0, "bytes": 4096}
    result = {"runs": 2000, "datasets": 4, "cold_listing_ms": 300.0, "filtered_total": 71, "target_ms": 500,
              "page1": figures, "filtered": figures, "json": {**figures, "median_ms": 600.0}}
    rows = bench_history.markdown_rows(result)
    assert [r.split(" | ")[0] for r in rows] == ["| 8a", "| 8b", "| 8c"]
    assert rows[0] == ("| 8a | Replay validation page, 2,000 runs over 4 datasets: page 1 (summaries, trend plots, "
                       "50 runs) | 12 ms (max 20 ms, 4 KiB) | first request (every record parsed): listing 300 ms "
                       "| - | <= 500 ms | met |")
    assert "failed runs: 71" in rows[1] and rows[2].endswith("| **missed** |")
    from bench.report import markdown

    table = markdown({"machine": {"cpus": 2, "cpu_model": "x", "memory_gib": 1, "kernel": "k", "python": "3",
                                  "load_at_start": [0.5, 0.5, 0.5]}, "date": "d", "command": "make bench",
                      "history": result})
    # make bench's table ends with row 8, each row naming the command that measures it alone
    assert table.splitlines()[-3:] == [f"{r} `python -m bench.history` |" for r in rows]
