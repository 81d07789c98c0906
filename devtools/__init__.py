"""Local-development tooling: launchers for a KRaft broker, a Spark standalone cluster and an Airflow home,
the command line behind the Makefile, the reference implementation (the yardstick) and the dataset generator.

Nothing here is needed at run time: the DAG, the plugin and the Spark job import only ``include``.
"""
