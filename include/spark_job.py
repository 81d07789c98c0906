"""Spark job: windowed CPU/MEM averages and alerts over exactly one replay's Kafka records.

Usage (the DAG's window_metrics task submits it this way)::

    spark-submit --master 'local[*]' --jars '.cache/jars/spark-kafka/*.jar' include/spark_job.py \\
        --manifest output/<run>/manifest.json --output-dir output/<run> \\
        [--window-seconds N] [--slide-seconds N] [--warmup-windows N] \\
        [--cpu-threshold X] [--mem-threshold X] [--net-threshold X] [--disk-threshold X]

(the defaults are the output contract's, include/contract.py). With a Spark Connect connection the task runs the
same job through that server instead (run_remote, include/window_operator.py: a warm Spark): both paths call
window_outputs with a SparkSession.

It reads topic-cpu and topic-mem (and topic-net and topic-disk, for net_disk.csv) with Spark's own Kafka
source between the offsets the producer recorded, keeps only records whose ``replay-attempt`` header is that
produce's, and counts them while it windows them. Windows are on each record's ``event_time`` taken back to
the dataset's timeline (less the manifest's time_shift_seconds and epoch_offset), so they are computed in
recorded time whatever the replay's time shift; window_start/window_end are UTC date-times for a dated dataset
and times of day otherwise, rows sorted by server_id then window start in time order. Each output's CSV lines
are made in the JVM and written to a hidden staging folder of the output folder (by Spark's text writer with a
local master, through the driver on a cluster, whose executors may not see the folder); the two outputs run as
concurrent Spark jobs. Only when every output is computed and every topic's count equals the acknowledged
count are ``<output-dir>/cpu_mem.csv`` (and ``net_disk.csv``) put together from the staged parts through a
temporary file and a rename, so no partial or unchecked file ever exists at those paths. Every record is read
and parsed exactly once, each window is combined from its server's partial aggregates of gcd(window, slide)
seconds (windowed) rather than from every sample, and with a local master no row passes through Python (see
bench/ for the figures).

The Kafka connection's SASL/SSL settings, if any, come in the environment variable
METRICS_REPLAY_KAFKA_SECURITY (JSON, librdkafka names; see include.topics.security_env), never on the
command line, which `ps` shows to everyone.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from include import contract as c
from include.contract import (ALERT_BOTH, ALERT_CPU, ALERT_DISK, ALERT_MEM, ALERT_NET, ALERT_NET_DISK, ATTEMPT_HEADER,
                              CPU_MEM_FILE, CPU_MEM_HEADER, CPU_TOPIC, DISK_TOPIC, EVENT_TIME, MEM_TOPIC, NET_DISK_FILE,
                              NET_DISK_HEADER, NET_TOPIC, PRODUCED_STRINGS, TOPIC_FIELDS)
from include.formatting import csv_text
from include.offsets import Manifest, ManifestError
from include.paths import concatenate_atomically, run_folder_name
from include.topics import SECURITY_ENV, UnsupportedSecurity, java_security, security_summary

log = logging.getLogger("metrics_replay.spark_job")

# cpu_pct and mem_pct are FloatType on purpose: the original job declared them so, and the known-good
# output is only reproduced when each value is narrowed to 32 bits before the 64-bit average (with
# doubles about 8% of the real file's cells come out 0.01 off).
VALUE_SCHEMA = T.StructType([
    T.StructField("server_id", T.StringType()),
    # The sample's event time, ISO 8601 UTC ("2024-03-30T23:40:00Z"); the send time and the dataset's own
    # text (timestamp, original_ts) are for people reading the topics, not for windowing.
    T.StructField("event_time", T.StringType()),
    T.StructField("cpu_pct", T.FloatType()),
    T.StructField("mem_pct", T.FloatType()),
    # NET/DISK counters are 64-bit.
    T.StructField("net_in", T.DoubleType()),
    T.StructField("disk_io", T.DoubleType()),
])
# Window text: dated data as UTC date-times, time-of-day data as times of day (the second day of a recording
# across midnight too). date_format works in the session time zone, which build_session sets to UTC.
DATED_PATTERN = "yyyy-MM-dd HH:mm:ss"
TIME_OF_DAY_PATTERN = "HH:mm:ss"
# Set by pyspark when a Connect session is created (pyspark.sql.utils.is_remote reads it).
CONNECT_MODE_ENV = "SPARK_CONNECT_MODE_ENABLED"
CONNECT_RETRIES = 5  # backoffs of 0.05, 0.2, 0.8, 3.2 and 12.8 s (pyspark's DefaultPolicy)
KAFKA_PARTITION_FETCH_BYTES = 4 * 1024 * 1024  # 20,000 records a poll are about 3 MiB of values
KAFKA_FETCH_MAX_WAIT_MS = 10
# The Java UDF that reads the producer's layout (produced_layout), and its class in the jar `make jars` builds.
LAYOUT_UDF = "metrics_replay_produced_layout"
LAYOUT_CLASS = "metrics_replay.ProducedLayout"
LAYOUT_EPOCH = "_event_epoch_second"
# Every metric a message value may hold (one or two a topic).
METRIC_NAMES = tuple(sorted({f for fields in TOPIC_FIELDS.values() for f in fields}))
# spark.sql.sources.useV1SourceList without kafka (Spark 4's default list is these and kafka).
V1_SOURCES_BUT_KAFKA = "avro,csv,json,orc,parquet,text"
NO_EVENT_TIME = "a record of this replay has no event_time in its JSON value, and the windows are on event time"


class RecordCountMismatch(RuntimeError):
    """The job read a different number of records than the producer had acknowledged."""


def event_second(ts: Column) -> Column:
    """Seconds since midnight of an HH:MM:SS string column (the timeline second of a one-day time-of-day file)."""
    parts = F.split(ts, ":")
    return parts[0].cast("int") * 3600 + parts[1].cast("int") * 60 + parts[2].cast("int")


def timeline_second(event_time: Column, shift_seconds: int = 0, epoch: Column | None = None) -> Column:
    """The timeline second (include.dataset) of an ISO 8601 UTC event-time string column: its epoch second
    less ``shift_seconds`` (the manifest's time_shift_seconds + epoch_offset), as a long. ``epoch``: the epoch
    second already read from the text where it could be (produced_layout's), null elsewhere; the text is cast
    only where it is null.

    Spark's own string-to-timestamp cast, not a pattern or substrings: the fastest of those, and faster than
    the HH:MM:SS split it replaces (3 M values: 4.7 s against 6.2 s). A malformed text fails the job (ANSI
    cast) and so does a missing one, rather than leave the record out of every window while it is counted as
    read; coalesce only evaluates the error when the value is null (a when() guard cost ~25% more)."""
    cast = F.unix_seconds(event_time.cast("timestamp"))
    seconds = (cast if epoch is None else F.coalesce(epoch, cast)) - F.lit(shift_seconds).cast("long")
    return F.coalesce(seconds, F.raise_error(F.lit(NO_EVENT_TIME)).cast("long"))


def produced_layout(records: DataFrame, *keep: str) -> tuple[DataFrame, Column, dict[str, Column], Column]:
    """Whether a record's value is exactly the JSON the producer writes, and then its fields' texts by name.

    The producer writes ``{"timestamp": "T", "original_ts": "O", "event_time": "E", "server_id": "S", "M": N}``
    with one or two metrics ``"M": N`` (PRODUCED_STRINGS, TOPIC_FIELDS). When the value is that with nothing
    escaped (no backslash, no control character in a string) and each N a JSON number, the strings' texts and
    the numbers' JSON texts are its fields. The Java UDF ProducedLayout (include/java, built into the connector's
    jar folder by `make jars`) reads that layout in one pass over the value's bytes; from_json gives the same
    values then: the same strings, and the numbers parsed by the correctly rounded Float/Double.parseFloat that
    casting the text uses too (tests/test_spark_job.py holds them side by side). Every other value is
    from_json's. Spark's from_json opens a Jackson parser (and an 8 KiB reader buffer) for every record, and the
    Spark expressions that did this before (split at quotes, put back together and compared, numbers matched
    by a regex) decoded each value to a Java string several times: at 100x the read stages took twice as long
    (bench/, README's Performance).

    Returns ``records`` with the ``keep`` columns, ``value`` and the UDF's row (column ``_layout``, null when
    the value is not in the layout), and over that frame: (is the layout, {field: text} with a text for each of
    PRODUCED_STRINGS and of the metrics (null for a metric the value does not hold), the event time's epoch
    second when its text is ``yyyy-MM-ddTHH:mm:ssZ``, else null). The row is a column of its own so that the
    UDF runs once a record."""
    names = [*PRODUCED_STRINGS, *METRIC_NAMES]
    records.sparkSession.udf.registerJavaFunction(LAYOUT_UDF, LAYOUT_CLASS, T.StructType(
        [T.StructField(n, T.BinaryType()) for n in names] + [T.StructField(LAYOUT_EPOCH, T.LongType())]))
    spec = f"{','.join(PRODUCED_STRINGS)};{','.join(METRIC_NAMES)};{EVENT_TIME}"
    cut = records.select(*keep, "value", F.call_udf(LAYOUT_UDF, F.col("value"), F.lit(spec)).alias("_layout"))
    return (cut, F.col("_layout").isNotNull(), {n: F.col(f"_layout.{n}").cast("string") for n in names},
            F.col(f"_layout.{LAYOUT_EPOCH}"))


def parse_values(records: DataFrame, *keep: str, layout: str | None = None) -> DataFrame:
    """Kafka rows (value bytes) -> the ``keep`` columns, ``m``, the value parsed as VALUE_SCHEMA: as from_json
    parses it, through produced_layout when the value is in the producer's layout, and ``_epoch``, the event
    time's epoch second when produced_layout read it (else null). ``layout``: the name of a column to add that
    says which values were in the layout (for tests)."""
    cut, produced, fields, epoch = produced_layout(records, *keep)
    fast = F.struct(*[fields[f.name].cast(f.dataType).alias(f.name) for f in VALUE_SCHEMA.fields])
    parsed = F.when(produced, fast).otherwise(F.from_json(F.col("value").cast("string"), VALUE_SCHEMA)).alias("m")
    return cut.select(*keep, parsed, epoch.alias("_epoch"), *([produced.alias(layout)] if layout else []))


def parse_records(records: DataFrame, *keep: str, shift_seconds: int = 0) -> DataFrame:
    """Kafka rows (value bytes) -> server_id, event_second, cpu_pct, mem_pct, net_in, disk_io (after the
    ``keep`` columns of ``records``, e.g. topic). ``event_second`` is the record's timeline second: its
    ``event_time`` less ``shift_seconds`` (see timeline_second), so windows are computed in recorded time
    whatever the replay's time shift, and a time-of-day dataset keeps its seconds since midnight.

    Each topic's message holds its own metric; the others are null and ignored by the aggregations.
    """
    parsed = parse_values(records, *keep)
    return parsed.select(
        *keep,
        F.col("m.server_id").alias("server_id"),
        timeline_second(F.col("m.event_time"), shift_seconds, F.col("_epoch")).alias("event_second"),
        F.col("m.cpu_pct").alias("cpu_pct"),
        F.col("m.mem_pct").alias("mem_pct"),
        F.col("m.net_in").alias("net_in"),
        F.col("m.disk_io").alias("disk_io"),
    )


def windowed(samples: DataFrame, origin_second: int, window_seconds: int, slide_seconds: int,
             warmup_windows: int, partials: list[Column], finals: list[Column]) -> DataFrame:
    """Per server and sliding window, ``finals`` over ``partials``; the shared windowing of both outputs.

    Windows start at origin_second modulo the slide (only windows holding data exist); the first
    ``warmup_windows`` per server (the partial leading ones) are dropped. Columns: server_id, start (the
    window's first timeline second, a long), finals.

    The same windows as ``F.window(ts, window, slide, offset)``, computed on integer seconds, in two steps:
    the samples are first aggregated (``partials``) per server and bucket of gcd(window, slide) seconds on the
    windows' grid; every window boundary is on that grid, so a bucket lies wholly in or out of a window. Each
    bucket then goes to the ceil(window / slide) windows whose start is at most its first second and whose end
    is after it, where ``finals`` combine the buckets' partials. Only a bucket (not every sample) is repeated
    once per window holding it, and integer arithmetic instead of timestamp windows is the cheaper plan
    (see bench/).
    """
    offset = origin_second % slide_seconds
    bucket_seconds = math.gcd(window_seconds, slide_seconds)
    second = F.col("event_second")
    bucket = second - F.pmod(second - offset, F.lit(bucket_seconds).cast("long"))
    # Shuffled by server first: a Kafka partition holds the whole day in time order, so a partial aggregation
    # in the read task would hold every (server, bucket) of the day (1.44 M at 100x), overflow its memory and
    # fall back to sorting and spilling. After this shuffle the buckets, windows and warm-up drop all run in the
    # same tasks, with no other shuffle until the output's (bench/).
    buckets = samples.repartition("server_id").groupBy("server_id", bucket.alias("bucket")).agg(*partials)
    per_bucket = -(-window_seconds // slide_seconds)
    first = F.col("bucket")
    last_start = first - F.pmod(first - offset, F.lit(slide_seconds).cast("long"))
    starts = F.sequence(last_start - (per_bucket - 1) * slide_seconds, last_start, F.lit(slide_seconds).cast("long"))
    exploded = buckets.select("*", F.explode(starts).alias("start")).where(F.col("start") + window_seconds > first)
    windows = exploded.groupBy("server_id", "start").agg(*finals)
    ordered = Window.partitionBy("server_id").orderBy(F.col("start"))
    return windows.withColumn("n", F.row_number().over(ordered)).where(F.col("n") > warmup_windows).drop("n")


def _alert(first_hot: Column, second_hot: Column, both: str, first: str, second: str) -> Column:
    return (F.when(first_hot & second_hot, both).when(first_hot, first).when(second_hot, second).otherwise(""))


def window_text(second: Column, dated: bool) -> Column:
    """A timeline second as the outputs write it: ``yyyy-MM-dd HH:mm:ss`` (UTC) when ``dated`` (the timeline is
    epoch seconds), else ``HH:mm:ss`` of the second modulo a day (a window before midnight of the first day
    or on the next day is still a time of day). As include.dataset.format_second writes it."""
    return F.date_format(F.timestamp_seconds(second), DATED_PATTERN if dated else TIME_OF_DAY_PATTERN)


def output_columns(columns: list[Column], window_seconds: int, dated: bool) -> list[Column]:
    """An output's columns (server_id, window text, ``columns``) and its numeric ``start``, from a windowed
    frame's server_id and start (the window's first timeline second)."""
    return [
        F.col("server_id"),
        window_text(F.col("start"), dated).alias("window_start"),
        window_text(F.col("start") + window_seconds, dated).alias("window_end"),
        *columns,
        F.col("start"),
    ]


def _output(kept: DataFrame, columns: list[Column], window_seconds: int, dated: bool) -> DataFrame:
    # Sorted on the numeric start, not the text: "00:00:10" of the next day follows "23:59:50". One partition
    # (one row a window) sorted, rather than orderBy: orderBy's range partitioning samples its input by a job
    # of its own, which would compute the whole windowing twice.
    return (kept.select(*output_columns(columns, window_seconds, dated)).repartition(1)
            .sortWithinPartitions("server_id", "start").drop("start"))


def cpu_mem_aggregates() -> list[Column]:
    """avg_cpu, avg_mem of a window's samples (doubles, rounded as the seed rounds; a null metric ignored)."""
    # Spark's round() is HALF_UP on the double's decimal text.
    return [F.round(F.avg("cpu_pct"), 2).alias("avg_cpu"), F.round(F.avg("mem_pct"), 2).alias("avg_mem")]


def cpu_mem_partials() -> list[Column]:
    """A bucket's sums and counts of cpu_pct and mem_pct (windowed), which cpu_mem_finals combine."""
    return [F.sum(F.col("cpu_pct").cast("double")).alias("cpu_sum"), F.count("cpu_pct").alias("cpu_n"),
            F.sum(F.col("mem_pct").cast("double")).alias("mem_sum"), F.count("mem_pct").alias("mem_n")]


def cpu_mem_finals() -> list[Column]:
    """avg_cpu, avg_mem of a window from its buckets' cpu_mem_partials: as cpu_mem_aggregates over its samples.

    avg() sums the float32 values as doubles too, so the two differ only in the order of the additions, and
    that order cannot change the sum while every partial sum is exact: when a window's values span at most 53
    bits, from the largest sum's top bit to the smallest value's last float32 bit. Percentages of at most two
    decimals do, by far: 0.01's last bit is 2^-30, and a window of 80,000 samples of 100 sums under 2^23.
    (Values of many more significant bits would round, and their average then depends on the order of the
    additions, here as in avg() over several partitions.) A window with no value has a null average, as avg()."""
    def avg(total: str, count: str) -> Column:
        return F.when(F.sum(count) > 0, F.sum(total) / F.sum(count))

    return [F.round(avg("cpu_sum", "cpu_n"), 2).alias("avg_cpu"), F.round(avg("mem_sum", "mem_n"), 2).alias("avg_mem")]


def cpu_mem_columns(cpu_threshold: float, mem_threshold: float) -> list[Column]:
    """cpu_mem.csv's value columns as text, and its alert, from the aggregates' avg_cpu and avg_mem."""
    cpu_hot = F.col("avg_cpu") >= F.lit(float(cpu_threshold))
    mem_hot = F.col("avg_mem") >= F.lit(float(mem_threshold))
    # The seed checks memory before CPU when only one holds; _alert(first=mem, second=cpu) keeps that order.
    alert = _alert(mem_hot, cpu_hot, ALERT_BOTH, ALERT_MEM, ALERT_CPU)
    return [float32_text(F.col("avg_cpu")).alias("avg_cpu"), float32_text(F.col("avg_mem")).alias("avg_mem"),
            alert.alias("alert")]


def window_cpu_mem(samples: DataFrame, origin_second: int, window_seconds: int = c.WINDOW_SECONDS,
                   slide_seconds: int = c.SLIDE_SECONDS, warmup_windows: int = c.WARMUP_WINDOWS,
                   cpu_threshold: float = c.CPU_THRESHOLD, mem_threshold: float = c.MEM_THRESHOLD, *,
                   dated: bool = False) -> DataFrame:
    """The seed's windowed CPU/MEM aggregation, as output-ready strings, sorted by server_id, then window
    start in time order; window text as window_text(``dated``) writes it.

    ``samples``: server_id, event_second (int or long: the timeline second), cpu_pct (float), mem_pct
    (float); a null metric is ignored. ``origin_second``: the earliest timeline second.
    """
    kept = windowed(samples.where(F.col("cpu_pct").isNotNull() | F.col("mem_pct").isNotNull()), origin_second,
                    window_seconds, slide_seconds, warmup_windows, cpu_mem_partials(), cpu_mem_finals())
    return _output(kept, cpu_mem_columns(cpu_threshold, mem_threshold), window_seconds, dated)


def net_disk_aggregates() -> list[Column]:
    """max_net_in, max_disk_io of a window's samples (64-bit, rounded; a null metric ignored)."""
    return [F.round(F.max("net_in"), 2).alias("max_net_in"), F.round(F.max("disk_io"), 2).alias("max_disk_io")]


def net_disk_partials() -> list[Column]:
    """A bucket's maxima of net_in and disk_io (windowed), which net_disk_finals combine."""
    return [F.max("net_in").alias("net_max"), F.max("disk_io").alias("disk_max")]


def net_disk_finals() -> list[Column]:
    """max_net_in, max_disk_io of a window from its buckets' net_disk_partials: the maxima of its samples."""
    return [F.round(F.max("net_max"), 2).alias("max_net_in"), F.round(F.max("disk_max"), 2).alias("max_disk_io")]


def net_disk_columns(net_threshold: float, disk_threshold: float) -> list[Column]:
    """net_disk.csv's value columns as text, and its alert, from the aggregates' max_net_in and max_disk_io."""
    net_hot = F.col("max_net_in") >= F.lit(float(net_threshold))
    disk_hot = F.col("max_disk_io") >= F.lit(float(disk_threshold))
    alert = _alert(net_hot, disk_hot, ALERT_NET_DISK, ALERT_NET, ALERT_DISK)
    return [float64_text(F.col("max_net_in")).alias("max_net_in"),
            float64_text(F.col("max_disk_io")).alias("max_disk_io"), alert.alias("alert")]


def window_net_disk(samples: DataFrame, origin_second: int, window_seconds: int = c.WINDOW_SECONDS,
                    slide_seconds: int = c.SLIDE_SECONDS, warmup_windows: int = c.WARMUP_WINDOWS,
                    net_threshold: float = c.NET_THRESHOLD, disk_threshold: float = c.DISK_THRESHOLD, *,
                    dated: bool = False) -> DataFrame:
    """Windowed NET/DISK maxima (64-bit) and flood/thrash alerts, same windows, text and order as CPU/MEM.

    ``samples``: server_id, event_second (int or long: the timeline second), net_in (double), disk_io (double);
    a null metric is ignored.
    """
    kept = windowed(samples.where(F.col("net_in").isNotNull() | F.col("disk_io").isNotNull()), origin_second,
                    window_seconds, slide_seconds, warmup_windows, net_disk_partials(), net_disk_finals())
    return _output(kept, net_disk_columns(net_threshold, disk_threshold), window_seconds, dated)


def float32_text(col: Column) -> Column:
    """Shortest text of the value as a 32-bit float, without a trailing '.0' (57.9, 47, 58.47)."""
    return F.regexp_replace(col.cast("float").cast("string"), r"\.0$", "")


def float64_text(col: Column) -> Column:
    """Text of a value already rounded to 2 decimals, without trailing zeros or '.0' (6104.83, 7000, 12.5).

    Through decimal rather than Double.toString, which switches to 1.0E7-style notation for large values.
    """
    text = col.cast("decimal(38,2)").cast("string")
    return F.regexp_replace(F.regexp_replace(text, r"0+$", ""), r"\.$", "")


def kafka_source_options(bootstrap_servers: str, assign: dict[str, list[int]],
                         security: dict[str, str] | None = None, headers: bool = True) -> dict[str, str]:
    """The options Spark's Kafka source takes in both jobs (this one and live mode's, include/spark_stream.py):
    the broker, the topics' partitions (``assign``), headers or not, failing on lost data, and ``security`` (the
    connection's librdkafka security settings, in the Java client's names)."""
    return {
        "kafka.bootstrap.servers": bootstrap_servers,
        "assign": json.dumps({t: sorted(int(p) for p in parts) for t, parts in assign.items()}),
        "includeHeaders": str(headers).lower(),
        "failOnDataLoss": "true",
        # Spark redacts the JAAS config (it holds the password) wherever it shows these options.
        **{f"kafka.{k}": v for k, v in java_security(security or {}).items()},
    }


def attempt_records(raw: DataFrame, attempt_id: str) -> DataFrame:
    """The topic and value of ``raw``'s records that carry ``attempt_id``'s ATTEMPT_HEADER (both jobs)."""
    # array_contains of the exact (key, value) header is code-generated; a lambda over headers is not (bench/).
    header = F.struct(F.lit(ATTEMPT_HEADER).alias("key"), F.lit(bytearray(attempt_id.encode("utf-8"))).alias("value"))
    return raw.where(F.array_contains("headers", header)).select("topic", "value")


def kafka_options(manifest: Manifest, topics: list[str], security: dict[str, str] | None = None,
                  headers: bool = True) -> dict[str, str]:
    """Options of Spark's Kafka source for the manifest's offset ranges of ``topics``; ``security`` holds the
    connection's librdkafka security settings; ``headers``: read the records' headers too."""
    starting, ending = manifest.spark_offsets(topics)
    return {
        **kafka_source_options(manifest.bootstrap_servers, {t: list(manifest.offsets[t]) for t in topics},
                               security, headers),
        "startingOffsets": starting,
        "endingOffsets": ending,
        # Bigger fetches: the consumer's defaults (500 records a poll, 1 MiB a partition) make a local
        # replay's read poll-bound (bench/). Not much bigger: every consumer's fetched bytes sit in the driver's
        # heap (local mode), four consumers at once, and at 100x 16/64 MiB fetches left a third of the read
        # stages' time to the garbage collector.
        "kafka.max.partition.fetch.bytes": str(KAFKA_PARTITION_FETCH_BYTES),
        "kafka.fetch.max.bytes": str(2 * KAFKA_PARTITION_FETCH_BYTES),
        "kafka.max.poll.records": "20000",
        # The records are there already: a fetch that finds fewer than it asked for (at the end of the log)
        # comes back at once instead of waiting the consumer's default 500 ms for more. Each read task paid
        # that wait: the real day through a warm Spark went from 2.9 s to 2.2 s (bench/).
        "kafka.fetch.max.wait.ms": str(KAFKA_FETCH_MAX_WAIT_MS),
    }


def security_from_env(environ: dict[str, str]) -> dict[str, str]:
    """The connection's security settings the task handed over in the environment ({} when none)."""
    text = environ.get(SECURITY_ENV)
    if not text:
        return {}
    try:
        settings = json.loads(text)
    except ValueError:
        raise UnsupportedSecurity(f"{SECURITY_ENV} is not JSON") from None  # the text may hold a password
    if not isinstance(settings, dict):
        raise UnsupportedSecurity(f"{SECURITY_ENV} is not a JSON object")
    return {str(k): str(v) for k, v in settings.items()}


def read_records(spark: SparkSession, manifest: Manifest, topics: list[str],
                 security: dict[str, str] | None = None) -> tuple[DataFrame, Observation]:
    """This produce attempt's records of ``topics``, parsed (parse_records, after the topic column), and an
    Observation that holds how many records of each topic went through once an action has run (check_counts).

    Nothing is cached: each output reads its own topics, so every record is read and parsed once.

    A record is this attempt's when it carries the attempt's header. When the offset ranges hold no other record
    (Manifest.holds_only_attempt: as many offsets as acknowledged records) that is true of every record in
    them, and the headers are not read at all: turning each record's headers into rows was a sixth of the read
    (bench/). Otherwise (another producer wrote between this attempt's records) the header is checked.
    """
    only_mine = manifest.holds_only_attempt(topics)
    raw = spark.read.format("kafka").options(**kafka_options(manifest, topics, security, headers=not only_mine)).load()
    mine = raw.select("topic", "value") if only_mine else attempt_records(raw, manifest.attempt_id)
    counted = Observation(f"records_{'_'.join(t.replace('-', '_') for t in topics)}")
    # Records carry event times (shifted under time_shift "now"); windows are computed on the timeline.
    shift = manifest.time_shift_seconds + manifest.epoch_offset
    parsed = parse_records(mine, "topic", shift_seconds=shift).observe(
        counted, *[F.count_if(F.col("topic") == F.lit(t)).alias(t) for t in topics])
    return parsed, counted


def read_counts(counted: Observation, samples: DataFrame, topics: list[str]) -> dict[str, int]:
    """Each topic's count of records read, from the Observation of read_records once an action has run.

    When the Observation holds no metrics (adaptive execution replaces a plan whose input turned out empty,
    dropping the observation with it) the records are counted again, explicitly, rather than assumed.
    """
    try:
        got = counted.get
    except Py4JJavaError:
        got = {}
    if not all(t in got for t in topics):
        log.info("Spark kept no counts of %s; counting the records again", ", ".join(topics))
        return count_records(samples, topics)
    return {t: int(got.get(t) or 0) for t in topics}


def count_records(samples: DataFrame, topics: list[str]) -> dict[str, int]:
    """Each topic's count of ``samples`` (records from read_records), by a Spark job of its own."""
    got = {r["topic"]: r["count"] for r in samples.groupBy("topic").count().collect()}
    return {t: int(got.get(t) or 0) for t in topics}


def check_counts(counts: dict[str, int], manifest: Manifest, topics: list[str]) -> int:
    """Raise RecordCountMismatch unless each topic's count read equals the producer's acknowledged count;
    the total otherwise."""
    for t in topics:
        if counts.get(t, 0) != manifest.counts.get(t, 0):
            raise RecordCountMismatch(
                f"topic {t}: read {counts.get(t, 0)} records of attempt {manifest.attempt_id}, "
                f"the producer had {manifest.counts.get(t, 0)} acknowledged")
    return sum(counts.get(t, 0) for t in topics)


def csv_field(col: Column) -> Column:
    """A string column as Python's csv writer (QUOTE_MINIMAL, LF line ends) writes it: in quotes, with its
    quotes doubled, when it holds a comma, a quote or a newline; a null as an empty field."""
    text = F.coalesce(col, F.lit(""))
    return (F.when(text.rlike('[,"\n]'), F.concat(F.lit('"'), F.regexp_replace(text, '"', '""'), F.lit('"')))
            .otherwise(text))


def csv_lines(df: DataFrame) -> DataFrame:
    """One string column ``value``: each row of ``df`` (string columns) as its CSV line, in ``df``'s order."""
    return df.select(F.concat_ws(",", *[csv_field(F.col(c)) for c in df.columns]).alias("value"))


def stage_csv(df: DataFrame, folder: Path, executors_share_folder: bool) -> None:
    """``df``'s CSV lines in ``folder``'s part files, in ``df``'s order.

    With a local master Spark's text writer writes them from the executors (no row passes through Python).
    On a cluster the executors may not see this machine's folder, so the lines come to the driver a
    partition at a time (toLocalIterator) and are written here.
    """
    lines = csv_lines(df)
    if executors_share_folder:
        lines.write.mode("error").text(str(folder))
        return
    folder.mkdir(parents=True)
    with open(folder / "part-00000", "w", encoding="utf-8", newline="") as fh:
        for row in lines.toLocalIterator():
            fh.write(row[0])
            fh.write("\n")


def staged_parts(folder: Path) -> list[Path]:
    """The part files Spark wrote to ``folder``, in partition order (the order of a sorted DataFrame)."""
    return sorted(p for p in folder.iterdir() if p.name.startswith("part-"))


def build_session(app_name: str = "metrics_replay", remote: str | None = None) -> SparkSession:
    """The job's session: its own Spark (spark-submit), or a new session on the Spark Connect server at
    ``remote`` (an ``sc://`` URL), which takes only runtime settings (its UI is the server's business)."""
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.shuffle.partitions", "4")
    # Spark's Kafka batch source in its DataSource V2 form, which hands rows to the query as they are: the V1
    # form (Spark's default for kafka) turns every record into a Row object and back (bench/: 100x 72 s -> 67 s).
    builder = builder.config("spark.sql.sources.useV1SourceList", V1_SOURCES_BUT_KAFKA)
    if remote is not None:
        from pyspark.sql.connect.client.retries import DefaultPolicy

        session = builder.remote(remote).create()
        # The client's default retries a server that stops answering for at least 10 minutes; the task's own
        # retries take over after about 20 s instead.
        session.client.set_retry_policies([DefaultPolicy(max_retries=CONNECT_RETRIES)])
        return session
    return builder.config("spark.ui.enabled", "false").getOrCreate()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Windowed CPU/MEM averages over one replay's Kafka records")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--output-dir", required=True, type=Path)
    c.add_window_arguments(p)
    return p.parse_args(argv)


def window_outputs(spark: SparkSession, args: argparse.Namespace, manifest: Manifest,
                   security: dict[str, str]) -> None:
    """The job on ``spark`` (its own under spark-submit, or a Spark Connect session): stage every output,
    check the counts, then put cpu_mem.csv (and net_disk.csv) together. Raises RecordCountMismatch (or
    ManifestError) when a count is off, and then nothing is written."""
    net_disk = manifest.has_net_disk
    topics = [CPU_TOPIC, MEM_TOPIC] + ([NET_TOPIC, DISK_TOPIC] if net_disk else [])
    log.info("windowing run %s (attempt %s) from %s: %s", manifest.run_id, manifest.attempt_id,
             manifest.bootstrap_servers, {t: manifest.offsets.get(t) for t in topics})
    log.info("timeline: %s, from second %d; event times less %d s of time shift and %d s of epoch offset",
             "dated (UTC date-times)" if manifest.dated else "times of day", manifest.first_second,
             manifest.time_shift_seconds, manifest.epoch_offset)
    if security:
        log.info("Kafka security from the connection: %s", security_summary(security))
    thresholds = {CPU_MEM_FILE: (args.cpu_threshold, args.mem_threshold),
                  NET_DISK_FILE: (args.net_threshold, args.disk_threshold)}
    plan = [(CPU_MEM_FILE, CPU_MEM_HEADER, [CPU_TOPIC, MEM_TOPIC], window_cpu_mem)]
    if net_disk:
        plan.append((NET_DISK_FILE, NET_DISK_HEADER, [NET_TOPIC, DISK_TOPIC], window_net_disk))
    spec = (manifest.first_second, args.window_seconds, args.slide_seconds, args.warmup_windows)
    staging = args.output_dir / f".spark-staging-{run_folder_name(manifest.attempt_id)}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # spark.master, not sparkContext.master: a Spark Connect session has no SparkContext, and its server's
        # master decides who writes the staged parts (a local one writes here: it shares this file system).
        local = spark.conf.get("spark.master", "").startswith("local")

        def stage(name: str, output_topics: list[str], window) -> None:
            samples, counted = read_records(spark, manifest, output_topics, security)
            stage_csv(window(samples, *spec, *thresholds[name], dated=manifest.dated), staging / name, local)
            # toLocalIterator ends Spark's query before the rows are read, so its counts can be incomplete:
            # on a cluster the records are counted by a job of their own.
            counts = read_counts(counted, samples, output_topics) if local else count_records(samples, output_topics)
            read = check_counts(counts, manifest, output_topics)
            log.info("read %d records of %s for attempt %s, as many as were acknowledged",
                     read, ", ".join(output_topics), manifest.attempt_id)

        # The outputs read different topics: run as concurrent Spark jobs, one's single-task stages
        # (final sort, commit) leave a core to the other (bench/).
        with ThreadPoolExecutor(max_workers=len(plan), thread_name_prefix="output") as pool:
            done = [pool.submit(stage, name, output_topics, window) for name, _, output_topics, window in plan]
            for future in done:
                future.result()
        if not net_disk:
            # A stale NET/DISK file of an earlier run in this folder must not pass as this run's.
            (args.output_dir / NET_DISK_FILE).unlink(missing_ok=True)
            log.info("dataset has no net_in/net_out/disk_io: no %s", NET_DISK_FILE)
        for name, header, _, _ in plan:
            rows = concatenate_atomically(args.output_dir / name, csv_text(header, []), staged_parts(staging / name))
            log.info("wrote %d windows to %s", rows, args.output_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        manifest = Manifest.read(args.manifest)
        security = security_from_env(os.environ)
        java_security(security)
    except (ManifestError, UnsupportedSecurity) as exc:
        log.error("%s", exc)
        return 2
    spark = build_session()
    try:
        window_outputs(spark, args, manifest, security)
    except (RecordCountMismatch, ManifestError) as exc:
        log.error("%s: %s; nothing written", type(exc).__name__, exc)
        return 1
    finally:
        spark.stop()
    return 0


def warm_up(url: str, folder: Path) -> None:
    """A small job through the Spark Connect server at ``url`` along the replay job's own path (JSON parsing,
    both windowings, CSV lines written by the text writer, an Observation), writing under ``folder``: a fresh
    server's first job pays class loading, code generation and the JIT, which a person's first replay then
    does not. Run once the server is up (devtools/spark_connect.py)."""
    was_connect = CONNECT_MODE_ENV in os.environ
    spark = build_session("metrics_replay_warm_up", remote=url)
    try:
        values = [json.dumps({"server_id": f"server_{i % 3}", "event_time": f"2024-03-01T00:00:{i:02d}Z",
                              "cpu_pct": 10.0 + i, "mem_pct": 20.0 + i, "net_in": 100.0 * i, "disk_io": 10.0 * i})
                  for i in range(60)]
        records = spark.createDataFrame([(CPU_TOPIC, v.encode()) for v in values], "topic string, value binary")
        counted = Observation("warm_up")
        samples = parse_records(records, "topic").observe(counted, F.count_if(F.col("topic") == CPU_TOPIC).alias("n"))
        origin = 1709251200  # 2024-03-01T00:00:00Z
        for name, window in ((CPU_MEM_FILE, window_cpu_mem), (NET_DISK_FILE, window_net_disk)):
            csv_lines(window(samples, origin, dated=True)).write.mode("overwrite").text(str(folder / name))
        counted.get  # noqa: B018 -- the observation's metrics come back as the replay's do
    finally:
        spark.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if not was_connect:
            os.environ.pop(CONNECT_MODE_ENV, None)


def run_remote(url: str, argv: list[str], security: dict[str, str],
               opened: Callable[[SparkSession], object] | None = None) -> None:
    """The job through the Spark Connect server at ``url``, from this process: window_metrics with a Spark
    Connect connection (include.window_operator). ``argv`` are the job's arguments, as spark-submit would
    pass them; ``security`` the Kafka connection's settings, which go to the Kafka source's options only.
    Raises where main() would exit non-zero (ManifestError, UnsupportedSecurity, RecordCountMismatch).
    ``opened`` is given the session once it exists (the operator's on_kill interrupts it)."""
    args = parse_args(argv)
    manifest = Manifest.read(args.manifest)
    java_security(security)
    was_connect = CONNECT_MODE_ENV in os.environ
    started = time.monotonic()
    spark = build_session(remote=url)
    session_at = time.monotonic()
    try:
        if opened is not None:
            opened(spark)
        window_outputs(spark, args, manifest, security)
        log.info("done through Spark Connect: session opened in %.1f s, job in %.1f s", session_at - started,
                 time.monotonic() - session_at)
    finally:
        spark.stop()
        if not was_connect:
            # A Connect session switches the whole process's pyspark to Connect (is_remote() reads this variable);
            # undone so that a classic session later in this process (dag.test(), the tests) still works.
            os.environ.pop(CONNECT_MODE_ENV, None)


if __name__ == "__main__":
    sys.exit(main())
