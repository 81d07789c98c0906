"""Broker reachability and topic administration, every call bounded in time.

The librdkafka config (bootstrap.servers, security settings) comes from the Airflow connection; these
functions take it as a plain dict so the DAG, the CLI and the tests share them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)

CPU_TOPIC, MEM_TOPIC, NET_TOPIC, DISK_TOPIC = "topic-cpu", "topic-mem", "topic-net", "topic-disk"
TOPICS = (CPU_TOPIC, MEM_TOPIC, NET_TOPIC, DISK_TOPIC)
DEFAULT_TIMEOUT_S = 10.0


class BrokerUnreachable(RuntimeError):
    """The broker named by a connection did not answer in time."""


class TopicError(RuntimeError):
    """A topic could not be created or described."""


class _FirstOfAKind(logging.Filter):
    """Pass each librdkafka message once: a dead broker repeats "Connection refused" every backoff."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def client_logger() -> logging.Logger:
    """The Python logger librdkafka's own log goes to: warnings and up, each kind of message once."""
    logger = logging.getLogger("metrics_replay.librdkafka")
    if not logger.filters:
        logger.setLevel(logging.WARNING)
        logger.addFilter(_FirstOfAKind())
    return logger


def admin_client(config: dict) -> AdminClient:
    return AdminClient({"log.connection.close": False, **config}, logger=client_logger())


@dataclass
class BrokerInfo:
    address: str
    brokers: list[str]
    topics: int
    cluster_id: str | None


def check_broker(config: dict, conn_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> BrokerInfo:
    """Ask the broker for cluster metadata; BrokerUnreachable names the connection and address."""
    address = config.get("bootstrap.servers", "<unset>")
    try:
        md = admin_client(config).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(
            f"Kafka broker of connection {conn_id!r} at {address} did not answer within {timeout:g} s: "
            f"{exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else exc}") from None
    brokers = [f"{b.host}:{b.port}" for b in md.brokers.values()]
    return BrokerInfo(address=address, brokers=sorted(brokers), topics=len(md.topics), cluster_id=md.cluster_id)


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: dict[str, int] = field(default_factory=dict)  # topic -> partition count


def ensure_topics(config: dict, topics: tuple[str, ...] | list[str], partitions: int, replication: int,
                  timeout: float = DEFAULT_TIMEOUT_S, extra_config: dict[str, str] | None = None) -> TopicReport:
    """Create the topics that are missing; report the ones that exist, never recreate them."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    if replication < 1:
        raise ValueError(f"replication must be >= 1, got {replication}")
    admin = admin_client(config)
    address = config.get("bootstrap.servers", "<unset>")
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(f"listing topics at {address} failed within {timeout:g} s: {exc}") from None
    report = TopicReport()
    missing = []
    for t in topics:
        if t in md.topics and md.topics[t].error is None:
            report.existing[t] = len(md.topics[t].partitions)
        else:
            missing.append(t)
    if missing:
        new = [NewTopic(t, num_partitions=partitions, replication_factor=replication, config=extra_config or {})
               for t in missing]
        futures = admin.create_topics(new, request_timeout=timeout, operation_timeout=timeout)
        for t, fut in futures.items():
            try:
                fut.result(timeout=timeout + 5)
                report.created.append(t)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    report.existing[t] = partitions  # created concurrently by someone else
                    continue
                raise TopicError(f"creating topic {t!r} at {address} failed: {exc}") from None
            except TimeoutError:
                raise TopicError(f"creating topic {t!r} at {address} did not finish within {timeout:g} s") from None
    return report
