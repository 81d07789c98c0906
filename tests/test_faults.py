"""Faults on the real stack: a dead broker at the start of a run."""

from __future__ import annotations

import json
import time

import pytest

from include.cli import run_dag
from include.infra.kafka import free_port

pytestmark = pytest.mark.e2e


def test_broker_down_at_start(tmp_path, airflow_db, monkeypatch):
    """check_broker fails each try within 15 s, retries as default_args say, and no later task runs."""
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT",
                       json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": address}}))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    out = tmp_path / "dead-broker"
    started = time.monotonic()
    dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0})
    elapsed = time.monotonic() - started
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(tis["check_broker"].state) == "failed"
    assert tis["check_broker"].try_number == 3  # the first try and default_args' two retries
    assert all(str(tis[t].state) == "upstream_failed"
               for t in ("ensure_topics", "produce_metrics", "window_metrics", "validate_output"))
    assert str(dr.state) == "failed" and not out.exists()
    # three tries of at most ~10 s each plus the 10 s and 20 s back-off between them
    assert elapsed < 3 * 15 + 10 + 20 + 30, elapsed
