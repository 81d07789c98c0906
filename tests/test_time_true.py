"""End to end, the shipped time-true recordings through the whole DAG (real broker, real Spark): the dated
multi-day folder, and the time-of-day recording across midnight with recording_start under time_shift "now".
Both must validate byte for byte against the expected files the reference wrote (`make reference`)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from devtools import generate
from devtools.cli import run_dag
from include.contract import TIME_SHIFT_NOW, TOPICS
from include.paths import DATA_DIR
from dag_module import step_states

pytestmark = pytest.mark.e2e

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]


def assert_validated(dr, out, expected_cpu_mem, expected_net_disk) -> dict:
    """Every task succeeded, both outputs are byte for byte the expected files and validation says so; the
    manifest, as read back."""
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    assert (out / "cpu_mem.csv").read_bytes() == expected_cpu_mem.read_bytes()
    assert (out / "net_disk.csv").read_bytes() == expected_net_disk.read_bytes()
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is True
    assert report["cpu_mem"]["status"] == report["net_disk"]["status"] == "pass"
    return json.loads((out / "manifest.json").read_text())


def test_dated_multiday_folder_replays_byte_identical(tmp_path, airflow_db, airflow_connections):
    """Three files (Z, +02:00, no suffix) merged in event-time order, three nights across midnight with gaps:
    windows as UTC date-times, as the reference wrote them."""
    folder = DATA_DIR / generate.DATED_FOLDER
    expected, expected_nd = DATA_DIR / generate.DATED_EXPECTED, DATA_DIR / generate.DATED_EXPECTED_NET_DISK
    out = tmp_path / "dated"
    dr, _ = run_dag({"dataset_path": str(folder), "expected_path": str(expected),
                     "expected_net_disk_path": str(expected_nd), "output_dir": str(out), "speed": 0,
                     "partitions": 2})
    manifest = assert_validated(dr, out, expected, expected_nd)
    rows = sum(len(f.read_text().splitlines()) - 1 for f in folder.glob("*.csv"))
    assert manifest["counts"] == {t: rows for t in TOPICS}
    assert (manifest["dated"], manifest["epoch_offset"], manifest["time_shift_seconds"]) == (True, 0, 0)
    first = datetime(2024, 3, 30, 23, 40, tzinfo=timezone.utc)
    assert manifest["first_second"] == int(first.timestamp())
    lines = (out / "cpu_mem.csv").read_text().splitlines()
    assert lines[1].startswith("server_1,2024-03-30 23:40:00,2024-03-30 23:40:30,")
    assert lines[-1].startswith("server_4,2024-04-02 00:19:50,2024-04-02 00:20:20,")


def test_midnight_time_of_day_recording_replays_byte_identical_under_time_shift_now(
        tmp_path, airflow_db, airflow_connections):
    """23:40 -> 00:20 in shuffled row order, placed by recording_start; under time_shift "now" the events go
    out as if live, yet windows and outputs are in recorded time, so the shipped expected files still hold."""
    dataset = DATA_DIR / generate.MIDNIGHT_FILE
    expected, expected_nd = DATA_DIR / generate.MIDNIGHT_EXPECTED, DATA_DIR / generate.MIDNIGHT_EXPECTED_NET_DISK
    out = tmp_path / "midnight"
    started = datetime.now(timezone.utc)
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected),
                     "expected_net_disk_path": str(expected_nd), "output_dir": str(out), "seconds_per_group": 0,
                     "recording_start": generate.MIDNIGHT_RECORDING_START, "time_shift": TIME_SHIFT_NOW})
    manifest = assert_validated(dr, out, expected, expected_nd)
    rows = len(dataset.read_text().splitlines()) - 1
    assert manifest["counts"] == {t: rows for t in TOPICS}
    midnight = int(datetime(2024, 3, 30, tzinfo=timezone.utc).timestamp())  # recording_start's date
    assert (manifest["dated"], manifest["epoch_offset"], manifest["first_second"]) == (False, midnight, 85_200)
    # The first group's event time was moved to the moment the replay started.
    first_event = manifest["first_second"] + manifest["epoch_offset"] + manifest["time_shift_seconds"]
    assert int(started.timestamp()) - 5 <= first_event <= int(datetime.now(timezone.utc).timestamp())
    starts = [line.split(",")[1] for line in (out / "cpu_mem.csv").read_text().splitlines()[1:]
              if line.startswith("server_1,")]
    assert starts[0] == "23:40:00" and starts[-1] == "00:19:50"
    assert starts.index("00:00:00") == starts.index("23:59:50") + 1  # time order across midnight
