"""A stand-in for confluent_kafka's Producer, so include.producer's own loop runs without a broker: it records
every message handed over (value, key, timestamp, when on the test's clock), answers the topics' end offsets
from what it recorded, and reports nothing on success, as the producer's settings ask
(delivery.report.only.error). A test that wants failures replaces ``poll`` and calls ``report``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

from include import dataset, producer

HEADER = "server_id,timestamp,cpu_pct,mem_pct"
# The replay "starts" here (a fraction of a second in: time_shift now works in whole seconds).
STARTED = datetime(2026, 11, 25, 21, 22, 7, 700_000, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Message:
    def __init__(self, topic: str, offset: int, timestamp: int) -> None:
        self._topic, self._offset, self._timestamp = topic, offset, timestamp

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return 1, self._timestamp  # TIMESTAMP_CREATE_TIME


class RecordingProducer:
    """Takes every record (with the clock's time it was handed over), one partition a topic."""

    records: list[dict] = []
    clock: Callable[[], float] | None = None

    def __init__(self, config: dict, logger=None) -> None:
        self.pending: list[Message] = []
        self.report = config["on_delivery"]

    def produce(self, topic, value=None, key=None, partition=-1, callback=None, on_delivery=None, timestamp=0,
                headers=None) -> None:
        offset = sum(1 for r in self.records if r["topic"] == topic)
        self.records.append({"topic": topic, "value": json.loads(value), "text": value.decode(), "key": key.decode(),
                             "timestamp": timestamp, "headers": headers, "at": self.clock() if self.clock else None})
        self.pending.append(Message(topic, offset, timestamp))

    def poll(self, timeout: float = 0) -> int:
        done, self.pending = self.pending, []
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    @classmethod
    def end_offsets(cls, config: dict, topics) -> dict[str, dict[int, int]]:
        return {t: {0: sum(1 for r in cls.records if r["topic"] == t)} for t in topics}


def use_recording_producer(monkeypatch, records: list[dict], clock: Callable[[], float] | None = None) -> list[dict]:
    """Replace the client (and its end-offset queries) in include.producer; ``records`` collects the messages."""
    monkeypatch.setattr(RecordingProducer, "records", records)
    monkeypatch.setattr(RecordingProducer, "clock", clock)
    monkeypatch.setattr(producer, "Producer", RecordingProducer)
    monkeypatch.setattr(producer, "end_offsets", RecordingProducer.end_offsets)
    return records


def produce(ds: dataset.Dataset, **kwargs) -> producer.ProduceResult:
    """include.producer.produce on the stand-in (use_recording_producer first), on a fake clock, unpaced unless
    ``seconds_per_group`` says otherwise, the replay started at STARTED."""
    clock = FakeClock()
    RecordingProducer.clock = clock
    kwargs.setdefault("seconds_per_group", 0)
    return producer.produce(ds, {"bootstrap.servers": "127.0.0.1:9"}, run_id="unit", clock=clock,
                            sleep=clock.sleep, now=lambda: STARTED, **kwargs)


def write(tmp_path, rows: list[str], name: str = "d.csv"):
    """A CPU/MEM recording of ``rows`` (HEADER's columns) in ``tmp_path``; its path."""
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path
