"""Kafka security, live: SASL/PLAIN, SCRAM-SHA-512 over TLS and client certificates against a real broker.

One broker for the whole module (a session fixture, so it starts once however the tests are ordered), with
three listeners: SASL_PLAINTEXT with PLAIN, SASL_SSL with SCRAM-SHA-512, and SSL requiring a client
certificate; a certificate authority and the keystores come from openssl (tests/pki.py). The connection's
extra carries the settings to every client: the admin client and the producer use librdkafka, the Spark job
Spark's Kafka source (the Java client).

- The whole DAG replays the real day byte-identical over each way in, and no password, keystore password
  included, shows anywhere (tests/secret_scan.py: output files, task logs, captured logs, command lines).
- A wrong password, a CA that did not sign the broker's certificate and a missing client certificate each
  fail check_broker at once, without retries, with a message naming the address (and TLS for the last two).
- Settings the Java client could not be given are refused before anything is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from devtools.cli import run_dag
from devtools.kafka import Listener, LocalBroker, free_port
from include import replay
from include.contract import ALERTS_TOPIC
from include.topics import SECURITY_ENV, UnsupportedSecurity, java_security, security_env, tls_refusal
from pki import Pki, make_pki
from secret_scan import SecretScan
from dag_module import step_states
from kafka_helpers import read_topic

ORDER = ["check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output"]
# Distinctive, so a leak cannot hide among other text.
USER = "replay-user"  # PLAIN
PASSWORD = "Sasl-Pw-7qX2-kestrel-mango-0419"
WRONG_PASSWORD = "Wrong-Pw-3vB8-heron-plum-2207"
SCRAM_USER = "replay"
SCRAM_PASSWORD = "Scram-Pw-5tK9-osprey-quince-0731"
KEYSTORE_PASSWORD = "Keystore-Pw-8mR4-plover-lime-1163"  # of the broker's and the client's PKCS#12 files
SCRAM_TLS, MTLS = "SCRAM_TLS", "MTLS"


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), KEYSTORE_PASSWORD)


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory, pki) -> Iterator[LocalBroker]:
    """Main listener SASL_PLAINTEXT/PLAIN; SCRAM_TLS: SASL_SSL/SCRAM-SHA-512; MTLS: SSL, client certificate
    required. Both TLS listeners present a certificate for 127.0.0.1 signed by ``pki.ca``."""
    keystore = {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": str(pki.broker_keystore),
                "ssl.keystore.password": pki.keystore_password, "ssl.key.password": pki.keystore_password}
    scram_tls = Listener(SCRAM_TLS, free_port(), "SASL_SSL", {
        **keystore, "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        # logins are checked against the SCRAM credentials in the broker's metadata; the module is all it needs
        "scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;"})
    mtls = Listener(MTLS, free_port(), "SSL", {**keystore, "ssl.client.auth": "required",
                                                "ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca)})
    broker = LocalBroker(home=tmp_path_factory.mktemp("kafka-secure"), port=free_port(),
                         sasl_users={USER: PASSWORD}, scram_users={SCRAM_USER: SCRAM_PASSWORD},
                         listeners=[scram_tls, mtls]).start()
    yield broker
    broker.stop(hard=True)


def plain(broker: LocalBroker, password: str = PASSWORD) -> dict:
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": USER, "sasl.password": password}


def scram_tls(broker: LocalBroker, pki: Pki, password: str = SCRAM_PASSWORD, ca=None) -> dict:
    return {"bootstrap.servers": broker.listener(SCRAM_TLS).bootstrap, "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": SCRAM_USER, "sasl.password": password,
            "ssl.ca.location": str(ca or pki.ca)}


def mtls(broker: LocalBroker, pki: Pki, certificate: bool = True, ca=None) -> dict:
    extra = {"bootstrap.servers": broker.listener(MTLS).bootstrap, "security.protocol": "SSL",
             "ssl.ca.location": str(ca or pki.ca)}
    if certificate:
        extra.update({"ssl.keystore.location": str(pki.client_keystore), "ssl.keystore.password": KEYSTORE_PASSWORD})
    return extra


def use_kafka(monkeypatch, extra: dict) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))


def states(dr) -> dict[str, str]:
    return step_states(dr)


def test_connection_security_becomes_spark_kafka_settings():
    """librdkafka names in the extra -> the Java client's, the password only inside the JAAS config."""
    extra = {"bootstrap.servers": "b:9092", "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
             "sasl.username": USER, "sasl.password": 'p"w\\1', "ssl.ca.location": "/ca.pem", "linger.ms": 5}
    assert java_security(json.loads(security_env(extra)[SECURITY_ENV])) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{USER}" '
                            'password="p\\"w\\\\1";',
        "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem",
        "ssl.endpoint.identification.algorithm": "https"}
    assert java_security({"security.protocol": "SSL", "ssl.ca.location": "/ca.pem", "ssl.keystore.location": "/c.p12",
                          "ssl.keystore.password": "k"}) == {
        "security.protocol": "SSL", "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem",
        "ssl.keystore.type": "PKCS12", "ssl.keystore.location": "/c.p12", "ssl.keystore.password": "k",
        "ssl.endpoint.identification.algorithm": "https"}
    assert security_env({"bootstrap.servers": "b:9092"}) == {}  # nothing to hand over for a PLAINTEXT broker
    for refused in ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"},
                    {"security.protocol": "SSL", "ssl.certificate.location": "/c.pem", "ssl.key.location": "/k.pem"}):
        with pytest.raises(UnsupportedSecurity):
            security_env(refused)  # refused in the task, before spark-submit starts


def test_tls_refusals_are_told_from_a_broker_that_is_away():
    """What librdkafka reports (texts as it words them) -> a refusal to fail at once on, or "not answering"."""
    from confluent_kafka import KafkaError

    def err(code: int, text: str) -> KafkaError:
        return KafkaError(code, f"ssl://127.0.0.1:9094/bootstrap: {text}")

    assert tls_refusal(err(KafkaError._SSL, "SSL handshake failed: error:0A000086:SSL routines::certificate verify "
                                            "failed: broker certificate could not be verified"))
    assert tls_refusal(err(KafkaError._TRANSPORT, "Receive failed: error:0A000412:SSL routines::ssl/tls alert bad "
                                                  "certificate: SSL alert number 42"))
    assert not tls_refusal(err(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9094 failed: Connection refused"))
    assert not tls_refusal(err(KafkaError._TRANSPORT, "Receive failed: error:0A000126:SSL routines::unexpected eof "
                                                      "while reading"))  # a broker that went away mid-session
    assert not tls_refusal(err(KafkaError._AUTHENTICATION, "SASL authentication error"))  # told apart elsewhere


def replay_real_day(tmp_path, real_data, name: str, secrets: list[str], capfd, caplog, security_line: str,
                    live_with: dict | None = None) -> None:
    """The whole DAG on the real day through the connection set before; byte-identical, and no secret shows.

    ``live_with`` (the connection's extra): in live mode, whose alerts on topic-alerts are searched too."""
    dataset, expected = real_data
    caplog.set_level("INFO")
    out = tmp_path / name
    conf = {"dataset_path": str(dataset), "expected_path": str(expected), "output_dir": str(out),
            "seconds_per_group": 0}
    if live_with is not None:
        conf.update(mode="live", speed=1000, expected_net_disk_path=None)
    with SecretScan(secrets, marker=str(out)) as scan:
        dr, _ = run_dag(conf)
    if live_with is None:
        assert states(dr) == {t: "success" for t in ORDER}, states(dr)
    else:
        ran = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
        assert all(ran[t] == "success" for t in ("check_broker", "ensure_topics", "start_stream",
                                                  "produce_metrics_live", "window_metrics_live", "validate_output")), ran
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    assert json.loads((out / "validation.json").read_text())["passed"] is True
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"topic-cpu": 28_800, "topic-mem": 28_800}
    assert scan.spark_submits > 0, "the run's spark-submit was never seen: its command line went unsearched"
    texts = {}
    if live_with is not None:
        alerts = read_topic(live_with, ALERTS_TOPIC)
        assert alerts, "no alert was published: topic-alerts went unsearched"
        texts["topic-alerts messages"] = "\n".join(m.value().decode() for m in alerts)
    # the search must not pass on an empty capture: every task's lines and the Spark job's are among them
    job_line = "live session" if live_with is not None else "windowing run"
    scan.check(capfd, caplog, output_dir=out, texts=texts,
               expect=["Broker reachable: cluster", "Topics ready:", "Produced 57600 messages", job_line,
                       f"Kafka security from the connection: {security_line}", "Validation passed"])
    searched = {p.name for p in scan.files}
    assert {"manifest.json", "cpu_mem.csv", "validation.json", "report.html"} <= searched, searched
    if live_with is not None:
        assert {"alerts.jsonl", "stream.json", "send_log.json", "session.json", "spark-1.log"} <= searched, searched


@pytest.mark.e2e
def test_right_password_replays_and_is_never_logged(tmp_path, real_data, airflow_db, secure_broker, monkeypatch,
                                                   capfd, caplog):
    """In live mode: the streaming job's Java client and its alerts producer log in too, and the search takes in
    alerts.jsonl, the live folder's files (the job's own log among them) and the messages on topic-alerts."""
    use_kafka(monkeypatch, plain(secure_broker))
    replay_real_day(tmp_path, real_data, "sasl-run", [PASSWORD], capfd, caplog,
                    "security.protocol SASL_PLAINTEXT, sasl.mechanism PLAIN", live_with=plain(secure_broker))


@pytest.mark.e2e
def test_scram_over_tls_replays_byte_identical_and_is_never_logged(tmp_path, real_data, airflow_db, secure_broker,
                                                                  pki, monkeypatch, capfd, caplog):
    use_kafka(monkeypatch, scram_tls(secure_broker, pki))
    replay_real_day(tmp_path, real_data, "scram-tls-run", [SCRAM_PASSWORD], capfd, caplog,
                    "security.protocol SASL_SSL, sasl.mechanism SCRAM-SHA-512")


@pytest.mark.e2e
def test_client_certificate_replays_byte_identical_and_is_never_logged(tmp_path, real_data, airflow_db,
                                                                      secure_broker, pki, monkeypatch, capfd, caplog):
    use_kafka(monkeypatch, mtls(secure_broker, pki))
    replay_real_day(tmp_path, real_data, "mtls-run", [KEYSTORE_PASSWORD], capfd, caplog, "security.protocol SSL")


@pytest.mark.e2e
def test_wrong_password_fails_check_broker_at_once_without_retries(tmp_path, airflow_db, secure_broker,
                                                                   monkeypatch, capfd, caplog):
    use_kafka(monkeypatch, plain(secure_broker, WRONG_PASSWORD))
    caplog.set_level("INFO")
    out = tmp_path / "wrong-password"
    with SecretScan([WRONG_PASSWORD, PASSWORD]) as scan:
        dr, _ = run_dag({"output_dir": str(out), "seconds_per_group": 0})
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(tis["check_broker"].state) == "failed"
    assert tis["check_broker"].try_number == 1  # a wrong password stays wrong: no retries
    assert all(str(tis[t].state) == "upstream_failed" for t in ORDER[1:])
    assert not out.exists()
    logged = scan.check(capfd, caplog, output_dir=out, expect=["Checking the run's params and dataset, then Kafka broker"])
    # said within check_broker's 10 s: a timeout would have said "did not answer within"
    said = re.search(rf"Kafka broker of connection 'kafka_default' at {re.escape(secure_broker.bootstrap)} refused "
                     r"the login: authentication failed \(.*Invalid username or password", logged)
    assert said, "check_broker did not say the login was refused"


# Fail fast on the TLS listeners, at the task's own level: replay.check_broker is check_broker's whole body. A
# failure by AirflowFailException is one without retries. Each answer comes within check_broker's fixed
# timeout (include.topics.DEFAULT_TIMEOUT_S, 10 s): past it, the message would be the timeout's ("did not answer
# within 10 s"), which the tests rule out.

def refusal(monkeypatch, extra: dict, capfd, caplog, secrets: list[str]) -> str:
    from airflow.sdk.exceptions import AirflowFailException

    use_kafka(monkeypatch, extra)
    with SecretScan(secrets) as scan, pytest.raises(AirflowFailException) as failed:
        replay.check_broker("kafka_default")
    message = str(failed.value)
    assert "did not answer within" not in message, message
    scan.check(capfd, caplog, texts={"the task's error": message})
    return message


@pytest.mark.integration
def test_scram_wrong_password_fails_at_once_naming_the_address(monkeypatch, secure_broker, pki, capfd, caplog):
    message = refusal(monkeypatch, scram_tls(secure_broker, pki, WRONG_PASSWORD), capfd, caplog,
                      [WRONG_PASSWORD, SCRAM_PASSWORD])
    assert message.startswith(f"Kafka broker of connection 'kafka_default' at "
                              f"{secure_broker.listener(SCRAM_TLS).bootstrap} refused the login"), message
    assert "SCRAM-SHA-512" in message, message


@pytest.mark.integration
@pytest.mark.parametrize("listener", [SCRAM_TLS, MTLS])
def test_wrong_ca_fails_at_once_naming_tls_and_the_address(monkeypatch, secure_broker, pki, capfd, caplog,
                                                          listener):
    extra = (scram_tls(secure_broker, pki, ca=pki.other_ca) if listener == SCRAM_TLS
             else mtls(secure_broker, pki, ca=pki.other_ca))
    message = refusal(monkeypatch, extra, capfd, caplog, [SCRAM_PASSWORD, KEYSTORE_PASSWORD])
    assert message.startswith(f"TLS handshake with the Kafka broker of connection 'kafka_default' at "
                              f"{secure_broker.listener(listener).bootstrap} failed"), message
    assert "certificate verify failed" in message, message
    assert f"not signed by the CA in the connection's ssl.ca.location ({pki.other_ca})" in message, message


@pytest.mark.integration
def test_missing_client_certificate_fails_at_once_naming_the_address(monkeypatch, secure_broker, pki, capfd, caplog):
    message = refusal(monkeypatch, mtls(secure_broker, pki, certificate=False), capfd, caplog, [KEYSTORE_PASSWORD])
    assert message.startswith(f"TLS handshake with the Kafka broker of connection 'kafka_default' at "
                              f"{secure_broker.listener(MTLS).bootstrap} failed"), message
    assert "requires a client certificate and the connection's extra gives none" in message, message


@pytest.mark.integration
def test_client_key_as_pem_is_refused_before_anything_is_sent(monkeypatch, secure_broker, pki, capfd, caplog):
    """librdkafka takes a PEM key and certificate (the broker would let it in), the Spark job's Java client
    cannot be given them: check_broker says so first, before a record is produced."""
    extra = {**mtls(secure_broker, pki, certificate=False), "ssl.certificate.location": str(pki.client_cert),
             "ssl.key.location": str(pki.client_key)}
    key_line = pki.client_key.read_text().splitlines()[1]  # a line of the private key itself
    message = refusal(monkeypatch, extra, capfd, caplog, [key_line])
    assert message.startswith("the Kafka connection 'kafka_default' cannot be used by the Spark job: "
                              "ssl.certificate.location, ssl.key.location cannot be passed"), message
    assert "PKCS#12" in message, message
