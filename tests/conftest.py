"""Shared fixtures: a real KRaft broker, a real local SparkSession and a migrated Airflow home.

Nothing is mocked: tests that need a broker or Spark start the real one. Tests without a service marker
(integration, spark, e2e, browser) are marked ``unit`` here, so ``pytest -m unit`` is the unit set.

Under pytest-xdist (``make test`` runs ``-n 2``) every worker is its own pytest session: its own Airflow home
and metadata DB, its own broker (session fixture) on a free port, its own Spark session; the tests write into
their own tmp_path. Nothing here is shared between workers.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import airflow_home
from devtools.kafka import LocalBroker, free_port
from include.spark_submit import SPARK_KAFKA_JARS

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_DATASET = SHARED_DATA / "team_04_CPU_MEM_RAW.csv"
REAL_EXPECTED = SHARED_DATA / "expected mem.csv"

SERVICE_MARKERS = ("integration", "spark", "e2e", "browser")
AIRFLOW_HOME_KEY = pytest.StashKey[Path]()
# Modules whose tests share one service: test_browser's Airflow stack, test_sasl's secure broker (SASL, TLS,
# client certificates), test_spark_cluster's standalone cluster. Under `--dist loadgroup` each goes whole to one
# worker, so the service starts once; every other test is scheduled on its own.
ONE_WORKER_MODULES = frozenset({"tests/test_browser.py", "tests/test_sasl.py", "tests/test_spark_cluster.py"})


def pytest_configure(config: pytest.Config) -> None:
    """The test Airflow home, set before collection.

    This cannot wait for a fixture: Airflow reads AIRFLOW_HOME and its AIRFLOW__* settings when it is first
    imported (airflow.configuration finds or writes airflow.cfg there, airflow.settings points the ORM at
    the DB), and test modules import it at collection time (test_params and test_paths import include.params,
    which imports airflow.sdk). A session fixture would come after that, leaving Airflow on ~/airflow.
    pytest_configure runs in each xdist worker too, before it collects, so each worker gets a home of its own.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    home = Path(tempfile.mkdtemp(prefix=f"metrics-replay-airflow-{worker}-"))
    config.stash[AIRFLOW_HOME_KEY] = home
    # Removed afterwards (a failing test shows its task logs in its captured output already).
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    env = pytest.MonkeyPatch()
    config.add_cleanup(env.undo)
    for key, value in airflow_home.airflow_env(home).items():
        env.setenv(key, value)
    # One Fernet key for every process of this session (this worker, the CLI runs it starts, the Spark and
    # Airflow subprocesses), whatever airflow.cfg each finds: metrics_alerts' asset trigger is stored encrypted
    # in the metadata DB when dag.test() syncs the DAGs, and every later sync reads it back.
    from cryptography.fernet import Fernet

    env.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    # py4j logs from __del__ at interpreter exit, after pytest closed the streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def tier(item: pytest.Item) -> int:
    """0: runs the DAG (e2e, browser), 1: another real service, 2: unit."""
    if item.get_closest_marker("e2e") or item.get_closest_marker("browser"):
        return 0
    return 2 if item.get_closest_marker("unit") else 1


@pytest.hookimpl(tryfirst=True)  # before -m selects: `-m unit` must see the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(name) for name in SERVICE_MARKERS):
            item.add_marker(pytest.mark.unit)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Under xdist, the slow tests are handed out first and the quick unit tests fill the end, so neither
        # worker is left with a long test after the other has run out. (A stable sort: collection order within
        # a tier, the same on every worker, as xdist requires. The tests sharing a module-scoped fixture are all
        # of one tier, so they stay together and the fixture is set up once; test_sasl's tests are of three
        # tiers, so its broker is a session fixture, kept between them.)
        items.sort(key=tier)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` that also keeps each of ONE_WORKER_MODULES on one worker.

    pytest-xdist 3.8's loadgroup groups by rewriting test ids, which pytest 9.2 no longer lets it do: every
    xdist_group test is then scheduled alone (pytest-dev/pytest-xdist#1386). Its scheduler still splits work
    by scope, so this one names the scope: the module for ONE_WORKER_MODULES, xdist's own choice otherwise.
    """
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    if not callable(getattr(LoadGroupScheduling, "_split_scope", None)):
        raise pytest.UsageError("pytest-xdist's LoadGroupScheduling no longer has _split_scope, which "
                                "tests/conftest.py's pytest_xdist_make_scheduler overrides: adapt it")

    class ModuleGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else super()._split_scope(nodeid)

    return ModuleGroupScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def session_environment() -> Iterator[None]:
    """What the processes the tests start need; undone at the end of the session.

    These are read when used, not at import, so a fixture is early enough."""
    with pytest.MonkeyPatch.context() as env:
        # spark-submit and the Spark job's Python are the venv's, however pytest was started.
        env.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        env.setenv("PYSPARK_PYTHON", sys.executable)
        if "SPARK_LOCAL_IP" not in os.environ:
            env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        if "SPARK_SUBMIT_OPTS" not in os.environ:
            # The tests' Spark JVMs (the spark fixture's and every spark-submit) live seconds on small data: the
            # client compiler alone starts them faster, and C2 compiling in the background competes with the
            # tasks for two cores (test_spark_job 39 -> 32 s, a real-day DAG run 63 -> 52 s of CPU). Results
            # are the same: the JIT tier changes speed, not what the code computes.
            env.setenv("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1")
        # Tests read the shared recorded day and write into their own temporary folders: allow those beside the
        # project's data/ and output/ (tests of the confinement itself narrow these again).
        env.setenv("METRICS_REPLAY_DATA_ROOTS", os.pathsep.join([str(ROOT / "data"), str(SHARED_DATA),
                                                                  tempfile.gettempdir()]))
        env.setenv("METRICS_REPLAY_OUTPUT_ROOTS", os.pathsep.join([str(ROOT / "output"), tempfile.gettempdir()]))
        yield


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
def spark_connect(tmp_path_factory):
    """A real Spark Connect server (a warm Spark, started and warmed up as `make up` does) on a free port, for this
    session (worker). The warm-up costs less than a cold server's first replay would."""
    from devtools.spark_connect import LocalSparkConnect

    server = LocalSparkConnect(home=tmp_path_factory.mktemp("spark-connect"), port=free_port()).start(warm=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def airflow_db(pytestconfig) -> Path:
    """This session's (this xdist worker's) Airflow home, its metadata DB migrated."""
    home = pytestconfig.stash[AIRFLOW_HOME_KEY]
    airflow_home.migrate(home)
    return home


@pytest.fixture
def airflow_connections(monkeypatch, kafka_broker):
    """kafka_default -> the test broker, spark_default -> local[*], as AIRFLOW_CONN_* variables."""
    for key, value in airflow_home.connection_env(kafka_broker.bootstrap).items():
        monkeypatch.setenv(key, value)
    return kafka_broker


@pytest.fixture
def notice_servers(monkeypatch):
    """A real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1 receiving the notices, with the connections
    replay_email and replay_webhook pointing at them (tests/notice_servers.py), and Airflow's [api] base_url set,
    for the links."""
    from notice_servers import BASE_URL, NoticeServers

    servers = NoticeServers().start()
    for key, value in servers.connection_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    yield servers
    servers.stop()
