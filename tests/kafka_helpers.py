"""Small helpers the Kafka-facing tests share (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from devtools.waiting import wait_until


def end_offsets(config: dict, topic: str, timeout: float = 30) -> dict[int, int]:
    """High watermarks of every partition (retrying while a new topic's leader is being elected)."""
    consumer = Consumer({**config, "group.id": f"offsets-{time.monotonic_ns()}"})

    def watermarks() -> dict[int, int]:
        md = consumer.list_topics(topic, timeout=10)
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in md.topics[topic].partitions}

    try:
        # an empty dict (no partitions listed yet) is "not yet" too
        return wait_until(watermarks, timeout, interval=0.5, what=f"the end offsets of {topic}",
                          ignore=(KafkaException,))
    finally:
        consumer.close()


def total_records(config: dict, topic: str) -> int:
    """Records in ``topic`` (sum of high watermarks: the topics here are never truncated or compacted)."""
    return sum(end_offsets(config, topic).values())


def read_manifest_records(config: dict, manifest, topics: list[str] | None = None, timeout: float = 30) -> list:
    """Every record in the manifest's offset ranges of ``topics`` (all the topics it wrote when None)."""
    spans = {(t, int(p)): span for t, parts in manifest.offsets.items() if topics is None or t in topics
             for p, span in parts.items()}
    consumer = Consumer({**config, "group.id": f"read-{time.monotonic_ns()}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(t, p, span[0]) for (t, p), span in spans.items()])
    wanted = sum(span[1] - span[0] for span in spans.values())
    records: list = []

    def all_read() -> bool:
        for msg in consumer.consume(num_messages=max(1, min(1000, wanted - len(records))), timeout=0.5):
            assert msg.error() is None, msg.error()
            if msg.offset() < spans[(msg.topic(), msg.partition())][1]:
                records.append(msg)
        return len(records) >= wanted

    try:
        wait_until(all_read, timeout, interval=0.01, what=f"the {wanted} records at offsets {manifest.offsets}")
    finally:
        consumer.close()
    return records


def read_topic(config: dict, topic: str, timeout: float = 30) -> list:
    """Every record of ``topic`` from its beginning to its end offsets when called."""
    ends = end_offsets(config, topic)
    consumer = Consumer({**config, "group.id": f"read-{time.monotonic_ns()}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    wanted = sum(ends.values())
    records: list = []

    def all_read() -> bool:
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            assert msg.error() is None, msg.error()
            if msg.offset() < ends[msg.partition()]:
                records.append(msg)
        return len(records) >= wanted

    try:
        if wanted:
            wait_until(all_read, timeout, interval=0.01, what=f"the {wanted} records of {topic}")
    finally:
        consumer.close()
    return records
