"""The paced CSV producer: one timestamp group at a time, each metric to its own topic.

Messages keep the seed's format: key = server_id, value = JSON with ``timestamp`` (send time),
``original_ts`` (dataset time), ``server_id`` and the metric fields. Every message carries a
``replay-attempt`` header; the acknowledged offsets go into the manifest the Spark job reads.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import KafkaError, Producer

from include.dataset import Dataset
from include.contract import ATTEMPT_HEADER, RUN_HEADER, TOPIC_FIELDS
from include.offsets import Manifest, OffsetTracker
from include.pacing import Pacer
from include.topics import client_logger

log = logging.getLogger(__name__)

# Delivery guarantees are not negotiable; everything else the connection extra may tune.
ENFORCED = {"enable.idempotence": True, "acks": "all"}
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


def producer_config(connection_config: dict, overrides: dict | None = None) -> dict:
    return {**DEFAULTS, **connection_config, **(overrides or {}), **ENFORCED}


COUNTER_FIELDS = frozenset({"net_in", "net_out", "disk_io"})


def json_number(field: str, value: float) -> str:
    """JSON text of a metric as the seed sent it: percentages as floats, integral counters as integers."""
    if field in COUNTER_FIELDS and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def produce(dataset: Dataset, connection_config: dict, run_id: str, seconds_per_group: float = 1.0,
            flush_timeout: float = 180.0, producer_overrides: dict | None = None,
            clock: Callable[[], float] = time.monotonic, progress_every: float = PROGRESS_EVERY_S,
            now: Callable[[], datetime] = datetime.now) -> ProduceResult:
    """Send the whole dataset; raise ProduceError unless every message is acknowledged."""
    topics = [t for t, fields in TOPIC_FIELDS.items() if all(f in dataset.metric_fields for f in fields)]
    skipped = tuple(t for t in TOPIC_FIELDS if t not in topics)
    attempt_id = uuid.uuid4().hex
    headers = [(RUN_HEADER, run_id.encode()), (ATTEMPT_HEADER, attempt_id.encode())]
    config = producer_config(connection_config, producer_overrides)
    producer = Producer(config, logger=client_logger())
    tracker = OffsetTracker()

    def on_delivery(err: KafkaError | None, msg) -> None:
        if err is not None:
            tracker.record_failure(f"{msg.topic()}: {err.str()}")
        else:
            tracker.record(msg.topic(), msg.partition(), msg.offset())

    # Pre-render what does not change per message: JSON-escaped server ids, keys and per-topic field names.
    server_json = [json.dumps(s) for s in dataset.servers]
    server_keys = [s.encode() for s in dataset.servers]
    position = {f: i for i, f in enumerate(dataset.metric_fields)}
    columns = [(t, [(f', "{f}": ', f, position[f]) for f in TOPIC_FIELDS[t]]) for t in topics]
    total_groups = dataset.group_count()
    pacer = Pacer(seconds_per_group, clock=clock)
    started = clock()
    last_report = started
    sent = 0
    produce_one = producer.produce
    # The dataset is streamed group by group (dataset.stream_groups), never held whole.
    for index, group in enumerate(dataset.stream_groups()):
        lateness = pacer.wait_for(index)
        send_ts = now().strftime("%H:%M:%S")
        prefix = f'{{"timestamp": "{send_ts}", "original_ts": "{group.original_ts}", "server_id": '
        for sample in group.samples:
            srv = sample.server
            values = sample.values
            head = prefix + server_json[srv]
            key = server_keys[srv]
            for topic, fields in columns:
                body = "".join([name + json_number(f, values[i]) for name, f, i in fields])
                value = (head + body + "}").encode()
                try:
                    produce_one(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                except BufferError:
                    while True:  # local queue full: let deliveries drain, then retry this message
                        producer.poll(0.05)
                        try:
                            produce_one(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                            break
                        except BufferError:
                            continue
                sent += 1
        producer.poll(0)
        t = clock()
        if t - last_report >= progress_every or index + 1 == total_groups:
            rate = sent / max(t - started, 1e-9)
            log.info("group %d/%d (%s) sent, %d messages, %.0f msg/s, lateness %.1f ms",
                     index + 1, total_groups, group.original_ts, sent, rate, lateness * 1000)
            last_report = t
    remaining = producer.flush(flush_timeout)
    elapsed = clock() - started
    unacked = sent - tracker.total_acked
    if remaining or tracker.failed or unacked:
        raise ProduceError(
            f"{unacked} of {sent} messages were not acknowledged by {config.get('bootstrap.servers')} "
            f"({tracker.failed} failed, {remaining} still queued after {flush_timeout:g} s flush)"
            + (f"; first error: {tracker.first_error}" if tracker.first_error else ""))
    manifest = Manifest.from_tracker(
        tracker, run_id=run_id, attempt_id=attempt_id, bootstrap_servers=str(config.get("bootstrap.servers")),
        dataset_path=str(dataset.path), first_second=dataset.first_second, has_net_disk=dataset.has_net_disk)
    stats = pacer.lateness
    return ProduceResult(manifest=manifest, groups=total_groups, messages=sent, seconds=elapsed,
                         max_lateness=stats.max, p99_lateness=stats.percentile(99), final_lateness=stats.last,
                         skipped_topics=skipped)
