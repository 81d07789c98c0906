"""Metrics replay: the code behind the metrics_replay DAG, its CLI and its tests."""
