"""Live mode's Spark job: Structured Streaming over one replay's topics while the producer sends.

Usage (include.live launches it this way; start_stream and window_metrics_live are the tasks)::

    spark-submit --master 'local[*]' --jars '.cache/jars/spark-kafka/*.jar' include/spark_stream.py \\
        --session output/<run>/.live/session.json --output-dir output/<run> [window and threshold options]

One streaming query per output (cpu_mem from topic-cpu and topic-mem; net_disk from topic-net and topic-disk
when the dataset has them) reads from the topics' end offsets when the session opened, keeps only records
with the session's ``replay-attempt`` header, and takes each record's event time back to the dataset's
timeline (as the batch job does). Windows are event-time windows of the same size, slide and alignment as
batch mode (``window()`` with the batch job's offset), with a watermark of ``watermark_seconds``; the
aggregation runs in append mode, so Spark emits each window once, when the watermark has passed its end.

Each micro-batch's final windows reach the driver (foreachBatch): they are formatted by the batch job's own
column expressions, the first ``warmup_windows`` windows of each server are dropped (windows of a server
become final in start order, so a count per server is enough), every alerting row is published to
topic-alerts and appended to alerts.jsonl, and the batch's rows are staged under .live/staged/ by batch id
(so a batch Spark replays after a restart replaces its own staging, never adds to it).

The end: Structured Streaming never flushes windows that are still open when the input stops. The producer
therefore ends with end-of-replay markers (include.producer.send_end_markers): records with no metric whose
event time is past the last window's end plus the watermark. Once the manifest of the session's producer
exists, each query has read past the manifest's end offsets (every acknowledged record) and its watermark
has passed the last window, the queries stop and the staged rows are written, sorted as batch mode sorts
them, to cpu_mem.csv / net_disk.csv through a temporary file and a rename. Then alerts.jsonl is rewritten
from the staged alerts (one line per alerting row, even after a replayed batch) and stream.json written.

The job checkpoints each query under .live/checkpoint/: started again for the same session (a retry of
window_metrics_live after the driver was killed), it resumes from Spark's last committed micro-batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from include import contract as c
from include.alerts import AlertMessage, output_name, parse_utc, utc_text
from include.contract import (ALERTS_FILE, ALERTS_TOPIC, ATTEMPT_HEADER, CPU_MEM_FILE, CPU_MEM_HEADER, CPU_TOPIC,
                              DISK_TOPIC, MANIFEST_FILE, MEM_TOPIC, NET_DISK_FILE, NET_DISK_HEADER, NET_TOPIC,
                              RUN_HEADER, STREAM_FILE)
from include.live import (HEARTBEAT_S, PRODUCER_STALE_AFTER_S, PRODUCER_START_TIMEOUT_S, JobState, LiveFolder,
                          LiveSession, ProducerState, StreamError, StreamRecord, now_text)
from include.offsets import Manifest, ManifestError
from include.paths import write_atomically
from include.producer import event_time_text
from include.spark_job import (attempt_records, build_session, cpu_mem_aggregates, cpu_mem_columns, csv_field,
                               kafka_source_options, net_disk_aggregates, net_disk_columns, output_columns,
                               parse_records, security_from_env)
from include.topics import UnsupportedSecurity, java_security, security_summary

log = logging.getLogger("metrics_replay.spark_stream")


class StreamFailed(RuntimeError):
    """The job cannot finish: the producer failed or vanished, or a query failed."""


@dataclass
class Output:
    """One output's query: its file, header, topics and the batch job's aggregate and column expressions."""

    file: str
    header: tuple[str, ...]
    topics: list[str]
    aggregates: list[Column]
    columns: list[Column]
    name: str = ""
    query: StreamingQuery | None = None
    # Windows that became final so far per server (warm-up), rebuilt from the staged batches after a restart.
    seen: dict[str, int] | None = None
    alerts: int = 0
    progress_seen: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.name = output_name(self.file)


def stream_options(session: LiveSession, topics: list[str], security: dict[str, str]) -> dict[str, str]:
    """Options of Spark's Kafka source: the topics' partitions from the session's start offsets on."""
    starting = {t: {p: int(o) for p, o in session.start_offsets[t].items()} for t in topics}
    return {
        **kafka_source_options(session.bootstrap_servers, {t: list(session.start_offsets[t]) for t in topics},
                               security),
        "startingOffsets": json.dumps(starting, sort_keys=True),
        # Records come as the producer sends them: poll often rather than wait for full fetches.
        "kafka.fetch.max.wait.ms": "50",
    }


def windows_stream(spark: SparkSession, session: LiveSession, out: Output, security: dict[str, str],
                   window_seconds: int, slide_seconds: int) -> DataFrame:
    """The output's final windows as a stream: server_id, start (timeline second), the aggregates."""
    raw = spark.readStream.format("kafka").options(**stream_options(session, out.topics, security)).load()
    parsed = parse_records(attempt_records(raw, session.session_id), "topic", shift_seconds=session.shift_seconds)
    # Records of the run per topic; end markers (no server_id) are not samples.
    counted = parsed.observe(f"read_{out.name}", *[
        F.count_if((F.col("topic") == F.lit(t)) & F.col("server_id").isNotNull()).alias(t) for t in out.topics])
    # The marker rows stay in up to the aggregation: only through them does the watermark pass the last
    # windows. Their group (server_id null) lies past the watermark they make, so it is never emitted.
    timed = counted.withColumn("event_at", F.timestamp_seconds(F.col("event_second")))
    offset = session.first_second % slide_seconds  # the batch job's alignment (include.spark_job.windowed)
    win = F.window("event_at", f"{window_seconds} seconds", f"{slide_seconds} seconds", f"{offset} seconds")
    return (timed.withWatermark("event_at", f"{session.watermark_seconds} seconds")
            .groupBy(F.col("server_id"), win.alias("w"))
            .agg(*out.aggregates)
            .select(F.col("server_id"), F.unix_seconds(F.col("w.start")).alias("start"),
                    *[F.col(a) for a in agg_names(out)]))


def agg_names(out: Output) -> list[str]:
    return list(out.header[3:5])


def alert_key(alert: AlertMessage) -> tuple[str, str, str]:
    return alert.server_id, alert.window_start, alert.window_end


class Sink:
    """foreachBatch of every output: format, drop warm-up windows, publish alerts, stage the rows."""

    def __init__(self, folder: LiveFolder, session: LiveSession, window_seconds: int, warmup_windows: int,
                 security: dict[str, str]) -> None:
        self.folder = folder
        self.session = session
        self.window_seconds = window_seconds
        self.warmup_windows = warmup_windows
        self.lock = threading.Lock()
        self.producer = self._alerts_producer(security)

    def _alerts_producer(self, security: dict[str, str]):
        from confluent_kafka import Producer

        from include.producer import producer_config

        return Producer(producer_config({"bootstrap.servers": self.session.bootstrap_servers, **security},
                                        {"linger.ms": 0}))

    def staged(self, out: Output) -> Path:
        return self.folder.staged / out.name

    def batch_file(self, out: Output, batch_id: int) -> Path:
        return self.staged(out) / f"batch-{batch_id:09d}.json"

    def staged_batches(self, out: Output, before: int | None = None) -> list[dict]:
        folder = self.staged(out)
        if not folder.exists():
            return []
        found = []
        for path in sorted(folder.glob("batch-*.json")):
            batch_id = int(path.stem.split("-")[1])
            if before is None or batch_id < before:
                found.append(json.loads(path.read_text(encoding="utf-8")))
        return found

    def __call__(self, out: Output, frame: DataFrame, batch_id: int) -> None:
        if out.seen is None:
            # First batch of this start: count the windows of the batches Spark committed before (a resume).
            out.seen = {}
            for batch in self.staged_batches(out, before=batch_id):
                for server, _start, _line, _warm in batch["rows"]:
                    out.seen[server] = out.seen.get(server, 0) + 1
        shaped = frame.select(*output_columns(out.columns, self.window_seconds, self.session.dated))
        line = F.concat_ws(",", *[csv_field(F.col(name)) for name in out.header])
        rows = shaped.select("server_id", "start", line.alias("line"), "window_start", "window_end", "alert",
                             *[F.col(v) for v in agg_names(out)]).collect()
        rows.sort(key=lambda r: (r["server_id"], r["start"]))
        staged_rows, alerts = [], []
        for r in rows:
            n = out.seen.get(r["server_id"], 0)
            out.seen[r["server_id"]] = n + 1
            warm = n < self.warmup_windows
            staged_rows.append([r["server_id"], r["start"], r["line"], warm])
            if not warm and r["alert"]:
                alerts.append(AlertMessage(
                    run_id=self.session.run_id, output=out.name, server_id=r["server_id"],
                    window_start=r["window_start"], window_end=r["window_end"],
                    window_end_at=event_time_text(r["start"] + self.window_seconds + self.session.shift_seconds),
                    values={v: float(r[v]) for v in agg_names(out)}, alert=r["alert"], emitted_at=""))
        # A batch Spark replays after a restart (the driver died before committing it) holds the same windows:
        # alerts this batch already published keep their first emission and are not published again.
        earlier = self.earlier_alerts(out, batch_id)
        fresh = [a for a in alerts if alert_key(a) not in earlier]
        published = dict(zip((alert_key(a) for a in fresh), self.publish(fresh)))
        texts = [earlier.get(alert_key(a)) or published[alert_key(a)] for a in alerts]
        self.batch_file(out, batch_id).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.batch_file(out, batch_id), json.dumps({"rows": staged_rows, "alerts": texts}))
        if published:
            with self.lock, open(self.folder.output_dir / ALERTS_FILE, "a", encoding="utf-8") as fh:
                fh.write("".join(t + "\n" for t in published.values()))
            out.alerts += len(published)
        if alerts:
            log.info("%s: batch %d: %d windows final, %d alerts published%s", out.name, batch_id, len(rows),
                     len(published), f" ({len(alerts) - len(published)} already published before a restart)"
                     if len(published) < len(alerts) else "")

    def earlier_alerts(self, out: Output, batch_id: int) -> dict[tuple[str, str, str], str]:
        """The alerts a previous start staged for this batch id (none unless the batch is being replayed)."""
        path = self.batch_file(out, batch_id)
        if not path.exists():
            return {}
        staged = json.loads(path.read_text(encoding="utf-8"))
        return {alert_key(AlertMessage.parse(t)): t for t in staged["alerts"]}

    def publish(self, alerts: list[AlertMessage]) -> list[str]:
        """Publish each alert to topic-alerts as it is emitted; its text (emitted_at set) for alerts.jsonl."""
        texts = []
        headers = [(RUN_HEADER, self.session.run_id.encode()), (ATTEMPT_HEADER, self.session.session_id.encode())]
        failures: list[str] = []

        def on_delivery(err, msg) -> None:
            if err is not None:
                failures.append(err.str())

        for alert in alerts:
            alert.emitted_at = utc_text(datetime.now(timezone.utc))
            text = alert.text()
            self.producer.produce(ALERTS_TOPIC, key=alert.server_id.encode(), value=text.encode(), headers=headers,
                                  on_delivery=on_delivery)
            texts.append(text)
        if alerts:
            remaining = self.producer.flush(60)
            if remaining or failures:
                raise StreamFailed(f"{len(failures) or remaining} alerts were not acknowledged by "
                                   f"{self.session.bootstrap_servers} on {ALERTS_TOPIC}"
                                   + (f": {failures[0]}" if failures else ""))
        return texts


@dataclass
class Tally:
    """Per output: batches seen, records read per topic and rows dropped by the watermark, from the queries'
    progress events; kept per batch id under .live/progress/ so a resumed job counts its earlier batches."""

    folder: LiveFolder

    def record(self, out: Output) -> None:
        for progress in out.query.recentProgress:
            batch = int(progress["batchId"])
            if batch in out.progress_seen:
                continue
            out.progress_seen.add(batch)
            observed = (progress.get("observedMetrics") or {}).get(f"read_{out.name}")
            read = {t: int(observed[t] or 0) for t in out.topics} if observed is not None else {}
            dropped = sum(int(op.get("numRowsDroppedByWatermark") or 0) for op in progress.get("stateOperators", []))
            path = self.folder.progress / f"{out.name}-{batch:09d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps({"read": read, "dropped": dropped}))

    def totals(self, out: Output) -> tuple[int, dict[str, int], int]:
        batches, read, dropped = 0, {t: 0 for t in out.topics}, 0
        for path in sorted(self.folder.progress.glob(f"{out.name}-*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            batches += 1
            dropped += data["dropped"]
            for t, n in data["read"].items():
                read[t] = read.get(t, 0) + n
        return batches, read, dropped


def watermark_second(out: Output) -> int | None:
    progress = out.query.lastProgress
    text = (progress or {}).get("eventTime", {}).get("watermark")
    return None if not text else int(parse_utc(text))


def read_past(out: Output, manifest: Manifest) -> bool:
    """Whether the query has read every record the producer acknowledged on its topics."""
    progress = out.query.lastProgress
    if not progress or not progress.get("sources"):
        return False
    ends = json.loads(progress["sources"][0].get("endOffset") or "{}")
    for t in out.topics:
        for p, span in manifest.offsets.get(t, {}).items():
            if int(ends.get(t, {}).get(p, -1)) < span[1]:
                return False
    return True


def producer_problem(folder: LiveFolder, session: LiveSession, reading_since: float) -> str | None:
    """Why the job should give up on the producer, or None while it may still come."""
    if not folder.producer.exists():
        if time.time() - reading_since > PRODUCER_START_TIMEOUT_S:
            return f"no producer started within {PRODUCER_START_TIMEOUT_S:g} s of the job reading"
        return None
    state = ProducerState.read(folder.producer)
    if state.session_id != session.session_id:
        return None
    if state.status == "failed":
        return f"the producer failed: {state.error}"
    if state.status == "sending" and time.time() - parse_utc(state.updated_at) > PRODUCER_STALE_AFTER_S:
        return f"the producer has not reported for {PRODUCER_STALE_AFTER_S:g} s (last {state.updated_at})"
    return None


def session_manifest(output_dir: Path, session: LiveSession) -> Manifest | None:
    path = output_dir / MANIFEST_FILE
    if not path.exists():
        return None
    manifest = Manifest.read(path)
    return manifest if manifest.attempt_id == session.session_id else None


def write_outputs(folder: LiveFolder, sink: Sink, outputs: list[Output], has_net_disk: bool) -> int:
    """The staged rows (warm-up windows dropped) as each output file, sorted as batch mode sorts them; then
    alerts.jsonl from the staged alerts. Returns the number of alerts."""
    alerts: list[str] = []
    for out in outputs:
        rows = []
        for batch in sink.staged_batches(out):
            rows.extend((server, start, line) for server, start, line, warm in batch["rows"] if not warm)
            alerts.extend(batch["alerts"])
        rows.sort(key=lambda r: (r[0], r[1]))
        text = ",".join(out.header) + "\n" + "".join(line + "\n" for _, _, line in rows)
        write_atomically(folder.output_dir / out.file, text)
        log.info("wrote %d windows to %s", len(rows), folder.output_dir / out.file)
    if not has_net_disk:
        (folder.output_dir / NET_DISK_FILE).unlink(missing_ok=True)
    write_atomically(folder.output_dir / ALERTS_FILE, "".join(a + "\n" for a in alerts))
    return len(alerts)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Live mode: windowed averages and alerts while the producer sends")
    p.add_argument("--session", required=True, type=Path)
    p.add_argument("--output-dir", required=True, type=Path)
    c.add_window_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per callback of every micro-batch otherwise
    args = parse_args(sys.argv[1:] if argv is None else argv)
    folder = LiveFolder(args.output_dir)
    started_at = now_text()
    start = int(os.environ.get("METRICS_REPLAY_LIVE_START", "1"))
    try:
        session = LiveSession.read(args.session)
        security = security_from_env(os.environ)
        java_security(security)
    except (StreamError, UnsupportedSecurity) as exc:
        log.error("%s", exc)
        return 2
    state = JobState(session_id=session.session_id, start=start, pid=os.getpgid(0), status="starting",
                     updated_at=now_text())
    state.write(folder.job)
    thresholds = {CPU_MEM_FILE: (args.cpu_threshold, args.mem_threshold),
                  NET_DISK_FILE: (args.net_threshold, args.disk_threshold)}
    log.info("live session %s of run %s (start %d): reading from %s, watermark %d s, windows %d s every %d s",
             session.session_id, session.run_id, start, json.dumps(session.start_offsets, sort_keys=True),
             session.watermark_seconds, args.window_seconds, args.slide_seconds)
    if security:
        log.info("Kafka security from the connection: %s", security_summary(security))
    spark = None
    try:
        spark = build_session("metrics_replay_live")
        outputs = [Output(CPU_MEM_FILE, CPU_MEM_HEADER, [CPU_TOPIC, MEM_TOPIC], cpu_mem_aggregates(),
                          cpu_mem_columns(*thresholds[CPU_MEM_FILE]))]
        if session.has_net_disk:
            outputs.append(Output(NET_DISK_FILE, NET_DISK_HEADER, [NET_TOPIC, DISK_TOPIC], net_disk_aggregates(),
                                  net_disk_columns(*thresholds[NET_DISK_FILE])))
        spark.conf.set("spark.sql.streaming.numRecentProgressUpdates", "1000")
        sink = Sink(folder, session, args.window_seconds, args.warmup_windows, security)
        tally = Tally(folder)
        for out in outputs:
            frame = windows_stream(spark, session, out, security, args.window_seconds, args.slide_seconds)
            out.query = (frame.writeStream.outputMode("append").queryName(f"live_{out.name}")
                         .option("checkpointLocation", str(folder.checkpoints / out.name))
                         .foreachBatch(lambda df, batch_id, out=out: sink(out, df, batch_id))
                         .trigger(processingTime="0 seconds").start())
        # Reading once every query has planned its first micro-batch (its offsets are the session's).
        while not all(o.query.lastProgress for o in outputs):
            _raise_failed(outputs)
            time.sleep(0.1)
        reading_since = time.time()
        state.status, state.reading_at = "reading", now_text()
        state.updated_at = state.reading_at
        state.write(folder.job)
        log.info("reading: every query has run its first micro-batch")
        target = session.end_marker_second - session.watermark_seconds
        last_beat = 0.0
        while True:
            _raise_failed(outputs)
            for out in outputs:
                tally.record(out)
            now = time.time()
            if now - last_beat >= HEARTBEAT_S:
                state.updated_at = now_text()
                state.batches = {o.name: len(o.progress_seen) for o in outputs}
                state.watermark = {o.name: str(watermark_second(o)) for o in outputs}
                state.write(folder.job)
                last_beat = now
            manifest = session_manifest(folder.output_dir, session)
            if manifest is not None and all(read_past(o, manifest) and (watermark_second(o) or 0) >= target
                                            for o in outputs):
                break
            if manifest is None:
                problem = producer_problem(folder, session, reading_since)
                if problem:
                    raise StreamFailed(problem)
            time.sleep(0.2)
        for out in outputs:
            out.query.stop()
            tally.record(out)
        alerts = write_outputs(folder, sink, outputs, session.has_net_disk)
        totals = {o.name: tally.totals(o) for o in outputs}
        record = StreamRecord(
            session_id=session.session_id, watermark_seconds=session.watermark_seconds, started_at=started_at,
            reading_at=state.reading_at, finished_at=now_text(),
            batches={n: t[0] for n, t in totals.items()},
            dropped_by_watermark={n: t[2] for n, t in totals.items()},
            records_read={topic: count for t in totals.values() for topic, count in t[1].items()},
            starts=start, alerts=alerts)
        record.write(folder.output_dir / STREAM_FILE)
        folder.clean_working_files()
        state.status, state.updated_at = "finished", now_text()
        state.write(folder.job)
        log.info("finished: %s", record.model_dump_json())
        return 0
    except (StreamFailed, ManifestError, StreamError) as exc:
        log.error("%s", exc)
        _fail(state, folder, str(exc))
        return 1
    except Exception as exc:  # a query's failure: the state says why before the process ends
        log.exception("the streaming job failed")
        _fail(state, folder, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return 1
    finally:
        if spark is not None:
            for q in spark.streams.active:
                q.stop()
            spark.stop()


def _raise_failed(outputs: list[Output]) -> None:
    for out in outputs:
        if out.query is not None and out.query.exception() is not None:
            raise StreamFailed(f"query {out.name} failed: {str(out.query.exception()).splitlines()[0]}")


def _fail(state: JobState, folder: LiveFolder, error: str) -> None:
    state.status, state.error, state.updated_at = "failed", error, now_text()
    state.write(folder.job)


if __name__ == "__main__":
    sys.exit(main())
