"""The DAG's params: what each means (for the trigger form), its bounds, and the checks that span params.

Airflow validates each Param's JSON schema when a run is created (types, bounds, enums), so a negative
pace or a zero window is refused at trigger time. What one schema cannot see (slide against window,
whether the dataset file exists, whether a path stays inside its allowed folders) is checked by ``check``
at the very start of the first task, before anything touches Kafka.
"""

from __future__ import annotations

from airflow.sdk import Param

from include import contract as c
from include.paths import PathNotAllowed, confined


class ParamError(ValueError):
    """A param value, or a combination of them, that cannot make a replay; the message names the param."""


def replay_params() -> dict[str, Param]:
    return {
        "dataset_path": Param(
            "data/metrics.csv", type="string", minLength=1, title="Dataset CSV",
            description="Recorded metrics: server_id,timestamp,cpu_pct,mem_pct[,net_in,net_out,disk_io]. "
                        "Relative paths are relative to the project root."),
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
                        "0 sends as fast as possible."),
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
    try:
        for name in ("dataset_path", "expected_path", "expected_net_disk_path"):
            if name == "expected_net_disk_path" and not params.get(name):
                continue  # optional: only needed for a dataset with NET/DISK columns
            path = confined(params[name], name, "data")
            if not path.is_file():
                raise ParamError(f"{name}: no such file {path}")
        if params.get("output_dir"):
            confined(params["output_dir"], "output_dir", "output")
    except PathNotAllowed as exc:
        raise ParamError(str(exc)) from None
