"""Spark start-up alone: the job's own session, one trivial action, stop (the bench's start-up baseline)."""

from __future__ import annotations

from include.spark_job import build_session

if __name__ == "__main__":
    spark = build_session("metrics_replay_startup")
    assert spark.range(1).count() == 1
    spark.stop()
