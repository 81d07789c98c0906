"""Offset bookkeeping and the manifest handed from the producer to the Spark job."""

from __future__ import annotations

import json

import pytest

from include.offsets import Manifest, ManifestError, OffsetError, OffsetTracker, Pace

PACE = Pace.measured("seconds_per_group", 1.0, groups=3, recorded_seconds=2, achieved_seconds=2.5)


def manifest_of(tracker: OffsetTracker) -> Manifest:
    return Manifest.from_tracker(tracker, run_id="r1", attempt_id="a1", bootstrap_servers="127.0.0.1:9092",
                                 dataset_path="d.csv", first_second=0, dated=False, epoch_offset=1_700_006_400,
                                 time_shift_seconds=0, pace=PACE, has_net_disk=False)


def tracker_of(spans: dict[str, dict[int, tuple[int, int]]]) -> OffsetTracker:
    """A tracker whose topics' records fill these [start, end) spans exactly."""
    t = OffsetTracker()
    t.cover({topic: {p: a for p, (a, _) in parts.items()} for topic, parts in spans.items()},
            {topic: {p: b for p, (_, b) in parts.items()} for topic, parts in spans.items()},
            {topic: sum(b - a for a, b in parts.values()) for topic, parts in spans.items()})
    return t


def test_ranges_are_what_the_end_offsets_moved_by_per_topic_and_partition():
    t = OffsetTracker()
    t.record_failure("topic-mem: timed out")
    t.record_failure("topic-mem: other")
    t.cover(before={"topic-cpu": {0: 5, 1: 3, 2: 9}, "topic-mem": {0: 10}},
            after={"topic-cpu": {0: 8, 1: 4, 2: 9}, "topic-mem": {0: 11, 1: 2}, "topic-net": {0: 4}},
            acked={"topic-cpu": 4, "topic-mem": 3, "topic-net": 0})
    # Partition 2 did not move (left out); topic-mem's partition 1 is new (from 0); topic-net sent nothing.
    assert t.ranges == {"topic-cpu": {0: [5, 8], 1: [3, 4]}, "topic-mem": {0: [10, 11], 1: [0, 2]}}
    assert t.acked == {"topic-cpu": 4, "topic-mem": 3} and sum(t.acked.values()) == 7
    assert t.failed == 2 and t.first_error == "topic-mem: timed out"


def test_end_offsets_that_moved_less_than_the_acknowledged_count_are_an_error():
    """More acknowledged records than the log grew by: some are missing (truncated, topic made again)."""
    with pytest.raises(OffsetError, match=r"topic-cpu's partitions' end offsets moved by 3 .* for 4 acknowledged"):
        OffsetTracker().cover({"topic-cpu": {0: 5}}, {"topic-cpu": {0: 8}}, {"topic-cpu": 4})
    # More offsets than records (another writer in between) is fine: the job then checks the attempt header.
    wide = OffsetTracker()
    wide.cover({"topic-cpu": {0: 5}}, {"topic-cpu": {0: 9}}, {"topic-cpu": 2})
    assert wide.ranges == {"topic-cpu": {0: [5, 9]}} and wide.acked == {"topic-cpu": 2}


def test_spark_offsets_start_inclusive_end_exclusive():
    t = tracker_of({"topic-cpu": {0: (5, 10)}, "topic-mem": {2: (0, 1)}})
    start, end = manifest_of(t).spark_offsets(["topic-cpu", "topic-mem"])
    assert json.loads(start) == {"topic-cpu": {"0": 5}, "topic-mem": {"2": 0}}
    assert json.loads(end) == {"topic-cpu": {"0": 10}, "topic-mem": {"2": 1}}
    with pytest.raises(ManifestError, match="topic-net"):
        manifest_of(t).spark_offsets(["topic-net"])


def test_manifest_round_trip_and_errors(tmp_path):
    t = tracker_of({"topic-cpu": {0: (1, 2)}})
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


def test_manifest_file_keeps_its_shape(tmp_path):
    t = tracker_of({"topic-mem": {1: (4, 5)}, "topic-cpu": {0: (7, 8)}})
    path = manifest_of(t).write(tmp_path / "manifest.json")
    # Sorted keys, two-space indent, spans as [start, end) lists: what the Spark job and the tests read.
    assert path.read_text() == json.dumps({
        "attempt_id": "a1", "bootstrap_servers": "127.0.0.1:9092", "counts": {"topic-cpu": 1, "topic-mem": 1},
        "dataset_path": "d.csv", "dated": False, "epoch_offset": 1_700_006_400, "first_second": 0,
        "has_net_disk": False, "ignored_columns": {},
        "offsets": {"topic-cpu": {"0": [7, 8]}, "topic-mem": {"1": [4, 5]}},
        "pace": {"achieved": 1.25, "achieved_seconds": 2.5, "groups": 3, "mode": "seconds_per_group",
                 "recorded_seconds": 2, "requested": 1.0},
        "run_id": "r1", "time_shift_seconds": 0}, indent=2) + "\n"


def test_pace_achieved_in_the_unit_of_its_mode():
    # speed: recorded span over wall-clock span; seconds_per_group: wall-clock span per step between groups.
    speed = Pace.measured("speed", 50, groups=4, recorded_seconds=300, achieved_seconds=6.2)
    assert speed.achieved == pytest.approx(300 / 6.2) and speed.requested == 50.0
    assert "speed 50x recorded time" in speed.describe() and "achieved 48.39x" in speed.describe()
    assert PACE.achieved == 1.25 and "1 s per group" in PACE.describe() and "1.25 s per group" in PACE.describe()
    # Nothing to measure: a single group, or no time passed at all.
    assert Pace.measured("seconds_per_group", 1.0, groups=1, recorded_seconds=0, achieved_seconds=0).achieved is None
    instant = Pace.measured("speed", 0, groups=5, recorded_seconds=10, achieved_seconds=0)
    assert instant.achieved is None and "as fast as possible" in instant.describe()


@pytest.mark.parametrize("change,words", [
    ({"offsets": {"topic-cpu": {"0": [5]}}}, "field 'offsets.topic-cpu.0'"),
    ({"offsets": {"topic-cpu": {"0": [9, 5]}}}, "start offset 9 is after end offset 5"),
    ({"offsets": {"topic-cpu": {"zero": [0, 1]}}}, "field 'offsets.topic-cpu.zero"),
    ({"counts": {"topic-cpu": -1}}, "field 'counts.topic-cpu'"),
    ({"has_net_disk": "no"}, "field 'has_net_disk'"),
    ({"first_second": "0"}, "field 'first_second'"),
    ({"dated": 1}, "field 'dated'"),
    ({"epoch_offset": 1.5}, "field 'epoch_offset'"),
    ({"time_shift_seconds": "0"}, "field 'time_shift_seconds'"),
    ({"pace": {**PACE.model_dump(), "mode": "groups"}}, "field 'pace.mode'"),
    ({"pace": {**PACE.model_dump(), "achieved_seconds": -1.0}}, "field 'pace.achieved_seconds'"),
    ({"pace": {**PACE.model_dump(), "extra": 1}}, "field 'pace.extra'"),
    ({"attempt": "a2"}, "field 'attempt'"),
    ({"run_id": None}, "field 'run_id'"),
    ({"ignored_columns": {"region": -1}}, "field 'ignored_columns.region'"),
    ({"ignored_columns": ["region"]}, "field 'ignored_columns'"),
])
def test_malformed_manifest_names_the_file_and_the_field(tmp_path, change, words):
    t = tracker_of({"topic-cpu": {0: (1, 2)}})
    data = {**json.loads(manifest_of(t).write(tmp_path / "good.json").read_text()), **change}
    bad = tmp_path / "run" / "manifest.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(data))
    with pytest.raises(ManifestError) as err:
        Manifest.read(bad)
    assert str(bad) in str(err.value) and words in str(err.value), str(err.value)


def test_missing_field_is_named(tmp_path):
    t = tracker_of({"topic-cpu": {0: (1, 2)}})
    data = json.loads(manifest_of(t).write(tmp_path / "good.json").read_text())
    del data["attempt_id"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="field 'attempt_id': Field required"):
        Manifest.read(tmp_path / "manifest.json")


def test_ignored_columns_round_trip_and_an_older_manifest_without_them_reads(tmp_path):
    t = tracker_of({"topic-cpu": {0: (1, 2)}})
    m = Manifest(**{**manifest_of(t).__dict__, "ignored_columns": {"region": 28_800, "(unnamed) (column 1)": 5}})
    assert Manifest.read(m.write(tmp_path / "m.json")).ignored_columns == {"region": 28_800,
                                                                            "(unnamed) (column 1)": 5}
    older = json.loads(manifest_of(t).write(tmp_path / "old.json").read_text())
    del older["ignored_columns"]
    (tmp_path / "old.json").write_text(json.dumps(older))
    assert Manifest.read(tmp_path / "old.json").ignored_columns == {}


def test_ranges_hold_only_the_attempt_when_they_span_as_many_offsets_as_acknowledged_records():
    t = tracker_of({"topic-cpu": {0: (5, 8)}, "topic-net": {0: (3, 4), 1: (0, 2)}})
    # Two records of topic-mem in [10, 13): offset 11 or 12 is another producer's record.
    t.cover({"topic-mem": {0: 10}}, {"topic-mem": {0: 13}}, {"topic-mem": 2})
    m = manifest_of(t)
    assert m.holds_only_attempt(["topic-cpu"]) and m.holds_only_attempt(["topic-net"])
    assert not m.holds_only_attempt(["topic-mem"]) and not m.holds_only_attempt(["topic-cpu", "topic-mem"])
