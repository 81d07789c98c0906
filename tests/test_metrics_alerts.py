"""metrics_alerts without a stack: its wiring (an AssetWatcher's message-queue trigger on topic-alerts through
kafka_default), the trigger's apply function on good and bad messages, and the alert lines of a run.

On the running stack (real broker, triggerer, scheduler): tests/test_browser.py
test_alerts_on_the_topic_become_logged_metrics_alerts_runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from include.alerts import AlertMessage, QueuedAlert, alert_line, log_alerts, queue_event
from include.contract import ALERTS_TOPIC

ROOT = Path(__file__).resolve().parents[1]


class Message:
    """What confluent_kafka's Message offers the apply function (the trigger polls a real consumer)."""

    def __init__(self, value: bytes | None, offset: int = 7, partition: int = 0, topic: str = ALERTS_TOPIC):
        self._value, self._offset, self._partition, self._topic = value, offset, partition, topic

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def topic(self) -> str:
        return self._topic


ALERT = AlertMessage(run_id="manual__2026-11-25T20:50:00+00:00", output="cpu_mem", server_id="server_1",
                     window_start="20:52:20", window_end="20:52:50", window_end_at="2026-11-25T20:52:50Z",
                     values={"avg_cpu": 85.12, "avg_mem": 40.0}, alert="CPU spike suspected",
                     emitted_at="2026-11-25T21:03:07.412Z")


def test_an_alert_message_becomes_the_payload_of_an_asset_event():
    payload = queue_event(Message(ALERT.text().encode(), offset=41, partition=2))
    assert payload == {"topic": ALERTS_TOPIC, "partition": 2, "offset": 41, "alert": json.loads(ALERT.text())}
    # the payload goes through the metadata DB as JSON and is read back as it was sent
    assert QueuedAlert.model_validate(json.loads(json.dumps(payload))).alert == ALERT


def test_an_integral_value_is_still_an_alert():
    text = ALERT.text().replace("40.0", "40")
    assert '"avg_mem": 40}' in text
    assert queue_event(Message(text.encode()))["alert"]["values"] == {"avg_cpu": 85.12, "avg_mem": 40.0}


@pytest.mark.parametrize(("value", "why"), [
    (b"not json", "message: Invalid JSON"),
    (b"\xff\xfe\x00", "message: Invalid JSON"),
    (b"[1, 2]", "message: Input should be an object"),
    (b'{"run_id": "r", "output": "cpu_mem"}', "server_id: Field required"),
    (ALERT.text().replace('"cpu_mem"', '"gpu"').encode(), "output: String should match pattern"),
    (ALERT.text().replace("85.12", '"high"').encode(), "values.avg_cpu: Input should be a valid number"),
    (ALERT.text().replace('"alert": ', '"page": true, "alert": ').encode(), "page: Extra inputs are not permitted"),
])
def test_a_message_that_is_no_alert_is_logged_with_its_offset_and_skipped(caplog, value, why):
    with caplog.at_level(logging.WARNING, logger="include.alerts"):
        assert queue_event(Message(value, offset=12, partition=1)) is None
    [record] = caplog.records
    assert record.getMessage().startswith(f"{ALERTS_TOPIC} partition 1 offset 12: not an alert message, skipped: ")
    assert why in record.getMessage()


def test_an_empty_message_is_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="include.alerts"):
        assert queue_event(Message(None, offset=3)) is None
    assert caplog.messages == [f"{ALERTS_TOPIC} partition 0 offset 3: empty message (no value), skipped"]


def test_one_line_per_alert_says_what_a_pager_needs():
    queued = QueuedAlert(topic=ALERTS_TOPIC, partition=0, offset=41, alert=ALERT)
    assert alert_line(queued) == (
        "ALERT 'CPU spike suspected' on server_1 in cpu_mem window 20:52:20-20:52:50 (ends 2026-11-25T20:52:50Z): "
        "avg_cpu=85.12 avg_mem=40.0; replay run manual__2026-11-25T20:50:00+00:00, emitted 2026-11-25T21:03:07.412Z "
        f"({ALERTS_TOPIC} partition 0 offset 41)")


def test_a_run_logs_its_alerts_in_order_and_skips_events_that_hold_none(caplog):
    second = ALERT.model_copy(update={"server_id": "server_2", "alert": "CPU and Memory spike"})
    payloads = [queue_event(Message(ALERT.text().encode(), offset=1)), None, {"note": "made by hand"},
                queue_event(Message(second.text().encode(), offset=2))]
    with caplog.at_level(logging.INFO, logger="include.alerts"):
        alerts = log_alerts(payloads)
    assert [a.alert for a in alerts] == [ALERT, second]
    assert caplog.messages[0] == alert_line(alerts[0]) and caplog.messages[3] == alert_line(alerts[1])
    assert caplog.messages[1].startswith("asset event 2 holds no alert, skipped")
    assert caplog.messages[2].startswith("asset event 3 holds no alert, skipped")
    assert log_alerts([]) == []


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags["metrics_alerts"]


def test_scheduled_on_an_asset_watched_by_the_kafka_message_queue_trigger(dag):
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    [asset] = dag.timetable.asset_condition.objects
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, MessageQueueTrigger)
    # what the triggerer will run: the Kafka provider's trigger, on topic-alerts through kafka_default
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow.providers.apache.kafka.triggers.await_message.AwaitMessageTrigger"
    assert kwargs["topics"] == [ALERTS_TOPIC] and kwargs["kafka_config_id"] == "kafka_default"
    assert kwargs["commit_offset"] is True
    from airflow.providers.common.compat.module_loading import import_string

    assert import_string(kwargs["apply_function"]) is queue_event
    assert dag.is_paused_upon_creation is False  # Airflow watches assets of unpaused DAGs only
    assert dag.task_ids == ["log_alerts"]
    assert dag.max_active_runs > 1  # at 1, Airflow 3.3 holds back queued asset events (apache/airflow#56050)
    assert "log_alerts" in dag.doc_md and ALERTS_TOPIC in dag.doc_md


def test_the_connections_give_the_watcher_a_consumer_group():
    """The trigger builds its consumer from kafka_default's extra alone, and a consumer needs a group.id."""
    from devtools import airflow_home

    env = airflow_home.connection_env("127.0.0.1:9092")
    extra = json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    assert extra["bootstrap.servers"] == "127.0.0.1:9092" and extra["group.id"]
    assert extra["auto.offset.reset"] == "earliest"


def test_the_compose_connection_gives_the_watcher_a_consumer_group():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    env = compose["services"]["airflow-triggerer"]["environment"]
    extra = json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    from devtools import airflow_home

    assert extra == airflow_home.kafka_extra(extra["bootstrap.servers"])


def test_the_compose_stack_creates_the_watched_topic_before_airflow_starts():
    """airflow-init creates topic-alerts (the name taken from include.contract, written nowhere else) before the
    triggerer starts, so the watcher has a topic to subscribe to before the first replay."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    init = compose["services"]["airflow-init"]
    script = init["command"][-1]
    assert init["entrypoint"] == "/bin/bash" and script.startswith("set -e\n")
    assert "topics.ensure_topics(replay.kafka_config(\"kafka_default\"), [ALERTS_TOPIC]" in script
    assert "from include.contract import ALERTS_TOPIC" in script and ALERTS_TOPIC not in script
    assert compose["services"]["airflow-triggerer"]["depends_on"]["airflow-init"]["condition"] == \
        "service_completed_successfully"
