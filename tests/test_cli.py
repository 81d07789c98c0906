"""`make run`'s terminal: the lines a person reads (pure formatting), where Airflow's own output goes (the log
file), and two real runs of `python -m devtools.cli run` against the session's broker."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from devtools import cli, generate, reference

ROOT = Path(__file__).resolve().parents[1]
LOCAL_BROKER_PID = ROOT / ".kafka" / "default" / "broker.pid"
# The tasks a batch run runs, in order (choose_mode is the branch between batch and live mode).
ORDER = ["check_broker", "ensure_topics", "choose_mode", "produce_metrics", "window_metrics", "validate_output"]
AT = datetime(2026, 11, 25, 20, 31, 57)

PASSING_PART = {"status": "pass", "expected_rows": 14400, "produced_rows": 14400, "matching": 14400, "missing": 0,
                "extra": 0, "mismatches_per_column": {"avg_cpu": 0, "avg_mem": 0, "alert": 0}}


def test_task_lines_line_up_and_say_state_and_duration():
    assert cli.task_started(AT, "check_broker") == "20:31:57 check_broker     started"
    assert cli.task_started(AT, "check_broker", try_number=2) == "20:31:57 check_broker     started (try 2)"
    assert cli.task_ended(AT, "window_metrics", "success", 51.04) == "20:31:57 window_metrics   success in 51.0 s"
    assert cli.task_ended(AT, "produce_metrics", "failed", None) == "20:31:57 produce_metrics  failed"
    assert cli.seconds_text(0.2) == "0.2 s"
    assert cli.seconds_text(1445.3) == "24 min 05.3 s"


def test_states_print_as_their_value_whichever_enum_carries_them():
    from airflow.sdk import TaskInstanceState as SdkState
    from airflow.utils.state import TaskInstanceState as CoreState

    assert cli.state_text(SdkState.UP_FOR_RETRY) == cli.state_text(CoreState.UP_FOR_RETRY) == "up_for_retry"
    assert cli.state_text("failed") == "failed"


def test_error_line_is_one_line_cut_to_width():
    assert cli.error_text(ValueError("params rejected: slide\nmore")) == "ValueError: params rejected: slide"
    long = cli.error_text(RuntimeError("x" * 1000))
    assert len(long) == cli.ERROR_WIDTH and long.endswith("...")
    assert cli.error_text(None) == "no error was given; see the log"
    assert cli.error_text("\n  Task failed  \n") == "Task failed"


def test_tasks_not_run_are_grouped_by_state_in_task_order():
    assert cli.not_run_lines({"window_metrics": "upstream_failed", "x": "skipped",
                              "validate_output": "upstream_failed"}) == [
        "not run (upstream_failed): window_metrics, validate_output", "not run (skipped): x"]
    assert cli.not_run_lines({}) == []


def test_validation_summary_of_a_pass_and_a_not_applicable_part():
    record = {"run_id": "r", "passed": True, "cpu_mem": PASSING_PART,
              "net_disk": {"status": "not applicable", "reason": "the dataset has no net_in/net_out/disk_io columns"}}
    assert cli.validation_lines(record, Path("out/validation.json")) == [
        "validation: PASS  (out/validation.json)",
        "  cpu_mem:  PASS  14400 of 14400 expected rows match (14400 produced, 0 missing, 0 extra, "
        "0 mismatched values)",
        "  net_disk: not applicable: the dataset has no net_in/net_out/disk_io columns"]


def test_validation_summary_of_a_failure_names_only_the_columns_that_differ():
    failing = {**PASSING_PART, "status": "fail", "matching": 14100, "missing": 2, "extra": 1,
               "mismatches_per_column": {"avg_cpu": 0, "avg_mem": 0, "alert": 298}}
    record = {"passed": False, "cpu_mem": PASSING_PART, "net_disk": {
        **failing, "mismatches_per_column": {"max_net_in": 3, "max_disk_io": 0, "alert": 298}}}
    assert cli.validation_lines(record, Path("v.json")) == [
        "validation: FAIL  (v.json)",
        "  cpu_mem:  PASS  14400 of 14400 expected rows match (14400 produced, 0 missing, 0 extra, "
        "0 mismatched values)",
        "  net_disk: FAIL  14100 of 14400 expected rows match (14400 produced, 2 missing, 1 extra, "
        "mismatched values: max_net_in=3, alert=298)"]


def test_validation_summary_of_a_live_run_has_its_alerts_latency_and_late_data():
    figures = {"count": 71, "p50": 1.234, "p95": 2.5, "max": 3.0}
    record = {"passed": True, "cpu_mem": PASSING_PART, "net_disk": PASSING_PART,
              "alert_latency": {"alerts": 71, "emitted_before_last_send": 60, "latency_seconds": figures},
              "late": {"samples_sent": 5760, "beyond_watermark": 0, "dropped_by_watermark": 0,
                       "explained": {"cpu_mem": 0}, "unexplained": {"cpu_mem": 0}}}
    assert cli.validation_lines(record, Path("v.json"))[3:] == [
        "  alerts:   71 published (60 while the producer sent); latency p50 1.23 s, p95 2.50 s, max 3.00 s",
        "  late:     5760 samples sent late, 0 beyond the watermark; Spark dropped 0 rows; differing windows "
        "0 explained, 0 unexplained"]


def test_validation_summary_of_a_run_that_could_not_compare():
    part = {"status": "error", "reason": "cannot validate out: expected.csv line 3: bad"}
    record = {"passed": False, "error": "cannot validate out: expected.csv line 3: bad", "cpu_mem": part,
              "net_disk": part}
    assert cli.validation_lines(record, Path("v.json")) == [
        "validation: ERROR  cannot validate out: expected.csv line 3: bad  (v.json)"]


def test_output_lines_say_when_nothing_was_written():
    assert cli.output_lines(Path("o"), True, Path("o/report.html")) == ["output: o", "report: o/report.html"]
    assert cli.output_lines(Path("o"), True, None) == ["output: o"]
    assert cli.output_lines(Path("o"), False, None) == ["output: none (o was not created)"]


def progress_on(clock_values: list[float]) -> tuple[cli.TaskProgress, io.StringIO, io.StringIO]:
    out, log = io.StringIO(), io.StringIO()
    ticks = iter(clock_values)
    progress = cli.TaskProgress(cli.Console(out, io.StringIO(), log), clock=lambda: next(ticks), now=lambda: AT)
    return progress, out, log


def test_progress_says_starts_ends_retries_and_the_producers_records():
    progress, out, log = progress_on([10.0, 12.5, 20.0, 20.3, 40.0, 40.1])
    producer_log = logging.getLogger("include.producer")
    with progress.listening():
        progress.on_start("produce_metrics", 1)
        producer_log.info("group %d/%d sent", 1440, 1440)
        logging.getLogger("include.replay").warning("not forwarded: not a progress logger")
        progress.on_end("produce_metrics", "success")
        progress.on_start("window_metrics", 1)
        progress.on_end("window_metrics", "up_for_retry", RuntimeError("spark-submit exited with 1"), failed=True)
        progress.on_start("window_metrics", 2)
        progress.on_end("window_metrics", "failed", RuntimeError("spark-submit exited with 1"), failed=True)
    producer_log.warning("after the run: not forwarded")
    assert out.getvalue().splitlines() == [
        "20:31:57 produce_metrics  started",
        "20:31:57 produce_metrics    group 1440/1440 sent",
        "20:31:57 produce_metrics  success in 2.5 s",
        "20:31:57 window_metrics   started",
        "20:31:57 window_metrics   up_for_retry in 0.3 s",
        "20:31:57 window_metrics     RuntimeError: spark-submit exited with 1",  # a retry's error: said here
        "20:31:57 window_metrics   started (try 2)",
        "20:31:57 window_metrics   failed in 0.1 s",  # a final failure's error: said at the end of the run
    ]
    assert progress.failures == {"window_metrics": "RuntimeError: spark-submit exited with 1"}
    assert progress.ended == {"produce_metrics": "success", "window_metrics": "failed"}
    assert log.getvalue().splitlines()[0] == "[make run] 20:31:57 produce_metrics  started"


def test_listener_hooks_match_airflows_hook_spec():
    """pluggy checks each hook's parameter names against Airflow's spec when the listener is registered: this
    fails loudly if an Airflow upgrade renames a hook or a parameter."""
    from airflow.sdk.listener import get_listener_manager

    progress, out, _ = progress_on([1.0, 3.0])
    manager = get_listener_manager()
    listener = cli.airflow_listener(progress)
    manager.add_listener(listener)
    try:
        ti = SimpleNamespace(task_id="check_broker", try_number=1, state="failed")
        manager.hook.on_task_instance_running(previous_state=None, task_instance=ti)
        manager.hook.on_task_instance_failed(previous_state=None, task_instance=ti, error=ValueError("no broker"))
    finally:
        manager.pm.unregister(listener)
    assert out.getvalue().splitlines() == ["20:31:57 check_broker     started",
                                           "20:31:57 check_broker     failed in 2.0 s"]
    assert progress.failures == {"check_broker": "ValueError: no broker"}


REDIRECTED = """
import logging, os, subprocess, sys
from pathlib import Path
from devtools import cli

logging.basicConfig(level=logging.INFO)  # a handler on sys.stderr made before the redirect, as Airflow's are
with cli.airflow_output_to(Path(sys.argv[1])) as console:
    console.say("check_broker started")
    print("a print")
    logging.getLogger("airflow.task").info("a log record")
    os.write(2, b"straight to fd 2\\n")
    subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
print("after")
"""


def test_airflow_output_goes_to_the_log_and_the_persons_lines_to_the_terminal(tmp_path):
    """In a process of its own: pytest's capture replaces sys.stdout, which the real CLI does not have."""
    log_path = tmp_path / "logs" / "run.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the order must not depend on it
    done = subprocess.run([sys.executable, "-c", REDIRECTED, str(log_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert (done.stdout, done.stderr) == ("check_broker started\nafter\n", "")
    assert log_path.read_text().splitlines() == ["[make run] check_broker started", "a print",
                                                 "INFO:airflow.task:a log record", "straight to fd 2",
                                                 "a child process"]


@pytest.mark.parametrize("conf", ["[1]", "{not json", '{"review_minutes": 30}'])
def test_bad_conf_exits_2_before_starting_anything(conf, capsys):
    assert cli.main(["run", "--conf", conf, "--airflow-home", "/nonexistent/never-created"]) == 2
    assert "CONF" in capsys.readouterr().err
    assert not Path("/nonexistent/never-created").exists()


# ---- Real runs: `python -m devtools.cli run` as a subprocess on the session's broker ----

def run_cli(conf: dict, broker, home: Path, roots: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "METRICS_REPLAY_DATA_ROOTS": str(roots), "METRICS_REPLAY_OUTPUT_ROOTS": str(roots)}
    return subprocess.run([sys.executable, "-m", "devtools.cli", "run", "--conf", json.dumps(conf),
                           "--bootstrap", broker.bootstrap, "--airflow-home", str(home)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def log_file_of(lines: list[str]) -> Path:
    match = re.match(r"log: (\S+)", lines[0])
    assert match, lines[0]
    return Path(match.group(1))


@pytest.mark.e2e
def test_run_prints_each_task_the_progress_and_the_summary_last(tmp_path, kafka_broker, airflow_db):
    dataset = generate.write_dataset(tmp_path / "small.csv", servers=3, samples=40, seed=13)
    expected, expected_nd = tmp_path / "expected.csv", tmp_path / "expected_nd.csv"
    reference.write_expected(dataset, expected, expected_nd)
    windows = len(expected.read_text().splitlines()) - 1
    out = tmp_path / "out"
    local_broker_pid = LOCAL_BROKER_PID.read_text() if LOCAL_BROKER_PID.exists() else None
    done = run_cli({"dataset_path": str(dataset), "expected_path": str(expected),
                    "expected_net_disk_path": str(expected_nd), "output_dir": str(out), "seconds_per_group": 0},
                   kafka_broker, airflow_db, tmp_path)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lines) <= 40, done.stdout
    # The session's broker is used; the project's own (.kafka/default) is neither started nor touched.
    assert lines[1] == f"Kafka broker: {kafka_broker.bootstrap} (given; not started here)"
    assert (LOCAL_BROKER_PID.read_text() if LOCAL_BROKER_PID.exists() else None) == local_broker_pid
    # Each task as it starts and ends, in task order; the producer's progress within its task.
    story = [m.groups() for m in (re.match(r"\d\d:\d\d:\d\d (\w+) +(started|success in [\d.]+ s)$", line)
                                  for line in lines) if m]
    assert [(task, what.split(" ")[0]) for task, what in story] == [
        (task, what) for task in [*ORDER, "keep_verdict"] for what in ("started", "success")]
    assert "not run (skipped): start_stream, produce_metrics_live, window_metrics_live, review_output, bless_output" \
        in lines, done.stdout
    assert any(re.match(r"\d\d:\d\d:\d\d produce_metrics +group 40/40 \(", line) for line in lines), done.stdout
    # The summary last.
    assert re.match(r"DAG run manual__\S+: success in [\d.]+ s$", lines[-6]), done.stdout
    assert lines[-5:] == [
        f"validation: PASS  ({out / 'validation.json'})",
        f"  cpu_mem:  PASS  {windows} of {windows} expected rows match ({windows} produced, 0 missing, 0 extra, "
        "0 mismatched values)",
        f"  net_disk: PASS  {windows} of {windows} expected rows match ({windows} produced, 0 missing, 0 extra, "
        "0 mismatched values)",
        f"output: {out}",
        f"report: {out / 'report.html'}"]
    # Airflow's own lines, the task logs and spark-submit's output are in the log file, not on the terminal.
    assert "[DAG TEST]" not in done.stdout + done.stderr and "Spark-Submit" not in done.stdout + done.stderr
    log = log_file_of(lines)
    assert log.parent == airflow_db / "logs"
    text = log.read_text()
    for line in ("[DAG TEST] starting task_id=check_broker", "Spark-Submit cmd: spark-submit",
                 "INFO metrics_replay.spark_job: wrote", "[make run] validation: PASS"):
        assert line in text, line


@pytest.mark.e2e
def test_failed_run_names_the_task_its_error_and_the_log(tmp_path, kafka_broker, airflow_db, notice_servers):
    """slide > window: check_broker fails at once (no retries), nothing after it runs, and exit status 1. `make run`
    sends the failure notice too (the connections in its environment), said in the log file, not on the terminal."""
    out = tmp_path / "rejected"
    done = run_cli({"output_dir": str(out), "slide_seconds": 40}, kafka_broker, airflow_db, tmp_path)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(lines) == 14, done.stdout
    assert re.match(r"\d\d:\d\d:\d\d check_broker +started$", lines[3]), done.stdout
    assert re.match(r"\d\d:\d\d:\d\d check_broker +failed in [\d.]+ s$", lines[4]), done.stdout
    # The review step starts after any failure upstream of validation and skips itself: there is nothing to review.
    assert re.match(r"\d\d:\d\d:\d\d review_output +started$", lines[5]), done.stdout
    assert re.match(r"\d\d:\d\d:\d\d review_output +skipped in [\d.]+ s$", lines[6]), done.stdout
    # Both modes' paths lie after the failed task (the branch never chose one); so does the run's leaf.
    assert lines[7] == ("not run (upstream_failed): ensure_topics, choose_mode, start_stream, produce_metrics, "
                        "produce_metrics_live, window_metrics, window_metrics_live, validate_output, keep_verdict")
    assert lines[8] == "not run (skipped): bless_output"
    assert re.match(r"DAG run manual__\S+: failed in [\d.]+ s$", lines[9]), done.stdout
    log = log_file_of(lines)
    assert lines[10:] == [
        "failed: check_broker: AirflowFailException: params rejected: slide_seconds (40) is larger than "
        "window_seconds (30)",
        f"log: {log}",
        f"validation: none ({out / 'validation.json'} was not written)",
        f"output: none ({out} was not created)"]
    assert "params rejected" in log.read_text()
    [post] = notice_servers.posts
    assert len(notice_servers.mails) == 1
    assert (post.body["kind"], post.body["task_id"]) == ("failed", "check_broker")
    assert post.body["error"] == lines[10].removeprefix("failed: check_broker: ")
    assert "Sent the failed notice of run" in log.read_text()
