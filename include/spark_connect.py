"""A warm Spark: a long-running Spark Connect server that takes window_metrics' job without Spark's start-up.

A Spark connection of the Spark Connect type (the Spark provider's ``spark_connect``, e.g. host
``sc://127.0.0.1``, port 15002) makes window_metrics run include/spark_job.py through that server from the task
(include.window_operator); a ``spark`` connection keeps spark-submit. The server is Spark's own: spark-submit of
its ``SparkConnectServer`` class with the Kafka connector's jars and the job's settings (submit_conf), on a
local master. ``make up`` starts one on 127.0.0.1 (devtools/spark_connect.py), compose runs one as the
``spark-connect`` service: ``python -m include.spark_connect --host 0.0.0.0``.

The server writes the job's staged CSV parts itself, so it must see the run's output folder at the same path as
the task does (one machine; in compose a shared volume); so must it see any TLS trust/key store file the Kafka
connection names.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from include.spark_submit import SPARK_KAFKA_JARS, SPARK_LOG4J, submit_conf

log = logging.getLogger(__name__)

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002  # Spark Connect's own default
CONN_TYPE = "spark_connect"  # the Spark provider's SparkConnectHook.conn_type
REACH_TIMEOUT_S = 10.0
KAFKA_CONSUMER_IDLE_S = 5  # how long the server keeps an idle Kafka consumer (and what it fetched)
SERVER_LOG4J = SPARK_LOG4J.with_name("spark-connect-log4j2.properties")


class SparkConnectUnavailable(ConnectionError):
    """The Spark Connect server of a connection does not answer; the message names the connection and address."""


def server_conf(host: str, port: int) -> dict[str, str]:
    """The server's ``--conf`` settings: the job's own (submit_conf) and where gRPC listens."""
    conf = submit_conf()
    conf["spark.driver.extraJavaOptions"] = conf["spark.driver.extraJavaOptions"].replace(str(SPARK_LOG4J),
                                                                                          str(SERVER_LOG4J))
    return {
        **conf,
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port),
        # The job's per-run settings are runtime SQL settings the session sets (spark_job.build_session); the
        # time zone is also set here so that anything else run on this server windows in UTC too.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        # Idle Kafka consumers closed within seconds, not Spark's 5 minutes: a batch query's consumers have a group
        # id of their own, so the next replay never reuses them, and each keeps what it fetched past its end
        # offset (up to the job's 4 MiB a partition). Twenty replays of the real day back to back filled the
        # 768 MiB heap and failed with "GC overhead limit exceeded" under the defaults; with these, none did.
        **{f"spark.kafka.consumer.{pool}.{key}": value for pool in ("cache", "fetchedData.cache")
           for key, value in (("timeout", f"{KAFKA_CONSUMER_IDLE_S}s"),
                              ("evictorThreadRunInterval", f"{KAFKA_CONSUMER_IDLE_S}s"))},
        "spark.kafka.consumer.cache.capacity": "8",
    }


def server_command(host: str = "127.0.0.1", port: int = DEFAULT_PORT, master: str = "local[*]",
                   spark_submit: str | None = None, jars: Path = SPARK_KAFKA_JARS) -> list[str]:
    """spark-submit's command line that runs a Spark Connect server with the Kafka connector (the connect jar
    itself ships in pyspark's jars/)."""
    spark_submit = spark_submit or shutil.which("spark-submit") or str(Path(sys.executable).with_name("spark-submit"))
    found = sorted(jars.glob("*.jar"))
    if not found:
        raise FileNotFoundError(f"no Kafka connector jars in {jars}; run `make jars`")
    conf = [arg for key, value in server_conf(host, port).items() for arg in ("--conf", f"{key}={value}")]
    return [spark_submit, "--class", SERVER_CLASS, "--name", "metrics_replay Spark Connect server",
            "--master", master, *conf, "--jars", ",".join(str(p) for p in found)]


def connection(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> dict:
    """A Spark Connect connection to the server at host:port, as Airflow reads it (AIRFLOW_CONN_* JSON, or
    ``airflow connections add --conn-json``)."""
    return {"conn_type": CONN_TYPE, "host": f"sc://{host}", "port": port}


def address(url: str) -> tuple[str, int]:
    """host and port of an ``sc://host:port/;params`` URL (port 15002 when it has none)."""
    parsed = urlparse(url)
    if parsed.scheme != "sc" or not parsed.hostname:
        raise ValueError(f"not a Spark Connect URL (sc://host:port): {url.split(';', 1)[0]}")
    return parsed.hostname, parsed.port or DEFAULT_PORT


def remote_url(conn_id: str) -> str | None:
    """The Spark Connect URL of connection ``conn_id`` when it is of the Spark Connect type, else None.

    The URL may carry the connection's token: never log it whole (``address`` gives what to show)."""
    from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook
    from airflow.sdk import BaseHook

    if BaseHook.get_connection(conn_id).conn_type != SparkConnectHook.conn_type:
        return None
    return SparkConnectHook(conn_id).get_connection_url()


def check_reachable(url: str, conn_id: str, timeout: float = REACH_TIMEOUT_S) -> tuple[str, int]:
    """Raise SparkConnectUnavailable, within ``timeout`` seconds, unless the server's port accepts a connection.

    A client session against a dead server would instead retry for minutes (the Connect client's own retry
    policy) before it fails."""
    host, port = address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return host, port
    except OSError as exc:
        raise SparkConnectUnavailable(f"the Spark Connect server of connection '{conn_id}' at {host}:{port} does "
                                      f"not answer ({exc.strerror or exc}); start it (make up) or point "
                                      f"'{conn_id}' at a running one") from None


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground (compose's spark-connect service): it replaces this process."""
    p = argparse.ArgumentParser(description="A Spark Connect server with the Kafka connector (a warm Spark)")
    p.add_argument("--host", default="127.0.0.1", help="address gRPC listens on (0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--master", default="local[*]")
    args = p.parse_args(argv)
    command = server_command(args.host, args.port, args.master)
    os.execvpe(command[0], command, {**os.environ, "PYSPARK_PYTHON": sys.executable})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
