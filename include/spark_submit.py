"""How window_metrics submits the Spark job: one home for the settings the DAG, the bench and the tests use.

Tuned for small local jobs on a 2-core machine (bench/ measures them): no UI, 4 shuffle partitions instead
of 200, the parallel garbage collector (G1's concurrent threads compete with the 2 task threads), and a
768 MiB driver heap, which runs the 100x day (nothing is cached: each output reads its records once) and
keeps the driver's RSS under 1.5 GiB.
Half of that heap is the young generation (NewRatio=1, a third by default): the read stages make short-lived
garbage at every record (Kafka fetches, JSON values, window rows), and at 100x with the default split the
collector took 149 s of those stages' 496 s task time, 62 s of 242 s with this one, the same job on the same
broker, byte-identical (with the job's smaller Kafka fetches, include/spark_job.py).
"""

from __future__ import annotations

from include.paths import PROJECT_ROOT

SPARK_JOB = PROJECT_ROOT / "include" / "spark_job.py"
SPARK_LOG4J = PROJECT_ROOT / "include" / "spark-log4j2.properties"
# The spark-sql-kafka connector and the jars it needs beyond pyspark's own, as `make jars` (and the image's
# build) copy them from include/spark-kafka-pom.xml.
SPARK_KAFKA_JARS = PROJECT_ROOT / ".cache" / "jars" / "spark-kafka"
DRIVER_MEMORY = "768m"


def submit_conf() -> dict[str, str]:
    """``--conf`` settings of the job's spark-submit."""
    return {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{SPARK_LOG4J} -XX:+UseParallelGC "
                                         "-XX:NewRatio=1",
    }
