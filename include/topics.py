"""Broker reachability, topic administration and the connection's security settings for Spark.

The librdkafka config (bootstrap.servers, security settings) comes from the Airflow connection; these
functions take it as a plain dict so the DAG, the CLI and the tests share them. Every broker call is
bounded in time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


class BrokerUnreachable(RuntimeError):
    """The broker named by a connection did not answer in time."""


class BrokerRefused(BrokerUnreachable):
    """The broker answered but refused the connection: its login or its TLS set-up. The same connection gets
    the same answer again, so there is no point retrying."""


class BrokerAuthenticationFailed(BrokerRefused):
    """The broker answered but refused the connection's login (wrong SASL user or password)."""


class BrokerTlsFailed(BrokerRefused):
    """The TLS handshake with the broker failed: a CA that did not sign the broker's certificate, or a client
    certificate the broker requires and did not get (or does not trust)."""


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


# librdkafka's ways to give a client certificate: without one of these a client offers none.
_CLIENT_CERTIFICATE_SETTINGS = ("ssl.keystore.location", "ssl.certificate.location", "ssl.certificate.pem")


def tls_refusal(err: KafkaError) -> bool:
    """Whether a librdkafka error is the broker's TLS saying no rather than a broker that is away.

    A failed handshake is an _SSL error (e.g. "certificate verify failed": the CA does not match). A broker
    that wants a client certificate and got none answers, under TLS 1.3, with a TLS alert once the client has
    finished its part of the handshake: librdkafka reports that as a _TRANSPORT error carrying OpenSSL's alert
    text ("ssl/tls alert bad certificate", "certificate required"). Other transport errors (refused, reset,
    an end of file from a broker that went away) stay "not answering"."""
    text = err.str()
    return err.code() == KafkaError._SSL or (err.code() == KafkaError._TRANSPORT and "SSL routines" in text
                                             and "alert" in text)


def check_broker(config: dict, conn_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> BrokerInfo:
    """Ask the broker for cluster metadata; BrokerUnreachable names the connection and address.

    Asks in short rounds, so a refused login (BrokerAuthenticationFailed) or TLS handshake (BrokerTlsFailed)
    is reported as such within about a second instead of as a timeout after ``timeout`` seconds."""
    address = config.get("bootstrap.servers", "<unset>")
    refused: list[KafkaError] = []
    their_error_cb = config.get("error_cb")

    def on_error(err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION or tls_refusal(err):
            refused.append(err)
        if their_error_cb is not None:
            their_error_cb(err)

    admin = admin_client({**config, "error_cb": on_error})
    deadline = time.monotonic() + timeout
    while True:
        asked = time.monotonic()
        try:
            md = admin.list_topics(timeout=max(min(1.0, deadline - asked), 0.01))
            break
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb: librdkafka reports a refused login only there
            if refused:
                raise _refusal(refused[0], config, conn_id, address) from None
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    f"Kafka broker of connection {conn_id!r} at {address} did not answer within {timeout:g} s: "
                    f"{exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else exc}") from None
            # a refusal can come back at once: ask at most every 0.2 s
            pause = min(0.2 - (time.monotonic() - asked), deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
    brokers = [f"{b.host}:{b.port}" for b in md.brokers.values()]
    return BrokerInfo(address=address, brokers=sorted(brokers), topics=len(md.topics), cluster_id=md.cluster_id)


def _refusal(err: KafkaError, config: dict, conn_id: str, address: str) -> BrokerRefused:
    reason = _without_address(err.str())
    if err.code() == KafkaError._AUTHENTICATION:
        return BrokerAuthenticationFailed(
            f"Kafka broker of connection {conn_id!r} at {address} refused the login: authentication failed "
            f"({reason}); check the user and password in the connection's extra")
    has_certificate = any(config.get(key) for key in _CLIENT_CERTIFICATE_SETTINGS)
    if "certificate verify failed" in reason:
        hint = ("the broker's certificate is not signed by the CA in the connection's ssl.ca.location "
                f"({config.get('ssl.ca.location', 'unset: the system CAs')})")
    elif "alert" in reason and not has_certificate:
        hint = ("the broker refused the session: it requires a client certificate and the connection's extra "
                "gives none (ssl.keystore.location, a PKCS#12 file, and ssl.keystore.password)")
    elif "alert" in reason:
        hint = "the broker refused the session: it does not accept the connection's client certificate"
    else:
        hint = "check the ssl.* settings in the connection's extra"
    return BrokerTlsFailed(f"TLS handshake with the Kafka broker of connection {conn_id!r} at {address} failed "
                           f"({reason}); {hint}")


def _without_address(message: str) -> str:
    """librdkafka's error text without its leading "<protocol>://<host>:<port>/<id>: " (already named)."""
    return re.sub(r"^\S+://\S+: ", "", message)


# Records carry their recorded event time as Kafka timestamp (include.producer), which may lie years back or
# hours ahead. A broker's defaults would lose them: Kafka 4 refuses a timestamp more than an hour ahead
# (message.timestamp.after.max.ms), e.g. a time of day later today, and time retention counts from the
# timestamp, so a 2024 recording would be deleted minutes after it is written, before Spark reads it. Topics
# the replay creates therefore take any timestamp and are trimmed by size instead (per partition, oldest
# segments first; a replay of the 100x bench dataset is a few hundred MiB).
EVENT_TIME_TOPIC_CONFIG = {
    "message.timestamp.after.max.ms": str(2**63 - 1),
    "message.timestamp.before.max.ms": str(2**63 - 1),
    "retention.ms": "-1",
    "retention.bytes": str(1 << 30),
}


def topic_config(replication: int) -> dict[str, str]:
    """Config of the topics ensure_topics creates: EVENT_TIME_TOPIC_CONFIG, and with 3 or more replicas,
    min.insync.replicas 2.

    Together with the producer's acks=all a write is then acknowledged only once two replicas hold it, so
    losing any one broker loses no acknowledged record and still leaves writes possible. With fewer
    replicas the broker's own default (normally 1) applies: 2 of 2 would stop all writes when one broker is
    down."""
    return {**EVENT_TIME_TOPIC_CONFIG, **({"min.insync.replicas": "2"} if replication >= 3 else {})}


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: dict[str, int] = field(default_factory=dict)  # topic -> partition count


def ensure_topics(config: dict, topics: tuple[str, ...] | list[str], partitions: int, replication: int,
                  timeout: float = DEFAULT_TIMEOUT_S, new_topic_config: dict[str, str] | None = None) -> TopicReport:
    """Create the topics that are missing (with topic config ``new_topic_config``; topic_config(replication)
    when None); report the ones that exist, never recreate or reconfigure them."""
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
        if new_topic_config is None:
            new_topic_config = topic_config(replication)
        new = [NewTopic(t, num_partitions=partitions, replication_factor=replication, config=new_topic_config)
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


# The Spark job reads Kafka with Java clients, which name their settings differently. The connection's
# security settings reach the job in this environment variable (JSON, librdkafka names) and never on the
# spark-submit command line, which every local user can read with `ps` and which Airflow logs.
SECURITY_ENV = "METRICS_REPLAY_KAFKA_SECURITY"
_SECURITY_PREFIXES = ("security.", "sasl.", "ssl.", "enable.ssl.")
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


class UnsupportedSecurity(ValueError):
    """A security setting of the connection that the Spark job's Java Kafka client cannot be given."""


def security_settings(config: dict) -> dict[str, str]:
    """The security part of a librdkafka config (security.*, sasl.*, ssl.*), as strings."""
    return {k: str(v) for k, v in config.items() if k.startswith(_SECURITY_PREFIXES)}


def _jaas_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def java_security(settings: dict[str, str]) -> dict[str, str]:
    """librdkafka security settings -> the same for Kafka's Java client (SASL PLAIN/SCRAM, TLS with a CA
    file or PKCS#12 stores). Anything else raises UnsupportedSecurity naming the setting."""
    left = dict(settings)
    java: dict[str, str] = {}
    protocol = left.pop("security.protocol", "plaintext").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise UnsupportedSecurity(f"security.protocol {protocol!r} is not a Kafka security protocol")
    java["security.protocol"] = protocol
    if protocol.startswith("SASL_"):
        mechanism = left.pop("sasl.mechanism", left.pop("sasl.mechanisms", "GSSAPI")).upper()
        left.pop("sasl.mechanisms", None)
        if mechanism not in _LOGIN_MODULES:
            raise UnsupportedSecurity(f"sasl.mechanism {mechanism} is not passed to the Spark job (PLAIN, "
                                      "SCRAM-SHA-256 and SCRAM-SHA-512 are)")
        user, password = left.pop("sasl.username", None), left.pop("sasl.password", None)
        if user is None or password is None:
            raise UnsupportedSecurity(f"sasl.mechanism {mechanism} needs sasl.username and sasl.password")
        java["sasl.mechanism"] = mechanism
        java["sasl.jaas.config"] = (f"{_LOGIN_MODULES[mechanism]} required username={_jaas_quoted(user)} "
                                    f"password={_jaas_quoted(password)};")
    if protocol.endswith("SSL"):
        if "ssl.ca.location" in left:
            java["ssl.truststore.type"] = "PEM"
            java["ssl.truststore.location"] = left.pop("ssl.ca.location")
        for key in ("ssl.truststore.location", "ssl.truststore.password", "ssl.keystore.location",
                    "ssl.keystore.password", "ssl.key.password"):
            if key in left:
                java[key] = left.pop(key)
        if "ssl.keystore.location" in java:
            java["ssl.keystore.type"] = "PKCS12"  # librdkafka's ssl.keystore.location is a PKCS#12 file
        algorithm = left.pop("ssl.endpoint.identification.algorithm", "https")
        java["ssl.endpoint.identification.algorithm"] = "" if algorithm == "none" else algorithm
        if left.get("enable.ssl.certificate.verification", "true").lower() in ("true", "1"):
            left.pop("enable.ssl.certificate.verification", None)
    # as librdkafka does, ignore the settings of a mechanism the protocol does not use
    unused = (() if protocol.startswith("SASL_") else ("sasl.",)) + (() if protocol.endswith("SSL") else
                                                                    ("ssl.", "enable.ssl."))
    left = {k: v for k, v in left.items() if not k.startswith(unused)}
    if left:
        pem_client = any(k.startswith(("ssl.certificate.", "ssl.key.")) for k in left)
        raise UnsupportedSecurity(f"{', '.join(sorted(left))} cannot be passed to the Spark job's Kafka client "
                                  f"with security.protocol {protocol}"
                                  + ("; give the client certificate and key as a PKCS#12 file instead "
                                     "(ssl.keystore.location, ssl.keystore.password)" if pem_client else ""))
    return java


def security_summary(settings: dict[str, str]) -> str:
    """The connection's security settings a log line may show (protocol, mechanism, user; never a secret)."""
    shown = ("security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username")
    return ", ".join(f"{k} {v}" for k, v in settings.items() if k in shown)


def security_env(config: dict) -> dict[str, str]:
    """The environment that hands the connection's security settings to the Spark job ({} if none)."""
    settings = security_settings(config)
    if not settings:
        return {}
    java_security(settings)  # refuse what the job could not use here, before Spark starts
    return {SECURITY_ENV: json.dumps(settings)}


# What a partition answers while its leader is being chosen (just after the topic was made).
NO_LEADER_YET = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                           KafkaError.UNKNOWN_TOPIC_OR_PART})


def end_offsets(config: dict, topic_names: list[str] | tuple[str, ...],
                timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, dict[int, int]]:
    """The end offset (the next offset to be written) of every partition of ``topic_names``: where a consumer
    that must see only what is written from now on starts. TopicError names a topic that is missing or could
    not be asked; every call is bounded by ``timeout``."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    admin = admin_client(config)
    address = config.get("bootstrap.servers", "<unset>")
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicError(f"cannot list the topics at {address}: {exc}") from None
    wanted: dict[TopicPartition, OffsetSpec] = {}
    for name in topic_names:
        meta = md.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            raise TopicError(f"topic {name} does not exist at {address} (ensure_topics creates it)")
        for partition in meta.partitions:
            wanted[TopicPartition(name, partition)] = OffsetSpec.latest()
    offsets: dict[str, dict[int, int]] = {name: {} for name in topic_names}
    # A partition that has just been made may have no leader yet for a moment: retried within the timeout.
    deadline = time.monotonic() + timeout
    while wanted:
        retry: dict[TopicPartition, OffsetSpec] = {}
        for tp, future in admin.list_offsets(wanted, request_timeout=timeout).items():
            try:
                offsets[tp.topic][tp.partition] = future.result(timeout=timeout).offset
            except Exception as exc:  # KafkaException or a timeout: name the partition
                error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
                if (isinstance(error, KafkaError) and (error.retriable() or error.code() in NO_LEADER_YET)
                        and time.monotonic() < deadline):
                    retry[tp] = wanted[tp]
                    continue
                raise TopicError(f"cannot read the end offset of {tp.topic} partition {tp.partition} at "
                                 f"{address}: {exc}") from None
        wanted = retry
        if wanted:
            time.sleep(0.1)
    return offsets
