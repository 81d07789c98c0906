"""The one provider underscore API the project relies on, pinned down: when an upgrade of the Kafka provider
changes it, these tests fail loudly instead of the replay failing (or silently losing callbacks) at run time.

include/replay.kafka_config calls ``KafkaBaseHook._build_config()`` because the provider offers no public
method that returns the connection's librdkafka config as a dict. What the replay relies on: it takes no
arguments, returns a new dict of the connection's extra, resolves allow-listed callbacks given as dotted
paths, refuses a connection without bootstrap.servers, and adds the managed-token callback for Amazon MSK
IAM (so such connections keep working through our own clients).
"""

from __future__ import annotations

import inspect
import json

import pytest

from include import replay

# Any importable callable stands for the connection's callback (never called here).
CALLBACK = "json.dumps"


def connection(monkeypatch, conn_id: str, extra: dict) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kafka", "extra": extra}))
    return conn_id


def test_build_config_is_still_there_and_takes_no_arguments():
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    build = getattr(KafkaBaseHook, "_build_config", None)
    assert build is not None, "KafkaBaseHook._build_config is gone: find the provider's new route in kafka_config"
    assert list(inspect.signature(build).parameters) == ["self"]


def test_config_is_the_extra_with_callbacks_resolved(monkeypatch):
    monkeypatch.setenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", CALLBACK)
    conn_id = connection(monkeypatch, "contract_kafka", {"bootstrap.servers": "127.0.0.1:1", "linger.ms": 5,
                                                        "error_cb": CALLBACK})
    config = replay.kafka_config(conn_id)
    assert config["bootstrap.servers"] == "127.0.0.1:1" and config["linger.ms"] == 5
    assert config["error_cb"] is json.dumps, "a dotted-path callback is no longer resolved to the callable"
    config["bootstrap.servers"] = "changed"
    assert replay.kafka_config(conn_id)["bootstrap.servers"] == "127.0.0.1:1", "the config is shared, not new"


def test_callback_outside_the_allowlist_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", "")
    conn_id = connection(monkeypatch, "contract_kafka_cb", {"bootstrap.servers": "127.0.0.1:1", "error_cb": CALLBACK})
    with pytest.raises(ValueError, match="callback"):
        replay.kafka_config(conn_id)


def test_connection_without_bootstrap_servers_is_refused(monkeypatch):
    conn_id = connection(monkeypatch, "contract_kafka_empty", {"linger.ms": 5})
    with pytest.raises(ValueError, match="bootstrap.servers"):
        replay.kafka_config(conn_id)


def test_msk_iam_connection_gets_the_token_callback(monkeypatch):
    """An MSK address with OAUTHBEARER makes the provider add its token callback; without the msk extra
    installed it says so. Either way the config of such a connection is the provider's, not a bare extra."""
    conn_id = connection(monkeypatch, "contract_kafka_msk", {
        "bootstrap.servers": "b-1.demo.abcde1.c2.kafka.eu-west-1.amazonaws.com:9098",
        "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"})
    try:
        config = replay.kafka_config(conn_id)
    except Exception as exc:  # noqa: BLE001 - the provider's optional-feature exception, by name below
        assert type(exc).__name__ == "AirflowOptionalProviderFeatureException"
        assert "aws_msk_iam_sasl_signer" in str(exc)
    else:
        assert callable(config["oauth_cb"])
