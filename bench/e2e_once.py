"""One end-to-end run of the real DAG through dag.test(), in a process of its own (Airflow reads its config
from the environment at import): ``python -m bench.e2e_once --bootstrap ... --airflow-home ...`` (unpaced
batch mode unless ``--conf`` JSON adds params, e.g. ``{"mode": "live", "speed": 1000}``;
``--spark-connect PORT`` runs window_metrics through the Spark Connect server on 127.0.0.1:PORT).

Prints one JSON line: the dag.test() wall time, each task's state and duration, the validation, and a live
run's alert latency figures; how long dag.test() took before the first task started; and, for the tasks that
are one call into include.replay, how long that call took (``bodies``): the task's own work, its imports
included, without what Airflow does around it (in dag.test() the first task's time also holds the start-up of
Airflow's in-process execution API, which a deployment's API server has done long before)."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


# The DAG's tasks that are one call each into include.replay (the DAG imports the module inside each task, so
# the timed function below is the one the task calls).
TIMED_CALLS = ("check_broker", "ensure_topics", "choose_mode", "produce_metrics", "validate_output")


def time_replay_calls() -> dict[str, float]:
    """Wrap include.replay's task functions with a timer; returns the dict their times (s) go into by name."""
    from include import replay

    seconds: dict[str, float] = {}

    def timed(name: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    for name in TIMED_CALLS:
        setattr(replay, name, timed(name, getattr(replay, name)))
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--airflow-home", required=True, type=Path)
    p.add_argument("--dataset", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--expected-net-disk", default=None)
    p.add_argument("--conf", default="{}", help="more params, JSON")
    p.add_argument("--spark-connect", type=int, default=None, metavar="PORT",
                   help="spark_default: the Spark Connect server on 127.0.0.1:PORT (a warm Spark), not local[*]")
    args = p.parse_args(argv)
    from devtools import airflow_home
    from include.paths import DATA_DIR

    os.environ.update(airflow_home.airflow_env(args.airflow_home))
    from include.spark_connect import connection

    spark = connection("127.0.0.1", args.spark_connect) if args.spark_connect is not None else None
    os.environ.update(airflow_home.connection_env(args.bootstrap, spark=spark))
    # Run params are confined to data/output roots; the bench's files live outside the project's defaults.
    os.environ["METRICS_REPLAY_DATA_ROOTS"] = os.pathsep.join(
        sorted({str(Path(args.dataset).resolve().parent), str(Path(args.expected).resolve().parent),
                str(DATA_DIR)}))  # data/ holds the (unused) default expected NET/DISK file the params name
    os.environ["METRICS_REPLAY_OUTPUT_ROOTS"] = str(Path(args.output_dir).resolve().parent)
    logging.basicConfig(level=logging.INFO)
    t0 = time.perf_counter()
    from devtools.cli import load_dag, run_dag

    load_dag()  # imports Airflow and parses the DAG file (timed on its own, outside dag.test())
    imported = time.perf_counter() - t0
    bodies = time_replay_calls()
    conf = {"dataset_path": args.dataset, "expected_path": args.expected, "output_dir": args.output_dir,
            "seconds_per_group": 0, "expected_net_disk_path": args.expected_net_disk, **json.loads(args.conf)}
    t1, called_at = time.perf_counter(), datetime.now(timezone.utc)
    dr, out = run_dag(conf)
    wall = time.perf_counter() - t1
    tasks = {}
    for ti in dr.get_task_instances():
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks[ti.task_id] = {"state": str(ti.state), "seconds": seconds,
                             "start": ti.start_date.isoformat() if ti.start_date else None}
    from include.contract import VALIDATION_FILE
    from include.validation import read_record

    validation = read_record(out / VALIDATION_FILE) if (out / VALIDATION_FILE).exists() else None
    produced = out / "cpu_mem.csv"
    identical = produced.exists() and produced.read_bytes() == Path(args.expected).read_bytes()
    if args.expected_net_disk:
        produced_nd = out / "net_disk.csv"
        identical = identical and produced_nd.exists() and (
            produced_nd.read_bytes() == Path(args.expected_net_disk).read_bytes())
    first_start = min((ti.start_date for ti in dr.get_task_instances() if ti.start_date), default=None)
    print(json.dumps({"state": str(dr.state), "dag_test_seconds": wall, "import_seconds": imported,
                      "before_first_task_seconds": (first_start - called_at).total_seconds() if first_start else None,
                      "tasks": tasks, "bodies": bodies, "byte_identical": identical,
                      "validation_passed": bool(validation and validation.passed),
                      "latency": (validation.latency.model_dump(mode="json")
                                  if validation is not None and validation.latency is not None else None),
                      "output_dir": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
