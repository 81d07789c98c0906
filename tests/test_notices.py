"""Notices (include/notices.py): what a failure, validation-failure and recovered notice says, that no secret gets
into one, and the two channels against a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1:
sent, failing (mail server down, webhook 500, webhook that never answers: logged, bounded, never raised) and off
(no connection). The notices of real runs are checked where those runs are: test_end_to_end (failure,
validation failure, recovered with the mail server down) and test_faults (one notice after three tries; no
connection, no notice)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest

from include import notices
from include.notices import FAILED, RECOVERED, VALIDATION_FAILED, Notice, Redactor
from notice_servers import (BASE_URL, RECIPIENTS, SECRETS, SENDER, SMTP_LOGIN, SMTP_PASSWORD, WEBHOOK_ENDPOINT,
                            WEBHOOK_TOKEN)

RUN_ID = "manual__2026-11-26T02:00:00+00:00"
LOG_URL = f"{BASE_URL}/dags/metrics_replay/runs/manual__2026-11-26T02%3A00%3A00%2B00%3A00/tasks/check_broker?try_number=3"


def validation_record(tmp_path, wrong_lines: int = 7):
    """A real validation record: the default expected file against a copy with ``wrong_lines`` alerts changed."""
    from include.paths import DEFAULT_EXPECTED
    from include.validation import validate_run

    lines = DEFAULT_EXPECTED.read_text().splitlines(keepends=True)
    for i in range(1, wrong_lines + 1):
        fields = lines[i].rstrip("\n").split(",")
        fields[5] = "CPU spike suspected" if not fields[5] else ""
        lines[i] = ",".join(fields) + "\n"
    out = tmp_path / "run"
    out.mkdir()
    (out / "cpu_mem.csv").write_text("".join(lines))
    return validate_run(out, DEFAULT_EXPECTED, None, has_net_disk=False).record({"run_id": RUN_ID})


def test_failure_notice_says_dag_run_dataset_task_error_and_links():
    error = RuntimeError("Kafka broker of connection 'kafka_default' at 127.0.0.1:1 did not answer within 10 s\n"
                         "Traceback (most recent call last): ...")
    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "check_broker", error, 3, LOG_URL,
                               notices.page_url(BASE_URL))
    assert n.kind == FAILED
    assert n.subject == f"[metrics_replay] run {RUN_ID} FAILED at check_broker"
    assert n.lines() == [
        f"metrics_replay run {RUN_ID} failed: task check_broker (try 3) failed.",
        "Error: RuntimeError: Kafka broker of connection 'kafka_default' at 127.0.0.1:1 did not answer within 10 s",
        "Dataset: data/metrics.csv",
        f"Report: {BASE_URL}/replay-validation/",
        f"Task log: {LOG_URL}",
    ]
    payload = n.payload()
    assert payload["text"] == n.text and payload["kind"] == "failed" and payload["task_id"] == "check_broker"
    assert payload["error"].startswith("RuntimeError: Kafka broker") and "Traceback" not in payload["error"]
    assert payload["links"] == {"task_log": LOG_URL, "report": f"{BASE_URL}/replay-validation/"}
    assert json.loads(json.dumps(payload)) == payload  # plain JSON
    assert f'<a href="{LOG_URL.replace("&", "&amp;")}">' in n.html()


def test_validation_failure_notice_has_counts_and_first_mismatches(tmp_path):
    record = validation_record(tmp_path, wrong_lines=7)
    report = notices.report_url(BASE_URL, "manual__2026-11-26T02_00_00_00_00")
    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "validate_output",
                               AssertionError("output differs"), 1, LOG_URL, report, record)
    assert n.kind == VALIDATION_FAILED
    assert n.subject == f"[metrics_replay] run {RUN_ID}: validation FAILED"
    assert n.mismatch_total == 7
    assert n.parts["cpu_mem"] == ("cpu_mem:  FAIL  14393 of 14400 expected rows match (14400 produced, 0 missing, "
                                  "0 extra, mismatched values: alert=7)")
    assert n.parts["net_disk"].startswith("net_disk: not applicable")
    assert len(n.mismatches) == notices.NOTICE_MISMATCHES
    assert n.mismatches[0] == ("cpu_mem server_1 / 20:52:00 / 20:52:30 alert: expected '', "
                               "produced 'CPU spike suspected'")
    text = n.text
    assert "validation FAILED, the output differs from the expected files (7 differences)" in text
    assert f"First mismatches (5 of 7):\n  {n.mismatches[0]}" in text
    assert f"Report: {BASE_URL}/replay-validation/runs/manual__2026-11-26T02_00_00_00_00/report" in text
    counts = n.payload()["validation"]["cpu_mem"]
    assert (counts["status"], counts["matching"], counts["mismatches_per_column"]["alert"]) == ("fail", 14393, 7)
    assert n.payload()["first_mismatches"] == n.mismatches


def test_validate_output_failing_without_a_comparison_is_a_failure_notice(tmp_path):
    """An expected file that cannot be read is not a difference: the notice is the task's error line."""
    from include.validation import error_record

    record = error_record("cannot validate out: data/x.csv: no such file")
    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "validate_output",
                               "AirflowFailException: cannot validate out: data/x.csv: no such file", 1, LOG_URL,
                               notices.page_url(BASE_URL), record)
    assert n.kind == FAILED and n.error.endswith("data/x.csv: no such file")


def test_recovered_notice_names_the_failed_run_before(tmp_path):
    from include.paths import DEFAULT_EXPECTED
    from include.validation import validate_run

    out = tmp_path / "ok"
    out.mkdir()
    (out / "cpu_mem.csv").write_bytes(DEFAULT_EXPECTED.read_bytes())
    record = validate_run(out, DEFAULT_EXPECTED, None, has_net_disk=False).record()
    n = notices.recovered_notice("metrics_replay", RUN_ID, "data/metrics.csv", "manual__earlier", LOG_URL,
                                 notices.report_url(BASE_URL, "ok"), record)
    assert n.kind == RECOVERED and n.subject == f"[metrics_replay] run {RUN_ID} RECOVERED"
    assert n.lines()[0] == f"metrics_replay run {RUN_ID} RECOVERED: it passed validation after the failed run " \
                           "manual__earlier."
    assert n.parts["cpu_mem"].startswith("cpu_mem:  PASS  14400 of 14400")
    assert n.payload()["previous_run_id"] == "manual__earlier"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="'paged' is not one of failed, validation_failed, recovered"):
        Notice(kind="paged", dag_id="d", run_id="r", dataset="x")


def test_secrets_are_redacted_from_every_field():
    from airflow.sdk import Connection

    kafka = Connection(conn_id="kafka_default", conn_type="kafka",
                       extra=json.dumps({"bootstrap.servers": "k:9093", "sasl.username": "replay",
                                         "sasl.password": "kafka-secret-77", "ssl.keystore.password": "ks-pass-88"}))
    hook_url = f"https://hooks.example.test{WEBHOOK_ENDPOINT}?token=q-token-99"
    redact = Redactor([*notices.connection_secrets(kafka), *notices.url_secrets(hook_url, WEBHOOK_ENDPOINT)])
    n = Notice(kind=FAILED, dag_id="metrics_replay", run_id=RUN_ID, dataset="data/metrics.csv",
               task_id="check_broker",
               error=f"login kafka-secret-77 refused; keystore ks-pass-88; posted to {hook_url}; token {WEBHOOK_TOKEN}",
               log_url=LOG_URL, report_url=notices.page_url(BASE_URL))
    safe = redact.notice(n)
    assert safe.error == "login *** refused; keystore ***; posted to ***; token ***"
    for secret in ("kafka-secret-77", "ks-pass-88", WEBHOOK_TOKEN, "q-token-99"):
        assert secret not in safe.text and secret not in json.dumps(safe.payload()) and secret not in safe.html()
    assert "replay" in safe.text and safe.log_url == LOG_URL  # ordinary words and links are left alone


def test_sent_by_mail_and_webhook_to_real_servers(notice_servers):
    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "check_broker",
                               RuntimeError("broker down"), 3, LOG_URL, notices.page_url(BASE_URL))
    channels = [notices.email_channel(), notices.webhook_channel()]
    outcome = notices.send(n, channels, Redactor())
    assert outcome == {"e-mail": "sent", "webhook": "sent"}
    [mail] = notice_servers.mails
    assert sorted(mail.envelope_to) == sorted(RECIPIENTS) and mail.message["From"] == SENDER
    assert mail.subject == n.subject
    assert "task check_broker (try 3) failed." in mail.body and "Error: RuntimeError: broker down" in mail.body
    assert f'<a href="{LOG_URL.replace("&", "&amp;")}">' in mail.body
    assert notice_servers.logins == [(SMTP_LOGIN, SMTP_PASSWORD)]  # the connection's login was used
    [post] = notice_servers.posts
    assert post.path == WEBHOOK_ENDPOINT  # host and port from the connection as the hook builds it, + endpoint
    assert post.body == n.payload()
    assert "endpoint" not in {k.lower() for k in post.headers}  # the extra's endpoint is not sent as a header
    for where, text in notice_servers.texts().items():
        assert not any(s in text for s in SECRETS), where


def test_a_recovered_notice_arrives_by_mail(notice_servers):
    n = notices.recovered_notice("metrics_replay", RUN_ID, "data/metrics.csv", "manual__earlier", LOG_URL,
                                 notices.report_url(BASE_URL, "x"))
    assert notices.send(n, [notices.email_channel()], Redactor()) == {"e-mail": "sent"}
    [mail] = notice_servers.mails
    assert "RECOVERED" in mail.subject and "after the failed run manual__earlier" in mail.body


def test_failing_channels_are_logged_bounded_and_never_raised(notice_servers, monkeypatch, caplog):
    from devtools.kafka import free_port

    notice_servers.status = 500
    for key, value in notice_servers.connection_env(smtp_port=free_port()).items():  # nothing listens there
        monkeypatch.setenv(key, value)
    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "check_broker", "boom", 1, None,
                               None)
    caplog.set_level(logging.INFO, logger="include.notices")
    outcome = notices.send(n, [notices.email_channel(), notices.webhook_channel()], Redactor())
    assert outcome["e-mail"].startswith("failed: ConnectionRefusedError")
    assert outcome["webhook"] == "failed: AirflowException: 500:Internal Server Error"
    assert len(notice_servers.posts) == 1 and not notice_servers.mails
    assert "Could not send the failed notice of run" in caplog.text and "by e-mail" in caplog.text
    assert not any(s in caplog.text for s in SECRETS)

    # A webhook that takes the connection and never answers: the send gives up at the bound, the run goes on.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_REPLAY_WEBHOOK", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": silent.getsockname()[1],
             "extra": {"endpoint": WEBHOOK_ENDPOINT}}))
        started = time.monotonic()
        outcome = notices.send(n, [notices.webhook_channel(timeout=1.0)], Redactor(), timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert elapsed < 3, elapsed
    assert outcome["webhook"].startswith(("timed out", "failed: ReadTimeout")), outcome
    assert WEBHOOK_TOKEN not in caplog.text  # the failure names no URL with its token


def test_no_connection_means_the_channel_is_off_said_once(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_REPLAY_EMAIL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_REPLAY_WEBHOOK", raising=False)
    monkeypatch.setattr(notices, "said_off", set())
    caplog.set_level(logging.INFO, logger="include.notices")
    assert notices.email_channel() is None and notices.webhook_channel() is None
    assert notices.email_channel() is None
    assert caplog.text.count("Notices by e-mail are off: there is no Airflow connection 'replay_email'") == 1
    assert caplog.text.count("Notices by webhook are off: there is no Airflow connection 'replay_webhook'") == 1


def test_the_notifier_never_raises(caplog):
    caplog.set_level(logging.INFO, logger="include.notices")
    notifier = notices.ReplayNotifier(on="failure")
    notifier.notify({"params": {}})  # no task instance: nothing to say, and nothing raised
    assert "No notice sent: KeyError" in caplog.text
    with pytest.raises(ValueError, match="on is 'failure' or 'success'"):
        notices.ReplayNotifier(on="retry")


def test_a_connection_that_cannot_be_used_turns_off_only_its_channel(notice_servers, monkeypatch, caplog):
    """A webhook connection with no usable URL: the mail still goes out; the warning quotes no host or token."""
    monkeypatch.setenv("AIRFLOW_CONN_REPLAY_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": f"://hooks.example.test{WEBHOOK_ENDPOINT}", "extra": {}}))  # no scheme
    caplog.set_level(logging.INFO, logger="include.notices")
    redact = Redactor()
    notifier = notices.ReplayNotifier(on="failure")
    assert notifier.open(notices.webhook_channel, "replay_webhook", redact) is None
    assert notifier.open(notices.email_channel, "replay_email", redact) is not None
    assert "Notices through connection 'replay_webhook' are off for this notice" in caplog.text
    assert WEBHOOK_TOKEN not in caplog.text


def test_the_report_link_names_the_output_root_the_run_is_in(tmp_path, monkeypatch):
    """As the Replay validation page lists it: a run folder of the second output root has ?root=1; a run with no
    report, or outside every root (the page does not list it), links the page itself."""
    from include.contract import REPORT_FILE
    from include.paths import OUTPUT_ROOTS_ENV

    first, second, elsewhere = tmp_path / "first", tmp_path / "second", tmp_path / "elsewhere"
    for folder in (first / "a run", second / "b", elsewhere / "c", second / "no report"):
        folder.mkdir(parents=True)
        if folder.name != "no report":
            (folder / REPORT_FILE).write_text("<html></html>")
    monkeypatch.setenv(OUTPUT_ROOTS_ENV, f"{first}:{second}")
    monkeypatch.setattr(notices, "base_url", lambda: BASE_URL)
    assert notices.report_link(first / "a run") == f"{BASE_URL}/replay-validation/runs/a%20run/report"
    assert notices.report_link(second / "b") == f"{BASE_URL}/replay-validation/runs/b/report?root=1"
    assert notices.report_link(elsewhere / "c") == notices.report_link(second / "no report") == \
        notices.report_link(None) == f"{BASE_URL}/replay-validation/"


def test_a_channel_ending_after_the_bound_does_not_change_what_was_returned():
    """What send() returns (and logged) is read at the bound: a channel's thread that ends later, here with an
    error, does not rewrite "timed out" afterwards (it did: the test above once saw the late reset)."""
    ended = threading.Event()

    def late(notice):
        time.sleep(0.4)
        ended.set()
        raise ConnectionResetError("reset after the bound")

    n = notices.failure_notice("metrics_replay", RUN_ID, "data/metrics.csv", "check_broker", "boom", 1, None, None)
    outcome = notices.send(n, [notices.Channel("webhook", "replay_webhook", late, [])], Redactor(), timeout=0.1)
    assert ended.wait(5)
    time.sleep(0.1)  # the thread has stored its result by now
    assert outcome == {"webhook": "timed out after 0.1 s"}, outcome
