"""Spark job: windowed CPU/MEM averages and alerts over exactly one replay's Kafka records.

Usage (the DAG's window_metrics task submits it this way)::

    spark-submit --master 'local[*]' --jars '.cache/jars/spark-kafka/*.jar' include/spark_job.py \\
        --manifest output/<run>/manifest.json --output-dir output/<run> \\
        [--window-seconds 30] [--slide-seconds 10] [--warmup-windows 2] \\
        [--cpu-threshold 80.07] [--mem-threshold 89.36]

It reads topic-cpu and topic-mem with Spark's own Kafka source between the offsets the producer
recorded, keeps only records whose ``replay-attempt`` header is that produce's, checks it read exactly
as many records as were acknowledged, and writes ``<output-dir>/cpu_mem.csv`` through a temporary file
and a rename, so no partial file ever exists at that path.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from include.offsets import ATTEMPT_HEADER, Manifest, ManifestError
from include.formatting import csv_text
from include.paths import CPU_MEM_FILE, write_atomically
from include.reference import ALERT_BOTH, ALERT_CPU, ALERT_MEM, CPU_MEM_HEADER
from include.topics import CPU_TOPIC, MEM_TOPIC

log = logging.getLogger("metrics_replay.spark_job")

# cpu_pct and mem_pct are FloatType on purpose: the original job declared them so, and the known-good
# output is only reproduced when each value is narrowed to 32 bits before the 64-bit average (with
# doubles about 8% of the real file's cells come out 0.01 off).
VALUE_SCHEMA = T.StructType([
    T.StructField("server_id", T.StringType()),
    T.StructField("original_ts", T.StringType()),
    T.StructField("cpu_pct", T.FloatType()),
    T.StructField("mem_pct", T.FloatType()),
])


class RecordCountMismatch(RuntimeError):
    """The job read a different number of records than the producer had acknowledged."""


def event_second(ts: Column) -> Column:
    """Seconds since midnight of an HH:MM:SS string column."""
    parts = F.split(ts, ":")
    return parts[0].cast("int") * 3600 + parts[1].cast("int") * 60 + parts[2].cast("int")


def parse_records(records: DataFrame) -> DataFrame:
    """Kafka rows (value bytes) -> server_id, event_second, cpu_pct, mem_pct (the other metric null)."""
    parsed = records.select(F.from_json(F.col("value").cast("string"), VALUE_SCHEMA).alias("m"))
    return parsed.select(
        F.col("m.server_id").alias("server_id"),
        event_second(F.col("m.original_ts")).alias("event_second"),
        F.col("m.cpu_pct").alias("cpu_pct"),
        F.col("m.mem_pct").alias("mem_pct"),
    )


def window_cpu_mem(samples: DataFrame, origin_second: int, window_seconds: int = 30, slide_seconds: int = 10,
                   warmup_windows: int = 2, cpu_threshold: float = 80.07, mem_threshold: float = 89.36) -> DataFrame:
    """The seed's windowed aggregation, as output-ready strings, sorted by server_id then window_start.

    ``samples``: server_id, event_second (int), cpu_pct (float), mem_pct (float); a null metric is ignored.
    Windows start at origin_second modulo the slide; the first ``warmup_windows`` per server are dropped.
    """
    offset = origin_second % slide_seconds
    windows = samples.withColumn("ts", F.timestamp_seconds(F.col("event_second"))).groupBy(
        "server_id",
        F.window("ts", f"{window_seconds} seconds", f"{slide_seconds} seconds", f"{offset} seconds").alias("w"),
    ).agg(
        # Spark's round() is HALF_UP on the double's decimal text.
        F.round(F.avg("cpu_pct"), 2).alias("avg_cpu"),
        F.round(F.avg("mem_pct"), 2).alias("avg_mem"),
    )
    ordered = Window.partitionBy("server_id").orderBy(F.col("w.start"))
    kept = windows.withColumn("n", F.row_number().over(ordered)).where(F.col("n") > warmup_windows)
    cpu_hot = F.col("avg_cpu") >= F.lit(float(cpu_threshold))
    mem_hot = F.col("avg_mem") >= F.lit(float(mem_threshold))
    alert = (F.when(cpu_hot & mem_hot, ALERT_BOTH).when(mem_hot, ALERT_MEM).when(cpu_hot, ALERT_CPU)
             .otherwise(""))
    return kept.select(
        F.col("server_id"),
        F.date_format("w.start", "HH:mm:ss").alias("window_start"),
        F.date_format("w.end", "HH:mm:ss").alias("window_end"),
        float32_text(F.col("avg_cpu")).alias("avg_cpu"),
        float32_text(F.col("avg_mem")).alias("avg_mem"),
        alert.alias("alert"),
    ).orderBy("server_id", "window_start")


def float32_text(col: Column) -> Column:
    """Shortest text of the value as a 32-bit float, without a trailing '.0' (57.9, 47, 58.47)."""
    return F.regexp_replace(col.cast("float").cast("string"), r"\.0$", "")


def kafka_options(manifest: Manifest, topics: list[str]) -> dict[str, str]:
    starting, ending = manifest.spark_offsets(topics)
    return {
        "kafka.bootstrap.servers": manifest.bootstrap_servers,
        "assign": _assign_json(manifest, topics),
        "startingOffsets": starting,
        "endingOffsets": ending,
        "includeHeaders": "true",
        "failOnDataLoss": "true",
    }


def _assign_json(manifest: Manifest, topics: list[str]) -> str:
    return json.dumps({t: sorted(int(p) for p in manifest.offsets[t]) for t in topics})


def read_run_records(spark: SparkSession, manifest: Manifest, topics: list[str]) -> DataFrame:
    """This produce attempt's records of ``topics``, checked against the acknowledged counts."""
    raw = spark.read.format("kafka").options(**kafka_options(manifest, topics)).load()
    mine = raw.where(F.exists("headers", lambda h: (h["key"] == ATTEMPT_HEADER)
                              & (h["value"].cast("string") == manifest.attempt_id)))
    mine = mine.select("topic", "value").cache()
    counts = {r["topic"]: r["count"] for r in mine.groupBy("topic").count().collect()}
    for t in topics:
        if counts.get(t, 0) != manifest.counts.get(t, 0):
            raise RecordCountMismatch(
                f"topic {t}: read {counts.get(t, 0)} records of attempt {manifest.attempt_id}, "
                f"the producer had {manifest.counts.get(t, 0)} acknowledged")
    return mine


def build_session(app_name: str = "metrics_replay") -> SparkSession:
    return (SparkSession.builder.appName(app_name)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.enabled", "false")
            .getOrCreate())


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Windowed CPU/MEM averages over one replay's Kafka records")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--window-seconds", type=int, default=30)
    p.add_argument("--slide-seconds", type=int, default=10)
    p.add_argument("--warmup-windows", type=int, default=2)
    p.add_argument("--cpu-threshold", type=float, default=80.07)
    p.add_argument("--mem-threshold", type=float, default=89.36)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        manifest = Manifest.read(args.manifest)
    except ManifestError as exc:
        log.error("%s", exc)
        return 2
    topics = [CPU_TOPIC, MEM_TOPIC]
    log.info("windowing run %s (attempt %s) from %s: %s", manifest.run_id, manifest.attempt_id,
             manifest.bootstrap_servers, {t: manifest.offsets.get(t) for t in topics})
    spark = build_session()
    try:
        records = read_run_records(spark, manifest, topics)
        result = window_cpu_mem(parse_records(records), manifest.first_second, args.window_seconds,
                                args.slide_seconds, args.warmup_windows, args.cpu_threshold, args.mem_threshold)
        rows = [tuple(r) for r in result.collect()]
    except (RecordCountMismatch, ManifestError) as exc:
        log.error("%s: %s; nothing written", type(exc).__name__, exc)
        return 1
    finally:
        spark.stop()
    out = args.output_dir / CPU_MEM_FILE
    write_atomically(out, csv_text(CPU_MEM_HEADER, rows))
    log.info("wrote %d windows to %s", len(rows), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
