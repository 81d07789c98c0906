"""window_metrics' operator: spark-submit of include/spark_job.py, or the same job through a warm Spark.

The Spark connection decides. A ``spark`` connection (local[*], a standalone master...) is submitted as the
Spark provider's SparkSubmitOperator submits it. A ``spark_connect`` connection (include.spark_connect) runs the
job from the task through that Spark Connect server, with the same arguments (``application_args``) and the
same Kafka security hand-off (``env_vars``, filled by the DAG's pre_execute), so the outputs are the same bytes
and no Spark starts for the run.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator


class WindowMetricsOperator(SparkSubmitOperator):
    """SparkSubmitOperator that runs its job through a Spark Connect server when ``conn_id`` is of that type."""

    def __init__(self, *, conn_id: str, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.spark_conn_id = conn_id
        self.connect_session: Any = None  # the Spark Connect session while the job runs through one

    def execute(self, context: Any) -> None:
        from include import spark_connect

        url = spark_connect.remote_url(self.spark_conn_id)
        if url is None:
            return super().execute(context)
        host, port = spark_connect.check_reachable(url, self.spark_conn_id)
        from include import spark_job

        self.log.info("Running %s through the Spark Connect server of connection '%s' at %s:%d (no spark-submit)",
                      self.application, self.spark_conn_id, host, port)
        security = spark_job.security_from_env(self.env_vars or {})
        try:
            spark_job.run_remote(url, [str(arg) for arg in self.application_args or []], security,
                                 opened=self._opened)
        finally:
            self.connect_session = None
        return None

    def _opened(self, session: Any) -> None:
        self.connect_session = session

    def on_kill(self) -> None:
        """A killed task stops its job on the server too (else it would run on, and a retry would meet it)."""
        session = self.connect_session
        if session is None:
            return super().on_kill()
        self.log.info("Interrupting the job on the Spark Connect server of connection '%s'", self.spark_conn_id)
        session.interruptAll()
        return None
