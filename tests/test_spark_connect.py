"""A warm Spark: window_metrics through a real Spark Connect server gives the spark-submit path's bytes."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from devtools.cli import run_dag
from devtools.kafka import free_port
from include.spark_connect import KAFKA_CONSUMER_IDLE_S
from dag_module import step_states

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]


@pytest.mark.e2e
@pytest.mark.spark
def test_real_day_through_spark_connect_is_byte_identical(tmp_path, real_data, airflow_db, airflow_connections,
                                                          spark_connect, monkeypatch, capfd, caplog):
    dataset, expected = real_data
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps(spark_connect.connection()))
    out = tmp_path / "connect run"
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                     "seconds_per_group": 0})
    states = step_states(dr)
    assert states == {t: "success" for t in ORDER}, states
    # The local[*] spark-submit run is byte-identical to expected mem.csv (test_end_to_end); so is this one.
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is True and report["cpu_mem"]["matching"] == 14_400
    assert not (out / "net_disk.csv").exists()
    assert not list(out.glob(".spark-staging-*"))  # the server's staged parts are cleaned up
    # window_metrics ran its job through the server: no spark-submit (whose log lines are never in this process).
    captured = capfd.readouterr()
    sources = [captured.out + captured.err, caplog.text]  # task logs go to one or the other (test_end_to_end)
    assert any(f"through the Spark Connect server of connection 'spark_default' at 127.0.0.1:{spark_connect.port}"
               in text for text in sources)
    assert any("wrote 14400 windows to" in text for text in sources)  # the job's own log, from this process
    # A session of a run leaves the process's pyspark as it found it (dag.test() and tests share it).
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
    # The server closes the run's idle Kafka consumers, and drops what they fetched past the run's offsets, within
    # seconds (include.spark_connect.server_conf), not after Spark's default 5 minutes: under the default, replays
    # back to back filled the server's heap. jcmd counts the live consumers in the server's JVM.
    deadline = time.monotonic() + 6 * KAFKA_CONSUMER_IDLE_S
    while (left := live_instances(spark_connect.pid(), KAFKA_CONSUMER)) and time.monotonic() < deadline:
        time.sleep(1)
    assert left == 0, f"{left} Kafka consumers still open in the Spark Connect server"


KAFKA_CONSUMER = "org.apache.kafka.clients.consumer.KafkaConsumer"


def live_instances(pid: int, class_name: str) -> int:
    """How many live objects of ``class_name`` the JVM ``pid`` holds (jcmd's class histogram, after a full GC)."""
    histogram = subprocess.run(["jcmd", str(pid), "GC.class_histogram"], capture_output=True, text=True, check=True,
                               timeout=60).stdout
    return sum(int(fields[1]) for line in histogram.splitlines()
               if len(fields := line.split()) == 4 and fields[3] == class_name)


def test_a_dead_spark_connect_server_fails_window_metrics_at_once_naming_the_address(monkeypatch, tmp_path):
    from include.spark_connect import SparkConnectUnavailable
    from include.window_operator import WindowMetricsOperator

    port = free_port()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark_connect",
                                                                 "host": "sc://127.0.0.1", "port": port}))
    op = WindowMetricsOperator(task_id="window_metrics", conn_id="spark_default", application="include/spark_job.py",
                               application_args=["--manifest", str(tmp_path / "manifest.json"),
                                                 "--output-dir", str(tmp_path)])
    started = time.monotonic()
    with pytest.raises(SparkConnectUnavailable) as caught:
        op.execute({})
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "'spark_default'" in message, message
    assert not (tmp_path / "cpu_mem.csv").exists()


def test_the_server_is_sparks_own_connect_server_with_the_kafka_connector_and_the_jobs_settings():
    from include.spark_connect import SERVER_CLASS, SERVER_LOG4J, server_command
    from include.spark_submit import SPARK_KAFKA_JARS, submit_conf

    command = server_command("0.0.0.0", 15123)
    assert command[0].endswith("spark-submit") and command[command.index("--class") + 1] == SERVER_CLASS
    assert command[command.index("--master") + 1] == "local[*]"
    conf = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "--conf")
    assert conf["spark.connect.grpc.binding.address"] == "0.0.0.0"
    assert conf["spark.connect.grpc.binding.port"] == "15123"
    assert conf["spark.driver.memory"] == submit_conf()["spark.driver.memory"]
    assert f"file:{SERVER_LOG4J}" in conf["spark.driver.extraJavaOptions"] and SERVER_LOG4J.is_file()
    jars = command[command.index("--jars") + 1].split(",")
    assert sorted(jars) == sorted(str(p) for p in SPARK_KAFKA_JARS.glob("*.jar"))
    assert any("spark-sql-kafka" in jar for jar in jars)


def test_a_spark_connect_connection_gives_the_providers_url_and_a_spark_one_none(monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook

    from include.spark_connect import CONN_TYPE, address, connection, remote_url

    assert CONN_TYPE == SparkConnectHook.conn_type
    monkeypatch.setenv("AIRFLOW_CONN_WARM", json.dumps(connection("spark-connect", 15002)))
    monkeypatch.setenv("AIRFLOW_CONN_COLD", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    url = remote_url("warm")
    assert url.startswith("sc://spark-connect:15002/") and address(url) == ("spark-connect", 15002)
    assert remote_url("cold") is None


def test_addresses_of_spark_connect_urls_never_show_the_token():
    from include.spark_connect import DEFAULT_PORT, address

    assert address("sc://10.0.0.5:15100/;token=s3cret;use_ssl=True") == ("10.0.0.5", 15100)
    assert address("sc://spark-connect") == ("spark-connect", DEFAULT_PORT)
    with pytest.raises(ValueError) as caught:
        address("spark://master:7077/;token=s3cret")
    assert "s3cret" not in str(caught.value) and "spark://master:7077" in str(caught.value)


def test_make_up_says_whether_window_metrics_uses_the_warm_spark():
    from devtools.airflow_home import kept_conn_type
    from devtools.cli import spark_line

    assert "warm Spark" in spark_line("spark_connect", True)
    kept = spark_line("spark", True)
    assert "spark-submits" in kept and "Admin -> Connections" in kept  # an earlier home's spark_default was kept
    assert "Admin" not in spark_line("spark", False)  # `make up WARM_SPARK=0`: as asked
    assert kept_conn_type('[{"conn_id": "spark_default", "conn_type": "spark_connect"}]') == "spark_connect"
    assert kept_conn_type("not json") is None
