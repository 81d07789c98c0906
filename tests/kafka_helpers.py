"""Small helpers the Kafka-facing tests share (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


def end_offsets(config: dict, topic: str) -> dict[int, int]:
    """High watermarks of every partition (retrying while a new topic's leader is being elected)."""
    consumer = Consumer({**config, "group.id": f"offsets-{time.monotonic_ns()}"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                md = consumer.list_topics(topic, timeout=10)
                return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in md.topics[topic].partitions}
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def total_records(config: dict, topic: str) -> int:
    """Records in ``topic`` (sum of high watermarks: the topics here are never truncated or compacted)."""
    return sum(end_offsets(config, topic).values())
