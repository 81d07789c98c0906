"""The paced CSV producer: one timestamp group at a time, each metric to its own topic.

Messages keep the seed's format: key = server_id, value = JSON with ``timestamp`` (send time),
``original_ts`` (the row's own timestamp text), ``server_id`` and the metric fields, and add ``event_time``:
the sample's event time, ISO 8601 UTC. The record's Kafka timestamp (CreateTime) is that same event time in
epoch ms, so a consumer can window on Kafka's own time.

Event time = timeline second + ``Dataset.epoch_offset`` (a time-of-day file is dated by recording_start, or
else by the UTC date the replay started) + the time shift (``time_shift`` "now": one constant that makes the
first group's event time the moment the replay started; 0 otherwise). The manifest records both constants,
so the Spark job gets recorded time back.

Every message carries a ``replay-attempt`` header; the acknowledged offsets go into the manifest the Spark
job reads, with the pace asked for and the pace kept.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby

from confluent_kafka import KafkaError, Producer

from include.dataset import Dataset, Sample, format_datetime
from include.latency import MICROSECOND, LateSent, SendLog
from include.contract import (ATTEMPT_HEADER, END_HEADER, EVENT_TIME, ORIGINAL_TS, RUN_HEADER, SEND_TS, SERVER_ID,
                              TIME_SHIFT_NONE, TIME_SHIFT_NOW, TOPIC_FIELDS)
from include.offsets import Manifest, OffsetError, OffsetTracker, Pace
from include.pacing import Pacer, late_schedule
from include.topics import TopicError, admin_client, client_logger, end_offsets

log = logging.getLogger(__name__)

# Delivery guarantees are not negotiable; everything else the connection extra may tune. A delivery report
# comes only for a failed message: the records' offsets come from the topics' end offsets (OffsetTracker.cover),
# and a report for each of a million messages was a fifth of the producer's time (bench/).
ENFORCED = {"enable.idempotence": True, "acks": "all", "delivery.report.only.error": True}
DEFAULTS = {"log.connection.close": False, "linger.ms": 20, "batch.num.messages": 10000, "compression.type": "lz4",
            "delivery.timeout.ms": 120000, "queue.buffering.max.messages": 500000}
PROGRESS_EVERY_S = 10.0


class ProduceError(RuntimeError):
    """Some messages of a replay were not acknowledged by the broker."""


@dataclass
class ProduceResult:
    manifest: Manifest
    groups: int
    messages: int
    seconds: float
    max_lateness: float
    p99_lateness: float
    final_lateness: float
    skipped_topics: tuple[str, ...]
    # When each group (and each late sample) went out: produce_metrics writes it as send_log.json.
    send_log: SendLog


def producer_config(connection_config: dict, overrides: dict | None = None) -> dict:
    return {**DEFAULTS, **connection_config, **(overrides or {}), **ENFORCED}


COUNTER_FIELDS = frozenset({"net_in", "net_out", "disk_io"})


def event_time_text(epoch_second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: an epoch second as the value's ``event_time``."""
    text = format_datetime(epoch_second)
    return f"{text[:10]}T{text[11:]}Z"


def time_shift_seconds(time_shift: str, first_epoch_second: int, replay_started: datetime) -> int:
    """Seconds added to every recorded epoch second: 0 for "none"; for "now", what makes the first group's
    event time the (whole) second the replay started."""
    if time_shift == TIME_SHIFT_NONE:
        return 0
    if time_shift == TIME_SHIFT_NOW:
        return math.floor(replay_started.timestamp()) - first_epoch_second
    raise ValueError(f"time_shift must be {TIME_SHIFT_NONE!r} or {TIME_SHIFT_NOW!r}, got {time_shift!r}")


def json_number(field: str, value: float) -> str:
    """JSON text of a metric as the seed sent it: percentages as floats, integral counters as integers."""
    return number_text(field)(value)


def _counter_text(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def number_text(field: str) -> Callable[[float], str]:
    """json_number for one field, chosen once: a percentage is its float's repr (float.__repr__ itself, no
    Python call a value), a counter an integer when it is whole."""
    return _counter_text if field in COUNTER_FIELDS else float.__repr__


def produce(dataset: Dataset, connection_config: dict, run_id: str, seconds_per_group: float = 1.0,
            flush_timeout: float = 180.0, producer_overrides: dict | None = None,
            clock: Callable[[], float] = time.monotonic, progress_every: float = PROGRESS_EVERY_S,
            now: Callable[[], datetime] = datetime.now, speed: float | None = None,
            time_shift: str = TIME_SHIFT_NONE, sleep: Callable[[float], None] = time.sleep,
            replay_started: datetime | None = None, attempt_id: str | None = None, late_fraction: float = 0.0,
            late_max_seconds: int = 0, late_seed: int = 0,
            wall_clock: Callable[[], float] = time.time) -> ProduceResult:
    """Send the whole dataset; raise ProduceError unless every message is acknowledged.

    The pace: with ``speed`` (x recorded time, 0 = as fast as possible) each group is due its recorded
    distance from the first group divided by speed; without it, one group every ``seconds_per_group``.
    ``now`` gives the send time (its HH:MM:SS is the value's ``timestamp``; a naive one is local time) and,
    read once before the first group, the moment the replay started.

    Late data: ``late_fraction`` of the samples (all topics' messages of a row move together) are held back
    and sent up to ``late_max_seconds`` recorded seconds after their group, keeping their own event time;
    ``late_seed`` makes the choice reproducible (include.pacing.late_schedule). Every group keeps its deadline.
    ``wall_clock`` (epoch seconds) stamps the send log's times."""
    topics = [t for t, fields in TOPIC_FIELDS.items() if all(f in dataset.metric_fields for f in fields)]
    skipped = tuple(t for t in TOPIC_FIELDS if t not in topics)
    first_second = dataset.first_second
    pacer = Pacer(seconds_per_group, clock=clock, sleep=sleep, speed=speed)
    # Live mode fixes the start (and so the event-time constants) and the attempt id when it opens the
    # streaming job's session, before this runs; otherwise they are this call's own.
    if replay_started is None:
        replay_started = now().astimezone(timezone.utc)  # a naive now() is local time, as datetime.now() gives
    epoch_offset = dataset.epoch_offset(replay_started)
    shift = time_shift_seconds(time_shift, first_second + epoch_offset, replay_started)
    to_event = epoch_offset + shift  # timeline second -> event epoch second
    attempt_id = attempt_id or uuid.uuid4().hex
    headers = [(RUN_HEADER, run_id.encode()), (ATTEMPT_HEADER, attempt_id.encode())]
    config = producer_config(connection_config, producer_overrides)
    address = config.get("bootstrap.servers")
    tracker = OffsetTracker()

    def on_delivery(err: KafkaError | None, msg) -> None:
        if err is not None:  # delivery.report.only.error: the only reports
            hint = ""
            if err.code() == KafkaError.INVALID_TIMESTAMP:
                hint = (" (the topic refuses this record's event-time timestamp, "
                        f"{msg.timestamp()[1]} ms: its message.timestamp.after.max.ms / before.max.ms are too "
                        "narrow; topics that ensure_topics creates accept any timestamp)")
            tracker.record_failure(f"{msg.topic()}: {err.str()}{hint}")

    producer = Producer({**config, "on_delivery": on_delivery}, logger=client_logger())
    try:
        before = end_offsets(connection_config, topics)
    except TopicError as exc:
        raise ProduceError(f"cannot read the topics' end offsets before sending: {exc}") from None

    # Pre-render what does not change per message: JSON-escaped server ids, keys and per-topic field names.
    server_json = [json.dumps(s) for s in dataset.servers]
    server_keys = [s.encode() for s in dataset.servers]
    position = {f: i for i, f in enumerate(dataset.metric_fields)}
    # Per topic, each field's '"name": ' text, its number's text function and its place in a sample's values.
    columns = [(t, [(f', "{f}": ', number_text(f), position[f]) for f in TOPIC_FIELDS[t]]) for t in topics]
    total_groups = dataset.group_count()
    for name, count in dataset.ignored_columns.items():
        log.warning("Column %r of %s is not one the replay knows: ignored (%d values, none sent)", name,
                    dataset.path, count)
    log.info("Replay started %s; event time = timeline second + %d (epoch offset %d, time shift %d s); first "
             "group %s at %s", replay_started.isoformat(timespec="seconds"), to_event, epoch_offset, shift,
             dataset.format_second(first_second), event_time_text(first_second + to_event))

    def send(samples: Sequence[Sample], second: int, send_ts: str) -> int:
        """Hand ``samples`` (all of timeline ``second``) to the client, one message per topic each; returns
        how many messages that is."""
        # Locals, not the enclosing function's cells: this loop runs once per message.
        produce_one, names, keys, topic_columns, record_headers = (
            producer.produce, server_json, server_keys, columns, headers)
        event_second = second + to_event
        timestamp_ms = event_second * 1000
        # Everything of the value before server_id but the row's own timestamp text is the same for the group.
        head = f'{{"{SEND_TS}": "{send_ts}", "{ORIGINAL_TS}": "'
        tail = f'", "{EVENT_TIME}": "{event_time_text(event_second)}", "{SERVER_ID}": '
        original_ts = None
        prefix = ""
        for sample in samples:
            if sample.original_ts != original_ts:  # the same for every sample of a time-of-day group
                original_ts = sample.original_ts
                prefix = head + original_ts + tail
            srv = sample.server
            values = sample.values
            head_server = prefix + names[srv]
            key = keys[srv]
            for topic, fields in topic_columns:
                if len(fields) == 1:  # one metric a topic but NET's two: no join
                    name, text, i = fields[0]
                    body = name + text(values[i])
                else:
                    body = "".join([name + text(values[i]) for name, text, i in fields])
                value = (head_server + body + "}").encode()
                # Positional: (topic, value, key, partition (-1: the partitioner's), callback, on_delivery,
                # timestamp, headers); keywords cost a fifth more a call (bench/). The reports go to the
                # producer's on_delivery.
                try:
                    produce_one(topic, value, key, -1, None, None, timestamp_ms, record_headers)
                except BufferError:
                    while True:  # local queue full: let deliveries drain, then retry this message
                        producer.poll(0.05)
                        try:
                            produce_one(topic, value, key, -1, None, None, timestamp_ms, record_headers)
                            break
                        except BufferError:
                            continue
        return len(samples) * len(columns)

    started = clock()
    last_report = started
    sent = 0
    group_log: list[tuple[int, float]] = []
    late_log: list[LateSent] = []
    # The dataset is streamed group by group (dataset.stream_groups), never held whole; with late_fraction 0
    # the schedule hands each group's samples through as they are.
    schedule = late_schedule(((g.second, g.samples) for g in dataset.stream_groups()), dataset.rows,
                             late_fraction, late_max_seconds, late_seed)
    for release in schedule:
        index = release.index
        lateness = pacer.wait_for(index, release.second - first_second)
        group_log.append((release.second, round(wall_clock(), MICROSECOND)))
        send_ts = now().strftime("%H:%M:%S")
        sent += send(release.on_time, release.second, send_ts)
        if release.late:
            late_at = round(wall_clock(), MICROSECOND)
            for second, held in groupby(release.late, key=lambda h: h.second):
                samples = [h.item for h in held]
                sent += send(samples, second, send_ts)
                late_log.extend(LateSent(server_id=dataset.servers[s.server], second=second, sent_at=late_at,
                                         after_second=release.second) for s in samples)
        producer.poll(0)
        t = clock()
        if t - last_report >= progress_every or index + 1 == total_groups:
            rate = sent / max(t - started, 1e-9)
            log.info("group %d/%d (%s) sent, %d messages, %.0f msg/s, lateness %.1f ms%s",
                     index + 1, total_groups, dataset.format_second(release.second), sent, rate, lateness * 1000,
                     f", {len(late_log)} late samples" if late_fraction else "")
            last_report = t
    last_sent_at = round(wall_clock(), MICROSECOND) if group_log else None
    remaining = producer.flush(flush_timeout)
    elapsed = clock() - started
    if remaining or tracker.failed:
        raise ProduceError(
            f"{tracker.failed + remaining} of {sent} messages were not acknowledged by {address} "
            f"({tracker.failed} failed, {remaining} still queued after {flush_timeout:g} s flush)"
            + (f"; first error: {tracker.first_error}" if tracker.first_error else ""))
    try:
        # Every sample is one message on each topic.
        tracker.cover(before, end_offsets(connection_config, topics), {t: sent // len(topics) for t in topics})
    except (TopicError, OffsetError) as exc:
        raise ProduceError(f"all {sent} messages were acknowledged by {address}, but {exc}") from None
    pace = Pace.measured("seconds_per_group" if speed is None else "speed",
                         seconds_per_group if speed is None else speed, groups=total_groups,
                         recorded_seconds=dataset.last_second - first_second, achieved_seconds=pacer.elapsed)
    manifest = Manifest.from_tracker(
        tracker, run_id=run_id, attempt_id=attempt_id, bootstrap_servers=str(address),
        dataset_path=str(dataset.path), first_second=first_second, dated=dataset.dated, epoch_offset=epoch_offset,
        time_shift_seconds=shift, pace=pace, has_net_disk=dataset.has_net_disk,
        ignored_columns=dict(dataset.ignored_columns))
    stats = pacer.lateness
    send_log = SendLog(run_id=run_id, attempt_id=attempt_id, late_fraction=float(late_fraction),
                       late_max_seconds=late_max_seconds, late_seed=late_seed, groups=group_log, late=late_log,
                       last_sent_at=last_sent_at)
    log.info("All %d messages acknowledged, %d groups in %.1f s; %s%s", sent, total_groups, elapsed, pace.describe(),
             f"; {len(late_log)} samples sent late (up to {late_max_seconds} recorded s, seed {late_seed})"
             if late_fraction else "")
    return ProduceResult(manifest=manifest, groups=total_groups, messages=sent, seconds=elapsed,
                         max_lateness=stats.max, p99_lateness=stats.percentile(99), final_lateness=stats.last,
                         skipped_topics=skipped, send_log=send_log)


def send_end_markers(connection_config: dict, topics: list[str] | tuple[str, ...], run_id: str, attempt_id: str,
                     event_second: int, timeout: float = 60.0) -> int:
    """Live mode's end of replay: one marker record on every partition of ``topics``, with event time
    ``event_second`` (epoch), the run's headers and END_HEADER, and no metric (``{"event_time": ...,
    "server_id": null}``). Its event time moves the streaming job's watermark past the last window, so every
    window becomes final; Structured Streaming never flushes open windows at the end of input by itself.
    Returns how many markers were acknowledged; ProduceError otherwise."""
    config = producer_config(connection_config)
    metadata = admin_client(connection_config).list_topics(timeout=timeout)
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, msg) -> None:
        if err is not None:  # delivery.report.only.error: the only reports
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err.str()}")

    producer = Producer({**config, "on_delivery": on_delivery}, logger=client_logger())
    value = json.dumps({"event_time": event_time_text(event_second), "server_id": None}).encode()
    headers = [(RUN_HEADER, run_id.encode()), (ATTEMPT_HEADER, attempt_id.encode()), (END_HEADER, b"1")]
    sent = 0
    for topic in topics:
        for partition in sorted(metadata.topics[topic].partitions):
            producer.produce(topic, value=value, partition=partition, headers=headers, timestamp=event_second * 1000)
            sent += 1
    remaining = producer.flush(timeout)
    if remaining or failures:
        raise ProduceError(f"{len(failures) + remaining} of {sent} end-of-replay markers were not acknowledged by "
                           f"{config.get('bootstrap.servers')}" + (f": {failures[0]}" if failures else ""))
    return sent
