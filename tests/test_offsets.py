"""Offset bookkeeping and the manifest handed from the producer to the Spark job."""

from __future__ import annotations

import json

import pytest

from include.offsets import Manifest, ManifestError, OffsetTracker


def manifest_of(tracker: OffsetTracker) -> Manifest:
    return Manifest.from_tracker(tracker, run_id="r1", attempt_id="a1", bootstrap_servers="127.0.0.1:9092",
                                 dataset_path="d.csv", first_second=0, has_net_disk=False)


def test_ranges_per_topic_and_partition_even_out_of_order():
    t = OffsetTracker()
    for topic, part, off in [("topic-cpu", 0, 7), ("topic-cpu", 0, 5), ("topic-cpu", 1, 3), ("topic-cpu", 0, 6),
                             ("topic-mem", 0, 10)]:
        t.record(topic, part, off)
    t.record_failure("topic-mem: timed out")
    t.record_failure("topic-mem: other")
    assert t.ranges == {"topic-cpu": {0: [5, 8], 1: [3, 4]}, "topic-mem": {0: [10, 11]}}
    assert t.acked == {"topic-cpu": 4, "topic-mem": 1} and t.total_acked == 5
    assert t.failed == 2 and t.first_error == "topic-mem: timed out"


def test_spark_offsets_start_inclusive_end_exclusive():
    t = OffsetTracker()
    t.record("topic-cpu", 0, 5)
    t.record("topic-cpu", 0, 9)
    t.record("topic-mem", 2, 0)
    start, end = manifest_of(t).spark_offsets(["topic-cpu", "topic-mem"])
    assert json.loads(start) == {"topic-cpu": {"0": 5}, "topic-mem": {"2": 0}}
    assert json.loads(end) == {"topic-cpu": {"0": 10}, "topic-mem": {"2": 1}}
    with pytest.raises(ManifestError, match="topic-net"):
        manifest_of(t).spark_offsets(["topic-net"])


def test_manifest_round_trip_and_errors(tmp_path):
    t = OffsetTracker()
    t.record("topic-cpu", 0, 1)
    m = manifest_of(t)
    path = m.write(tmp_path / "out" / "manifest.json")
    assert Manifest.read(path) == m
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["manifest.json"]  # no temporary file left
    with pytest.raises(ManifestError, match="no manifest"):
        Manifest.read(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ManifestError, match=str(bad)):
        Manifest.read(bad)
