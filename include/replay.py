"""The replay's steps as the DAG runs them: each logs what it does and against what, then one summary.

These are the edges between Airflow (connections, params, run ids) and the pure modules; the DAG's tasks
are one call each into this module, and the CLI and tests use the same functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, timezone

from include.contract import (CPU_MEM_FILE, LATENCY_KEY, MANIFEST_FILE, MODE_BATCH, MODE_LIVE, REPORT_FILE,
                              SEND_LOG_FILE, TIME_SHIFT_NONE, TOPICS, VALIDATION_FILE, WATERMARK_SECONDS,
                              WINDOW_SECONDS)
from include.pacing import requested_pace
from include.paths import PathNotAllowed, confined, output_dir_for

log = logging.getLogger("metrics_replay")


def fail_without_retry(message: str):
    """Fail the task at once: bad input or a refused path is not fixed by trying again."""
    from airflow.sdk.exceptions import AirflowFailException

    log.error("%s", message)
    raise AirflowFailException(message) from None


def kafka_config(conn_id: str) -> dict:
    """The librdkafka config of Airflow connection ``conn_id`` (type kafka), exactly as the Kafka provider builds
    it for its own clients: the extra, with allow-listed callbacks resolved and the managed-token callback of
    Google Managed Kafka or Amazon MSK IAM added.

    The provider has no public method that returns this dict (its public ``get_conn`` returns a client built
    from it), and the replay needs the dict itself: its admin client and producer add their own logger, error
    callback and enforced delivery settings, and the Spark job gets the security settings. So this is the one
    call of a provider underscore method in the project, here and nowhere else.
    tests/test_provider_contract.py fails loudly when a provider upgrade changes what it relies on."""
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    return KafkaBaseHook(kafka_config_id=conn_id)._build_config()


def check_dataset(dataset_path: str, recording_start: str | None = None) -> dict:
    """Read the whole dataset as produce_metrics will (every file, every row), sending nothing; log its summary
    (include.dataset.DatasetCheck: rows, servers, time span, timestamp forms, groups, metric columns, columns
    ignored, first errors); fail without retry when it has an error: a bad file stays bad. Returns the
    summary's figures."""
    from include import dataset
    from include.params import ParamError, dataset_files

    try:
        files = dataset_files(dataset_path)  # each file confined to the data roots
        result = dataset.check(files, recording_start, name=dataset_path)
    except (PathNotAllowed, ParamError, ValueError) as exc:  # ValueError: recording_start is no date-time
        fail_without_retry(f"dataset rejected: {exc}")
    for line in result.lines():
        log.info("%s", line)
    if not result.ok:
        more = result.error_count - 1
        fail_without_retry(f"dataset rejected: {result.errors[0]}"
                           + (f" (and {more} more error{'s' if more > 1 else ''}, listed above)" if more else ""))
    return {"rows": result.rows, "servers": result.servers, "groups": result.groups, "first": result.first,
            "last": result.last, "time_forms": result.time_forms, "metric_columns": list(result.metric_columns),
            "ignored_columns": result.ignored_columns, "files": len(result.files)}


def check_broker(conn_id: str, params: dict | None = None, timeout: float = 10.0) -> dict:
    """Check the run's params (combinations and files) and its dataset (every row, see check_dataset), then
    that the broker answers."""
    from include import params as replay_params
    from include import topics

    config = kafka_config(conn_id)
    log.info("Checking the run's params and dataset, then Kafka broker of connection %r at %s (timeout %g s)",
             conn_id, config.get("bootstrap.servers"), timeout)
    if params is not None:
        try:
            replay_params.check(params)
        except replay_params.ParamError as exc:
            fail_without_retry(f"params rejected: {exc}")
        log.info("Params hold together: dataset %s%s, expected %s, windows of %ss every %ss, %s, time shift %s",
                 params["dataset_path"],
                 f" recorded from {params['recording_start']}" if params.get("recording_start") else "",
                 params["expected_path"], params["window_seconds"], params["slide_seconds"],
                 requested_pace(params.get("speed"), params["seconds_per_group"]),
                 params.get("time_shift", TIME_SHIFT_NONE))
        checked = check_dataset(params["dataset_path"], params.get("recording_start"))
    try:
        # window_metrics hands these to the Spark job; what its Java client could not take is refused now,
        # before anything is produced, rather than once Spark is due.
        topics.security_env(config)
    except topics.UnsupportedSecurity as exc:
        fail_without_retry(f"the Kafka connection {conn_id!r} cannot be used by the Spark job: {exc}")
    try:
        info = topics.check_broker(config, conn_id, timeout=timeout)
    except topics.BrokerRefused as exc:
        # A wrong password, CA or client certificate stays wrong: retrying only repeats the refusal (and may
        # lock the account).
        fail_without_retry(str(exc))
    log.info("Broker reachable: cluster %s, brokers %s, %d topics", info.cluster_id, ", ".join(info.brokers),
             info.topics)
    return {**asdict(info), "dataset": checked} if params is not None else asdict(info)


def ensure_topics(conn_id: str, partitions: int, replication: int, timeout: float = 10.0) -> dict:
    from include import topics

    config = kafka_config(conn_id)
    new_config = topics.topic_config(replication)
    from include.contract import ALERTS_TOPIC

    # The four metric topics, and the topic live mode publishes alerts to.
    wanted = [*TOPICS, ALERTS_TOPIC]
    log.info("Ensuring topics %s at %s (%d partitions, replication %d%s)", ", ".join(wanted),
             config.get("bootstrap.servers"), partitions, replication,
             "".join(f", {k} {v}" for k, v in new_config.items()))
    report = topics.ensure_topics(config, wanted, partitions, replication, timeout=timeout,
                                  new_topic_config=new_config)
    for t, n in report.existing.items():
        log.info("Topic %s exists with %d partitions; left as it is", t, n)
    log.info("Topics ready: %d created (%s), %d existing", len(report.created), ", ".join(report.created) or "-",
             len(report.existing))
    return asdict(report)


def produce_metrics(conn_id: str, dataset_path: str, output_dir: str | None, run_id: str,
                    seconds_per_group: float, speed: float | None = None, recording_start: str | None = None,
                    time_shift: str = TIME_SHIFT_NONE, late_fraction: float = 0.0, late_max_seconds: int = 0,
                    late_seed: int = 0, replay_started: datetime | None = None,
                    attempt_id: str | None = None) -> dict:
    """Stream the dataset; write the send log and the manifest of exactly what was written; return its path.

    The pace is ``speed`` x recorded time when speed is set (0: as fast as possible), else one group every
    ``seconds_per_group``; ``recording_start`` places a time-of-day dataset's rows (and dates their events);
    ``time_shift`` "now" moves every event time so the first is the moment the replay starts; ``late_*`` hold
    that share of the samples back, sent up to late_max_seconds recorded seconds late (seeded)."""
    from include import dataset, producer
    from include.params import ParamError, dataset_files

    config = kafka_config(conn_id)
    # Checked again where they are used, not only in check_broker: a task can be run on its own.
    try:
        path = confined(dataset_path, "dataset_path", "data")
        # A folder or glob is confined file by file as well: any file in it may be a symlink to elsewhere.
        files = dataset_files(dataset_path)
        out = confined(output_dir_for(output_dir, run_id), "output_dir", "output")
        try:
            start = dataset.parse_recording_start(recording_start)
        except ValueError as exc:
            raise ParamError(str(exc)) from None  # the message names recording_start
        ds = dataset.load(files, recording_start=start)  # every file is checked whole before the first message
    except (PathNotAllowed, ParamError, dataset.DatasetError) as exc:
        fail_without_retry(f"cannot replay: {exc}")
    log.info("Producing %s (%d file%s, %d rows, %d servers, %d groups, %s to %s%s) to %s at %s, time shift %s",
             path, len(ds.files), "" if len(ds.files) == 1 else "s", ds.rows, len(ds.servers), ds.group_count(),
             ds.format_second(ds.first_second), ds.format_second(ds.last_second),
             f", recording started {ds.recording_start.isoformat()}" if ds.recording_start else "",
             config.get("bootstrap.servers"), requested_pace(speed, seconds_per_group), time_shift)
    result = producer.produce(ds, config, run_id=run_id, seconds_per_group=seconds_per_group, speed=speed,
                              time_shift=time_shift, late_fraction=late_fraction, late_max_seconds=late_max_seconds,
                              late_seed=late_seed, replay_started=replay_started, attempt_id=attempt_id)
    if result.skipped_topics:
        log.info("Dataset has no net_in/net_out/disk_io columns: skipped %s", ", ".join(result.skipped_topics))
    # Before the manifest: a manifest on disk always has its attempt's send log beside it.
    send_log_path = result.send_log.write(out / SEND_LOG_FILE)
    log.info("Send log %s: %d groups, %d late samples", send_log_path, len(result.send_log.groups),
             len(result.send_log.late))
    manifest = result.manifest
    manifest_path = manifest.write(out / MANIFEST_FILE)
    log.info("Produced %d messages in %d groups in %.1f s (%.0f msg/s); %s; lateness max %.1f ms, p99 %.1f ms, "
             "final %.1f ms; event time offset %d s (epoch %d + shift %d); per topic %s; manifest %s",
             result.messages, result.groups, result.seconds, result.messages / max(result.seconds, 1e-9),
             manifest.pace.describe(), result.max_lateness * 1000, result.p99_lateness * 1000,
             result.final_lateness * 1000, manifest.epoch_offset + manifest.time_shift_seconds,
             manifest.epoch_offset, manifest.time_shift_seconds, json.dumps(manifest.counts), manifest_path)
    return {"manifest": str(manifest_path), "output_dir": str(out), "messages": result.messages,
            "counts": manifest.counts}


def validate_output(output_dir: str, expected_path: str, expected_net_disk_path: str | None, run_id: str,
                    cpu_threshold: float, mem_threshold: float, run_started: datetime | None = None,
                    publish=None, mode: str = MODE_BATCH, watermark_seconds: int = WATERMARK_SECONDS,
                    window_seconds: int = WINDOW_SECONDS, allow_late_drops: bool = False, tolerance: float = 0.0,
                    dataset_path: str | None = None) -> dict:
    """Compare cpu_mem.csv (and net_disk.csv) with the expected files; write validation.json and report.html;
    raise on a difference. The NET/DISK part is "not applicable" when the dataset has no such columns.
    ``tolerance`` (absolute, numeric columns) lets numbers differ that much, counted apart; ``dataset_path``
    (the param as given) and ``mode`` go into validation.json for the Replay validation page.

    Live ``mode`` adds the alert latency and the late-data check (include.validation.add_live): a run with
    differences then passes only when late data beyond the watermark explains every one of them and
    ``allow_late_drops`` is set.

    ``publish(summary)`` (the task's XCom push) receives the summary even when validation fails."""
    from include import reports, validation
    from include.offsets import Manifest

    def about() -> dict:
        now = datetime.now(timezone.utc)
        return {"run_id": run_id, "validated_at": now.isoformat(timespec="seconds"),
                "duration_seconds": (now - run_started).total_seconds() if run_started else None,
                "dataset": dataset_path, "mode": mode or MODE_BATCH}

    out = confined(output_dir, "output_dir", "output")
    manifest = Manifest.read(out / MANIFEST_FILE)
    try:
        expected = confined(expected_path, "expected_path", "data")
        expected_nd = (confined(expected_net_disk_path, "expected_net_disk_path", "data")
                       if expected_net_disk_path else None)
        log.info("Validating %s against %s%s, %s", out, expected,
                 f" and {expected_nd}" if manifest.has_net_disk else " (no NET/DISK columns in the dataset)",
                 f"numbers within +/-{tolerance:g} tolerated (counted apart)" if tolerance else "exactly")
        result = validation.validate_run(out, expected, expected_nd, manifest.has_net_disk, tolerance)
        latencies = None
        if mode == MODE_LIVE:
            latencies = validation.add_live(
                result, out, manifest.attempt_id, manifest.epoch_offset, manifest.time_shift_seconds,
                manifest.dated, watermark_seconds, window_seconds, allow_late_drops)
    except (PathNotAllowed, validation.ValidationInputError) as exc:
        # Not a difference but no comparison at all: say so plainly, on the page and in XCom too.
        message = f"cannot validate {out}: {exc}"
        report_path = validation.write_error(out / VALIDATION_FILE, message, about())
        if publish is not None:
            publish({"passed": False, "error": message, "validation": str(report_path), "output_dir": str(out),
                     "run_id": run_id})
        fail_without_retry(message)
    report_path = result.write(out / VALIDATION_FILE, about())
    html_path = reports.write(out / REPORT_FILE, result.record(), out / CPU_MEM_FILE, run_id,
                              cpu_threshold, mem_threshold, latencies=latencies)
    for part, report in (("cpu_mem", result.cpu_mem), ("net_disk", result.net_disk)):
        if report is not None:
            for line in validation.difference_lines(part, report) + validation.tolerated_lines(part, report):
                log.info("%s", line)
    summaries = result.summaries()
    for part, line in summaries.items():
        log.info("%s: %s", part, line)
    summary = {"passed": result.passed, "parts": summaries, "validation": str(report_path),
               "report": str(html_path), "output_dir": str(out), "run_id": run_id}
    if result.latency is not None:
        log.info("Alert latency: %s", result.latency.describe())
        summary[LATENCY_KEY] = result.latency.model_dump(mode="json")
    if result.late is not None:
        log.info("Late data: %s", result.late.describe())
        for w in result.late.windows:
            log.info("%s %s window %s: %s", w.output, w.kind, "/".join(w.key),
                     "explained by a late sample" if w.explained else "UNEXPLAINED")
        summary["late"] = {"samples_sent": result.late.samples_sent, "beyond_watermark": result.late.beyond_watermark,
                           "dropped_by_watermark": result.late.dropped_by_watermark,
                           "explained": result.late.explained_total, "unexplained": result.late.unexplained_total}
    if publish is not None:
        publish(summary)
    log.info("Validation %s; details %s, report %s", "passed" if result.passed else "FAILED", report_path, html_path)
    if not result.passed:
        raise ValidationFailed(f"output in {out} differs from the expected files: {summaries}")
    return summary


class ValidationFailed(AssertionError):
    """The job's output does not match the expected file."""


def bless_output(params: dict, run_id: str, review: dict | None) -> list[dict]:
    """Carry out an approved review (include.review): the run's output becomes the expected output for every
    part that failed (include.blessing). ``review`` is the review step's result: who answered, when, the
    option chosen and the comment. Fails without retry when it cannot: the expected files are then as the log
    says (each is kept, replaced and recorded in turn)."""
    from pathlib import Path

    from include import blessing
    from include.review import APPROVE, COMMENT, expected_paths
    from include.validation import ValidationFileError

    if not review or review.get("chosen_options") != [APPROVE]:
        fail_without_retry(f"bless_output runs only after an approval; the review step returned {review!r}")
    user = review.get("responded_by_user") or {}
    answered = review.get("responded_at")
    out = output_dir_for(params["output_dir"], run_id)
    comment = (review.get("params_input") or {}).get(COMMENT) or ""
    log.info("Blessing %s's output in %s as approved by %s (%s): %r", run_id, out, user.get("name"), answered,
             comment)
    try:
        records = blessing.bless_run(out, expected_paths(params), run_id, approved_by=str(user.get("name")),
                                     approved_by_id=str(user["id"]) if user.get("id") is not None else None,
                                     approved_at=answered.isoformat() if isinstance(answered, datetime)
                                     else answered, comment=comment)
    except (PathNotAllowed, blessing.BlessingError, ValidationFileError) as exc:
        fail_without_retry(f"cannot bless {run_id}'s output: {exc}")
    for r in records:
        log.info("Blessed %s: %s now holds %s (%d rows); previous version kept as %s; recorded in %s", r.output,
                 r.expected_path, r.produced_path, r.produced_rows, r.previous_version,
                 blessing.history_path(Path(r.expected_path)))
    return [r.model_dump(mode="json") for r in records]


# ---- Live mode (include/live.py explains the three tasks) ----

def _live_dataset(dataset_path: str, recording_start: str | None):
    from include import dataset
    from include.params import ParamError, dataset_files

    try:
        confined(dataset_path, "dataset_path", "data")
        files = dataset_files(dataset_path)
        try:
            start = dataset.parse_recording_start(recording_start)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
        return dataset.load(files, recording_start=start)
    except (PathNotAllowed, ParamError, dataset.DatasetError) as exc:
        fail_without_retry(f"cannot replay: {exc}")


def _spark_master(spark_conn_id: str) -> str:
    """The master of the Spark connection, as the Spark provider reads it (host, with the port when set).

    A Spark Connect connection serves batch mode's window_metrics only: live mode's streaming job is a
    process of its own that outlives its task, so it is spark-submitted on local[*] then."""
    from airflow.sdk import BaseHook

    from include.spark_connect import CONN_TYPE

    conn = BaseHook.get_connection(spark_conn_id)
    if conn.conn_type == CONN_TYPE:
        log.info("Connection '%s' is a Spark Connect server; live mode's streaming job is spark-submitted on "
                 "local[*]", spark_conn_id)
        return "local[*]"
    host = conn.host or "local[*]"
    return f"{host}:{conn.port}" if conn.port else host


def _job_command(out, spark_conn_id: str, window_args: dict) -> list[str]:
    import shutil
    import sys
    from pathlib import Path

    from include import live
    from include.spark_submit import SPARK_KAFKA_JARS, submit_conf

    folder = live.LiveFolder(out)
    spark_submit = shutil.which("spark-submit") or str(Path(sys.executable).parent / "spark-submit")
    args = ["--session", str(folder.session), "--output-dir", str(out)]
    for name, value in window_args.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return live.submit_command(spark_submit, _spark_master(spark_conn_id), submit_conf(), f"{SPARK_KAFKA_JARS}/*.jar",
                               f"metrics_replay_live_{out.name}", live.SPARK_STREAM_JOB, args)


def _job_env(conn_id: str) -> dict[str, str]:
    from include import live, topics

    return {**live.python_env(), **topics.security_env(kafka_config(conn_id))}


def start_stream(conn_id: str, spark_conn_id: str, params: dict, run_id: str, timeout: float | None = None) -> dict:
    """Live mode's first window task: open a fresh session and start the streaming job; return once it reads."""
    import json

    from include import live, producer, topics
    from include.contract import CPU_TOPIC, DISK_TOPIC, MEM_TOPIC, NET_TOPIC

    config = kafka_config(conn_id)
    try:
        out = confined(output_dir_for(params.get("output_dir"), run_id), "output_dir", "output")
    except PathNotAllowed as exc:
        fail_without_retry(f"cannot replay: {exc}")
    ds = _live_dataset(params["dataset_path"], params.get("recording_start"))
    folder = live.LiveFolder(out)
    folder.fresh()
    replay_started = datetime.now(timezone.utc)
    epoch_offset = ds.epoch_offset(replay_started)
    shift = producer.time_shift_seconds(params.get("time_shift", TIME_SHIFT_NONE), ds.first_second + epoch_offset,
                                        replay_started)
    used = [CPU_TOPIC, MEM_TOPIC] + ([NET_TOPIC, DISK_TOPIC] if ds.has_net_disk else [])
    try:
        offsets = topics.end_offsets(config, used)
    except topics.TopicError as exc:
        fail_without_retry(f"cannot start the streaming job: {exc}")
    session = live.LiveSession(
        session_id=live.new_session_id(), run_id=run_id, bootstrap_servers=str(config.get("bootstrap.servers")),
        replay_started=replay_started.isoformat(), dated=ds.dated, epoch_offset=epoch_offset,
        time_shift_seconds=shift, first_second=ds.first_second, last_second=ds.last_second,
        end_marker_second=live.end_marker_second(ds.last_second, params["window_seconds"], params["slide_seconds"],
                                                 params["watermark_seconds"]),
        has_net_disk=ds.has_net_disk, watermark_seconds=params["watermark_seconds"],
        start_offsets={t: {str(p): o for p, o in parts.items()} for t, parts in offsets.items()})
    session.write(folder.session)
    command = _job_command(out, spark_conn_id, _window_args(params))
    log.info("Live session %s: dataset %s (%d rows, %s to %s), watermark %d s, start offsets %s; starting the "
             "streaming job: %s", session.session_id, params["dataset_path"], ds.rows,
             ds.format_second(ds.first_second), ds.format_second(ds.last_second), session.watermark_seconds,
             json.dumps(session.start_offsets, sort_keys=True), " ".join(command))
    pid = live.launch(folder, session, command, _job_env(conn_id))
    relay = live.LogRelay(folder, lambda line: log.info("%s", line))
    try:
        state = live.wait_reading(folder, session, pid, relay, timeout or live.READING_TIMEOUT_S)
    except live.StreamError as exc:
        fail_without_retry(str(exc))
    log.info("The streaming job is reading (since %s); the producer may send", state.reading_at)
    return {"session_id": session.session_id, "output_dir": str(out), "pid": pid, "reading_at": state.reading_at}


def _window_args(params: dict) -> dict:
    names = ("window_seconds", "slide_seconds", "warmup_windows", "cpu_threshold", "mem_threshold", "net_threshold",
             "disk_threshold")
    return {n: params[n] for n in names}


def produce_metrics_live(conn_id: str, params: dict, run_id: str) -> dict:
    """Live mode's producer: as produce_metrics, under the session's attempt id and start, while the streaming
    job reads; then the end-of-replay markers. Never retried within a session (its records would mix with a
    failed attempt's): a failure fails the run, and clearing the run starts a new session."""
    import threading
    import time

    from include import latency, live, producer
    from include.contract import CPU_TOPIC, DISK_TOPIC, MEM_TOPIC, NET_TOPIC

    out = confined(output_dir_for(params.get("output_dir"), run_id), "output_dir", "output")
    folder = live.LiveFolder(out)
    session = live.LiveSession.read(folder.session)
    if folder.producer.exists():
        fail_without_retry(f"session {session.session_id} already had a producer; clear the run (from start_stream) "
                           "to replay in a new session")
    if not live.job_alive(folder, session):
        fail_without_retry(f"the streaming job of session {session.session_id} is not running; clear the run "
                           "(from start_stream)")

    def state(status: str, error: str | None = None) -> None:
        live.ProducerState(session_id=session.session_id, status=status, updated_at=live.now_text(),
                           error=error).write(folder.producer)

    state("sending")
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(live.PRODUCER_HEARTBEAT_S):
            state("sending")

    beat = threading.Thread(target=heartbeat, name="producer-heartbeat", daemon=True)
    beat.start()
    try:
        result = produce_metrics(conn_id, params["dataset_path"], params.get("output_dir"), run_id,
                                 params["seconds_per_group"], speed=params.get("speed"),
                                 recording_start=params.get("recording_start"),
                                 time_shift=params.get("time_shift", TIME_SHIFT_NONE),
                                 late_fraction=params.get("late_fraction", 0.0),
                                 late_max_seconds=params.get("late_max_seconds", 0),
                                 late_seed=params.get("late_seed", 0),
                                 replay_started=datetime.fromisoformat(session.replay_started),
                                 attempt_id=session.session_id)
        used = [CPU_TOPIC, MEM_TOPIC] + ([NET_TOPIC, DISK_TOPIC] if session.has_net_disk else [])
        marker_at = session.end_marker_second + session.shift_seconds
        sent_at = time.time()  # the markers' send time: when the last windows become ready
        markers = producer.send_end_markers(kafka_config(conn_id), used, run_id, session.session_id, marker_at)
        latency.record_end_marker(out / SEND_LOG_FILE, session.end_marker_second, sent_at)
        log.info("Sent %d end-of-replay markers (event time %s: the last window's end plus the watermark has "
                 "passed)", markers, producer.event_time_text(marker_at))
    except BaseException as exc:
        done.set()
        beat.join()
        state("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise
    done.set()
    beat.join()
    state("done")
    return result


def window_metrics_live(conn_id: str, spark_conn_id: str, params: dict, run_id: str) -> dict:
    """Live mode's window step: follow the streaming job until it has written the outputs. A job found dead
    (its driver killed) is started again from its checkpoints first: this task's retry is the job's."""
    from include import live
    from include.contract import STREAM_FILE

    out = confined(output_dir_for(params.get("output_dir"), run_id), "output_dir", "output")
    folder = live.LiveFolder(out)
    session = live.LiveSession.read(folder.session)
    relay = live.LogRelay(folder, lambda line: log.info("%s", line))
    state = live.JobState.read(folder.job) if folder.job.exists() else None
    if state is not None and state.status == "failed":
        relay.relay()
        fail_without_retry(f"the streaming job failed: {state.error}")
    live.resume(folder, session, _job_command(out, spark_conn_id, _window_args(params)), _job_env(conn_id), relay)
    try:
        state = live.follow(folder, session, relay)
    except live.StreamError as exc:
        latest = live.JobState.read(folder.job) if folder.job.exists() else None
        if latest is not None and latest.status == "failed":
            fail_without_retry(str(exc))
        raise
    record = live.StreamRecord.read(out / STREAM_FILE)
    log.info("The streaming job finished: %d batches, %d alerts, rows dropped by the watermark %s, %d start(s)",
             sum(record.batches.values()), record.alerts, record.dropped_by_watermark, record.starts)
    return {"output_dir": str(out), "session_id": session.session_id, "alerts": record.alerts,
            "dropped_by_watermark": record.dropped_by_watermark, "starts": record.starts}


def choose_mode(params: dict, scheduled: bool) -> str:
    """The run's mode: the ``mode`` param; for a scheduled run the Airflow Variable NIGHTLY_MODE_VARIABLE
    ("batch" or "live") wins when it is set, so a deployment switches its nightly replays without editing
    the DAG. A Variable of another value fails the run rather than guess."""
    from include.contract import MODES, NIGHTLY_MODE_VARIABLE

    mode = params.get("mode", MODE_BATCH)
    if scheduled:
        from airflow.sdk import Variable

        nightly = Variable.get(NIGHTLY_MODE_VARIABLE, default=None)
        if nightly is not None:
            if nightly.strip() not in MODES:
                fail_without_retry(f"Airflow Variable {NIGHTLY_MODE_VARIABLE} is {nightly!r}, not one of "
                                   f"{', '.join(MODES)}")
            mode = nightly.strip()
            log.info("Scheduled run: mode %s from Airflow Variable %s", mode, NIGHTLY_MODE_VARIABLE)
    log.info("Mode: %s", mode)
    return mode
