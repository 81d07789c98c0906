"""Command line: `python -m devtools.cli run|up|down|broker|generate|reference|check-dataset` (the Makefile's
targets call it).

`check-dataset PATH` is `make check-dataset DATASET=PATH`: read a recording (a file, a folder or a glob,
compressed or not) exactly as the replay will, print its summary and first errors, send nothing; exit 1 when it
has an error.

`run` is `make run`: start the local broker if needed, prepare the Airflow home, run the DAG once through
dag.test() with the given params, and tell a person what happens: one line per task as it starts and ends,
the producer's progress, then the validation summary and the output folder. Everything Airflow, the task
logs, librdkafka and spark-submit print goes to a log file whose path is printed (`--verbose`: to the
terminal instead). The exit status is 0 when every task succeeded, 1 when one failed, 2 when the run could
not start (bad CONF, no broker).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from devtools import airflow_home, execution_api
from devtools.kafka import DEFAULT_PORT, BrokerStartError, LocalBroker
from include import contract as c
from include.contract import LATENCY_KEY, REPORT_FILE, VALIDATION_FILE
from include.dataset import CHECK_ERRORS
# What a person reads of a task's error and of validation.json; the notices (include/notices.py) say it alike.
from include.formatting import ERROR_WIDTH, error_text, one_line, part_line  # noqa: F401 (ERROR_WIDTH: tests)
from include.paths import PROJECT_ROOT, output_dir_for
from include.spark_connect import DEFAULT_PORT as SPARK_CONNECT_PORT
from include.validation import ValidationFileError, read_record

DAG_FILE = PROJECT_ROOT / "dags" / "metrics_replay.py"
# The loggers whose records a person sees during `make run`: the producer's "group n/N" lines, logged at a
# human cadence (include.producer.PROGRESS_EVERY_S).
PROGRESS_LOGGERS = ("include.producer",)
TASK_COLUMN = 16  # task ids are padded to this width so states line up


def load_dag(path: Path = DAG_FILE):
    spec = importlib.util.spec_from_file_location("metrics_replay_dag", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.metrics_replay()


def run_dag(conf: dict, logical_date=None, run_after=None):
    """One DAG run through dag.test(); returns (dag_run, output_dir). Airflow env must be set already.

    Given the logical date and run_after of an earlier run, this is that run again under the same run id:
    dag.test() replaces the old run (its task instances and XComs) and runs every task anew."""
    from include.review import REVIEW_MINUTES_PARAM

    # dag.test() never answers a review step, nor times it out (the scheduler does that): a run here must not
    # offer one, or a failed validation would wait for ever.
    conf = {REVIEW_MINUTES_PARAM: 0, **conf}
    if conf[REVIEW_MINUTES_PARAM]:
        raise ValueError(f"{REVIEW_MINUTES_PARAM} must be 0 here: dag.test() has no UI to answer a review "
                         f"in; use make up and trigger the run there")
    dag = load_dag()
    execution_api.prepare()  # its newest version only: 3 s less of Airflow's start-up a run (bench/ row 4wf)
    when = {"logical_date": logical_date} if logical_date is not None else {}
    dr = dag.test(run_conf=conf, run_after=run_after, **when)
    return dr, output_dir_for(conf.get("output_dir"), dr.run_id)


# ---- What a person reads: pure formatting ----

def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def task_line(at: datetime, task_id: str, what: str) -> str:
    """`20:28:13 produce_metrics  started` -- one line of a task's life, padded so columns line up."""
    return f"{at:%H:%M:%S} {task_id:<{TASK_COLUMN}} {what}"


def task_started(at: datetime, task_id: str, try_number: int = 1) -> str:
    return task_line(at, task_id, "started" + (f" (try {try_number})" if try_number > 1 else ""))


def task_ended(at: datetime, task_id: str, state: str, seconds: float | None) -> str:
    return task_line(at, task_id, state + (f" in {seconds_text(seconds)}" if seconds is not None else ""))


def state_text(state: object) -> str:
    """`failed` for TaskInstanceState.FAILED (the SDK's and the core's enums print differently), as is else."""
    return str(getattr(state, "value", state))


def not_run_lines(states: Mapping[str, str]) -> list[str]:
    """The tasks that never started, one line per state (upstream_failed, skipped, ...), in the order given."""
    by_state: dict[str, list[str]] = {}
    for task, state in states.items():
        by_state.setdefault(state, []).append(task)
    return [f"not run ({state}): {', '.join(tasks)}" for state, tasks in by_state.items()]


def validation_lines(record: Mapping, path: Path) -> list[str]:
    """The validation summary of validation.json (``record``, as read from ``path``): verdict, then each part."""
    if record.get("error"):
        return [f"validation: ERROR  {one_line(record['error'])}  ({path})"]
    verdict = "PASS" if record["passed"] else "FAIL"
    lines = [f"validation: {verdict}  ({path})"] + [part_line(p, record[p]) for p in ("cpu_mem", "net_disk")]
    latency = record.get(LATENCY_KEY)
    if latency:  # a live run
        figures = latency["latency_seconds"]
        measured = (f"latency p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s, max {figures['max']:.2f} s"
                    if figures["count"] else "no latency measured")
        lines.append(f"  {'alerts:':<10}{latency['alerts']} published ({latency['emitted_before_last_send']} while "
                     f"the producer sent); {measured}")
    late = record.get("late")
    if late and late["samples_sent"]:
        lines.append(f"  {'late:':<10}{late['samples_sent']} samples sent late, {late['beyond_watermark']} beyond "
                     f"the watermark; Spark dropped {late['dropped_by_watermark']} rows; differing windows "
                     f"{sum(late['explained'].values())} explained, {sum(late['unexplained'].values())} unexplained")
    return lines


def output_lines(out: Path, written: bool, report: Path | None) -> list[str]:
    if not written:
        return [f"output: none ({out} was not created)"]
    return [f"output: {out}"] + ([f"report: {report}"] if report is not None else [])


# ---- What a person reads: the edges (terminal, Airflow listener, log records) ----

class Console:
    """Lines for a person: to the terminal, and also into the log file so that it reads in the same order."""

    def __init__(self, out: TextIO, err: TextIO, log: TextIO | None = None):
        self.out = out
        self.err = err
        self.log = log
        self.lock = threading.Lock()

    def say(self, line: str, error: bool = False) -> None:
        with self.lock:
            stream = self.err if error else self.out
            stream.write(line + "\n")
            stream.flush()
            if self.log is not None:
                self.log.write(f"[make run] {line}\n")
                self.log.flush()


@contextlib.contextmanager
def airflow_output_to(log_path: Path | None) -> Iterator[Console]:
    """A Console for the person; meanwhile file descriptors 1 and 2 go to ``log_path`` (None: stay as they are).

    Redirecting the descriptors, not sys.stdout, is what catches everything: Airflow's and the task logs
    (whatever handler or stream they use), librdkafka, and the output of child processes such as
    spark-submit and `airflow db migrate`."""
    sys.stdout.reconfigure(line_buffering=True)  # task logs appear as they happen, also through a pipe
    if log_path is None:
        yield Console(sys.stdout, sys.stderr)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with contextlib.ExitStack() as streams:
        out = streams.enter_context(os.fdopen(os.dup(1), "w", buffering=1))
        err = streams.enter_context(os.fdopen(os.dup(2), "w", buffering=1))
        log = streams.enter_context(log_path.open("a", buffering=1))  # appends, like the redirected descriptors
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield Console(out, err, log)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


class TaskProgress(logging.Handler):
    """Each task's start and end as they happen, and the producer's progress lines, said on a Console.

    dag.test() runs the tasks in this process, one after the other, so the task runner calls the Airflow
    listener hooks (airflow_listener) here, in task order. It is also a logging handler for PROGRESS_LOGGERS,
    whose records it says under the running task's name."""

    def __init__(self, console: Console, clock=time.monotonic, now=datetime.now):
        super().__init__(level=logging.INFO)
        self.console = console
        self.clock = clock
        self.now = now
        self.running: str | None = None
        self.started: dict[str, float] = {}
        self.ended: dict[str, str] = {}  # task id -> final state said
        self.failures: dict[str, str] = {}  # task id -> error line

    @contextlib.contextmanager
    def listening(self) -> Iterator[TaskProgress]:
        """Meanwhile, Airflow's task runner and PROGRESS_LOGGERS report here."""
        from airflow.sdk.listener import get_listener_manager

        manager = get_listener_manager()
        listener = airflow_listener(self)
        manager.add_listener(listener)
        loggers = {logging.getLogger(name): logging.getLogger(name).level for name in PROGRESS_LOGGERS}
        for logger in loggers:
            logger.addHandler(self)
            if not logger.isEnabledFor(logging.INFO):  # progress is shown whatever Airflow's logging_level
                logger.setLevel(logging.INFO)
        try:
            yield self
        finally:
            for logger, level in loggers.items():
                logger.removeHandler(self)
                logger.setLevel(level)
            manager.pm.unregister(listener)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.say(task_line(self.now(), self.running or "", "  " + record.getMessage()))
        except Exception:  # a logging handler must not raise into the task
            self.handleError(record)

    def on_start(self, task_id: str, try_number: int) -> None:
        self.running = task_id
        self.started[task_id] = self.clock()
        self.ended.pop(task_id, None)
        self.console.say(task_started(self.now(), task_id, try_number))

    def on_end(self, task_id: str, state: str, error: BaseException | str | None = None,
               failed: bool = False) -> None:
        begun = self.started.get(task_id)
        self.running = None
        self.ended[task_id] = state
        self.console.say(task_ended(self.now(), task_id, state, None if begun is None else self.clock() - begun))
        if failed:
            self.failures[task_id] = error_text(error)
            if state != "failed":  # a final failure's error is said at the end; a retry's only here
                self.console.say(task_line(self.now(), task_id, "  " + self.failures[task_id]))


def airflow_listener(progress: TaskProgress) -> object:
    """An Airflow listener (the public plugin API: hooks marked with ``airflow.listeners.hookimpl``) that
    tells ``progress`` when a task starts and ends. Built on call: importing airflow reads its config, which
    cmd_run sets first. The parameter names are the hook spec's."""
    from airflow.listeners import hookimpl

    class Listener:
        @hookimpl
        def on_task_instance_running(self, previous_state, task_instance) -> None:
            progress.on_start(task_instance.task_id, task_instance.try_number)

        @hookimpl
        def on_task_instance_success(self, previous_state, task_instance) -> None:
            progress.on_end(task_instance.task_id, "success")

        @hookimpl
        def on_task_instance_skipped(self, previous_state, task_instance) -> None:
            progress.on_end(task_instance.task_id, "skipped")

        @hookimpl
        def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
            # Called for up_for_retry too: the state says which.
            progress.on_end(task_instance.task_id, state_text(task_instance.state or "failed"), error, failed=True)

    return Listener()


def run_log_path(home: Path, at: datetime) -> Path:
    return home / "logs" / f"make-run-{at:%Y%m%d-%H%M%S}.log"


def say_outcome(console: Console, progress: TaskProgress, dr, out: Path, seconds: float,
                log_path: Path | None) -> None:
    """After dag.test(): what the listener could not see, the run's state, why it failed, the validation
    summary, and the output folder last."""
    # Task order: priority weights sum downstream, so an upstream task weighs more than its downstream ones.
    tis = sorted(dr.get_task_instances(), key=lambda ti: (-(ti.priority_weight or 0), ti.task_id))
    for ti in tis:
        state = state_text(ti.state)
        if ti.task_id in progress.started and progress.ended.get(ti.task_id) != state:
            # Ended outside the task runner's hooks (dag.test() caught an error around the task).
            took = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
            console.say(task_ended(datetime.now(), ti.task_id, state, took))
    not_run = {ti.task_id: state_text(ti.state) for ti in tis if ti.task_id not in progress.started}
    for line in not_run_lines(not_run):
        console.say(line)
    console.say(f"DAG run {dr.run_id}: {state_text(dr.state)} in {seconds_text(seconds)}")
    for ti in tis:
        if state_text(ti.state) == "failed":
            console.say(f"failed: {ti.task_id}: {progress.failures.get(ti.task_id, error_text(None))}")
    if state_text(dr.state) != "success" and log_path is not None:
        console.say(f"log: {log_path}")
    record_path = out / VALIDATION_FILE
    if record_path.exists():
        try:  # validated where it is read; the error names the file and the field
            lines = validation_lines(read_record(record_path).model_dump(mode="json"), record_path)
        except ValidationFileError as exc:
            lines = [f"validation: unreadable: {exc}"]
    else:
        lines = [f"validation: none ({record_path} was not written)"]
    report = out / REPORT_FILE
    for line in lines + output_lines(out, out.is_dir(), report if report.exists() else None):
        console.say(line)


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
    from include.review import REVIEW_MINUTES_PARAM

    if conf.get(REVIEW_MINUTES_PARAM):
        print(f"CONF: {REVIEW_MINUTES_PARAM} must be 0 under make run (nobody can answer a review without the "
              "UI); review a failed run under make up", file=sys.stderr)
        return 2
    home = Path(args.airflow_home).resolve()
    log_path = None if args.verbose else run_log_path(home, datetime.now())
    with airflow_output_to(log_path) as console:
        if log_path is not None:
            console.say(f"log: {log_path}  (Airflow, the tasks, spark-submit; VERBOSE=1 shows it here instead)")
        if args.bootstrap:
            bootstrap = args.bootstrap
            console.say(f"Kafka broker: {bootstrap} (given; not started here)")
        else:
            try:
                broker = LocalBroker(port=args.port).start()
            except BrokerStartError as exc:
                console.say(f"cannot start the local Kafka broker: {exc}", error=True)
                return 2
            bootstrap = broker.bootstrap
            console.say(f"Kafka broker: {broker.status()}")
        airflow_home.migrate(home)
        os.environ.update(airflow_home.airflow_env(home))
        for key, value in airflow_home.connection_env(bootstrap).items():
            os.environ.setdefault(key, value)  # a connection the user set wins
        console.say(f"DAG metrics_replay: one run through dag.test(), params {json.dumps(conf)}")
        progress = TaskProgress(console)
        started = time.monotonic()
        with progress.listening():
            dr, out = run_dag(conf)
        say_outcome(console, progress, dr, out, time.monotonic() - started, log_path)
    return 0 if state_text(dr.state) == "success" else 1


def up_lines(ui: airflow_home.UiStack, admin_password_given: bool) -> list[str]:
    """What `make up` says about logging in: each user, their role, and a password generated now (shown once)."""
    kept = ui.home / "passwords.json"
    lines = [f"Airflow UI:   {ui.url}  (users below; passwords kept in {kept})"]
    for name, role in ui.users.items():
        if name in ui.generated:
            said = f"password {ui.passwords[name]}   (generated now and shown once)"
        elif name == airflow_home.ADMIN_USER and admin_password_given:
            said = "password METRICS_REPLAY_ADMIN_PASSWORD"
        else:
            said = f"password as shown at its first `make up` (in {kept.name})"
        lines.append(f"  {name:<12} role {role:<7} {said}")
    return lines


def spark_line(conn_type: str, server_started: bool) -> str:
    """What `make up` says about spark_default: whether window_metrics uses the warm Spark."""
    from include.spark_connect import CONN_TYPE

    if conn_type == CONN_TYPE:
        return "Spark: spark_default is a Spark Connect connection: window_metrics runs on the warm Spark"
    hint = ("; it was kept from an earlier `make up`: set its type to Spark Connect (host sc://127.0.0.1, port "
            "15002) under Admin -> Connections for the warm Spark" if server_started else "")
    return f"Spark: spark_default is of type {conn_type}: window_metrics spark-submits its job{hint}"


def cmd_up(args: argparse.Namespace) -> int:
    try:
        # more users beside admin, viewer and operator: METRICS_REPLAY_UI_USERS="alice:viewer,bob:user"
        users = {**airflow_home.UI_USERS, **airflow_home.parse_users(os.environ.get("METRICS_REPLAY_UI_USERS", ""))}
    except ValueError as exc:
        print(f"METRICS_REPLAY_UI_USERS: {exc}", file=sys.stderr)
        return 2
    try:
        broker = LocalBroker(port=args.broker_port).start()
    except BrokerStartError as exc:
        print(f"cannot start the local Kafka broker: {exc}", file=sys.stderr)
        return 2
    from include.topics import ensure_topics

    # metrics_alerts' trigger watches topic-alerts from the start, and fails until the topic exists.
    ensure_topics({"bootstrap.servers": broker.bootstrap}, [c.ALERTS_TOPIC], partitions=1, replication=1)
    spark = None
    if args.spark_connect:
        from devtools.spark_connect import LocalSparkConnect, SparkConnectStartError

        try:  # a warm Spark: replays triggered from the UI pay no Spark start-up
            server = LocalSparkConnect(port=args.spark_connect_port).start(warm=True)
        except SparkConnectStartError as exc:
            print(f"cannot start the local Spark Connect server: {exc}", file=sys.stderr)
            return 2
        spark = server.connection()
    admin_password = os.environ.get("METRICS_REPLAY_ADMIN_PASSWORD")
    ui = airflow_home.start_ui(airflow_home.DEFAULT_HOME, args.port, broker.bootstrap, password=admin_password,
                               users=users, spark=spark)
    print(f"Kafka broker: {broker.status()}")
    if spark is not None:
        print(f"Spark Connect server: {server.status()} (log {server.log_file})")
    print(spark_line(ui.spark_conn_type, spark is not None))
    for line in up_lines(ui, bool(admin_password)):
        print(line)
    print("Replay validation page: menu Browse -> Replay validation. Stop everything with `make down`.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from devtools.spark_connect import LocalSparkConnect

    stopped = airflow_home.stop_ui(airflow_home.DEFAULT_HOME)
    LocalSparkConnect(port=args.spark_connect_port).stop()
    LocalBroker(port=args.broker_port).stop()
    print(f"stopped: {', '.join(stopped) or 'no Airflow component'}; Spark Connect server and Kafka broker stopped")
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
    from devtools import generate

    generate.write_default(Path(args.out), Path(args.expected), Path(args.expected_net_disk), seed=args.seed)
    print(f"wrote {args.out}, {args.expected} and {args.expected_net_disk}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from devtools import reference
    from include.dataset import resolve_files
    from include.paths import resolve

    spec = reference.WindowSpec(args.window_seconds, args.slide_seconds, args.warmup_windows)
    net_disk_out = resolve(args.out_net_disk) if args.out_net_disk else None
    try:
        # A file, a folder or a glob, relative to the project root as the DAG's dataset_path is.
        files = resolve_files(args.dataset, resolve)
        ds = reference.write_expected(files, resolve(args.out), net_disk_out, spec, args.cpu_threshold,
                                      args.mem_threshold, args.net_threshold, args.disk_threshold,
                                      recording_start=args.recording_start or None)
    except ValueError as exc:  # a DatasetError (file, line, field), or a recording_start that is no date-time
        print(f"cannot compute the expected output: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}" + (f" and {args.out_net_disk}" if net_disk_out and ds.has_net_disk else "")
          + f" from {len(ds.files)} file(s), {ds.rows} rows")
    return 0


def cmd_check_dataset(args: argparse.Namespace) -> int:
    from include import dataset
    from include.paths import PathNotAllowed, confined, resolve

    try:
        # A file, a folder or a glob, relative to the project root as the DAG's dataset_path is.
        files = dataset.resolve_files(args.dataset, resolve)
    except dataset.DatasetError as exc:
        print(f"dataset: {args.dataset}\nerrors: 1\n  {exc}")
        return 1
    try:
        result = dataset.check(files, args.recording_start or None, max_errors=args.max_errors, name=args.dataset)
    except ValueError as exc:  # recording_start is no date-time (a DatasetError is counted in the result)
        print(f"cannot check: {exc}", file=sys.stderr)
        return 2
    for line in result.lines():
        print(line)
    try:
        for path in files:
            confined(path, "dataset_path", "data")
    except PathNotAllowed as exc:
        print(f"note: the DAG would refuse it as it is: {exc}")
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m devtools.cli", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="one full replay through the DAG (make run)")
    r.add_argument("--conf", default="{}", help="DAG params as a JSON object")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=DEFAULT_PORT, help="local broker port (started if needed)")
    where.add_argument("--bootstrap", help="use the Kafka broker already at HOST:PORT; start none")
    r.add_argument("--airflow-home", default=str(airflow_home.DEFAULT_HOME),
                   help="Airflow home (SQLite DB; the run's log goes to its logs/)")
    r.add_argument("--verbose", action="store_true", help="print Airflow's whole log here, not to a file")
    r.set_defaults(func=cmd_run)
    u = sub.add_parser("up", help="local broker + Airflow UI on 127.0.0.1 (make up)")
    u.add_argument("--port", type=int, default=8080)
    u.add_argument("--broker-port", type=int, default=DEFAULT_PORT)
    u.add_argument("--spark-connect-port", type=int, default=SPARK_CONNECT_PORT)
    u.add_argument("--no-spark-connect", dest="spark_connect", action="store_false",
                   help="start no Spark Connect server; a new spark_default spark-submits on local[*] (saves the "
                        "server's memory, each replay pays Spark's start-up)")
    u.set_defaults(func=cmd_up)
    d = sub.add_parser("down", help="stop what `up` started (make down)")
    d.add_argument("--broker-port", type=int, default=DEFAULT_PORT)
    d.add_argument("--spark-connect-port", type=int, default=SPARK_CONNECT_PORT)
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
    f.add_argument("--dataset", required=True, help="a CSV file, a folder of CSV files or a glob of them")
    f.add_argument("--recording-start", default="",
                   help="ISO date-time placing a time-of-day recording that crosses midnight (the DAG's "
                        "recording_start); empty by default")
    f.add_argument("--out", required=True, help="expected CPU/MEM CSV")
    f.add_argument("--out-net-disk", help="expected NET/DISK CSV (when the dataset has those columns)")
    c.add_window_arguments(f)
    f.set_defaults(func=cmd_reference)
    k = sub.add_parser("check-dataset", help="read a recording as the replay will and print its summary and "
                                             "first errors; nothing is sent (make check-dataset)")
    k.add_argument("dataset", help="a CSV file (.csv, .csv.gz, .csv.bz2, .csv.xz, .csv.zst), a folder of them "
                                   "or a glob; relative to the project root")
    k.add_argument("--recording-start", default="",
                   help="ISO date-time placing a time-of-day recording that crosses midnight (the DAG's "
                        "recording_start); empty by default")
    k.add_argument("--max-errors", type=int, default=CHECK_ERRORS,
                   help=f"errors listed (all are counted); default {CHECK_ERRORS}")
    k.set_defaults(func=cmd_check_dataset)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
