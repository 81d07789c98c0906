"""A local Airflow 3 home on SQLite for the embedded default: config by environment, DB migrated once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from include.paths import PROJECT_ROOT

DEFAULT_HOME = PROJECT_ROOT / ".airflow"


def airflow_env(home: Path = DEFAULT_HOME) -> dict[str, str]:
    """Environment that points Airflow at this project's dags/ and plugins/ and a SQLite DB in ``home``."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Sized for a 2-core machine.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
    }


def connection_env(bootstrap_servers: str, spark_master: str = "local[*]") -> dict[str, str]:
    """The two connections the DAG uses, as Airflow reads them from AIRFLOW_CONN_* variables."""
    return {
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps({"conn_type": "kafka",
                                                  "extra": {"bootstrap.servers": bootstrap_servers}}),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": spark_master}),
    }


def migrate(home: Path = DEFAULT_HOME, timeout: float = 600) -> None:
    """Create or upgrade the metadata DB in ``home`` (idempotent)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(home)}
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL)
