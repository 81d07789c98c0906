"""What the producer sends, without a broker: each record's value (``event_time`` beside the seed's
``timestamp`` and ``original_ts``), its Kafka timestamp, the pace it keeps, and the manifest it writes.

The confluent_kafka Producer is replaced by a stand-in (tests/producer_standin.py) that records every produce
call, so the producer's own loop runs unchanged on a fake clock. tests/test_event_time.py reads the same things
back from a real broker.
"""

from __future__ import annotations

from calendar import timegm
from datetime import datetime, timedelta, timezone

import pytest

from include import dataset, producer
from producer_standin import RecordingProducer, produce, use_recording_producer, write


def epoch(text: str) -> int:
    return timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple())


@pytest.fixture
def sent(monkeypatch):
    return use_recording_producer(monkeypatch, [])


def test_event_time_of_a_dated_recording_is_its_own_utc_time(tmp_path, sent):
    ds = dataset.load(write(tmp_path, ["a,2024-03-30T23:59:59Z,10,20", "b,2024-03-31T01:59:59+02:00,11,21",
                                       "a,2024-03-31 00:00:04,12,22"]))
    result = produce(ds)
    cpu = [r for r in sent if r["topic"] == "topic-cpu"]
    assert [r["value"] for r in cpu] == [
        {"timestamp": "21:22:07", "original_ts": "2024-03-30T23:59:59Z", "event_time": "2024-03-30T23:59:59Z",
         "server_id": "a", "cpu_pct": 10.0},
        # The same second written another way: its own text stays, the event time is the same.
        {"timestamp": "21:22:07", "original_ts": "2024-03-31T01:59:59+02:00", "event_time": "2024-03-30T23:59:59Z",
         "server_id": "b", "cpu_pct": 11.0},
        {"timestamp": "21:22:07", "original_ts": "2024-03-31 00:00:04", "event_time": "2024-03-31T00:00:04Z",
         "server_id": "a", "cpu_pct": 12.0}]
    # Every record (both topics) carries the event time as its Kafka timestamp, in epoch ms.
    assert [r["timestamp"] for r in sent] == [epoch("2024-03-30 23:59:59") * 1000] * 4 + \
        [epoch("2024-03-31 00:00:04") * 1000] * 2
    m = result.manifest
    assert (m.dated, m.epoch_offset, m.time_shift_seconds, m.first_second) == (
        True, 0, 0, epoch("2024-03-30 23:59:59"))


def test_time_of_day_without_recording_start_is_dated_the_day_the_replay_started(tmp_path, sent):
    ds = dataset.load(write(tmp_path, ["a,20:52:00,10,20", "a,20:52:05,11,21", "a,23:59:59,12,22"]))
    result = produce(ds)
    cpu = [r for r in sent if r["topic"] == "topic-cpu"]
    assert [(r["value"]["original_ts"], r["value"]["event_time"]) for r in cpu] == [
        ("20:52:00", "2026-11-25T20:52:00Z"), ("20:52:05", "2026-11-25T20:52:05Z"),
        ("23:59:59", "2026-11-25T23:59:59Z")]  # a time later in the day than the start is still that day
    assert [r["timestamp"] for r in cpu] == [epoch(f"2026-11-25 {t}") * 1000 for t in ("20:52:00", "20:52:05",
                                                                                         "23:59:59")]
    assert (result.manifest.dated, result.manifest.epoch_offset) == (False, epoch("2026-11-25 00:00:00"))
    assert result.manifest.first_second == 20 * 3600 + 52 * 60


def test_replay_start_is_taken_in_utc(tmp_path, sent):
    """A replay started at 01:30 in UTC+03:00 started on the previous UTC day."""
    ds = dataset.load(write(tmp_path, ["a,12:00:00,10,20"]))
    at = datetime(2026, 11, 26, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    producer.produce(ds, {"bootstrap.servers": "127.0.0.1:9"}, run_id="unit", seconds_per_group=0, now=lambda: at)
    assert {r["value"]["event_time"] for r in sent} == {"2026-11-25T12:00:00Z"}


def test_recording_start_dates_a_time_of_day_recording_across_midnight(tmp_path, sent):
    ds = dataset.load(write(tmp_path, ["a,00:00:01,12,22", "a,23:59:59,10,20", "b,00:00:01,11,21"]),
                      recording_start="2024-03-01T23:00:00")
    result = produce(ds)
    cpu = [r for r in sent if r["topic"] == "topic-cpu"]
    assert [(r["value"]["server_id"], r["value"]["original_ts"], r["value"]["event_time"]) for r in cpu] == [
        ("a", "23:59:59", "2024-03-01T23:59:59Z"), ("a", "00:00:01", "2024-03-02T00:00:01Z"),
        ("b", "00:00:01", "2024-03-02T00:00:01Z")]
    assert [r["timestamp"] for r in cpu] == [epoch("2024-03-01 23:59:59") * 1000,
                                             epoch("2024-03-02 00:00:01") * 1000, epoch("2024-03-02 00:00:01") * 1000]
    assert result.manifest.epoch_offset == epoch("2024-03-01 00:00:00")


@pytest.mark.parametrize("rows,recording_start", [
    (["a,2024-03-30T23:59:59Z,10,20", "a,2024-03-31T00:01:39Z,11,21"], None),
    (["a,23:59:59,10,20", "a,00:01:39,11,21"], "2024-03-30T22:00:00"),
])
def test_time_shift_now_moves_every_event_by_one_constant(tmp_path, sent, rows, recording_start):
    ds = dataset.load(write(tmp_path, rows), recording_start=recording_start)
    result = produce(ds, time_shift="now")
    m = result.manifest
    recorded = [epoch("2024-03-30 23:59:59"), epoch("2024-03-31 00:01:39")]
    # The first group's event time is the (whole) second the replay started; gaps are kept.
    assert m.time_shift_seconds == epoch("2026-11-25 21:22:07") - recorded[0]
    cpu = [r for r in sent if r["topic"] == "topic-cpu"]
    assert [r["value"]["event_time"] for r in cpu] == ["2026-11-25T21:22:07Z", "2026-11-25T21:23:47Z"]
    assert [r["timestamp"] for r in cpu] == [(s + m.time_shift_seconds) * 1000 for s in recorded]
    # The manifest gives recorded time back: timeline second = event second - shift - epoch offset.
    assert cpu[0]["timestamp"] // 1000 - m.time_shift_seconds - m.epoch_offset == m.first_second
    assert [r["value"]["original_ts"] for r in cpu] == [row.split(",")[1] for row in rows]


def test_a_topic_refusing_event_time_fails_the_produce_naming_the_setting(tmp_path, sent, monkeypatch):
    """What an older topic (not made by ensure_topics) on a Kafka 4 broker answers for a timestamp more than an
    hour ahead: the error says which topic setting refuses it."""
    from confluent_kafka import KafkaError

    def refuse(self, timeout: float = 0) -> int:
        done, self.pending = self.pending, []
        for msg in done:
            self.report(KafkaError(KafkaError.INVALID_TIMESTAMP, "Broker: Invalid timestamp"), msg)
        return len(done)

    monkeypatch.setattr(RecordingProducer, "poll", refuse)
    ds = dataset.load(write(tmp_path, ["a,23:00:00,1,2"]), recording_start="2030-01-01T22:00:00")
    with pytest.raises(producer.ProduceError, match=r"2 of 2 messages were not acknowledged .*first error: topic-cpu: "
                       r"Broker: Invalid timestamp \(.*1893538800000 ms.*message\.timestamp\.after\.max\.ms"):
        produce(ds)


def test_unknown_time_shift_is_refused(tmp_path, sent):
    ds = dataset.load(write(tmp_path, ["a,10:00:00,1,2"]))
    with pytest.raises(ValueError, match="time_shift"):
        produce(ds, time_shift="later")


def test_speed_replays_the_recorded_gaps_and_the_manifest_gives_the_pace(tmp_path, sent):
    # 5 s steps with holes of 60 s and 230 s: 300 recorded seconds.
    seconds = [0, 5, 10, 70, 300]
    ds = dataset.load(write(tmp_path, [f"a,10:{s // 60:02d}:{s % 60:02d},1,2" for s in seconds]))
    result = produce(ds, speed=50, seconds_per_group=1.0)  # speed wins over seconds_per_group
    released = [r["at"] for r in sent if r["topic"] == "topic-cpu"]
    assert [b - a for a, b in zip(released, released[1:])] == pytest.approx([0.1, 0.1, 1.2, 4.6])
    pace = result.manifest.pace
    assert (pace.mode, pace.requested, pace.groups, pace.recorded_seconds) == ("speed", 50.0, 5, 300)
    assert pace.achieved_seconds == pytest.approx(6.0) and pace.achieved == pytest.approx(50.0)


def test_seconds_per_group_pace_is_as_before(tmp_path, sent):
    seconds = [0, 5, 10, 70, 300]
    ds = dataset.load(write(tmp_path, [f"a,10:{s // 60:02d}:{s % 60:02d},1,2" for s in seconds]))
    result = produce(ds, seconds_per_group=0.5)
    released = [r["at"] for r in sent if r["topic"] == "topic-cpu"]
    assert [b - a for a, b in zip(released, released[1:])] == pytest.approx([0.5] * 4)  # gaps ignored
    pace = result.manifest.pace
    assert (pace.mode, pace.requested, pace.recorded_seconds) == ("seconds_per_group", 0.5, 300)
    assert pace.achieved_seconds == pytest.approx(2.0) and pace.achieved == pytest.approx(0.5)


def test_event_time_text():
    assert producer.event_time_text(0) == "1970-01-01T00:00:00Z"
    assert producer.event_time_text(epoch("2024-02-29 23:59:59")) == "2024-02-29T23:59:59Z"


@pytest.mark.parametrize("rows,recording_start,words", [
    (["a,10:00:00,1,2"], "2024-03-01T25:00:00", r"recording_start: '2024-03-01T25:00:00' has no time of day"),
    (["a,10:00:00,1,2"], "2024-03-01T20:00:00.5", "recording_start: .*fraction of a second"),
    (["a,2024-03-01T10:00:00Z,1,2"], "2024-03-01T09:00:00", r".*d\.csv, line 2, field 'timestamp': .*carries a date"),
])
def test_produce_metrics_refuses_a_recording_start_it_cannot_use_before_sending(tmp_path, sent, monkeypatch, rows,
                                                                                recording_start, words):
    from airflow.sdk.exceptions import AirflowFailException

    from include import replay

    monkeypatch.setattr(replay, "kafka_config", lambda conn_id: {"bootstrap.servers": "127.0.0.1:9"})
    path = write(tmp_path, rows)
    with pytest.raises(AirflowFailException, match=f"cannot replay: {words}"):
        replay.produce_metrics("kafka_default", str(path), str(tmp_path / "out"), "run", 0,
                               recording_start=recording_start)
    assert sent == [] and not (tmp_path / "out" / "manifest.json").exists()
