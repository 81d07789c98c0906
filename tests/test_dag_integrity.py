"""The DAG file parses cleanly, wires five tasks in order, exposes typed params and stays light at parse time."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The five steps, in each mode's path: batch, and live (the window step's streaming job is started before the
# producer sends and followed after it).
ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]
LIVE_ORDER = ["check_broker", "ensure_topics", "start_stream", "produce_metrics_live", "window_metrics_live",
              "validate_output"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "metrics_replay" in dagbag.dag_ids


def test_tasks_run_in_order(dagbag):
    dag = dagbag.dags["metrics_replay"]
    # After validation: the review of a failed one, its blessing, and the run's leaf (tests/test_blessing.py).
    assert sorted(dag.task_ids) == sorted({*ORDER, *LIVE_ORDER, "choose_mode", "review_output", "bless_output",
                                           "keep_verdict"})
    for path in (ORDER, LIVE_ORDER):
        steps = path[:2] + ["choose_mode"] + path[2:]
        for upstream, downstream in zip(steps, steps[1:]):
            assert upstream in dag.get_task(downstream).upstream_task_ids, f"{upstream} must precede {downstream}"
    order = [t.task_id for t in dag.topological_sort()]
    for path in (ORDER, LIVE_ORDER):
        assert [t for t in order if t in path] == path
    # The branch picks one path; validation runs after whichever ran (and not when it failed).
    assert dag.get_task("validate_output").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("choose_mode").downstream_task_ids == {"produce_metrics", "start_stream"}


def test_params_are_typed_with_seed_defaults(dagbag):
    params = dagbag.dags["metrics_replay"].params
    expected = {"dataset_path": "data/metrics.csv", "expected_path": "data/metrics_expected.csv", "output_dir": None,
                "seconds_per_group": 1.0, "cpu_threshold": 80.07, "mem_threshold": 89.36, "window_seconds": 30,
                "slide_seconds": 10, "warmup_windows": 2, "partitions": 1, "replication": 1,
                "kafka_conn_id": "kafka_default", "expected_net_disk_path": "data/metrics_net_disk_expected.csv",
                "net_threshold": 6104.83, "disk_threshold": 1839.94, "speed": None, "recording_start": None,
                "time_shift": "none", "mode": "batch", "watermark_seconds": 10, "late_fraction": 0.0,
                "late_max_seconds": 0, "late_seed": 0, "allow_late_drops": False}
    assert {k: params[k] for k in expected} == expected
    for name in expected:
        param = params.get_param(name)
        assert "type" in param.schema, f"param {name} has no type"
        assert param.schema.get("title") and param.description, f"param {name} does not explain itself"
    for name in ("seconds_per_group", "cpu_threshold", "window_seconds", "slide_seconds", "partitions", "speed"):
        assert "minimum" in params.get_param(name).schema, f"param {name} has no lower bound"
    assert params.get_param("time_shift").schema["enum"] == ["none", "now"]
    assert params.get_param("mode").schema["enum"] == ["batch", "live"]


def test_schedule_retries_and_docs(dagbag):
    dag = dagbag.dags["metrics_replay"]
    assert dag.timetable.expression == "0 2 * * *"
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable

    core = CronTriggerTimetable(dag.timetable.expression, timezone="UTC",
                                run_immediately=dag.timetable.run_immediately)
    first = core.next_dagrun_info(last_automated_data_interval=None,
                                  restriction=TimeRestriction(earliest=None, latest=None, catchup=False))
    assert first.run_after > datetime.now(timezone.utc), "deploying must not start a replay at once"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.default_args["retries"] >= 1 and dag.default_args["retry_exponential_backoff"] is True
    assert dag.get_task("validate_output").retries == 0  # a difference is not transient
    assert {"replay", "kafka", "spark"} <= set(dag.tags)
    assert "check_broker" in dag.doc_md and "validate_output" in dag.doc_md
    assert [o.name for o in dag.get_task("validate_output").outlets] == ["metrics_replay_validated_output"]


def test_window_metrics_is_spark_submit_on_spark_default(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from dag_module import load_dag_module
    from include.window_operator import WindowMetricsOperator

    op = dagbag.dags["metrics_replay"].get_task("window_metrics")
    # spark-submit, or the job through a Spark Connect server when spark_default is of that type
    assert isinstance(op, WindowMetricsOperator) and isinstance(op, SparkSubmitOperator)
    assert load_dag_module().SPARK_CONN_ID == op.spark_conn_id == "spark_default"
    assert op.application.endswith("include/spark_job.py")
    assert "spark-kafka" in op.jars


def test_parse_time_is_light_and_looks_up_no_connection(tmp_path):
    """Parsing the DAG file must not reach a connection, nor import pyspark, pandas or a Kafka client."""
    probe = f"""
import sys, importlib.util
from airflow.sdk.bases.hook import BaseHook
from airflow.models.connection import Connection
def boom(*a, **k):
    raise RuntimeError("connection looked up at parse time")
BaseHook.get_connection = classmethod(boom)
Connection.get_connection_from_secrets = classmethod(boom)
spec = importlib.util.spec_from_file_location("m", {str(ROOT / 'dags' / 'metrics_replay.py')!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
heavy = [k for k in ("pyspark", "pandas", "confluent_kafka", "numpy") if k in sys.modules]
print("HEAVY=" + ",".join(heavy))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY=\n" in out.stdout, out.stdout
