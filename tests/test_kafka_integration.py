"""Real-broker integration: topics, exact produce/consume counts, and the Spark job reading only its run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from include import dataset
from devtools import generate, reference
from include.formatting import csv_text
from devtools.kafka import free_port
from kafka_helpers import read_manifest_records
from include.spark_submit import SPARK_JOB, SPARK_KAFKA_JARS, submit_conf
from include.contract import ATTEMPT_HEADER, CPU_MEM_HEADER, RUN_HEADER, TOPICS
from include.offsets import Manifest
from include.producer import produce
from include.topics import BrokerUnreachable, check_broker, ensure_topics

pytestmark = pytest.mark.integration


def small_dataset(tmp_path: Path, name: str, seed: int, servers: int = 3, samples: int = 40,
                  net_disk: bool = True) -> dataset.Dataset:
    path = generate.write_dataset(tmp_path / name, servers=servers, samples=samples, seed=seed, net_disk=net_disk)
    return dataset.load(path)


def consume_range(config: dict, manifest: Manifest, topic: str) -> list:
    """Every record of the manifest's offset range of ``topic``."""
    return read_manifest_records(config, manifest, [topic])


def test_check_broker_reports_the_cluster(kafka_config):
    info = check_broker(kafka_config, "kafka_default")
    assert info.brokers == [kafka_config["bootstrap.servers"]]


def test_dead_broker_fails_fast_naming_connection_and_address():
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as err:
        check_broker({"bootstrap.servers": address}, "kafka_default", timeout=5)
    assert time.monotonic() - started < 15
    assert "kafka_default" in str(err.value) and address in str(err.value)


def test_topics_are_ensured_twice_without_error(kafka_config):
    first = ensure_topics(kafka_config, TOPICS, partitions=2, replication=1)
    second = ensure_topics(kafka_config, TOPICS, partitions=3, replication=1)
    assert second.created == []
    assert set(second.existing) == set(TOPICS)
    # existing topics keep their partitions: reported, never recreated
    assert all(n == 2 for t, n in second.existing.items() if t in first.created)


def test_produce_then_consume_gives_exact_counts(tmp_path, kafka_config):
    ensure_topics(kafka_config, TOPICS, partitions=2, replication=1)
    ds = small_dataset(tmp_path, "four.csv", seed=11)
    result = produce(ds, kafka_config, run_id="counts", seconds_per_group=0)
    m = result.manifest
    assert m.counts == {t: ds.rows for t in TOPICS}
    assert result.messages == 4 * ds.rows
    for topic in TOPICS:
        records = consume_range(kafka_config, m, topic)
        assert len(records) == ds.rows, topic
        assert all(dict(r.headers())[ATTEMPT_HEADER] == m.attempt_id.encode() for r in records)
        assert all(dict(r.headers())[RUN_HEADER] == b"counts" for r in records)
        keys = {r.key().decode() for r in records}
        assert keys == set(ds.servers)
    cpu = json.loads(consume_range(kafka_config, m, "topic-cpu")[0].value())
    assert set(cpu) == {"timestamp", "original_ts", "event_time", "server_id", "cpu_pct"}
    net = json.loads(consume_range(kafka_config, m, "topic-net")[0].value())
    assert set(net) == {"timestamp", "original_ts", "event_time", "server_id", "net_in", "net_out"}
    assert isinstance(net["net_in"], int)


def test_cpu_mem_only_dataset_skips_net_and_disk(tmp_path, kafka_config):
    ensure_topics(kafka_config, TOPICS, partitions=1, replication=1)
    ds = small_dataset(tmp_path, "two.csv", seed=12, net_disk=False)
    result = produce(ds, kafka_config, run_id="cpu-mem-only", seconds_per_group=0)
    assert result.skipped_topics == ("topic-net", "topic-disk")
    assert result.manifest.counts == {"topic-cpu": ds.rows, "topic-mem": ds.rows}


def spark_submit(manifest_path: Path, out_dir: Path) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]",
           "--jars", ",".join(str(p) for p in sorted(SPARK_KAFKA_JARS.glob("*.jar"))),
           *[arg for k, v in submit_conf().items() for arg in ("--conf", f"{k}={v}")],
           str(SPARK_JOB),
           "--manifest", str(manifest_path), "--output-dir", str(out_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.spark
def test_spark_job_reads_only_this_runs_records(tmp_path, kafka_config):
    """Older replays sit in the same topics; the job must see exactly the new run's records."""
    ensure_topics(kafka_config, TOPICS, partitions=2, replication=1)
    produce(small_dataset(tmp_path, "old.csv", seed=21), kafka_config, run_id="old", seconds_per_group=0)
    new = small_dataset(tmp_path, "new.csv", seed=22)
    manifest = produce(new, kafka_config, run_id="new", seconds_per_group=0).manifest
    manifest_path = manifest.write(tmp_path / "out" / "manifest.json")
    assert all(span[0] > 0 for span in manifest.offsets["topic-cpu"].values()), "old records must precede"

    expected = csv_text(CPU_MEM_HEADER,
                        reference.cpu_mem_rows(new, reference.WindowSpec(), 80.07, 89.36))
    # The ranges hold only the new records (the job reads no headers), and then ranges from offset 0 that hold
    # the old run's records too (the job tells them apart by the attempt header).
    assert manifest.holds_only_attempt(["topic-cpu", "topic-mem"])
    from_zero = {t: {p: [0, span[1]] for p, span in parts.items()} for t, parts in manifest.offsets.items()}
    widened = Manifest(**{**manifest.__dict__, "offsets": from_zero})
    assert not widened.holds_only_attempt(["topic-cpu", "topic-mem"])
    for name, m in (("out", manifest), ("widened", widened)):
        done = spark_submit(m.write(tmp_path / name / "manifest.json"), tmp_path / name)
        assert done.returncode == 0, (done.stderr + done.stdout)[-5000:]
        assert (tmp_path / name / "cpu_mem.csv").read_text() == expected, name

    # A manifest whose attempt id matches no record in ranges that hold other records: the job must fail and
    # write nothing.
    forged = Manifest(**{**widened.__dict__, "attempt_id": "not-this-run"})
    forged_path = forged.write(tmp_path / "forged" / "manifest.json")
    done = spark_submit(forged_path, tmp_path / "forged")
    assert done.returncode != 0
    assert "RecordCountMismatch" in done.stdout + done.stderr, done.stdout[-6000:]  # spark-submit sends Python stderr to stdout
    assert not (tmp_path / "forged" / "cpu_mem.csv").exists()
