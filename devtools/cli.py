"""Command line: `python -m include.cli run|broker|generate|reference` (the Makefile's targets call it).

`run` is `make run`: start the local broker if needed, prepare the Airflow home, run the DAG once through
dag.test() with the given params, print the validation summary and output path, and exit non-zero when
any task failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

from include.infra import airflow_home
from include.infra.kafka import DEFAULT_PORT, BrokerStartError, LocalBroker
from include.paths import PROJECT_ROOT, VALIDATION_FILE, output_dir_for

DAG_FILE = PROJECT_ROOT / "dags" / "metrics_replay.py"


def load_dag(path: Path = DAG_FILE):
    spec = importlib.util.spec_from_file_location("metrics_replay_dag", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.metrics_replay()


def run_dag(conf: dict, logical_date=None, run_after=None):
    """One DAG run through dag.test(); returns (dag_run, output_dir). Airflow env must be set already.

    Given the logical date and run_after of an earlier run, this is that run again under the same run id:
    dag.test() replaces the old run (its task instances and XComs) and runs every task anew."""
    dag = load_dag()
    when = {"logical_date": logical_date} if logical_date is not None else {}
    dr = dag.test(run_conf=conf, run_after=run_after, **when)
    return dr, output_dir_for(conf.get("output_dir"), dr.run_id)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        conf = json.loads(args.conf or "{}")
    except json.JSONDecodeError as exc:
        print(f"CONF is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(conf, dict):
        print("CONF must be a JSON object of DAG params", file=sys.stderr)
        return 2
    conf.setdefault("seconds_per_group", 0)
    try:
        broker = LocalBroker(port=args.port).start()
    except BrokerStartError as exc:
        print(f"cannot start the local Kafka broker: {exc}", file=sys.stderr)
        return 2
    airflow_home.migrate()
    os.environ.update(airflow_home.airflow_env())
    for key, value in airflow_home.connection_env(broker.bootstrap).items():
        os.environ.setdefault(key, value)  # a connection the user set wins
    sys.stdout.reconfigure(line_buffering=True)  # task logs appear as they happen, also through a pipe
    dr, out = run_dag(conf)
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    print(f"\nDAG run {dr.run_id}: {dr.state}")
    for task_id, state in states.items():
        print(f"  {task_id}: {state}")
    report = out / VALIDATION_FILE
    if report.exists():
        data = json.loads(report.read_text())
        print(f"validation: {'PASS' if data['passed'] else 'FAIL'} ({report})")
        for part in ("cpu_mem", "net_disk"):
            p = data[part]
            if p["status"] == "not applicable":
                print(f"  {part}: not applicable ({p['reason']})")
            else:
                print(f"  {part}: {p['status'].upper()} expected={p['expected_rows']} produced={p['produced_rows']} "
                      f"matching={p['matching']} missing={p['missing']} extra={p['extra']} "
                      f"mismatches={p['mismatches_per_column']}")
    print(f"output: {out}" + (f"  (report: {out / 'report.html'})" if (out / "report.html").exists() else ""))
    return 0 if str(dr.state) == "success" else 1


def cmd_up(args: argparse.Namespace) -> int:
    try:
        broker = LocalBroker(port=args.broker_port).start()
    except BrokerStartError as exc:
        print(f"cannot start the local Kafka broker: {exc}", file=sys.stderr)
        return 2
    ui = airflow_home.start_ui(airflow_home.DEFAULT_HOME, args.port, broker.bootstrap,
                               password=os.environ.get("METRICS_REPLAY_ADMIN_PASSWORD"))
    print(f"Kafka broker: {broker.status()}")
    print(f"Airflow UI:   {ui.url}  (log in as {airflow_home.ADMIN_USER})")
    if ui.password_generated:
        print(f"password:     {ui.password}   (generated now and shown once; kept in "
              f"{airflow_home.DEFAULT_HOME / 'passwords.json'})")
    else:
        print("password:     METRICS_REPLAY_ADMIN_PASSWORD, or the one shown at the first `make up` "
              f"(kept in {airflow_home.DEFAULT_HOME / 'passwords.json'})")
    print("Replay validation page: menu Browse -> Replay validation. Stop everything with `make down`.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = airflow_home.stop_ui(airflow_home.DEFAULT_HOME)
    LocalBroker(port=args.broker_port).stop()
    print(f"stopped: {', '.join(stopped) or 'no Airflow component'}; Kafka broker stopped")
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    broker = LocalBroker(port=args.port)
    if args.action == "start":
        broker.start()
    elif args.action == "stop":
        broker.stop()
    print(f"Kafka broker: {broker.status()}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from include import generate

    generate.write_default(Path(args.out), Path(args.expected), Path(args.expected_net_disk), seed=args.seed)
    print(f"wrote {args.out}, {args.expected} and {args.expected_net_disk}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from include import reference
    from include.paths import resolve

    spec = reference.WindowSpec(args.window_seconds, args.slide_seconds, args.warmup_windows)
    net_disk_out = resolve(args.out_net_disk) if args.out_net_disk else None
    ds = reference.write_expected(resolve(args.dataset), resolve(args.out), net_disk_out, spec, args.cpu_threshold,
                                  args.mem_threshold, args.net_threshold, args.disk_threshold)
    print(f"wrote {args.out}" + (f" and {args.out_net_disk}" if net_disk_out and ds.has_net_disk else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="one full replay through the DAG (make run)")
    r.add_argument("--conf", default="{}", help="DAG params as a JSON object")
    r.add_argument("--port", type=int, default=DEFAULT_PORT, help="local broker port")
    r.set_defaults(func=cmd_run)
    u = sub.add_parser("up", help="local broker + Airflow UI on 127.0.0.1 (make up)")
    u.add_argument("--port", type=int, default=8080)
    u.add_argument("--broker-port", type=int, default=DEFAULT_PORT)
    u.set_defaults(func=cmd_up)
    d = sub.add_parser("down", help="stop what `up` started (make down)")
    d.add_argument("--broker-port", type=int, default=DEFAULT_PORT)
    d.set_defaults(func=cmd_down)
    b = sub.add_parser("broker", help="the local Kafka broker")
    b.add_argument("action", choices=["start", "stop", "status"])
    b.add_argument("--port", type=int, default=DEFAULT_PORT)
    b.set_defaults(func=cmd_broker)
    g = sub.add_parser("generate", help="write the default dataset and its expected output")
    g.add_argument("--out", required=True)
    g.add_argument("--expected", required=True)
    g.add_argument("--expected-net-disk", required=True)
    g.add_argument("--seed", type=int, default=4)
    g.set_defaults(func=cmd_generate)
    f = sub.add_parser("reference", help="expected outputs of a dataset, by the reference implementation")
    f.add_argument("--dataset", required=True)
    f.add_argument("--out", required=True, help="expected CPU/MEM CSV")
    f.add_argument("--out-net-disk", help="expected NET/DISK CSV (when the dataset has those columns)")
    f.add_argument("--window-seconds", type=int, default=30)
    f.add_argument("--slide-seconds", type=int, default=10)
    f.add_argument("--warmup-windows", type=int, default=2)
    f.add_argument("--cpu-threshold", type=float, default=80.07)
    f.add_argument("--mem-threshold", type=float, default=89.36)
    f.add_argument("--net-threshold", type=float, default=6104.83)
    f.add_argument("--disk-threshold", type=float, default=1839.94)
    f.set_defaults(func=cmd_reference)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
