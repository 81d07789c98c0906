"""Kafka's own producer benchmark (org.apache.kafka.tools.ProducerPerformance from the kafka-tools jar,
what ``kafka-producer-perf-test.sh`` runs) against the bench's broker."""

from __future__ import annotations

import re

from bench.common import Measured, child_env, run_measured
from devtools.kafka import KAFKA_JARS, LOG4J_CONFIG

SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                     r"([\d.]+) ms max latency")


def producer_performance(bootstrap: str, topic: str, records: int, record_size: int,
                         extra_props: dict[str, str] | None = None, heap: str = "1g") -> tuple[dict, Measured]:
    """Unthrottled run (``--throughput -1``) with acks=all; the tool's own summary line, parsed."""
    props = {"bootstrap.servers": bootstrap, "acks": "all", **(extra_props or {})}
    cmd = ["java", f"-Xmx{heap}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", "-cp", f"{KAFKA_JARS}/*",
           "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
           "--record-size", str(record_size), "--throughput", "-1",
           "--producer-props", *[f"{k}={v}" for k, v in props.items()]]
    m = run_measured(cmd, env=child_env()).check("ProducerPerformance")
    found = SUMMARY.findall(m.stdout)
    if not found:
        raise RuntimeError(f"ProducerPerformance printed no summary:\n{m.stdout[-2000:]}\n{m.stderr[-2000:]}")
    sent, rate, mb, avg_lat, max_lat = found[-1]
    if int(sent) != records:
        raise RuntimeError(f"ProducerPerformance sent {sent} of {records} records")
    return {"records": int(sent), "records_per_s": float(rate), "mb_per_s": float(mb),
            "avg_latency_ms": float(avg_lat), "max_latency_ms": float(max_lat), "props": props}, m
