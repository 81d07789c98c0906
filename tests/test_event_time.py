"""Event time on a real broker: every record's Kafka timestamp (CreateTime) is its sample's event time, also
under time_shift now (shifted by the manifest's time_shift_seconds), and a replay at speed 50 keeps its pace.

The replays go through the task body (include.replay.produce_metrics, as the DAG runs it), and the records
are read back from the broker between the manifest's offsets.
"""

from __future__ import annotations

import json
import time
from calendar import timegm
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME
from confluent_kafka.admin import ConfigResource

from kafka_helpers import read_manifest_records
from include import replay
from include.contract import ATTEMPT_HEADER, TOPICS
from include.offsets import Manifest
from include.topics import admin_client, ensure_topics

pytestmark = pytest.mark.integration

HEADER = "server_id,timestamp,cpu_pct,mem_pct,net_in,net_out,disk_io"


def epoch(text: str) -> int:
    return timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple())


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A recording of (server, timestamp text) rows with made-up metrics."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [HEADER] + [f"{srv},{ts},{10 + i % 80}.5,{20 + i % 70}.25,{1000 + i},{900 + i},{500 + i}"
                        for i, (srv, ts) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_back(config: dict, manifest: Manifest) -> list:
    """Every record of this produce attempt, from the manifest's offset ranges of every topic it wrote."""
    records = read_manifest_records(config, manifest)
    assert len(records) == sum(manifest.counts.values())
    assert all(dict(r.headers())[ATTEMPT_HEADER] == manifest.attempt_id.encode() for r in records)
    return records


def replay_file(tmp_path: Path, path: Path, name: str, **kwargs) -> Manifest:
    done = replay.produce_metrics("kafka_default", str(path), str(tmp_path / name), f"event-time-{name}",
                                  kwargs.pop("seconds_per_group", 0), **kwargs)
    return Manifest.read(done["manifest"])


def expected_event_seconds(path: Path, to_epoch) -> dict[tuple[str, str], int]:
    """(server, timestamp text) -> recorded epoch second, as the test computes it itself."""
    rows = [line.split(",")[:2] for line in path.read_text().splitlines()[1:]]
    return {(srv, ts): to_epoch(ts) for srv, ts in rows}


def check_records(records: list, expected: dict[tuple[str, str], int], shift: int) -> None:
    """Each record: CreateTime = (recorded epoch second + shift) in ms, and event_time says the same."""
    seen = set()
    for r in records:
        value = json.loads(r.value())
        key = (value["server_id"], value["original_ts"])
        second = expected[key] + shift
        kind, ms = r.timestamp()
        assert kind == TIMESTAMP_CREATE_TIME, (r.topic(), key, kind)
        assert ms == second * 1000, (r.topic(), key, ms, second)
        stamp = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert value["event_time"] == stamp, (r.topic(), key, value["event_time"], stamp)
        seen.add(key)
    assert seen == set(expected)  # every row came back


def dated_rows() -> list[tuple[str, str]]:
    """Two servers over the midnight between 30 and 31 March 2024, written with Z, an offset and no suffix."""
    rows = []
    for i in range(8):
        second = epoch("2024-03-30 23:59:40") + 5 * i
        text = datetime.fromtimestamp(second, timezone.utc)
        rows.append(("s1", text.strftime("%Y-%m-%dT%H:%M:%SZ")))
        rows.append(("s2", (text + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")))
    rows.append(("s3", "2024-03-31 00:00:00"))
    return rows


def test_dated_records_carry_their_event_time_and_the_shifted_time_under_now(tmp_path, kafka_config,
                                                                             airflow_connections):
    ensure_topics(kafka_config, TOPICS, partitions=2, replication=1)
    path = write(tmp_path / "data" / "dated.csv", dated_rows())

    def to_epoch(text: str) -> int:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp())

    expected = expected_event_seconds(path, to_epoch)
    recorded = replay_file(tmp_path, path, "none")
    assert (recorded.dated, recorded.epoch_offset, recorded.time_shift_seconds) == (True, 0, 0)
    check_records(read_back(kafka_config, recorded), expected, shift=0)

    before = int(time.time())
    shifted = replay_file(tmp_path, path, "now", time_shift="now")
    after = int(time.time())
    # The first group (23:59:40 on 30 March 2024) is sent at the second the replay started...
    first = min(expected.values())
    assert shifted.first_second == first and before <= first + shifted.time_shift_seconds <= after
    # ...and every record moves by exactly the manifest's shift.
    check_records(read_back(kafka_config, shifted), expected, shift=shifted.time_shift_seconds)


def test_time_of_day_records_across_midnight_are_dated_by_recording_start(tmp_path, kafka_config,
                                                                          airflow_connections):
    """recording_start a day ahead: every event time lies in the future, beyond the hour a Kafka 4 broker
    accepts by default, which the topics ensure_topics creates allow."""
    ensure_topics(kafka_config, TOPICS, partitions=1, replication=1)
    day = (datetime.now(timezone.utc) + timedelta(days=2)).date()
    start = f"{day.isoformat()}T23:58:00"
    times = ["23:59:50", "23:59:55", "00:00:00", "00:00:05", "00:00:10", "23:58:00"]  # not in time order
    path = write(tmp_path / "data" / "midnight.csv", [(s, t) for t in times for s in ("a", "b")])
    next_day = day + timedelta(days=1)

    def to_epoch(text: str) -> int:
        return epoch(f"{day if text >= '23:58:00' else next_day} {text}")

    expected = expected_event_seconds(path, to_epoch)
    manifest = replay_file(tmp_path, path, "midnight", recording_start=start)
    assert (manifest.dated, manifest.epoch_offset, manifest.time_shift_seconds) == (False, epoch(f"{day} 00:00:00"), 0)
    assert manifest.first_second == 23 * 3600 + 58 * 60
    records = read_back(kafka_config, manifest)
    assert len(records) == len(times) * 2 * len(TOPICS)
    check_records(records, expected, shift=0)
    # The topics take any timestamp and keep records whatever their age (event time, not arrival time).
    admin = admin_client(kafka_config)  # held while its futures resolve
    configs = admin.describe_configs([ConfigResource("topic", t) for t in TOPICS])
    for resource, future in configs.items():
        values = {k: v.value for k, v in future.result(timeout=15).items()}
        assert values["message.timestamp.after.max.ms"] == str(2**63 - 1), resource
        assert values["retention.ms"] == "-1", resource


def test_speed_50_keeps_the_recorded_pace_within_5_percent(tmp_path, kafka_config, airflow_connections):
    """300 recorded seconds with gaps (5 s steps, holes of 40 s and 120 s) at 50x: about 6 s of replay."""
    ensure_topics(kafka_config, TOPICS, partitions=1, replication=1)
    seconds = [*range(0, 100, 5), 140, 145, 150, *range(270, 301, 5)]
    rows = [(f"server_{k}", f"12:{s // 60:02d}:{s % 60:02d}") for s in seconds for k in range(5)]
    path = write(tmp_path / "data" / "paced.csv", rows)
    started = time.monotonic()
    manifest = replay_file(tmp_path, path, "paced", speed=50, seconds_per_group=1.0)
    took = time.monotonic() - started
    pace = manifest.pace
    assert (pace.mode, pace.requested, pace.groups, pace.recorded_seconds) == ("speed", 50.0, len(seconds), 300)
    assert pace.achieved == pytest.approx(50.0, rel=0.05), pace
    assert pace.achieved_seconds == pytest.approx(6.0, rel=0.05), pace
    # Not one group a second (seconds_per_group 1.0 would take 32 s): speed won.
    assert took < 20, took
