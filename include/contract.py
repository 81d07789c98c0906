"""The output contract, written once: topics, message headers, file names, CSV headers, alert texts and the
defaults of the window maths and thresholds.

The params, the producer, the Spark job, the validator, the reports, the CLI, the reference implementation
and the bench all take these from here. Changing one changes what every expected file means.
"""

from __future__ import annotations

import argparse

# One topic per metric, as in the seed.
CPU_TOPIC = "topic-cpu"
MEM_TOPIC = "topic-mem"
NET_TOPIC = "topic-net"
DISK_TOPIC = "topic-disk"
TOPICS = (CPU_TOPIC, MEM_TOPIC, NET_TOPIC, DISK_TOPIC)
# Live mode publishes each alerting window here as the streaming job finalises it (JSON, key server_id).
ALERTS_TOPIC = "topic-alerts"
# Which dataset fields each topic's messages carry.
# A message value's string fields, in the order the producer writes them, before the topic's metrics
# (TOPIC_FIELDS): {"timestamp": "05:47:30", "original_ts": "20:52:00", "event_time": "2024-03-30T20:52:00Z",
# "server_id": "server_1", "cpu_pct": 87.78}. timestamp is the send time, original_ts the dataset's own text.
PRODUCED_STRINGS = ("timestamp", "original_ts", "event_time", "server_id")
SEND_TS, ORIGINAL_TS, EVENT_TIME, SERVER_ID = PRODUCED_STRINGS
TOPIC_FIELDS: dict[str, tuple[str, ...]] = {
    CPU_TOPIC: ("cpu_pct",),
    MEM_TOPIC: ("mem_pct",),
    NET_TOPIC: ("net_in", "net_out"),
    DISK_TOPIC: ("disk_io",),
}

# Message headers: the Airflow run id (for people reading the topics) and one produce attempt of that run
# (what the Spark job filters on).
RUN_HEADER = "replay-run"
ATTEMPT_HEADER = "replay-attempt"
# Live mode's end-of-replay marker records carry this header (value "1"): their event time moves the streaming
# job's watermark past the last window, and they hold no metric.
END_HEADER = "replay-end"

# mode (param): batch windows after everything was sent (spark-submit); live runs a Structured Streaming job
# that reads while the producer sends, with a watermark, and publishes alerts as windows become final.
MODE_BATCH = "batch"
MODE_LIVE = "live"
MODES = (MODE_BATCH, MODE_LIVE)
# Live mode: how far (event-time seconds) records may come behind the latest one and still count.
WATERMARK_SECONDS = 10
# The Airflow Variable that switches scheduled (nightly) runs to live mode: "live" or "batch" (the default).
NIGHTLY_MODE_VARIABLE = "metrics_replay_nightly_mode"

# time_shift (param): records keep their recorded event time, or all move by one constant so the first group's
# event time is the moment the replay started (the manifest's time_shift_seconds).
TIME_SHIFT_NONE = "none"
TIME_SHIFT_NOW = "now"
TIME_SHIFTS = (TIME_SHIFT_NONE, TIME_SHIFT_NOW)

# Where the Replay validation page (plugins/replay_validation.py) is mounted in Airflow's API server; a run's
# report is at <prefix>/report_route(...) (the page, the notices and the review step link to it).
REPLAY_VALIDATION_URL_PREFIX = "/replay-validation"


def report_route(folder: str, root: int = 0) -> str:
    """A run's report, relative to the Replay validation page: by the run folder's name and the number of the
    output root it lies in (METRICS_REPLAY_OUTPUT_ROOTS, in order; include.paths.output_root_of)."""
    from urllib.parse import quote

    return f"runs/{quote(folder, safe='')}/report" + (f"?root={root}" if root else "")

# Files of one run's output folder.
MANIFEST_FILE = "manifest.json"
CPU_MEM_FILE = "cpu_mem.csv"
NET_DISK_FILE = "net_disk.csv"
VALIDATION_FILE = "validation.json"
REPORT_FILE = "report.html"
# Live mode: one JSON line per alerting row of each output, as published to ALERTS_TOPIC.
ALERTS_FILE = "alerts.jsonl"
# The producer's send times (per group, late samples, end marker): what alert latency is measured against.
SEND_LOG_FILE = "send_log.json"
# Live mode: the streaming job's own record (reading since, batches, rows dropped by the watermark).
STREAM_FILE = "stream.json"
# Live mode's working folder in the output folder (checkpoints, staged windows, status); not an output.
LIVE_DIR = ".live"
# validation.json's key for the alert latency figures of a live run.
LATENCY_KEY = "alert_latency"

# The two outputs' columns; rows are matched on KEY_COLUMNS.
CPU_MEM_HEADER = ("server_id", "window_start", "window_end", "avg_cpu", "avg_mem", "alert")
NET_DISK_HEADER = ("server_id", "window_start", "window_end", "max_net_in", "max_disk_io", "alert")
KEY_COLUMNS = ("server_id", "window_start", "window_end")
CPU_MEM_NUMERIC = ("avg_cpu", "avg_mem")
NET_DISK_NUMERIC = ("max_net_in", "max_disk_io")

# Alert texts, as the seed wrote them.
ALERT_BOTH = "CPU and Memory spike"
ALERT_MEM = "Memory saturation suspected"
ALERT_CPU = "CPU spike suspected"
ALERT_NET_DISK = "Network flood + Disk thrash suspected"
ALERT_NET = "Possible DDoS"
ALERT_DISK = "Disk thrash suspected"

# Windows: 30 s long, a new one every 10 s, the first two (partial) per server dropped.
WINDOW_SECONDS = 30
SLIDE_SECONDS = 10
WARMUP_WINDOWS = 2

# review_minutes (param): how long a manual run whose validation failed waits for a reviewer to bless its output
# (include.review); 0 = no review. Bounded: a waiting run holds back every later run (max_active_runs=1).
REVIEW_MINUTES = 60
REVIEW_MINUTES_MAX = 24 * 60

# Alert thresholds: a window alerts when its value is at or above the threshold.
CPU_THRESHOLD = 80.07  # avg_cpu, %
MEM_THRESHOLD = 89.36  # avg_mem, %
NET_THRESHOLD = 6104.83  # max_net_in
DISK_THRESHOLD = 1839.94  # max_disk_io


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    """The window and threshold options, with the contract's defaults, of every command line that windows
    (the Spark job's and the reference's)."""
    parser.add_argument("--window-seconds", type=int, default=WINDOW_SECONDS)
    parser.add_argument("--slide-seconds", type=int, default=SLIDE_SECONDS)
    parser.add_argument("--warmup-windows", type=int, default=WARMUP_WINDOWS)
    parser.add_argument("--cpu-threshold", type=float, default=CPU_THRESHOLD)
    parser.add_argument("--mem-threshold", type=float, default=MEM_THRESHOLD)
    parser.add_argument("--net-threshold", type=float, default=NET_THRESHOLD)
    parser.add_argument("--disk-threshold", type=float, default=DISK_THRESHOLD)
