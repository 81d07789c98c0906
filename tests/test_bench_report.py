"""The README's Performance table and bench/results/latest.md are what bench.report makes from latest.json, and
every row of the table names the command that measures it."""

from __future__ import annotations

import copy
import json

import pytest

from bench import report
from bench.run import PARTS, main as bench_main

RESULTS = json.loads(report.RESULTS.read_text())


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| # |")]


def test_the_readme_table_is_what_latest_json_makes():
    readme = report.README.read_text()
    assert report.readme_with_table(readme, RESULTS) == readme, (
        "README.md's Performance table is not what bench/results/latest.json makes: "
        "run `python -m bench.report --readme` (make bench-readme)")
    section = readme[readme.index(report.README_BEGIN):readme.index(report.README_END)]
    assert report.markdown(RESULTS) in section


def test_latest_md_is_what_latest_json_makes():
    assert report.RESULTS.with_suffix(".md").read_text() == report.markdown(RESULTS)


def test_every_row_gives_its_command_and_each_command_names_real_parts():
    rows = table_rows(report.markdown(RESULTS))
    assert len(rows) >= 20
    for cells in rows:
        assert len(cells) == 8, cells
        assert cells[-1].startswith("`python -m bench."), cells
    for command in report.COMMANDS.values():
        words = command.strip("`").split()
        if words[2] == "bench.run":
            assert set(words[4].split(",")) <= set(PARTS), command


def test_check_reports_a_stale_readme_and_readme_rewrites_it(tmp_path, capsys):
    results = tmp_path / "latest.json"
    results.write_text(json.dumps(RESULTS))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{report.README_BEGIN}\nold table\n{report.README_END}\n\nAfter.\n")
    assert report.main(["--results", str(results), "--readme", str(readme), "--check"]) == 1
    assert "old table" in readme.read_text() and not results.with_suffix(".md").exists()
    assert report.main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"# Title\n\n{report.README_BEGIN}\nMachine: ") and text.endswith(
        f"{report.README_END}\n\nAfter.\n")
    assert "old table" not in text
    assert report.main(["--results", str(results), "--readme", str(readme), "--check"]) == 0
    assert results.with_suffix(".md").read_text() == report.markdown(RESULTS)


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="no bench table markers"):
        report.readme_with_table("# no table here\n", RESULTS)


def test_spark_rows_show_every_run_and_judge_the_new_targets_on_the_best():
    r = copy.deepcopy(RESULTS)
    spark = r["spark"]
    spark["targets"].update({"100x_over_1x": 3.0, "100x_spark_over_pandas": 3.0})
    runs = spark["runs"]
    runs["1"].update(seconds=20.0, seconds_runs=[20.0, 21.0], pandas_seconds=1.0, pandas_seconds_runs=[1.0, 1.2])
    runs["100"].update(seconds=58.0, seconds_runs=[61.0, 58.0], pandas_seconds=20.0,
                       pandas_seconds_runs=[20.0, 22.0], ratio_vs_1x=58.0 / 20.0, spark_over_pandas=58.0 / 20.0)
    row = next(c for c in table_rows(report.markdown(r)) if c[0] == "3.100x")
    assert row[2] == "58.0 s (runs 61.0 s, 58.0 s) (2.90x the 1x time)"
    assert row[3] == "pandas on the CSV 20.0 s (runs 20.0 s, 22.0 s)"
    assert row[4] == "Spark/pandas 2.90x (best of each)"
    assert row[5] == "<= 3x the 1x time, Spark/pandas <= 3x" and row[6] == "met"
    runs["100"].update(spark_over_pandas=3.2)
    assert next(c for c in table_rows(report.markdown(r)) if c[0] == "3.100x")[6] == "**missed**"


def test_the_bench_refuses_an_unknown_part():
    with pytest.raises(SystemExit):
        bench_main(["--only", "producr"])
