"""The replay's steps as the DAG runs them: each logs what it does and against what, then one summary.

These are the edges between Airflow (connections, params, run ids) and the pure modules; the DAG's tasks
are one call each into this module, and the CLI and tests use the same functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from include.paths import CPU_MEM_FILE, MANIFEST_FILE, VALIDATION_FILE, output_dir_for, resolve
from include.topics import TOPICS

log = logging.getLogger("metrics_replay")


def kafka_config(conn_id: str) -> dict:
    """The librdkafka config held in the extra of Airflow connection ``conn_id`` (type kafka)."""
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    hook = KafkaBaseHook(kafka_config_id=conn_id)
    return hook._build_config()  # the provider's own reading of the extra, callbacks resolved


def check_broker(conn_id: str, timeout: float = 10.0) -> dict:
    from include import topics

    config = kafka_config(conn_id)
    log.info("Checking Kafka broker of connection %r at %s (timeout %g s)", conn_id,
             config.get("bootstrap.servers"), timeout)
    info = topics.check_broker(config, conn_id, timeout=timeout)
    log.info("Broker reachable: cluster %s, brokers %s, %d topics", info.cluster_id, ", ".join(info.brokers),
             info.topics)
    return asdict(info)


def ensure_topics(conn_id: str, partitions: int, replication: int, timeout: float = 10.0) -> dict:
    from include import topics

    config = kafka_config(conn_id)
    log.info("Ensuring topics %s at %s (%d partitions, replication %d)", ", ".join(TOPICS),
             config.get("bootstrap.servers"), partitions, replication)
    report = topics.ensure_topics(config, TOPICS, partitions, replication, timeout=timeout)
    for t, n in report.existing.items():
        log.info("Topic %s exists with %d partitions; left as it is", t, n)
    log.info("Topics ready: %d created (%s), %d existing", len(report.created), ", ".join(report.created) or "-",
             len(report.existing))
    return asdict(report)


def produce_metrics(conn_id: str, dataset_path: str, output_dir: str | None, run_id: str,
                    seconds_per_group: float) -> dict:
    """Stream the dataset; write the manifest of exactly what was written; return its path."""
    from include import dataset, producer

    config = kafka_config(conn_id)
    path = resolve(dataset_path)
    out = output_dir_for(output_dir, run_id)
    ds = dataset.load(path)
    log.info("Producing %s (%d rows, %d servers, %d groups) to %s at %g s per group", path, ds.rows,
             len(ds.servers), ds.group_count(), config.get("bootstrap.servers"), seconds_per_group)
    result = producer.produce(ds, config, run_id=run_id, seconds_per_group=seconds_per_group)
    if result.skipped_topics:
        log.info("Dataset has no net_in/net_out/disk_io columns: skipped %s", ", ".join(result.skipped_topics))
    manifest_path = result.manifest.write(out / MANIFEST_FILE)
    log.info("Produced %d messages in %d groups in %.1f s (%.0f msg/s); lateness max %.1f ms, p99 %.1f ms, "
             "final %.1f ms; per topic %s; manifest %s", result.messages, result.groups, result.seconds,
             result.messages / max(result.seconds, 1e-9), result.max_lateness * 1000, result.p99_lateness * 1000,
             result.final_lateness * 1000, json.dumps(result.manifest.counts), manifest_path)
    return {"manifest": str(manifest_path), "output_dir": str(out), "messages": result.messages,
            "counts": result.manifest.counts}


def validate_output(output_dir: str, expected_path: str) -> dict:
    """Compare cpu_mem.csv with the expected file; write validation.json; raise on any difference."""
    from include import validation
    from include.reference import CPU_MEM_HEADER

    out = Path(output_dir)
    produced, expected = out / CPU_MEM_FILE, resolve(expected_path)
    log.info("Validating %s against %s", produced, expected)
    report = validation.compare(expected, produced, CPU_MEM_HEADER, ("avg_cpu", "avg_mem"))
    report_path = report.write(out / VALIDATION_FILE)
    for m in report.first_mismatches:
        log.info("mismatch %s %s: expected %r, produced %r", "/".join(m.key), m.column, m.expected, m.produced)
    for key in report.first_missing:
        log.info("missing window %s", "/".join(key))
    for key in report.first_extra:
        log.info("extra window %s", "/".join(key))
    log.info("%s; report %s", report.summary(), report_path)
    if not report.passed:
        raise ValidationFailed(f"{produced} differs from {expected}: {report.summary()}")
    return {"passed": True, "summary": report.summary(), "report": str(report_path)}


class ValidationFailed(AssertionError):
    """The job's output does not match the expected file."""
