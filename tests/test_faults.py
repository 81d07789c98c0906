"""Faults on the real stack, each through the whole DAG (dag.test) on a real broker and real Spark.

The broker faults use a broker of the test's own (killed with SIGKILL and restarted on the same data
folder and port); the Spark fault kills the spark-submit driver JVM while it is reading from Kafka.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import psutil
import pytest

from devtools.cli import run_dag
from devtools.kafka import LocalBroker, free_port
from devtools.waiting import WaitTimeout, wait_until
from kafka_helpers import total_records
from dag_module import step_states

pytestmark = pytest.mark.e2e

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]
RUN_TOPICS = ("topic-cpu", "topic-mem")  # the recorded day has CPU/MEM only
RECORDS_PER_TOPIC = 28_800


def use_kafka(monkeypatch, bootstrap: str, **extra) -> dict:
    config = {"bootstrap.servers": bootstrap, **extra}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": config}))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    return {"bootstrap.servers": bootstrap}


# The DAG waits 10 s before a retry (default_args). Tests that only need the retry to happen, not the broker to
# come back in between, wait 1 s instead.
QUICK_RETRY_DELAY = timedelta(seconds=1)


@pytest.fixture
def quick_retries(monkeypatch) -> timedelta:
    """run_dag's DAG with every task's retry_delay at QUICK_RETRY_DELAY (retries and back-off flag unchanged)."""
    from devtools import cli

    load_dag = cli.load_dag

    def load_quick(*args, **kwargs):
        dag = load_dag(*args, **kwargs)
        for task in dag.tasks:
            task.retry_delay = QUICK_RETRY_DELAY
        return dag

    monkeypatch.setattr(cli, "load_dag", load_quick)
    return QUICK_RETRY_DELAY


def in_background(fn) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def now() -> datetime:
    return datetime.now(timezone.utc)


def states(dr) -> dict[str, str]:
    return step_states(dr)


def task_instances(dr) -> dict:
    return {ti.task_id: ti for ti in dr.get_task_instances()}


# A SIGKILLed node that restarts is refused ("Another broker is registered with that broker id") until its old
# registration's session times out: 9 s by default, on top of the JVM start. That wait is the one-node local
# quorum's, not the fault's; 4 s (heartbeats every second) keeps the restart to about the JVM start.
QUICK_REREGISTRATION = {"broker.session.timeout.ms": "4000", "broker.heartbeat.interval.ms": "1000"}


@pytest.fixture
def own_broker(tmp_path):
    broker = LocalBroker(home=tmp_path / "kafka", port=free_port(), extra_properties=QUICK_REREGISTRATION).start()
    yield broker
    broker.stop(hard=True)


def first_records_written(broker: LocalBroker, topic: str = "topic-cpu"):
    """True once the broker has appended records to the topic's first segment: produce is under way."""
    segment = broker.home / "data" / f"{topic}-0" / "00000000000000000000.log"
    return lambda: segment.exists() and segment.stat().st_size > 0


def producer_cut_off(broker: LocalBroker):
    """True once no socket of this process is connected to ``broker`` any more, not even half-closed: the
    producer (dag.test runs produce_metrics in this process) has seen the broker go and buffers meanwhile."""
    me = psutil.Process()
    held = (psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT)
    return lambda: not any(c.raddr and c.raddr.port == broker.port and c.status in held
                           for c in me.net_connections(kind="tcp"))


def outage(broker: LocalBroker, events: dict, back_when) -> threading.Thread:
    """In the background: SIGKILL ``broker`` once produce is writing to it; restart it (same data folder and
    port) when ``back_when()`` returns. Records the times in ``events`` (and a wait that timed out, as
    "error", so the test's assertion on ``events`` shows it)."""
    def chaos():
        try:
            wait_until(first_records_written(broker), 180, interval=0.05, what="produce to write to the broker")
            broker.stop(hard=True)
            events["killed"] = now()
            back_when()
        except WaitTimeout as exc:
            events["error"] = str(exc)
            if "killed" not in events:
                return
        broker.start()
        events["restarted"] = now()

    return in_background(chaos)


def test_broker_down_at_start(tmp_path, airflow_db, monkeypatch, capfd, quick_retries, notice_servers):
    """check_broker fails each try within 15 s, retries as default_args say, and no later task runs. One failure
    notice goes out, after the last try, naming the address."""
    address = f"127.0.0.1:{free_port()}"
    use_kafka(monkeypatch, address)
    out = tmp_path / "dead-broker"
    started = time.monotonic()
    dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0})
    elapsed = time.monotonic() - started
    tis = task_instances(dr)
    assert str(tis["check_broker"].state) == "failed"
    assert tis["check_broker"].try_number == 3  # the first try and default_args' two retries
    assert all(str(tis[t].state) == "upstream_failed" for t in ORDER[1:])
    assert str(dr.state) == "failed" and not out.exists()
    # three tries of at most ~10 s each plus the two (quick) retry delays between them, and dag.test's own time
    assert elapsed < 3 * 15 + 2 * quick_retries.total_seconds() + 30, elapsed
    logged = capfd.readouterr()
    said = re.findall(rf"Kafka broker of connection 'kafka_default' at {re.escape(address)} did not answer "
                      r"within ([\d.]+) s", logged.out + logged.err)
    assert len(said) >= 3 and all(float(s) <= 15 for s in said), said  # each try says it, naming both
    # one notice per channel, sent by the third try's failure (the first two were retried, not failures)
    assert len(notice_servers.mails) == 1 and [p.body["try_number"] for p in notice_servers.posts] == [3]
    notice = notice_servers.posts[0].body
    assert (notice["kind"], notice["task_id"], notice["run_id"]) == ("failed", "check_broker", dr.run_id)
    assert f"Kafka broker of connection 'kafka_default' at {address} did not answer" in notice["error"]


def test_broker_killed_mid_produce_and_restarted(tmp_path, real_data, airflow_db, own_broker, monkeypatch):
    """SIGKILL during a paced produce, back within 20 s: the producer rides it out; nothing lost or doubled."""
    dataset, expected = real_data
    config = use_kafka(monkeypatch, own_broker.bootstrap)
    events: dict[str, datetime] = {}
    # Back as soon as the producer has dropped its connections: the outage it rides out is then the broker's
    # restart (a JVM start, several seconds), during which every paced send is buffered.
    chaos_thread = outage(own_broker, events, back_when=lambda: wait_until(
        producer_cut_off(own_broker), 20, interval=0.05, what="the producer to drop its broker connections"))
    out = tmp_path / "killed-broker"
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                     "seconds_per_group": 0.02})  # ~29 s of producing
    chaos_thread.join(timeout=60)
    assert "restarted" in events and "error" not in events, events
    assert (events["restarted"] - events["killed"]).total_seconds() < 20
    assert states(dr) == {t: "success" for t in ORDER}, states(dr)
    produce = task_instances(dr)["produce_metrics"]
    # the same try was still producing when the broker came back: it rode through the outage
    assert produce.try_number == 1 and produce.end_date > events["restarted"], (produce.end_date, events)
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    # exactly the run's records in each topic: none lost, none written twice by the producer's retries
    assert {t: total_records(config, t) for t in RUN_TOPICS} == {t: RECORDS_PER_TOPIC for t in RUN_TOPICS}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {t: RECORDS_PER_TOPIC for t in RUN_TOPICS}


def ti_state(run_id: str, task_id: str) -> str | None:
    """A task instance's state read straight from the test's SQLite metadata DB (read-only)."""
    db = os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute("SELECT state FROM task_instance WHERE dag_id = 'metrics_replay' AND run_id = ? "
                           "AND task_id = ?", (run_id, task_id)).fetchone()
    return row[0] if row else None


def test_broker_down_past_delivery_timeout_then_retry_and_rerun(tmp_path, real_data, airflow_db, own_broker,
                                                               monkeypatch, capfd):
    """The broker stays down longer than the delivery timeout: produce fails saying how many messages were not
    acknowledged; its retry (broker back) succeeds, and so does re-running the whole run under the same run
    id. The topics then hold three attempts' records, yet the job counts each sample once."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    dataset, expected = real_data
    config = use_kafka(monkeypatch, own_broker.bootstrap, **{"delivery.timeout.ms": 8000})
    when = now()
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=when, run_after=when)
    events: dict[str, datetime] = {}

    def first_try_failed():
        # This outage is the fault itself: it must outlast the 8 s delivery timeout, so the broker stays down
        # until the first try has failed. The DAG's 10 s retry_delay is the time it has to come back in, so
        # this test keeps it (no quick_retries).
        wait_until(lambda: ti_state(run_id, "produce_metrics") == "up_for_retry", 180, interval=0.5,
                   what="produce_metrics' first try to fail")
        events["try 1 failed"] = now()

    chaos_thread = outage(own_broker, events, back_when=first_try_failed)
    out = tmp_path / "long-outage"
    conf = {"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
            "seconds_per_group": 0.005}
    dr, _ = run_dag(conf, logical_date=when, run_after=when)
    chaos_thread.join(timeout=60)
    assert dr.run_id == run_id and "try 1 failed" in events, events
    assert states(dr) == {t: "success" for t in ORDER}, states(dr)
    assert task_instances(dr)["produce_metrics"].try_number == 2
    logged = capfd.readouterr()
    unacked = re.search(r"(\d+) of 57600 messages were not acknowledged by " + re.escape(own_broker.bootstrap),
                        logged.out + logged.err)
    assert unacked and int(unacked.group(1)) > 0, "produce_metrics did not say how many messages were lost"
    first = json.loads((out / "manifest.json").read_text())
    assert first["counts"] == {t: RECORDS_PER_TOPIC for t in RUN_TOPICS}
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    # the first try's acknowledged records are in the topics too, and were not counted
    assert total_records(config, "topic-cpu") > RECORDS_PER_TOPIC

    again, _ = run_dag(conf, logical_date=when, run_after=when)  # the same DAG run, all tasks anew
    assert again.run_id == run_id
    assert states(again) == {t: "success" for t in ORDER}, states(again)
    second = json.loads((out / "manifest.json").read_text())
    assert second["run_id"] == run_id and second["attempt_id"] != first["attempt_id"]
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    assert json.loads((out / "validation.json").read_text())["passed"] is True
    assert total_records(config, "topic-cpu") > 2 * RECORDS_PER_TOPIC


def spark_driver(marker: str) -> psutil.Process | None:
    """The spark-submit JVM (the driver, in local mode) of the job whose command line holds ``marker``."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "org.apache.spark.deploy.SparkSubmit" in cmd and any(marker in arg for arg in cmd):
            return proc
    return None


def reading_from(proc: psutil.Process, port: int) -> bool:
    try:
        return any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
                   for c in proc.net_connections(kind="tcp"))
    except psutil.Error:
        return False


def test_spark_driver_killed_mid_job_retries_to_identical_output(tmp_path, real_data, airflow_db,
                                                                 airflow_connections, quick_retries):
    """SIGKILL the driver once it is reading from Kafka: the task fails, its retry writes byte-identical
    output, and no partial file is ever seen at the output path (watched every 10 ms throughout)."""
    dataset, expected = real_data
    broker = airflow_connections
    out = tmp_path / "killed-driver"
    target = out / "cpu_mem.csv"
    wanted = expected.read_bytes()
    events: dict[str, object] = {}
    seen: list[bytes] = []
    finished = threading.Event()

    def kill_driver():
        try:
            proc = wait_until(lambda: spark_driver(str(out)), 300, interval=0.2, what="the run's spark-submit")
            wait_until(lambda: reading_from(proc, broker.port), 120, interval=0.02,
                       what=f"the Spark driver to read from {broker.bootstrap}")
        except WaitTimeout as exc:
            events["error"] = str(exc)
            return
        os.kill(proc.pid, signal.SIGKILL)
        events["killed"] = now()

    def watch_output():
        # not a wait: a look at the output path every 10 ms for as long as the run goes on
        while not finished.is_set():
            try:
                data = target.read_bytes()
            except FileNotFoundError:
                data = None
            if data is not None and (not seen or seen[-1] != data):
                seen.append(data)
            finished.wait(0.01)

    killer, watcher = in_background(kill_driver), in_background(watch_output)
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
                     "seconds_per_group": 0})
    finished.set()
    killer.join(timeout=10)
    watcher.join(timeout=10)
    assert "killed" in events, events.get("error", "the driver was never seen reading from Kafka")
    assert states(dr) == {t: "success" for t in ORDER}, states(dr)
    window = task_instances(dr)["window_metrics"]
    assert window.try_number == 2 and window.start_date > events["killed"]  # the retry made the output
    assert target.read_bytes() == wanted
    assert seen and all(s == wanted for s in seen), [len(s) for s in seen]  # never partial, never other
    # nothing left behind by the killed try (no temporary files beside the outputs)
    assert sorted(p.name for p in out.iterdir()) == ["cpu_mem.csv", "manifest.json", "report.html",
                                                     "send_log.json", "validation.json"]


def test_malformed_or_missing_expected_file_fails_validation_clearly(tmp_path, real_data, airflow_db,
                                                                    airflow_connections, capfd, caplog, monkeypatch,
                                                                    request):
    """validate_output fails at once with a message naming the file and line, and says so in
    validation.json; a file that vanished after the run started is named as missing. With no connection
    replay_email or replay_webhook, neither failed run sends a notice (the notice servers, running, receive
    nothing), and each channel is said to be off once."""
    from include import notices
    from notice_servers import NoticeServers

    for conn in ("AIRFLOW_CONN_REPLAY_EMAIL", "AIRFLOW_CONN_REPLAY_WEBHOOK"):
        monkeypatch.delenv(conn, raising=False)
    monkeypatch.setattr(notices, "said_off", set())  # this process may have said it for an earlier test
    servers = NoticeServers().start()
    request.addfinalizer(servers.stop)
    dataset, expected = real_data
    bad = tmp_path / "expected bad.csv"
    lines = expected.read_text().splitlines(keepends=True)
    fields = lines[3].split(",")
    fields[3] = "oops"  # avg_cpu of the fourth line; the key stays as it was
    lines[3] = ",".join(fields)
    bad.write_text("".join(lines))
    out = tmp_path / "bad-expected"
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(bad), "output_dir": str(out),
                     "seconds_per_group": 0})
    s = states(dr)
    assert s["window_metrics"] == "success" and s["validate_output"] == "failed", s
    assert task_instances(dr)["validate_output"].try_number == 1
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] is False and report["cpu_mem"]["status"] == "error"
    assert f"{bad}, line 4, field 'avg_cpu': 'oops' is not a number" in report["error"], report["error"]
    logged = capfd.readouterr()
    assert f"cannot validate {out}: {bad}, line 4, field 'avg_cpu'" in logged.out + logged.err

    vanishing = tmp_path / "expected gone.csv"
    vanishing.write_bytes(expected.read_bytes())
    out2 = tmp_path / "missing-expected"
    remover = in_background(lambda: wait_until(lambda: (out2 / "manifest.json").exists(), 300, interval=0.05,
                                               what="produce_metrics' manifest") and vanishing.unlink())
    dr, _ = run_dag({"dataset_path": str(dataset), "expected_path": str(vanishing), "output_dir": str(out2),
                     "seconds_per_group": 0})
    remover.join(timeout=10)
    assert states(dr)["validate_output"] == "failed"
    report = json.loads((out2 / "validation.json").read_text())
    assert report["error"] == f"cannot validate {out2}: {vanishing}: no such file"
    assert servers.mails == [] and servers.posts == []
    later = capfd.readouterr()
    # Task logs reach stdout or the log records depending on how this worker's logging was set up first.
    sources = [logged.out + logged.err + later.out + later.err, caplog.text]
    for channel, conn in (("e-mail", "replay_email"), ("webhook", "replay_webhook")):
        off = f"Notices by {channel} are off: there is no Airflow connection '{conn}'"
        assert any(text.count(off) == 1 for text in sources) and all(text.count(off) <= 1 for text in sources), off
