"""
### metrics_alerts

Logs the alerts a live replay publishes, as they come: the place where a team hooks its paging.

Scheduled on the asset `metrics_replay_alerts`, which an AssetWatcher keeps up to date (Airflow 3 event-driven
scheduling): the triggerer runs the Kafka provider's message-queue trigger on `topic-alerts` through the
connection `kafka_default` (the replay's; its extra needs a `group.id`, the consumer group whose committed
offsets say which alerts were seen). Each message becomes one asset event, and the scheduler starts a run for
the events that came since the last one: a run is a batch of alerts.

1. **log_alerts**: one line per alert of the run: the alert, server, output, window, values, the replay run
   that raised it and when it was emitted. Page from here (see `include.alerts.log_alerts`).

A message on `topic-alerts` that is no alert is logged by the triggerer (topic, partition, offset, why) and
skipped; it never stops the watcher.
"""

from __future__ import annotations

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher, dag, task

from include.contract import ALERTS_TOPIC

KAFKA_CONN_ID = "kafka_default"

# The message-queue trigger hands scheme "kafka" to the Kafka provider's AwaitMessageTrigger: it polls the
# topic, calls the apply_function on each message and fires one event per message whose result is not empty.
# poll_interval is its pause after a message the function refused (it defaults to 5 s).
ALERTS_TRIGGER = MessageQueueTrigger(
    scheme="kafka",
    topics=[ALERTS_TOPIC],
    kafka_config_id=KAFKA_CONN_ID,
    apply_function="include.alerts.queue_event",
    poll_timeout=1,
    poll_interval=1,
)
ALERTS = Asset(name="metrics_replay_alerts", watchers=[AssetWatcher(name="topic_alerts", trigger=ALERTS_TRIGGER)])


@dag(
    dag_id="metrics_alerts",
    doc_md=__doc__,
    schedule=[ALERTS],
    catchup=False,
    # Airflow watches an asset only for unpaused DAGs: alerts are followed as soon as the DAG is deployed.
    is_paused_upon_creation=False,
    # No max_active_runs=1: at the cap, Airflow 3.3 gives the next run only the first queued event and leaves
    # the later ones until yet another alert comes (apache/airflow#56050).
    default_args={"owner": "metrics-replay", "retries": 2},  # a paging hook may meet a passing outage
    tags=["replay", "kafka", "alerts"],
)
def metrics_alerts():
    @task
    def log_alerts(*, triggering_asset_events=None) -> int:
        """The alerts of this run's asset events, one line each; returns how many."""
        from include import alerts

        events = triggering_asset_events.get(ALERTS, []) if triggering_asset_events else []
        return len(alerts.log_alerts(event.extra.get("payload") for event in events))

    log_alerts()


metrics_alerts()
