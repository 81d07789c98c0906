"""The Spark job submitted as the DAG's window_metrics task submits it, timed, with the driver's peak RSS."""

from __future__ import annotations

from pathlib import Path

from bench.common import Measured, child_env, run_measured
from include.spark_submit import SPARK_JOB, SPARK_KAFKA_JARS, submit_conf
from include.paths import PROJECT_ROOT

NOOP = PROJECT_ROOT / "bench" / "spark_noop.py"


def submit_command(application: Path, args: list[str], name: str) -> list[str]:
    """spark-submit with the same conf, jars and master as dags/metrics_replay.py's SparkSubmitOperator."""
    jars = ",".join(str(p) for p in sorted(SPARK_KAFKA_JARS.glob("*.jar")))
    conf = [arg for k, v in submit_conf().items() for arg in ("--conf", f"{k}={v}")]
    return ["spark-submit", "--master", "local[*]", *conf, "--jars", jars, "--name", name, str(application), *args]


def driver_peak(m: Measured) -> dict[str, int]:
    """The driver is the SparkSubmit JVM plus the PySpark Python that drives it (local mode: one of each)."""
    jvm, py = m.peak_of("java"), m.peak_of("python")
    return {"jvm": jvm, "python": py, "total": jvm + py}


def run_job(manifest: Path, output_dir: Path) -> Measured:
    cmd = submit_command(SPARK_JOB, ["--manifest", str(manifest), "--output-dir", str(output_dir)], "bench_window")
    return run_measured(cmd, env=child_env()).check(f"spark job on {manifest}")


def run_noop() -> Measured:
    return run_measured(submit_command(NOOP, [], "bench_startup"), env=child_env()).check("spark start-up run")
