"""The DAG's params: what each means (for the trigger form), its bounds, and the checks that span params.

Airflow validates each Param's JSON schema when a run is created (types, bounds, enums), so a negative
pace or a zero window is refused at trigger time. What one schema cannot see (slide against window,
whether the dataset files exist, whether a path stays inside its allowed folders, whether recording_start
is a date-time) is checked by ``check`` at the very start of the first task, before anything touches Kafka.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Param

from include import contract as c
from include.paths import PathNotAllowed, confined, resolve


class ParamError(ValueError):
    """A param value, or a combination of them, that cannot make a replay; the message names the param."""


def replay_params() -> dict[str, Param]:
    return {
        "dataset_path": Param(
            "data/metrics.csv", type="string", minLength=1, title="Dataset CSV (file, folder or glob)",
            description="Recorded metrics: columns server_id,timestamp,cpu_pct,mem_pct[,net_in,net_out,disk_io] "
                        "named in the header, in any order (other columns are ignored and reported); "
                        "timestamp HH:MM:SS or YYYY-MM-DD HH:MM:SS (Z or +HH:MM allowed). Plain .csv or "
                        ".csv.gz/.csv.bz2/.csv.xz/.csv.zst. A folder (its *.csv files, compressed too) or a glob "
                        "such as data/recordings/*.csv merges several files of one form. Relative paths are "
                        "relative to the project root."),
        "expected_path": Param(
            "data/metrics_expected.csv", type="string", minLength=1, title="Expected CPU/MEM output",
            description="Known-good cpu_mem.csv to validate against."),
        "expected_net_disk_path": Param(
            "data/metrics_net_disk_expected.csv", type=["null", "string"], title="Expected NET/DISK output",
            description="Known-good net_disk.csv; used when the dataset has net_in/net_out/disk_io columns."),
        "output_dir": Param(
            None, type=["null", "string"], title="Output folder",
            description="Where manifest.json, cpu_mem.csv, net_disk.csv, validation.json and report.html go. "
                        "Empty: output/<run id>, a folder of its own per run."),
        "seconds_per_group": Param(
            1.0, type="number", minimum=0, maximum=3600, title="Seconds per timestamp group",
            description="Replay pace: one timestamp group every this many seconds (1.0 as recorded by the seed); "
                        "0 sends as fast as possible. Ignored when speed is set."),
        "speed": Param(
            None, type=["null", "number"], minimum=0, maximum=1_000_000, title="Speed (x recorded time)",
            description="The replay runs at speed x recorded time: the wait between two timestamp groups is "
                        "their recorded gap divided by speed, so gaps are replayed as gaps (1 = as recorded, "
                        "60 = an hour a minute); 0 = as fast as possible. When set it wins over "
                        "seconds_per_group; empty: seconds_per_group sets the pace."),
        "recording_start": Param(
            None, type=["null", "string"], title="Recording start (time-of-day datasets)",
            description="ISO date-time such as 2024-03-01T20:52:00 (Z or +HH:MM allowed; UTC without) for a "
                        "dataset of HH:MM:SS times: a time at or after its time of day lies on its date, an "
                        "earlier one on the next day, so a recording may cross midnight. It also dates the "
                        "events sent. Empty: the file is one day, dated the day the replay runs. Leave it "
                        "empty for a dated dataset."),
        "time_shift": Param(
            c.TIME_SHIFT_NONE, type="string", enum=list(c.TIME_SHIFTS), title="Time shift",
            description="none: records carry their recorded event time (Kafka timestamp and event_time). "
                        "now: every event time moves by one constant so the first group's is the moment the "
                        "replay starts, for consumers that treat the data as live. Windows and outputs are "
                        "computed in recorded time either way."),
        "mode": Param(
            c.MODE_BATCH, type="string", enum=list(c.MODES), title="Mode",
            description="batch: the Spark job windows the replay after everything was sent (spark-submit). "
                        "live: a Spark Structured Streaming job reads while the producer sends, with a "
                        "watermark, publishes each alert to topic-alerts (and alerts.jsonl) as its window "
                        "becomes final, and alert latency is measured. Both write the same cpu_mem.csv and "
                        "net_disk.csv. Scheduled runs take the Airflow Variable "
                        f"{c.NIGHTLY_MODE_VARIABLE} (batch or live) when it is set."),
        "watermark_seconds": Param(
            c.WATERMARK_SECONDS, type="integer", minimum=0, maximum=86400, title="Watermark (s, live mode)",
            description="Live mode: a window is final once a record at least this many event-time seconds "
                        "past its end has been read; records further behind than this may be dropped."),
        "late_fraction": Param(
            0.0, type="number", minimum=0, maximum=1, title="Late fraction",
            description="Share of the samples (0 to 1) held back and sent up to late_max_seconds of recorded "
                        "time after their group, out of order; the rest keep the schedule."),
        "late_max_seconds": Param(
            0, type="integer", minimum=0, maximum=86400, title="Late by at most (recorded s)",
            description="How far (recorded seconds) a held-back sample may be sent after its group. At or "
                        "below watermark_seconds a live run's output is unchanged."),
        "late_seed": Param(0, type="integer", minimum=0, title="Late seed",
                           description="Seed of the choice of late samples and their delays (reproducible)."),
        "allow_late_drops": Param(
            False, type="boolean", title="Allow late drops",
            description="Live mode: pass when every difference from the expected output is explained by a "
                        "sample sent later than the watermark allows. Off: any difference fails."),
        "tolerance": Param(
            0.0, type="number", minimum=0, title="Tolerance (absolute, numeric columns)",
            description="Validation: a number of the output (avg_cpu, avg_mem, max_net_in, max_disk_io) may differ "
                        "from the expected one by at most this much and still pass; such windows are counted "
                        "apart in validation.json and shown in the report, never hidden. Alert texts must always "
                        "match. 0: exact, as the files are written (two decimals)."),
        "cpu_threshold": Param(c.CPU_THRESHOLD, type="number", minimum=0, maximum=100, title="CPU alert threshold (%)",
                               description="A window alerts when avg_cpu >= this."),
        "mem_threshold": Param(c.MEM_THRESHOLD, type="number", minimum=0, maximum=100, title="Memory alert threshold (%)",
                               description="A window alerts when avg_mem >= this."),
        "net_threshold": Param(c.NET_THRESHOLD, type="number", minimum=0, title="Network-in alert threshold",
                               description="A window alerts when max_net_in >= this."),
        "disk_threshold": Param(c.DISK_THRESHOLD, type="number", minimum=0, title="Disk I/O alert threshold",
                                description="A window alerts when max_disk_io >= this."),
        "window_seconds": Param(c.WINDOW_SECONDS, type="integer", minimum=1, maximum=86400, title="Window length (s)",
                                description="Length of each sliding window; a multiple of the slide."),
        "slide_seconds": Param(c.SLIDE_SECONDS, type="integer", minimum=1, maximum=86400, title="Window slide (s)",
                               description="A new window starts every this many seconds; at most the window."),
        "warmup_windows": Param(c.WARMUP_WINDOWS, type="integer", minimum=0, maximum=1000, title="Warm-up windows",
                                description="Leading (partial) windows dropped per server."),
        "partitions": Param(1, type="integer", minimum=1, maximum=1000, title="Partitions",
                            description="Partitions of a topic that ensure_topics creates (existing topics "
                                        "are left as they are)."),
        "replication": Param(1, type="integer", minimum=1, maximum=10, title="Replication factor",
                             description="Replication factor of a topic that ensure_topics creates."),
        "review_minutes": Param(
            c.REVIEW_MINUTES, type="integer", minimum=0, maximum=c.REVIEW_MINUTES_MAX,
            title="Review a failed validation (minutes)",
            description="When validation fails on a manual run, wait this long for a reviewer to approve, under "
                        "Required actions, making this run's output the new expected output (the old file is "
                        "kept as a version, the approval recorded); no answer in time is a rejection. 0: no "
                        "review. Scheduled runs are never reviewed; make run uses 0."),
        "kafka_conn_id": Param("kafka_default", type="string", minLength=1, title="Kafka connection id",
                               description="Airflow connection of type kafka; its extra holds bootstrap.servers."),
    }


def check(params: dict) -> None:
    """Refuse combinations no single param schema can catch; ParamError names the param."""
    window, slide = params["window_seconds"], params["slide_seconds"]
    if slide > window:
        raise ParamError(f"slide_seconds ({slide}) is larger than window_seconds ({window})")
    if window % slide:
        raise ParamError(f"window_seconds ({window}) is not a multiple of slide_seconds ({slide})")
    if params["seconds_per_group"] < 0:
        raise ParamError(f"seconds_per_group ({params['seconds_per_group']}) is negative")
    speed = params.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0):
        raise ParamError(f"speed ({speed!r}) is not a number >= 0 (empty: seconds_per_group sets the pace)")
    if params.get("time_shift", c.TIME_SHIFT_NONE) not in c.TIME_SHIFTS:
        raise ParamError(f"time_shift ({params['time_shift']!r}) is not one of {', '.join(c.TIME_SHIFTS)}")
    if params.get("mode", c.MODE_BATCH) not in c.MODES:
        raise ParamError(f"mode ({params['mode']!r}) is not one of {', '.join(c.MODES)}")
    tolerance = params.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < float("inf"):
        raise ParamError(f"tolerance ({tolerance!r}) is not a number >= 0 (0: exact)")
    fraction = params.get("late_fraction", 0.0)
    if not 0 <= fraction <= 1:
        raise ParamError(f"late_fraction ({fraction}) is not between 0 and 1")
    if fraction > 0 and params.get("late_max_seconds", 0) < 1:
        raise ParamError(f"late_fraction ({fraction}) holds samples back, but late_max_seconds is "
                         f"{params.get('late_max_seconds', 0)}: give how late (recorded seconds, at least 1)")
    from include import dataset  # numpy: not at import, the DAG file imports this module at parse time

    try:
        dataset.parse_recording_start(params.get("recording_start"))
    except ValueError as exc:
        raise ParamError(str(exc)) from None  # the message starts with "recording_start:"
    try:
        dataset_files(params["dataset_path"])
        for name in ("expected_path", "expected_net_disk_path"):
            if name == "expected_net_disk_path" and not params.get(name):
                continue  # optional: only needed for a dataset with NET/DISK columns
            path = confined(params[name], name, "data")
            if not path.is_file():
                raise ParamError(f"{name}: no such file {path}")
        if params.get("output_dir"):
            confined(params["output_dir"], "output_dir", "output")
    except PathNotAllowed as exc:
        raise ParamError(str(exc)) from None


def dataset_files(dataset_path: str) -> list[Path]:
    """The files ``dataset_path`` (a file, folder or glob) names, each confined to the data roots.

    ParamError names dataset_path for a missing file or a folder/glob without files; PathNotAllowed for a
    file outside the roots (a folder may hold a symlink to elsewhere, so each file is checked, not only the
    folder)."""
    from include import dataset

    try:
        confined(dataset_path, "dataset_path", "data")
        files = [confined(f, "dataset_path", "data") for f in dataset.resolve_files(dataset_path, resolve)]
    except dataset.DatasetError as exc:
        raise ParamError(f"dataset_path: {exc}") from None
    for path in files:
        if not path.is_file():
            raise ParamError(f"dataset_path: no such file {path}")
    return files
