"""Alerts as live mode emits them: one JSON message per alerting window of an output, the same text on the
``topic-alerts`` topic (key server_id) and as a line of ``<output_dir>/alerts.jsonl``.

A message::

    {"run_id": "manual__2026-...", "output": "cpu_mem", "server_id": "server_1",
     "window_start": "20:52:20", "window_end": "20:52:50", "window_end_at": "2026-11-25T20:52:50Z",
     "values": {"avg_cpu": 85.12, "avg_mem": 40.0}, "alert": "CPU spike suspected",
     "emitted_at": "2026-11-25T21:03:07.412Z"}

``window_start``/``window_end`` are the output row's own text (as in cpu_mem.csv / net_disk.csv);
``window_end_at`` is the window's end as an event time (what the records carried, time shift included), so a
consumer can place it without knowing the dataset; ``values`` holds the row's value columns as numbers;
``emitted_at`` is when the streaming job published it (UTC, milliseconds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from include.contract import CPU_MEM_FILE, NET_DISK_FILE


def output_name(file_name: str) -> str:
    """``cpu_mem`` for cpu_mem.csv: an output's name in alert messages."""
    return file_name.removesuffix(".csv")


OUTPUT_NAMES = (output_name(CPU_MEM_FILE), output_name(NET_DISK_FILE))


class AlertMessage(BaseModel):
    """One alert, as published and as written to alerts.jsonl (strict: the file is written by this model)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str
    output: Annotated[str, Field(pattern=f"^({'|'.join(OUTPUT_NAMES)})$")]
    server_id: str
    window_start: str
    window_end: str
    window_end_at: str
    values: dict[str, float]
    alert: Annotated[str, Field(min_length=1)]
    emitted_at: str

    def text(self) -> str:
        """The message as one line of JSON (keys in the order above)."""
        return json.dumps(self.model_dump(mode="json"), separators=(", ", ": "))

    @classmethod
    def parse(cls, text: str | bytes) -> AlertMessage:
        return cls.model_validate_json(text, strict=False)


def utc_text(moment: datetime | float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an aware datetime or an epoch second (float)."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_utc(text: str) -> float:
    """The epoch second (float) of a ``...Z`` text written by utc_text or an event time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- metrics_alerts: topic-alerts -> asset events -> one run per batch (dags/metrics_alerts.py) ----

log = logging.getLogger(__name__)


class QueuedAlert(BaseModel):
    """An alert as it reached metrics_alerts: the message and where it was read (the payload of one asset
    event, written by queue_event in the triggerer, read back by log_alerts in the task)."""

    model_config = ConfigDict(extra="forbid")

    topic: str
    partition: int
    offset: int
    alert: AlertMessage


def problem_text(exc: Exception) -> str:
    """One line saying why a message is no alert: each field error of a ValidationError, else the error."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors())
    return f"{type(exc).__name__}: {exc}"


def queue_event(message: Any) -> dict | None:
    """The Kafka provider's ``apply_function`` of metrics_alerts' AssetWatcher (run in the triggerer on every
    message of topic-alerts): the QueuedAlert of an alert message, as the asset event's payload; None for a
    message that is no AlertMessage, logged with its topic, partition and offset.

    None, not an exception: AwaitMessageTrigger commits a message only after this returns, so a raise would end
    the trigger and its restart would read the same message again, for ever. Hence the broad except."""
    where = f"{message.topic()} partition {message.partition()} offset {message.offset()}"
    value = message.value()
    if value is None:
        log.warning("%s: empty message (no value), skipped", where)
        return None
    try:
        alert = AlertMessage.parse(value)
    except Exception as exc:  # any bad content, see above
        log.warning("%s: not an alert message, skipped: %s (%d bytes: %r)", where, problem_text(exc), len(value),
                    value[:120])
        return None
    queued = QueuedAlert(topic=message.topic(), partition=message.partition(), offset=message.offset(), alert=alert)
    return queued.model_dump(mode="json")


def alert_line(queued: QueuedAlert) -> str:
    """One alert for a person (and a pager): replay run, output, server, window, values, alert, emitted_at."""
    a = queued.alert
    values = " ".join(f"{column}={value}" for column, value in a.values.items())
    return (f"ALERT {a.alert!r} on {a.server_id} in {a.output} window {a.window_start}-{a.window_end} "
            f"(ends {a.window_end_at}): {values}; replay run {a.run_id}, emitted {a.emitted_at} "
            f"({queued.topic} partition {queued.partition} offset {queued.offset})")


def log_alerts(payloads: Iterable[object]) -> list[QueuedAlert]:
    """Log one line per alert of a metrics_alerts run (the payloads of its triggering asset events, in order)
    and return the alerts. An event that holds no QueuedAlert (one made by hand through the API, say) is
    logged and left out."""
    alerts: list[QueuedAlert] = []
    for n, payload in enumerate(payloads, 1):
        try:
            queued = QueuedAlert.model_validate(payload, strict=False)  # via JSON: 6105.0 may come back as 6105
        except ValidationError as exc:
            log.warning("asset event %d holds no alert, skipped: %s", n, problem_text(exc))
            continue
        log.info("%s", alert_line(queued))
        alerts.append(queued)
    return alerts
