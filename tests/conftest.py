"""Shared fixtures: a real KRaft broker, a real local SparkSession and a migrated Airflow home.

Airflow reads its config from the environment at import, so the test Airflow home is set here, before
any test module imports airflow. Nothing is mocked: tests that need a broker or Spark start the real one.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import pytest

from include.infra import airflow_home
from include.infra.kafka import SPARK_KAFKA_JARS, LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_DATASET = SHARED_DATA / "team_04_CPU_MEM_RAW.csv"
REAL_EXPECTED = SHARED_DATA / "expected mem.csv"

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="metrics-replay-airflow-"))
os.environ.update(airflow_home.airflow_env(AIRFLOW_HOME))
# spark-submit and the Spark job's Python are the venv's, however pytest was started.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Tests read the shared recorded day and write into their own temporary folders: allow those beside the
# project's data/ and output/ (tests of the confinement itself narrow these again).
os.environ["METRICS_REPLAY_DATA_ROOTS"] = os.pathsep.join([str(ROOT / "data"), str(SHARED_DATA),
                                                          tempfile.gettempdir()])
os.environ["METRICS_REPLAY_OUTPUT_ROOTS"] = os.pathsep.join([str(ROOT / "output"), tempfile.gettempdir()])
# py4j logs from __del__ at interpreter exit, after pytest closed the streams.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def real_data() -> tuple[Path, Path]:
    """The original system's recorded input and known-good output, read from ../shared (never copied)."""
    assert REAL_DATASET.is_file(), f"{REAL_DATASET} missing: ../shared/data must sit beside the project"
    assert REAL_EXPECTED.is_file(), f"{REAL_EXPECTED} missing"
    return REAL_DATASET, REAL_EXPECTED


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> LocalBroker:
    broker = LocalBroker(home=tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka_config(kafka_broker) -> dict:
    return {"bootstrap.servers": kafka_broker.bootstrap}


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("metrics-replay-tests")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.ui.enabled", "false")
               .config("spark.jars", ",".join(str(p) for p in sorted(SPARK_KAFKA_JARS.glob("*.jar"))))
               .getOrCreate())
    session.sparkContext.setLogLevel("WARN")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    airflow_home.migrate(AIRFLOW_HOME)
    return AIRFLOW_HOME


@pytest.fixture
def airflow_connections(monkeypatch, kafka_broker):
    """kafka_default -> the test broker, spark_default -> local[*], as AIRFLOW_CONN_* variables."""
    for key, value in airflow_home.connection_env(kafka_broker.bootstrap).items():
        monkeypatch.setenv(key, value)
    return kafka_broker
