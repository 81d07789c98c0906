"""The bench's pacing-at-a-speed part: the recording with gaps it replays, and the rows it reports."""

from __future__ import annotations

from bench import datasets
from bench.report import markdown
from include import dataset


def test_gapped_recording_has_its_holes_and_reads_as_a_dataset(tmp_path):
    seconds = datasets.gapped_seconds()
    assert seconds[0] == 0 and seconds[-1] == datasets.GAPPED_SPAN
    gaps = [b - a for a, b in zip(seconds, seconds[1:])]
    # The 5 s step, and the four holes (a step longer than the seconds left out).
    assert sorted(g for g in gaps if g != datasets.GAPPED_STEP) == [10, 65, 305, 305]
    path = datasets.gapped(tmp_path)
    ds = dataset.load(path)
    assert ds.group_count() == len(seconds) and ds.rows == len(seconds) * datasets.GAPPED_SERVERS
    assert ds.last_second - ds.first_second == datasets.GAPPED_SPAN and ds.has_net_disk
    assert datasets.gapped(tmp_path).read_bytes() == path.read_bytes()  # made once, then reused


def test_report_rows_for_pacing_at_a_speed():
    result = {"machine": {"cpus": 2, "cpu_model": "x", "memory_gib": 1, "kernel": "k", "python": "3",
                          "load_at_start": [0.5, 0.5, 0.5]}, "date": "d", "command": "make bench",
              "pacing_speed": {"speed": 50, "groups": 588, "recorded_seconds": 3600, "final_drift_ms": 0.13,
                               "p99_lateness_ms": 12.5, "achieved_speed": 49.9999, "achieved_seconds": 72.0001}}
    lines = markdown(result).splitlines()
    drift = next(line for line in lines if line.startswith("| 2c |"))
    late = next(line for line in lines if line.startswith("| 2d |"))
    assert "pacing at speed 50: final drift, 3,600 recorded s with gaps (588 groups)" in drift
    command = " `python -m bench.run --only speed` |"  # the last column: the command that measures the row
    assert "| 0.13 ms |" in drift and "achieved speed 50.000x (72.00 s)" in drift
    assert drift.endswith("| met |" + command)
    assert "| 12.50 ms |" in late and late.endswith("| **missed** |" + command)
