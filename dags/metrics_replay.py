"""
### metrics_replay

Replays recorded server metrics through Kafka and Spark and checks the windowed result against
known-good output.

1. **check_broker**: the broker of the Kafka connection (`kafka_config_id`, default `kafka_default`) answers.
2. **ensure_topics**: topic-cpu, topic-mem, topic-net and topic-disk exist (created if missing, never recreated).
3. **produce_metrics**: the dataset is sent one timestamp group every `seconds_per_group` seconds; the
   offsets written are recorded in `<output_dir>/manifest.json`.
4. **window_metrics**: a Spark job reads exactly those records and writes `<output_dir>/cpu_mem.csv`
   (30 s windows sliding every 10 s, averages and threshold alerts) and, when the dataset has
   net_in/net_out/disk_io, `<output_dir>/net_disk.csv` (window maxima, flood and thrash alerts).
5. **validate_output**: both files are compared with `expected_path` / `expected_net_disk_path`; the result
   is in `<output_dir>/validation.json` and the task fails on any difference.
"""

from __future__ import annotations

import sys
from datetime import datetime

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, dag, task

from include.infra.kafka import SPARK_KAFKA_JARS
from include.paths import PROJECT_ROOT

SPARK_JOB = str(PROJECT_ROOT / "include" / "spark_job.py")
SPARK_LOG4J = PROJECT_ROOT / "include" / "infra" / "spark-log4j2.properties"


@dag(
    dag_id="metrics_replay",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["replay", "kafka", "spark"],
    params={
        "dataset_path": Param("data/metrics.csv", type="string", title="Dataset CSV",
                              description="server_id,timestamp,cpu_pct,mem_pct[,net_in,net_out,disk_io]; "
                                          "relative to the project root"),
        "expected_path": Param("data/metrics_expected.csv", type="string", title="Expected CPU/MEM CSV"),
        "expected_net_disk_path": Param("data/metrics_net_disk_expected.csv", type="string",
                                        title="Expected NET/DISK CSV",
                                        description="Used when the dataset has net_in/net_out/disk_io columns"),
        "output_dir": Param("", type="string", title="Output folder",
                            description="Empty: output/<run id>"),
        "seconds_per_group": Param(1.0, type="number", minimum=0, title="Seconds per timestamp group",
                                   description="Pace of the replay; 0 sends as fast as possible"),
        "cpu_threshold": Param(80.07, type="number", minimum=0, maximum=100, title="CPU alert threshold (%)"),
        "mem_threshold": Param(89.36, type="number", minimum=0, maximum=100, title="Memory alert threshold (%)"),
        "net_threshold": Param(6104.83, type="number", minimum=0, title="Network-in alert threshold"),
        "disk_threshold": Param(1839.94, type="number", minimum=0, title="Disk I/O alert threshold"),
        "window_seconds": Param(30, type="integer", minimum=1, title="Window length (s)"),
        "slide_seconds": Param(10, type="integer", minimum=1, title="Window slide (s)"),
        "warmup_windows": Param(2, type="integer", minimum=0, title="Leading windows dropped per server"),
        "partitions": Param(1, type="integer", minimum=1, title="Partitions of a created topic"),
        "replication": Param(1, type="integer", minimum=1, title="Replication factor of a created topic"),
        "kafka_conn_id": Param("kafka_default", type="string", title="Kafka connection id"),
    },
)
def metrics_replay():
    @task
    def check_broker(params: dict | None = None) -> dict:
        from include import replay

        return replay.check_broker(params["kafka_conn_id"])

    @task
    def ensure_topics(params: dict | None = None) -> dict:
        from include import replay

        return replay.ensure_topics(params["kafka_conn_id"], params["partitions"], params["replication"])

    @task
    def produce_metrics(params: dict | None = None, run_id: str | None = None) -> dict:
        from include import replay

        return replay.produce_metrics(params["kafka_conn_id"], params["dataset_path"], params["output_dir"],
                                      run_id, params["seconds_per_group"])

    window_metrics = SparkSubmitOperator(
        task_id="window_metrics",
        conn_id="spark_default",
        application=SPARK_JOB,
        name="metrics_replay_{{ run_id }}",
        jars=f"{SPARK_KAFKA_JARS}/*.jar",
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
              "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{SPARK_LOG4J}"},
        application_args=[
            "--manifest", "{{ ti.xcom_pull(task_ids='produce_metrics')['manifest'] }}",
            "--output-dir", "{{ ti.xcom_pull(task_ids='produce_metrics')['output_dir'] }}",
            "--window-seconds", "{{ params.window_seconds }}",
            "--slide-seconds", "{{ params.slide_seconds }}",
            "--warmup-windows", "{{ params.warmup_windows }}",
            "--cpu-threshold", "{{ params.cpu_threshold }}",
            "--mem-threshold", "{{ params.mem_threshold }}",
            "--net-threshold", "{{ params.net_threshold }}",
            "--disk-threshold", "{{ params.disk_threshold }}",
        ],
    )

    @task
    def validate_output(produced: dict, params: dict | None = None) -> dict:
        from include import replay

        return replay.validate_output(produced["output_dir"], params["expected_path"],
                                      params["expected_net_disk_path"])

    produced = produce_metrics()
    check_broker() >> ensure_topics() >> produced >> window_metrics
    window_metrics >> validate_output(produced=produced)


metrics_replay()
