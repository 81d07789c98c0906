"""The bench's warm-Spark rows (4w): the ratio to spark-submit, the first run apart, the server's memory."""

from __future__ import annotations

from bench.common import MIB
from bench.report import markdown


def _run(total: float, window: float) -> dict:
    return {"dag_test_seconds": total, "tasks": {"window_metrics": {"seconds": window}}}


def test_report_rows_for_the_warm_spark():
    warm = {"server_start_seconds": 9.0, "server_warm_up_seconds": 12.0, "server_rss_bytes": 400 * MIB, "server_peak_rss_bytes": 900 * MIB,
            "first": _run(30.0, 12.0), "warm": [_run(16.0, 3.0), _run(18.0, 4.0)],
            "spark_submit": [_run(48.0, 25.0), _run(50.0, 26.0), _run(52.0, 27.0)], "first_seconds": 30.0,
            "dag_test_seconds": 17.0, "window_metrics_seconds": 3.5, "spark_submit_seconds": 50.0,
            "spark_submit_window_seconds": 26.0, "target_ratio": 0.4, "ratio": 0.34, "first_ratio": 0.6, "met": True}
    result = {"machine": {"cpus": 2, "cpu_model": "x", "memory_gib": 1, "kernel": "k", "python": "3",
                          "load_at_start": [0.5, 0.5, 0.5]}, "date": "d", "command": "make bench", "e2e_warm": warm}
    lines = markdown(result).splitlines()
    row = next(line for line in lines if line.startswith("| 4w |"))
    assert "| 17.0 s (the server's first run 30.0 s) |" in row and "median of 2 runs" in row
    assert "spark-submit end to end, median of 3 (row 4's and the interleaved) 50.0 s" in row
    assert "| 0.34x (first run 0.60x) | <= 0.4x | met |" in row
    window = next(line for line in lines if line.startswith("| 4wa |"))
    assert "| 3.5 s | spark-submit's window_metrics 26.0 s | 0.13x |" in window
    memory = next(line for line in lines if line.startswith("| 4wm |"))
    assert "| 400 MiB; peak 900 MiB | started in 9.0 s, warmed up in 12.0 s |" in memory
    missed = markdown({**result, "e2e_warm": {**warm, "ratio": 0.45, "met": False}}).splitlines()
    assert next(line for line in missed if line.startswith("| 4w |")).endswith("| **missed** | `python -m bench.run --only e2e,warm` |")
