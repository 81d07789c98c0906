"""The replay's steps as the DAG runs them: each logs what it does and against what, then one summary.

These are the edges between Airflow (connections, params, run ids) and the pure modules; the DAG's tasks
are one call each into this module, and the CLI and tests use the same functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, timezone

from include.contract import CPU_MEM_FILE, MANIFEST_FILE, REPORT_FILE, TIME_SHIFT_NONE, TOPICS, VALIDATION_FILE
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
        info = topics.check_broker(config, conn_id, timeout=timeout)
    except topics.BrokerAuthenticationFailed as exc:
        # A wrong user or password stays wrong: retrying only repeats the refusal (and may lock the account).
        fail_without_retry(str(exc))
    log.info("Broker reachable: cluster %s, brokers %s, %d topics", info.cluster_id, ", ".join(info.brokers),
             info.topics)
    return {**asdict(info), "dataset": checked} if params is not None else asdict(info)


def ensure_topics(conn_id: str, partitions: int, replication: int, timeout: float = 10.0) -> dict:
    from include import topics

    config = kafka_config(conn_id)
    new_config = topics.topic_config(replication)
    log.info("Ensuring topics %s at %s (%d partitions, replication %d%s)", ", ".join(TOPICS),
             config.get("bootstrap.servers"), partitions, replication,
             "".join(f", {k} {v}" for k, v in new_config.items()))
    report = topics.ensure_topics(config, TOPICS, partitions, replication, timeout=timeout,
                                  new_topic_config=new_config)
    for t, n in report.existing.items():
        log.info("Topic %s exists with %d partitions; left as it is", t, n)
    log.info("Topics ready: %d created (%s), %d existing", len(report.created), ", ".join(report.created) or "-",
             len(report.existing))
    return asdict(report)


def produce_metrics(conn_id: str, dataset_path: str, output_dir: str | None, run_id: str,
                    seconds_per_group: float, speed: float | None = None, recording_start: str | None = None,
                    time_shift: str = TIME_SHIFT_NONE) -> dict:
    """Stream the dataset; write the manifest of exactly what was written; return its path.

    The pace is ``speed`` x recorded time when speed is set (0: as fast as possible), else one group every
    ``seconds_per_group``; ``recording_start`` places a time-of-day dataset's rows (and dates their events);
    ``time_shift`` "now" moves every event time so the first is the moment the replay starts."""
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
                              time_shift=time_shift)
    if result.skipped_topics:
        log.info("Dataset has no net_in/net_out/disk_io columns: skipped %s", ", ".join(result.skipped_topics))
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
                    publish=None) -> dict:
    """Compare cpu_mem.csv (and net_disk.csv) with the expected files; write validation.json and report.html;
    raise on a difference. The NET/DISK part is "not applicable" when the dataset has no such columns.

    ``publish(summary)`` (the task's XCom push) receives the summary even when validation fails."""
    from include import reports, validation
    from include.offsets import Manifest

    def about() -> dict:
        now = datetime.now(timezone.utc)
        return {"run_id": run_id, "validated_at": now.isoformat(timespec="seconds"),
                "duration_seconds": (now - run_started).total_seconds() if run_started else None}

    out = confined(output_dir, "output_dir", "output")
    manifest = Manifest.read(out / MANIFEST_FILE)
    try:
        expected = confined(expected_path, "expected_path", "data")
        expected_nd = (confined(expected_net_disk_path, "expected_net_disk_path", "data")
                       if expected_net_disk_path else None)
        log.info("Validating %s against %s%s", out, expected,
                 f" and {expected_nd}" if manifest.has_net_disk else " (no NET/DISK columns in the dataset)")
        result = validation.validate_run(out, expected, expected_nd, manifest.has_net_disk)
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
                              cpu_threshold, mem_threshold)
    for part, report in (("cpu_mem", result.cpu_mem), ("net_disk", result.net_disk)):
        if report is None:
            continue
        for m in report.first_mismatches:
            log.info("%s mismatch %s %s: expected %r, produced %r", part, "/".join(m.key), m.column, m.expected,
                     m.produced)
        for key in report.first_missing:
            log.info("%s missing window %s", part, "/".join(key))
        for key in report.first_extra:
            log.info("%s extra window %s", part, "/".join(key))
    summaries = result.summaries()
    for part, line in summaries.items():
        log.info("%s: %s", part, line)
    summary = {"passed": result.passed, "parts": summaries, "validation": str(report_path),
               "report": str(html_path), "output_dir": str(out), "run_id": run_id}
    if publish is not None:
        publish(summary)
    log.info("Validation %s; details %s, report %s", "passed" if result.passed else "FAILED", report_path, html_path)
    if not result.passed:
        raise ValidationFailed(f"output in {out} differs from the expected files: {summaries}")
    return summary


class ValidationFailed(AssertionError):
    """The job's output does not match the expected file."""
