"""
### metrics_replay

Replays recorded server metrics through Kafka and Spark and checks the windowed result against
known-good output.

Runs nightly at 02:00 (the default dataset at the recorded pace, one group per second) and whenever
triggered; trigger with params to replay another dataset, faster, or with other thresholds. Each run
writes to its own folder, `output/<run id>` unless `output_dir` is set.

1. **check_broker**: the params hold together (slide vs window, every dataset file exists and is allowed,
   recording_start is a date-time); the dataset is read whole, as `make check-dataset` reads it, and its
   summary logged (a bad row fails the run here, without retries, before anything touches Kafka); and the
   broker of the Kafka connection (`kafka_conn_id`, default `kafka_default`) answers.
2. **ensure_topics**: topic-cpu, topic-mem, topic-net, topic-disk and topic-alerts exist (created if missing,
   never recreated).
3. **choose_mode**: `mode` batch (the default) or live; scheduled runs take the Airflow Variable
   `metrics_replay_nightly_mode` when it is set.

Batch mode:

4. **produce_metrics**: the dataset is sent one timestamp group at a time: at `speed` x recorded time when
   `speed` is set (recorded gaps replayed as gaps), else one group every `seconds_per_group` seconds. Each
   record's Kafka timestamp is its event time (moved to start now under `time_shift` `now`); the offsets
   written, the event-time constants and the pace kept are recorded in `<output_dir>/manifest.json`, the
   send times in `send_log.json`. `late_fraction` of the samples can be sent up to `late_max_seconds` late.
5. **window_metrics**: a Spark job (spark-submitted, or run on the warm Spark Connect server when the Spark
   connection is one) reads exactly those records and writes `<output_dir>/cpu_mem.csv`
   (30 s windows sliding every 10 s, averages and threshold alerts) and, when the dataset has
   net_in/net_out/disk_io, `<output_dir>/net_disk.csv` (window maxima, flood and thrash alerts).

Live mode (the same outputs, from a Spark Structured Streaming job that reads while the producer sends):

4. **start_stream**: a new session: the topics' end offsets, then the streaming job, started; the task ends
   when the job is reading.
5. **produce_metrics_live**: as produce_metrics, then end-of-replay markers that close the last windows.
6. **window_metrics_live**: follows the job. Each window is final once the watermark (`watermark_seconds`)
   has passed it; alerting rows go to topic-alerts and `<output_dir>/alerts.jsonl` as they become final.
   The job writes cpu_mem.csv and net_disk.csv when every acknowledged record is read and every window final.
   A killed job is resumed from its checkpoints by this task's retry.

Then **validate_output**: both files are compared with `expected_path` / `expected_net_disk_path` (numbers
exactly, or within the absolute `tolerance`, such windows counted apart); the
result is in `<output_dir>/validation.json` (with alert latency and the late-data verdict in live mode), a
readable `<output_dir>/report.html` (with plots) and XCom, and the task fails on any difference. The
"Replay validation" page lists every run's result.

When validation fails on a manual run, **review_output** waits up to `review_minutes` (default 60; 0 = no
review; scheduled runs are never reviewed) for a reviewer under *Required actions*: **Approve** (with a
comment) runs **bless_output**, which makes this run's output the new expected output (each failed part's
expected file replaced atomically, the previous one kept as `<name>.v<N>.csv`, an audit record appended to
`<name>.csv.history.jsonl`); **Reject**, or no answer in time, changes nothing. A passed validation skips both
at once. **keep_verdict** ends the run:
it stays failed whenever validation failed, whatever the review decided.

A run that fails (any task, after its retries) or fails validation sends a notice, and so does a run that passes
after a failed one ("recovered"): by e-mail through the connection `replay_email` and as a JSON POST through
`replay_webhook`, each only when its connection exists (README, Notices).
"""

from __future__ import annotations

import sys
from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, CronTriggerTimetable, TriggerRule, dag, task

from include.contract import MODE_LIVE
from include.notices import ReplayNotifier

from include.params import replay_params
from include.review import ReviewOperator
from include.spark_submit import SPARK_JOB, SPARK_KAFKA_JARS, submit_conf
from include.window_operator import WindowMetricsOperator


def pass_kafka_security(context) -> None:
    """window_metrics' pre_execute: the Kafka connection's SASL/SSL settings reach the Spark job in its
    environment, never on its command line (which `ps` shows and the task log prints)."""
    from include import replay, topics

    task = context["task"]
    config = replay.kafka_config(context["params"]["kafka_conn_id"])
    task.env_vars = {**(task.env_vars or {}), **topics.security_env(config)}


# The Spark connection window_metrics submits through (local[*] under `make run`, a cluster in compose) or, when
# it is of the Spark Connect type (`make up`), runs its job through.
SPARK_CONN_ID = "spark_default"
REVIEW_TASK, BLESS_TASK = "review_output", "bless_output"

# The validated output: other DAGs can be scheduled on it (an event per successful validation).
VALIDATED_OUTPUT = Asset(name="metrics_replay_validated_output", uri="file:///metrics-replay/validated-output")


@dag(
    dag_id="metrics_replay",
    doc_md=__doc__,
    # Nightly replay of the recorded day at the seed's pace; trigger by hand any time with other params.
    # No start_date, and no grace period: the first scheduled run is the next 02:00 after deployment. (With
    # run_immediately=False Airflow still runs the last 02:00 at once if it is less than 2.4 h ago, which
    # would hold a 24-minute paced replay in front of the first manual trigger.)
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    is_paused_upon_creation=False,  # the nightly replay runs once the DAG is deployed
    max_active_runs=1,  # one replay at a time: runs share the broker's topics and the local Spark
    default_args={
        "owner": "metrics-replay",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
        # A notice (connections replay_email, replay_webhook) when a task has failed its last try: one per failed
        # run, since every task after it is upstream_failed. include/notices.py.
        "on_failure_callback": ReplayNotifier(on="failure"),
    },
    tags=["replay", "kafka", "spark", "validation"],
    params=replay_params(),
)
def metrics_replay():
    @task
    def check_broker(params: dict | None = None) -> dict:
        from include import replay

        return replay.check_broker(params["kafka_conn_id"], params)

    @task
    def ensure_topics(params: dict | None = None) -> dict:
        from include import replay

        return replay.ensure_topics(params["kafka_conn_id"], params["partitions"], params["replication"])

    @task.branch
    def choose_mode(params: dict | None = None, dag_run=None, ti=None) -> str:
        from include import replay

        mode = replay.choose_mode(params, scheduled=dag_run.run_type == "scheduled")
        ti.xcom_push("mode", mode)  # for validate_output (the Variable may change while the run goes on)
        return "start_stream" if mode == MODE_LIVE else "produce_metrics"

    @task
    def produce_metrics(params: dict | None = None, run_id: str | None = None) -> dict:
        from include import replay

        return replay.produce_metrics(params["kafka_conn_id"], params["dataset_path"], params["output_dir"],
                                      run_id, params["seconds_per_group"], speed=params["speed"],
                                      recording_start=params["recording_start"], time_shift=params["time_shift"],
                                      late_fraction=params["late_fraction"],
                                      late_max_seconds=params["late_max_seconds"], late_seed=params["late_seed"])

    # spark-submit, or the same job through a warm Spark when spark_default is a Spark Connect connection.
    window_metrics = WindowMetricsOperator(
        task_id="window_metrics",
        conn_id=SPARK_CONN_ID,
        application=str(SPARK_JOB),
        name="metrics_replay_{{ run_id }}",
        jars=f"{SPARK_KAFKA_JARS}/*.jar",
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
        pre_execute=pass_kafka_security,
        conf=submit_conf(),
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

    # Live mode. A retry of start_stream opens a new session; the producer is never retried within one (its
    # records would mix with a failed attempt's); window_metrics_live's retry resumes a killed job.
    @task(retries=0)
    def start_stream(params: dict | None = None, run_id: str | None = None) -> dict:
        from include import replay

        return replay.start_stream(params["kafka_conn_id"], SPARK_CONN_ID, params, run_id)

    @task(retries=0)
    def produce_metrics_live(params: dict | None = None, run_id: str | None = None) -> dict:
        from include import replay

        return replay.produce_metrics_live(params["kafka_conn_id"], params, run_id)

    @task(retry_delay=timedelta(seconds=5), retry_exponential_backoff=False)
    def window_metrics_live(params: dict | None = None, run_id: str | None = None) -> dict:
        from include import replay

        return replay.window_metrics_live(params["kafka_conn_id"], SPARK_CONN_ID, params, run_id)

    # A difference is not transient: no retries. The summary reaches XCom (key "validation_summary") on
    # success and on failure. It runs after whichever path ran.
    # Its success is the run's: a "recovered" notice when the run before failed.
    @task(retries=0, outlets=[VALIDATED_OUTPUT], trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
          on_success_callback=ReplayNotifier(on="success"))
    def validate_output(params: dict | None = None, run_id: str | None = None, dag_run=None, ti=None,
                        task=None) -> dict:
        from include import replay, review
        from include.paths import output_dir_for

        summary = replay.validate_output(str(output_dir_for(params["output_dir"], run_id)), params["expected_path"],
                                      params["expected_net_disk_path"], run_id, params["cpu_threshold"],
                                      params["mem_threshold"], run_started=dag_run.start_date,
                                      publish=lambda s: ti.xcom_push("validation_summary", s),
                                      mode=ti.xcom_pull(task_ids="choose_mode", key="mode"),
                                      watermark_seconds=params["watermark_seconds"],
                                      window_seconds=params["window_seconds"],
                                      allow_late_drops=params["allow_late_drops"],
                                      tolerance=params["tolerance"], dataset_path=params["dataset_path"])
        return review.pass_without_review(ti, task, summary, [REVIEW_TASK, BLESS_TASK])  # passed: no review

    # A failed validation of a manual run waits up to review_minutes for a reviewer (Required actions in the UI);
    # include/review.py says when it is offered. Approve runs bless_output; Reject or no answer skips it.
    review_output = ReviewOperator(task_id=REVIEW_TASK, validate_task_id="validate_output",
                                   trigger_rule=TriggerRule.ALL_FAILED)

    # A person's decision, carried out once; the log says what was replaced before a failure.
    @task(task_id=BLESS_TASK, retries=0)
    def bless_output(params: dict | None = None, run_id: str | None = None, ti=None) -> list[dict]:
        from include import replay

        return replay.bless_output(params, run_id, ti.xcom_pull(task_ids="review_output"))

    # The run's only leaf: it fails (upstream_failed) whenever validate_output did, so a run whose validation
    # failed stays failed whatever the review decided, and it waits for the review and the blessing to end.
    keep_verdict = EmptyOperator(task_id="keep_verdict", trigger_rule=TriggerRule.NONE_FAILED)

    mode = choose_mode()
    check_broker() >> ensure_topics() >> mode
    validated = validate_output()
    mode >> produce_metrics() >> window_metrics >> validated
    mode >> start_stream() >> produce_metrics_live() >> window_metrics_live() >> validated
    validated >> review_output >> bless_output() >> keep_verdict
    validated >> keep_verdict

metrics_replay()
