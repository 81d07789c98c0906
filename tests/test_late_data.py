"""Late and out-of-order data: the seeded schedule, the producer sending it (without and with a real broker),
and a live run's validation classifying each differing window and deciding pass or fail."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from devtools import generate
from include import dataset, producer
from include.contract import CPU_MEM_HEADER, TOPICS
from include.formatting import csv_text
from include.latency import LateSent, SendLog
from include.pacing import late_schedule
from include.validation import (EXPLAINED, RunValidation, ValidationRecord, check_late, classify, compare,
                                read_record)
from kafka_helpers import read_manifest_records
from producer_standin import STARTED, FakeClock, RecordingProducer, use_recording_producer, write

# 6 groups, seconds with a gap (3 is missing), 4 samples each: items are (second, n).
GROUPS = [(s, [(s, n) for n in range(4)]) for s in (0, 1, 2, 4, 5, 6)]
TOTAL = 24


def flatten(releases) -> list:
    """The send order: each group's on-time samples, then the late ones released after it."""
    return [item for r in releases for item in [*r.on_time, *(h.item for h in r.late)]]


def test_schedule_is_seeded_reproducible_and_holds_exactly_the_share():
    first = list(late_schedule(GROUPS, TOTAL, 0.25, 3, seed=7))
    again = list(late_schedule(GROUPS, TOTAL, 0.25, 3, seed=7))
    other = list(late_schedule(GROUPS, TOTAL, 0.25, 3, seed=8))
    assert flatten(first) == flatten(again) and [h for r in first for h in r.late] == [h for r in again for h in r.late]
    assert flatten(first) != flatten(other)  # another seed, another choice
    held = [h for r in first for h in r.late]
    assert len(held) == 6  # exactly round(0.25 x 24), not about
    assert sorted(flatten(first)) == sorted(item for _, items in GROUPS for item in items)  # every sample once
    assert [r.second for r in first] == [s for s, _ in GROUPS]  # every group keeps its place


@pytest.mark.parametrize("seed", range(20))
def test_held_samples_wait_1_to_max_seconds_and_follow_the_last_group_at_or_before_their_due(seed):
    releases = list(late_schedule(GROUPS, TOTAL, 0.5, 3, seed=seed))
    seconds = [r.second for r in releases]
    for i, r in enumerate(releases):
        for h in r.late:
            assert h.item[0] == h.second  # its own second: it keeps its event time
            assert 1 <= h.due - h.second <= 3
            # Right after the last group at or before its due second (or the last group of all).
            assert r.second <= h.due or h.second == r.second
            assert i == len(releases) - 1 or seconds[i + 1] > h.due
            assert r.second >= h.second
        assert [h.item for h in r.late] == sorted(h.item for h in r.late)  # in the order they were held
    # The gap: a sample of second 2 due at 3 goes out after group 2 (nothing at 3), not after group 4.
    for r in releases:
        for h in r.late:
            if h.due == 3:
                assert r.second == 2


def test_delays_past_the_end_go_out_after_the_last_group():
    releases = list(late_schedule(GROUPS, TOTAL, 1.0, 100, seed=1))
    assert all(not r.on_time for r in releases)
    assert [len(r.late) for r in releases] == [0, 0, 0, 0, 0, TOTAL]


def test_nothing_held_passes_each_group_through_untouched():
    releases = list(late_schedule(GROUPS, TOTAL, 0.0, 0, seed=3))
    assert all(r.on_time is items and r.late == [] for r, (_, items) in zip(releases, GROUPS))
    # A share that rounds to no sample holds nothing either.
    assert all(r.on_time is items for r, (_, items) in zip(late_schedule(GROUPS, TOTAL, 0.01, 5, 3), GROUPS))


def test_impossible_schedules_are_refused():
    with pytest.raises(ValueError, match="late_max_seconds"):
        list(late_schedule(GROUPS, TOTAL, 0.5, 0, seed=1))
    with pytest.raises(ValueError, match="late_fraction"):
        list(late_schedule(GROUPS, TOTAL, 1.5, 2, seed=1))
    with pytest.raises(ValueError, match="more than the 10 samples"):
        list(late_schedule(GROUPS, 10, 0.5, 2, seed=1))


# --- the producer, on a stand-in client (the records it hands over, on a fake clock) ---------------------

@pytest.fixture
def handed(monkeypatch):
    return use_recording_producer(monkeypatch, [])


def run(ds, records, **late) -> producer.ProduceResult:
    """produce() at one group a second on a fake clock where each message takes 1 ms to hand over."""
    clock = FakeClock()
    RecordingProducer.clock = clock
    original = RecordingProducer.produce

    def slow(self, *args, **kwargs):
        clock.now += 0.001
        return original(self, *args, **kwargs)

    wall = iter(range(1_000_000))
    try:
        RecordingProducer.produce = slow
        return producer.produce(ds, {"bootstrap.servers": "127.0.0.1:9"}, run_id="unit", clock=clock,
                                sleep=clock.sleep, now=lambda: STARTED, seconds_per_group=1.0,
                                wall_clock=lambda: 1_800_000_000.0 + next(wall), **late)
    finally:
        RecordingProducer.produce = original


def sixty_rows(tmp_path):
    rows = [f"s{n},10:00:{sec:02d},{10 + n}.5,{20 + sec}" for sec in range(0, 60, 5) for n in range(5)]
    return dataset.load(write(tmp_path, rows))


def test_producer_sends_late_samples_after_their_group_with_their_own_event_time(tmp_path, handed):
    ds = sixty_rows(tmp_path)  # 12 groups 5 s apart, 5 servers: 60 samples
    result = run(ds, handed, late_fraction=0.25, late_max_seconds=12, late_seed=5)
    log = result.send_log
    assert result.manifest.counts == {"topic-cpu": 60, "topic-mem": 60} and result.messages == 120
    assert len(log.late) == 15 and log.late_max_seconds == 12 and log.late_seed == 5
    assert [s for s, _ in log.groups] == list(range(36000, 36060, 5))
    # Every sample exactly once per topic, with its own event time and Kafka timestamp.
    for topic in ("topic-cpu", "topic-mem"):
        mine = [r for r in handed if r["topic"] == topic]
        seen = Counter((r["key"], r["value"]["event_time"]) for r in mine)
        assert len(seen) == 60 and set(seen.values()) == {1}
        assert all(r["timestamp"] // 1000 % 86400 == dataset.parse_time_of_day(r["value"]["original_ts"])
                   for r in mine)
    # Send order: a late sample follows every record of its group (after_second) and precedes the next group.
    order = [(r["key"], dataset.parse_time_of_day(r["value"]["original_ts"])) for r in handed
             if r["topic"] == "topic-cpu"]
    for s in log.late:
        at = order.index((s.server_id, s.second))
        before = {sec for _, sec in order[:at]}
        assert s.after_second in before and not any(sec > s.after_second for sec in before)
        assert 0 <= s.after_second - s.second <= 12
        assert s.sent_at == next(at for sec, at in log.groups if sec == s.after_second) + 1  # right after it
    assert len({(s.server_id, s.second) for s in log.late}) == 15
    assert log.last_sent_at is not None and log.last_sent_at > log.groups[-1][1]


def first_sends(records: list[dict]) -> list[float]:
    """The earliest hand-over in each second of the fake clock: when each group started going out."""
    firsts: dict[int, float] = {}
    for r in records:
        firsts[int(r["at"])] = min(r["at"], firsts.get(int(r["at"]), r["at"]))
    return sorted(firsts.values())


def test_late_sends_leave_every_group_on_its_deadline(tmp_path, handed):
    ds = sixty_rows(tmp_path)
    result = run(ds, handed, late_fraction=0.5, late_max_seconds=20, late_seed=2)
    assert len(result.send_log.late) == 30 and len(handed) == 120
    # Group i starts going out at start + i s (500 + i on the fake clock; its first message takes 1 ms),
    # however many late samples went out before it: no drift.
    assert first_sends(handed) == pytest.approx([500 + i + 0.001 for i in range(12)])


def test_without_late_data_the_send_log_lists_every_group(tmp_path, handed):
    result = run(sixty_rows(tmp_path), handed)
    log = result.send_log
    assert log.late == [] and log.late_fraction == 0.0 and len(log.groups) == 12
    assert [at for _, at in log.groups] == [1_800_000_000.0 + i for i in range(12)]
    assert SendLog.model_validate_json(log.model_dump_json()) == log


# --- a real broker ---------------------------------------------------------------------------------------

@pytest.mark.integration
def test_late_data_reaches_the_broker_once_each_after_its_group(tmp_path, kafka_config):
    from include.topics import ensure_topics

    ensure_topics(kafka_config, TOPICS, partitions=2, replication=1)
    ds = dataset.load(generate.write_dataset(tmp_path / "late.csv", servers=4, samples=30, seed=3))
    late = {"late_fraction": 0.3, "late_max_seconds": 25, "late_seed": 11}
    result = producer.produce(ds, kafka_config, run_id="late", seconds_per_group=0, **late)
    m = result.manifest
    assert m.counts == {t: ds.rows for t in TOPICS}
    assert len(result.send_log.late) == round(0.3 * ds.rows)
    # What the schedule says each server's records are, in send order (its own seconds).
    expected: dict[str, list[int]] = defaultdict(list)
    for r in late_schedule(((g.second, g.samples) for g in ds.stream_groups()), ds.rows, 0.3, 25, 11):
        for sample, second in [*((s, r.second) for s in r.on_time), *((h.item, h.second) for h in r.late)]:
            expected[ds.servers[sample.server]].append(second)
    assert any(seconds != sorted(seconds) for seconds in expected.values())  # really out of order
    to_timeline = m.epoch_offset + m.time_shift_seconds
    for topic in TOPICS:
        records = read_manifest_records(kafka_config, m, [topic])
        assert len(records) == ds.rows, topic
        got: dict[str, list[int]] = defaultdict(list)
        # One server's records share a partition (keyed), where the broker keeps the producer's order.
        for msg in sorted(records, key=lambda r: (r.partition(), r.offset())):
            second = msg.timestamp()[1] // 1000 - to_timeline
            assert json.loads(msg.value())["event_time"] == producer.event_time_text(second + to_timeline)
            got[msg.key().decode()].append(second)
        assert dict(got) == dict(expected), topic


# --- classification and the verdict of a live run ----------------------------------------------------------

EXPECTED = [("s1", "10:00:00", "10:00:30", "50", "50", ""), ("s1", "10:00:10", "10:00:40", "60", "60", ""),
            ("s2", "10:00:00", "10:00:30", "70", "70", ""), ("s2", "10:00:10", "10:00:40", "80", "80", "")]
T0 = 36000  # 10:00:00 on the timeline of a time-of-day dataset


def late_log(*late: tuple[str, int, int]) -> SendLog:
    return SendLog(run_id="r", attempt_id="a", late_fraction=0.1, late_max_seconds=30, late_seed=0,
                   groups=[(T0 + i, 1000.0 + i) for i in range(60)],
                   late=[LateSent(server_id=s, second=sec, sent_at=2000.0, after_second=after)
                         for s, sec, after in late],
                   last_sent_at=1060.0)


def live_run(tmp_path, produced) -> RunValidation:
    e, p = tmp_path / "expected.csv", tmp_path / "cpu_mem.csv"
    e.write_text(csv_text(CPU_MEM_HEADER, EXPECTED))
    p.write_text(csv_text(CPU_MEM_HEADER, produced))
    return RunValidation(cpu_mem=compare(e, p, CPU_MEM_HEADER, ("avg_cpu", "avg_mem")), net_disk=None)


def test_a_window_is_explained_by_a_beyond_watermark_sample_of_its_server_inside_it():
    beyond = [LateSent(server_id="s1", second=T0 + 35, sent_at=1.0, after_second=T0 + 50)]
    diffs = [("cpu_mem", "mismatch", ("s1", "10:00:10", "10:00:40")),   # holds 10:00:35
             ("cpu_mem", "missing", ("s1", "10:00:00", "10:00:30")),    # ends before it
             ("cpu_mem", "extra", ("s2", "10:00:10", "10:00:40")),      # another server
             ("net_disk", "mismatch", ("s1", "10:00:30", "10:01:00")),  # the other output, same sample
             ("cpu_mem", "extra", ("s1", "not a time", "x"))]
    assert [w.explained for w in classify(diffs, beyond, 30, dated=False)] == [True, False, False, True, False]
    # Windows across midnight on a time-of-day timeline (second day = +86400), and dated windows.
    midnight = [LateSent(server_id="s1", second=86400 + 5, sent_at=1.0, after_second=86400 + 40)]
    assert classify([("cpu_mem", "missing", ("s1", "23:59:50", "00:00:20"))], midnight, 30, False)[0].explained
    dated = [LateSent(server_id="s1", second=1_711_842_005, sent_at=1.0, after_second=1_711_842_040)]
    assert classify([("cpu_mem", "missing", ("s1", "2024-03-30 23:40:00", "2024-03-30 23:40:30"))],
                    dated, 30, True)[0].explained
    assert not classify([("cpu_mem", "missing", ("s1", "2024-03-31 23:40:00", "2024-03-31 23:40:30"))],
                        dated, 30, True)[0].explained


def test_within_the_watermark_late_data_explains_nothing_and_an_identical_run_passes(tmp_path):
    run_ = live_run(tmp_path, EXPECTED)
    log = late_log(("s1", T0 + 35, T0 + 45), ("s2", T0 + 5, T0 + 15))  # 10 s behind: not beyond a 10 s watermark
    run_.late = check_late(run_, log, 10, 30, False, dropped_by_watermark=0, allow_late_drops=False)
    assert run_.passed and run_.late.samples_sent == 2 and run_.late.beyond_watermark == 0
    assert run_.late.windows == [] and run_.record().cpu_mem.status == "pass"


@pytest.mark.parametrize("allow", [False, True])
def test_explained_differences_pass_only_when_late_drops_are_allowed(tmp_path, allow):
    produced = [EXPECTED[0], ("s1", "10:00:10", "10:00:40", "61", "60", ""), *EXPECTED[2:]]
    run_ = live_run(tmp_path, produced)
    log = late_log(("s1", T0 + 35, T0 + 50), ("s2", T0 + 5, T0 + 10))
    run_.late = check_late(run_, log, 10, 30, False, dropped_by_watermark=2, allow_late_drops=allow)
    record = run_.record()
    assert (record.late.beyond_watermark, record.late.dropped_by_watermark) == (1, 2)
    assert record.late.explained == {"cpu_mem": 1} and record.late.unexplained == {"cpu_mem": 0}
    assert record.passed is allow and run_.passed is allow
    assert record.cpu_mem.status == (EXPLAINED if allow else "fail")
    assert record.cpu_mem.mismatches_per_column["avg_cpu"] == 1
    assert ("EXPLAINED" if allow else "FAIL") in run_.summaries()["cpu_mem"]
    path = record.write(tmp_path / "validation.json")
    assert read_record(path) == record and json.loads(path.read_text())["late"]["windows"][0]["explained"] is True


def test_one_unexplained_difference_fails_the_run_even_when_late_drops_are_allowed(tmp_path):
    produced = [EXPECTED[0], ("s1", "10:00:10", "10:00:40", "61", "60", ""), EXPECTED[2]]  # s2's 2nd window missing
    run_ = live_run(tmp_path, produced)
    log = late_log(("s1", T0 + 35, T0 + 50))
    run_.late = check_late(run_, log, 10, 30, False, dropped_by_watermark=1, allow_late_drops=True)
    record = run_.record()
    assert record.passed is False and record.cpu_mem.status == "fail"
    assert record.late.unexplained == {"cpu_mem": 1} and record.late.explained == {"cpu_mem": 1}
    assert [(w.kind, w.key, w.explained) for w in record.late.windows] == [
        ("missing", ["s2", "10:00:10", "10:00:40"], False), ("mismatch", ["s1", "10:00:10", "10:00:40"], True)]


def test_an_explained_status_without_an_allowing_late_section_is_a_malformed_file(tmp_path):
    produced = [EXPECTED[0], ("s1", "10:00:10", "10:00:40", "61", "60", ""), *EXPECTED[2:]]
    run_ = live_run(tmp_path, produced)
    run_.late = check_late(run_, late_log(("s1", T0 + 35, T0 + 50)), 10, 30, False, 0, allow_late_drops=True)
    data = run_.record().model_dump(mode="json", exclude_unset=True)
    data["late"]["allow_late_drops"] = False
    with pytest.raises(ValueError, match="explained"):
        ValidationRecord.model_validate(data)
