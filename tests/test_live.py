"""Live mode end to end (real broker, real Spark Structured Streaming, the whole DAG through dag.test()): the
streaming job reads while the producer sends, publishes alerts as windows become final, ends by itself after
the end-of-replay markers and writes the same bytes as batch mode; late data, a rerun and a killed driver."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from devtools import generate, reference
from devtools.cli import run_dag
from include import replay
from include.alerts import AlertMessage, parse_utc
from include.contract import (ALERTS_FILE, ALERTS_TOPIC, CPU_MEM_FILE, LATENCY_KEY, MANIFEST_FILE, MODE_LIVE,
                              NET_DISK_FILE, SEND_LOG_FILE, STREAM_FILE, VALIDATION_FILE)
from include.live import JobState, LiveFolder, StreamRecord
from include.paths import DATA_DIR, PROJECT_ROOT
from kafka_helpers import read_topic

pytestmark = pytest.mark.e2e

LIVE = ["check_broker", "ensure_topics", "choose_mode", "start_stream", "produce_metrics_live",
        "window_metrics_live", "validate_output"]


def states(dr) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def assert_live_success(dr) -> None:
    got = states(dr)
    assert {t: got[t] for t in LIVE} == {t: "success" for t in LIVE}, got
    assert got["produce_metrics"] == got["window_metrics"] == "skipped"


def alerting_rows(*expected: Path) -> int:
    return sum(1 for path in expected for line in path.read_text().splitlines()[1:] if not line.endswith(","))


def alerts_of(out: Path) -> list[AlertMessage]:
    return [AlertMessage.parse(line) for line in (out / ALERTS_FILE).read_text().splitlines()]


def no_working_files(out: Path) -> None:
    """Nothing half-written is left: only the outputs and the live folder's small records."""
    live = LiveFolder(out)
    assert not live.checkpoints.exists() and not live.staged.exists() and not live.progress.exists()
    assert not [p for p in out.iterdir() if p.name.startswith((".spark-staging", ".tmp"))]


def test_real_day_live_at_hundreds_of_groups_a_second_is_byte_identical(tmp_path, real_data, airflow_db,
                                                                          airflow_connections):
    """1,440 groups at 200 groups a second (speed 1000 on 5 s steps): the streaming job's outputs are the
    known-good file byte for byte; every alerting row was published, with latency figures."""
    dataset, expected = real_data
    out = tmp_path / "real-live"
    dr, _ = run_dag({"mode": MODE_LIVE, "dataset_path": str(dataset), "expected_path": str(expected),
                     "expected_net_disk_path": None, "output_dir": str(out), "speed": 1000})
    assert_live_success(dr)
    assert (out / CPU_MEM_FILE).read_bytes() == expected.read_bytes()
    assert not (out / NET_DISK_FILE).exists()
    report = json.loads((out / VALIDATION_FILE).read_text())
    assert report["passed"] is True
    alerts = alerts_of(out)
    assert len(alerts) == alerting_rows(expected) > 0
    assert {a.output for a in alerts} == {"cpu_mem"}
    latency = report[LATENCY_KEY]
    assert latency["alerts"] == latency["latency_seconds"]["count"] == len(alerts)
    assert latency["unmeasured"] == 0
    assert 0 <= latency["latency_seconds"]["p50"] <= latency["latency_seconds"]["p95"] <= latency["latency_seconds"]["max"]
    assert latency["from_last_sample_seconds"]["p50"] >= latency["latency_seconds"]["p50"]
    assert "Alert latency" in (out / "report.html").read_text()
    record = StreamRecord.read(out / STREAM_FILE)
    assert record.starts == 1 and record.alerts == len(alerts)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert record.records_read == {t: n for t, n in manifest["counts"].items()}
    assert sum(record.dropped_by_watermark.values()) == 0
    # The same messages went to topic-alerts, keyed by server.
    published = [AlertMessage.parse(m.value()) for m in read_topic({"bootstrap.servers": airflow_connections.bootstrap}, ALERTS_TOPIC)
                 if m.headers() and dict(m.headers()).get("replay-attempt", b"").decode() == manifest["attempt_id"]]
    assert sorted(a.text() for a in published) == sorted(a.text() for a in alerts)
    no_working_files(out)


DEFAULT = {"dataset_path": "data/metrics.csv", "expected_path": "data/metrics_expected.csv",
           "expected_net_disk_path": "data/metrics_net_disk_expected.csv"}


def alert_keys(out: Path) -> list[str]:
    """alerts.jsonl without emitted_at (the one field a rerun changes)."""
    return [json.dumps({**json.loads(line), "emitted_at": None}) for line in
            (out / ALERTS_FILE).read_text().splitlines()]


def test_default_day_live_with_late_data_within_the_watermark_is_byte_identical_and_a_rerun_identical(
        tmp_path, airflow_db, airflow_connections):
    """The four-metric default day, 20% of the samples sent up to 10 recorded seconds late (= the watermark),
    seeded: both outputs byte-identical. Then the same run again (dag.test() clears it, as the UI's Clear
    does): a new session from the topics' new end, and the same outputs and alerts."""
    out = tmp_path / "default-live"
    conf = {**DEFAULT, "mode": MODE_LIVE, "output_dir": str(out), "speed": 1000, "late_fraction": 0.2,
            "late_max_seconds": 10, "late_seed": 7}
    expected, expected_nd = PROJECT_ROOT / DEFAULT["expected_path"], PROJECT_ROOT / DEFAULT["expected_net_disk_path"]
    dr, _ = run_dag(conf)
    assert_live_success(dr)
    assert (out / CPU_MEM_FILE).read_bytes() == expected.read_bytes()
    assert (out / NET_DISK_FILE).read_bytes() == expected_nd.read_bytes()
    report = json.loads((out / VALIDATION_FILE).read_text())
    assert report["passed"] is True
    late = report["late"]
    assert late["samples_sent"] == round(0.2 * 28_800) and late["beyond_watermark"] == 0
    assert late["dropped_by_watermark"] == 0 and sum(late["unexplained"].values()) == 0
    assert {a.output for a in alerts_of(out)} == {"cpu_mem", "net_disk"}
    assert len(alerts_of(out)) == alerting_rows(expected, expected_nd)
    first_session = json.loads((out / MANIFEST_FILE).read_text())["attempt_id"]
    first_alerts = alert_keys(out)

    again, _ = run_dag(conf, logical_date=dr.logical_date, run_after=dr.run_after)
    assert again.run_id == dr.run_id
    assert_live_success(again)
    assert json.loads((out / MANIFEST_FILE).read_text())["attempt_id"] != first_session
    assert (out / CPU_MEM_FILE).read_bytes() == expected.read_bytes()
    assert (out / NET_DISK_FILE).read_bytes() == expected_nd.read_bytes()
    # The same alerts; their order in the file is their emission order, which follows the micro-batches.
    assert sorted(alert_keys(out)) == sorted(first_alerts)
    no_working_files(out)


def test_late_data_beyond_the_watermark_is_counted_classified_and_passes_only_when_allowed(
        tmp_path, airflow_db, airflow_connections):
    """30% of the samples up to 300 recorded seconds late against a 10 s watermark, at a pace where Spark sees
    the stream in many micro-batches: Spark drops rows, every differing window is explained by a sample the
    producer sent beyond the watermark, and the run fails; the same output validated with allow_late_drops
    passes."""
    dataset = DATA_DIR / generate.MIDNIGHT_FILE
    expected, expected_nd = DATA_DIR / generate.MIDNIGHT_EXPECTED, DATA_DIR / generate.MIDNIGHT_EXPECTED_NET_DISK
    out = tmp_path / "late"
    conf = {"mode": MODE_LIVE, "dataset_path": str(dataset), "expected_path": str(expected),
            "expected_net_disk_path": str(expected_nd), "output_dir": str(out), "speed": 100,
            "recording_start": generate.MIDNIGHT_RECORDING_START, "late_fraction": 0.3, "late_max_seconds": 300,
            "late_seed": 3}
    dr, _ = run_dag(conf)
    got = states(dr)
    assert got["window_metrics_live"] == "success" and got["validate_output"] == "failed", got
    report = json.loads((out / VALIDATION_FILE).read_text())
    late = report["late"]
    assert report["passed"] is False
    assert late["beyond_watermark"] > 0 and late["dropped_by_watermark"] > 0
    assert sum(late["explained"].values()) > 0 and sum(late["unexplained"].values()) == 0
    assert sum(StreamRecord.read(out / STREAM_FILE).dropped_by_watermark.values()) == late["dropped_by_watermark"]

    summary = replay.validate_output(str(out), str(expected), str(expected_nd), dr.run_id, 80.07, 89.36,
                                     mode=MODE_LIVE, watermark_seconds=10, window_seconds=30, allow_late_drops=True)
    assert summary["passed"] is True
    allowed = json.loads((out / VALIDATION_FILE).read_text())
    assert allowed["late"]["allow_late_drops"] is True
    assert "explained" in (out / "report.html").read_text()


def short_recording(folder: Path) -> tuple[Path, Path, Path, dict]:
    """Three servers, a sample every 2 s for 2 minutes, thresholds that make many windows alert; its expected
    outputs from the reference implementation."""
    dataset = generate.write_dataset(folder / "short.csv", servers=3, samples=60, step=2, seed=11)
    thresholds = {"cpu_threshold": 40.0, "mem_threshold": 50.0, "net_threshold": 3000.0, "disk_threshold": 900.0}
    expected, expected_nd = folder / "short_expected.csv", folder / "short_net_disk_expected.csv"
    reference.write_expected(dataset, expected, expected_nd, **thresholds)
    return dataset, expected, expected_nd, thresholds


def test_paced_live_replay_alerts_while_sending_and_a_killed_driver_resumes_byte_identical(
        tmp_path, airflow_db, airflow_connections):
    """At 4x recorded time (a group every half second) alerts come out while the producer is still sending,
    with latency figures. The streaming job's driver is killed (SIGKILL to its process group) after its first
    alerts: the window step starts it again from its checkpoints and the run ends byte-identical, with one
    alert line per alerting row and no half-written file."""
    dataset, expected, expected_nd, thresholds = short_recording(tmp_path)
    out = tmp_path / "paced"
    folder = LiveFolder(out)
    killed: list[int] = []

    def kill_after_first_alerts() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            alerts = out / ALERTS_FILE
            if alerts.exists() and alerts.read_text().strip() and folder.job.exists():
                state = JobState.read(folder.job)
                assert not (out / CPU_MEM_FILE).exists()  # nothing written before the end
                os.killpg(state.pid, signal.SIGKILL)
                killed.append(state.pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_first_alerts, daemon=True)
    killer.start()
    dr, _ = run_dag({"mode": MODE_LIVE, "dataset_path": str(dataset), "expected_path": str(expected),
                     "expected_net_disk_path": str(expected_nd), "output_dir": str(out), "speed": 4, **thresholds})
    killer.join(timeout=5)
    assert killed, "the driver was never killed: no alert came out"
    assert_live_success(dr)
    assert (out / CPU_MEM_FILE).read_bytes() == expected.read_bytes()
    assert (out / NET_DISK_FILE).read_bytes() == expected_nd.read_bytes()
    record = StreamRecord.read(out / STREAM_FILE)
    assert record.starts == 2 and folder.spark_log(2).exists()
    alerts = alerts_of(out)
    assert len(alerts) == alerting_rows(expected, expected_nd) == record.alerts
    report = json.loads((out / VALIDATION_FILE).read_text())
    latency = report[LATENCY_KEY]
    assert latency["emitted_before_last_send"] > 0
    send_log = json.loads((out / SEND_LOG_FILE).read_text())
    last_send = max(sent_at for _, sent_at in send_log["groups"])
    assert min(parse_utc(a.emitted_at) for a in alerts) < last_send
    assert latency["latency_seconds"]["count"] == len(alerts) and latency["latency_seconds"]["p95"] is not None
    no_working_files(out)

