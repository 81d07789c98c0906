"""A three-broker KRaft cluster (three processes on 127.0.0.1) loses a broker mid-replay and nothing is lost.

The whole DAG runs through dag.test() with the Kafka connection naming all three brokers and replication 3,
so ensure_topics creates the topics with min.insync.replicas 2. Once produce is well under way, the leader of
topic-cpu partition 0 is killed with SIGKILL and stays dead; the replay must complete on the other two.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from devtools.cli import run_dag
from devtools.kafka import LocalCluster
from devtools.waiting import WaitTimeout, wait_until
from kafka_helpers import total_records
from dag_module import step_states

pytestmark = pytest.mark.e2e

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]
RUN_TOPICS = ("topic-cpu", "topic-mem")  # the recorded day has CPU/MEM only
RECORDS_PER_TOPIC = 28_800
KILL_AFTER = 5_000  # records acknowledged in topic-cpu before the kill: about 5 s into a 29 s produce


@pytest.fixture
def cluster(tmp_path):
    cluster = LocalCluster(home=tmp_path / "cluster", size=3, heap="384m").start()
    yield cluster
    cluster.stop(hard=True)


def now() -> datetime:
    return datetime.now(timezone.utc)


def end_offset(consumer: Consumer, topic: str, partition: int = 0) -> int:
    """High watermark of one partition; -1 while the topic does not exist or has no leader."""
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=2)[1]
    except KafkaException:
        return -1


def partition_state(config: dict, topic: str, partition: int = 0):
    """(leader, replicas, in-sync replicas) of one partition, as the cluster's metadata says."""
    meta = AdminClient(config).list_topics(topic, timeout=10).topics[topic].partitions[partition]
    return meta.leader, sorted(meta.replicas), sorted(meta.isrs)


def test_broker_killed_in_three_broker_cluster_loses_nothing(tmp_path, real_data, airflow_db, cluster,
                                                             monkeypatch):
    dataset, expected = real_data
    config = {"bootstrap.servers": cluster.bootstrap}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": config}))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    events: dict[str, object] = {}
    finished = threading.Event()

    def kill_leader():
        consumer = Consumer({**config, "group.id": f"watch-{time.monotonic_ns()}"})

        def kill_point_or_run_over() -> int | bool:
            """The acknowledged offset once it reached KILL_AFTER; True if the run ended before that."""
            if finished.is_set():
                return True
            offset = end_offset(consumer, "topic-cpu")
            return offset if offset >= KILL_AFTER else 0

        try:
            reached = wait_until(kill_point_or_run_over, 600, interval=0.1,
                                 what=f"{KILL_AFTER} records in topic-cpu or the end of the run")
            if reached is True:
                return  # the run ended first; the test's first assertion says so
            leader, replicas, _ = partition_state(config, "topic-cpu")
            cluster.node(leader).stop(hard=True)
            events.update(killed=leader, killed_at=now(), offset_at_kill=reached, replicas=replicas)
        except WaitTimeout as exc:
            events["error"] = str(exc)
        finally:
            consumer.close()

    killer = threading.Thread(target=kill_leader, daemon=True)
    killer.start()
    out = tmp_path / "cluster-run"
    try:
        dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                         "seconds_per_group": 0.02, "replication": 3})  # ~29 s of producing
    finally:
        finished.set()
        killer.join(timeout=30)

    assert "killed" in events, "produce never reached the kill point"
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    produce = next(ti for ti in dr.get_task_instances() if ti.task_id == "produce_metrics")
    # the kill came while the first try was producing, and that try rode it out
    assert produce.try_number == 1 and produce.end_date > events["killed_at"], (produce.end_date, events)
    assert events["offset_at_kill"] < RECORDS_PER_TOPIC
    assert events["replicas"] == [1, 2, 3]

    # The topics are as ensure_topics made them; the dead broker is out of the in-sync replicas and led nothing.
    survivors = {"bootstrap.servers": ",".join(n.bootstrap for n in cluster.nodes if n.node_id != events["killed"])}
    for topic in RUN_TOPICS:
        leader, replicas, isr = partition_state(survivors, topic)
        assert replicas == [1, 2, 3] and events["killed"] not in isr and leader != events["killed"], \
            (topic, leader, replicas, isr)
    admin = AdminClient(survivors)
    configs = admin.describe_configs([ConfigResource("topic", t) for t in RUN_TOPICS], request_timeout=10)
    assert {r.name: f.result(timeout=15)["min.insync.replicas"].value for r, f in configs.items()} == \
        {t: "2" for t in RUN_TOPICS}

    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {t: RECORDS_PER_TOPIC for t in RUN_TOPICS}
    # the acknowledged offsets are one gap-free range per topic of exactly the run's records: each record
    # was written once (idempotent producer, acks=all), and the topics hold nothing else
    for topic in RUN_TOPICS:
        spans = manifest["offsets"][topic]
        assert sum(end - start for start, end in spans.values()) == RECORDS_PER_TOPIC, (topic, spans)
        assert total_records(survivors, topic) == RECORDS_PER_TOPIC
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is True
