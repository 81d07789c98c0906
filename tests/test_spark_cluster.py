"""Cluster mode: the same DAG against a real Spark standalone master gives byte-identical output."""

from __future__ import annotations

import json

import pytest

from devtools.cli import run_dag
from devtools.spark_cluster import LocalSparkCluster
from dag_module import step_states

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    cluster = LocalSparkCluster(home=tmp_path_factory.mktemp("spark-cluster")).start()
    yield cluster
    cluster.stop()


def test_dag_on_standalone_cluster_matches_local_output(tmp_path, real_data, airflow_db, airflow_connections,
                                                        spark_cluster, monkeypatch):
    dataset, expected = real_data
    host, port = spark_cluster.master_url.rsplit(":", 1)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": host,
                                                                 "port": int(port)}))
    out = tmp_path / "cluster"
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                     "seconds_per_group": 0})
    states = step_states(dr)
    assert states["window_metrics"] == "success", states
    assert str(dr.state) == "success", states
    # The local[*] run is byte-identical to expected mem.csv (test_end_to_end); so must the cluster run be.
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    # The application really ran on the cluster: the worker launched an executor for it.
    work = spark_cluster.home / "work"
    apps = [p.name for p in work.iterdir()] if work.exists() else []
    assert any(a.startswith("app-") for a in apps), f"no application ran on {spark_cluster.master_url}: {apps}"
