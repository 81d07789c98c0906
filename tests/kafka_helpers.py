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
