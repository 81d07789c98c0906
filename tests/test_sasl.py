"""A broker that takes SASL/PLAIN logins only: the connection's extra carries the login to every client.

One local broker whose client listener is SASL_PLAINTEXT (PLAIN). With the right password the whole DAG
replays and validates (the producer and admin client log in with librdkafka, the Spark job with Spark's
Kafka source); with a wrong one check_broker fails at once, saying so; and the password appears nowhere in
what the run logged, nor on any process's command line.
"""

from __future__ import annotations

from dag_module import step_states

import json
import os
import re
import threading
import time
from pathlib import Path

import psutil
import pytest

from devtools.cli import run_dag
from devtools.kafka import LocalBroker, free_port
from include.topics import SECURITY_ENV, UnsupportedSecurity, java_security, security_env

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]
USER = "replay-user"
PASSWORD = "Sasl-Pw-7qX2-kestrel-mango-0419"  # distinctive, so a leak cannot hide among other text
WRONG_PASSWORD = "Wrong-Pw-3vB8-heron-plum-2207"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    broker = LocalBroker(home=tmp_path_factory.mktemp("kafka-sasl"), port=free_port(),
                         sasl_users={USER: PASSWORD}).start()
    yield broker
    broker.stop(hard=True)


def use_kafka(monkeypatch, broker: LocalBroker, password: str) -> None:
    extra = {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_PLAINTEXT",
             "sasl.mechanism": "PLAIN", "sasl.username": USER, "sasl.password": password}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))


def states(dr) -> dict[str, str]:
    return step_states(dr)


def everything_logged(capfd, caplog, since: float) -> str:
    """All the run printed (stdout, stderr, also of spark-submit) and logged, and any task log file written."""
    out, err = capfd.readouterr()
    records = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    files = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*")
             if p.is_file() and p.stat().st_mtime >= since]
    return "\n".join([out, err, records] + [p.read_text(errors="replace") for p in files])


class CommandLines:
    """Watches every process's command line while a run goes on: did the password show, was the run's Spark
    job seen? (Its spark-submit is the one naming ``marker``, the run's output folder: another xdist worker
    may be running a spark-submit of its own meanwhile.)"""

    def __init__(self, secret: str, marker: str) -> None:
        self.secret, self.marker, self.leaks, self.spark_submits = secret, marker, [], 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        # not a wait: a look at every command line every 0.2 s for as long as the run goes on
        while not self.done.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                self.spark_submits += "org.apache.spark.deploy.SparkSubmit" in cmd and self.marker in cmd
                if self.secret in cmd:
                    self.leaks.append(cmd)
            self.done.wait(0.2)

    def __enter__(self) -> CommandLines:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(timeout=10)


def test_connection_security_becomes_spark_kafka_settings():
    """librdkafka names in the extra -> the Java client's, the password only inside the JAAS config."""
    extra = {"bootstrap.servers": "b:9092", "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
             "sasl.username": USER, "sasl.password": 'p"w\\1', "ssl.ca.location": "/ca.pem", "linger.ms": 5}
    assert java_security(json.loads(security_env(extra)[SECURITY_ENV])) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{USER}" '
                            'password="p\\"w\\\\1";',
        "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem",
        "ssl.endpoint.identification.algorithm": "https"}
    assert security_env({"bootstrap.servers": "b:9092"}) == {}  # nothing to hand over for a PLAINTEXT broker
    for refused in ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"},
                    {"security.protocol": "SSL", "ssl.certificate.location": "/c.pem", "ssl.key.location": "/k.pem"}):
        with pytest.raises(UnsupportedSecurity):
            security_env(refused)  # refused in the task, before spark-submit starts


@pytest.mark.e2e
def test_right_password_replays_and_is_never_logged(tmp_path, real_data, airflow_db, sasl_broker, monkeypatch,
                                                   capfd, caplog):
    dataset, expected = real_data
    use_kafka(monkeypatch, sasl_broker, PASSWORD)
    caplog.set_level("INFO")
    since = time.time() - 1
    out = tmp_path / "sasl-run"
    with CommandLines(PASSWORD, marker=str(out)) as command_lines:
        dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                         "seconds_per_group": 0})
    assert states(dr) == {t: "success" for t in ORDER}, states(dr)
    assert command_lines.spark_submits > 0 and not command_lines.leaks, command_lines.leaks
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    assert json.loads((out / "validation.json").read_text())["passed"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"topic-cpu": 28_800, "topic-mem": 28_800}
    assert PASSWORD not in json.dumps(manifest)

    logged = everything_logged(capfd, caplog, since)
    # the check below must not pass on an empty capture: every task's log lines and the job's are here
    for line in ("Broker reachable: cluster", "Topics ready:", "Produced 57600 messages", "windowing run",
                 "Kafka security from the connection: security.protocol SASL_PLAINTEXT",
                 "Validation passed"):
        assert line in logged, f"{line!r} not in the captured logs"
    assert PASSWORD not in logged


@pytest.mark.e2e
def test_wrong_password_fails_check_broker_at_once_without_retries(tmp_path, airflow_db, sasl_broker,
                                                                   monkeypatch, capfd, caplog):
    use_kafka(monkeypatch, sasl_broker, WRONG_PASSWORD)
    caplog.set_level("INFO")
    since = time.time() - 1
    out = tmp_path / "wrong-password"
    started = time.monotonic()
    dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0})
    elapsed = time.monotonic() - started
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(tis["check_broker"].state) == "failed"
    assert tis["check_broker"].try_number == 1  # a wrong password stays wrong: no retries
    assert all(str(tis[t].state) == "upstream_failed" for t in ORDER[1:])
    assert not out.exists()
    check = tis["check_broker"]
    assert (check.end_date - check.start_date).total_seconds() < 15, (check.start_date, check.end_date)
    assert elapsed < 90, elapsed  # the whole dag.test: one try, no back-off

    logged = everything_logged(capfd, caplog, since)
    said = re.search(rf"Kafka broker of connection 'kafka_default' at {re.escape(sasl_broker.bootstrap)} refused "
                     r"the login: authentication failed \(.*Invalid username or password", logged)
    assert said, "check_broker did not say the login was refused"
    assert WRONG_PASSWORD not in logged and PASSWORD not in logged
