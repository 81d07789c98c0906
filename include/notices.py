"""Notices of a replay's outcome: a failed run, a failed validation, a run that passed after a failed one.

A notice is built from the run's facts (the DAG, the run id, the dataset; the failed task and its error line,
or the validation counts and first mismatches of validation.json; links to the task log and to the report on
the Replay validation page, under Airflow's ``[api] base_url``) and sent through the channels the deployment
configured as Airflow connections, never through anything a run's params could name:

- e-mail through the SMTP connection ``replay_email`` (the smtp provider's hook; recipients in the extra's
  ``to``, a list or a comma-separated text; the provider's own extra fields as usual: ``from_email``,
  ``disable_tls``, ``disable_ssl``, ``timeout``, ``retry_limit``);
- a JSON POST through the HTTP connection ``replay_webhook`` (the http provider's hook builds the URL from the
  connection as it always does, plus the path in the extra's ``endpoint``): a Slack-compatible ``text`` and the
  same facts as structured fields.

A channel whose connection does not exist is off (said once per process). Every send is bounded by
SEND_TIMEOUT_S, both channels at once; a channel that fails is logged and never fails or holds up the run.
Connection passwords, secrets of the Kafka connection and the webhook's URL (tokens in its path or query) are
redacted from the notice and from what is logged about a failed send.

The DAG wires ReplayNotifier as Airflow notifiers: ``on_failure_callback`` of every task (Airflow calls it only
once a task has failed after its last retry, and every task after a failed one is upstream_failed, so a failed
run gets one notice) and ``on_success_callback`` of validate_output, the run's last step (a "recovered" notice
when the run before it, by logical date, failed). Task callbacks run in the task's own process under the
scheduler and in dag.test() (`make run`) alike.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from airflow.sdk import BaseNotifier

from include.contract import REPLAY_VALIDATION_URL_PREFIX, report_route

if TYPE_CHECKING:  # pydantic models: imported when a notice is built, not when the DAG file is parsed
    from include.validation import ValidationRecord

log = logging.getLogger(__name__)

EMAIL_CONN_ID = "replay_email"
WEBHOOK_CONN_ID = "replay_webhook"
# Both channels are sent at once and waited for this long, together: a dead mail relay or a webhook that
# never answers costs the run at most this.
SEND_TIMEOUT_S = 10.0
# How many of validation.json's first mismatches a notice lists (the report has them all).
NOTICE_MISMATCHES = 5
DEFAULT_FROM = "metrics-replay@localhost"
REDACTED = "***"

FAILED = "failed"  # a task failed after its retries (validate_output's "cannot validate" included)
VALIDATION_FAILED = "validation_failed"  # the outputs differ from the expected files
RECOVERED = "recovered"  # a run passed after a failed one
KINDS = (FAILED, VALIDATION_FAILED, RECOVERED)

VALIDATE_TASK = "validate_output"


@dataclass(frozen=True)
class Notice:
    """What a notice says; ``text`` is the message (also the webhook's Slack ``text``)."""

    kind: str
    dag_id: str
    run_id: str
    dataset: str
    task_id: str | None = None
    try_number: int | None = None
    error: str | None = None  # the failed task's error line
    parts: dict[str, str] = field(default_factory=dict)  # cpu_mem/net_disk -> its counts as one line
    counts: dict[str, dict] = field(default_factory=dict)  # cpu_mem/net_disk -> status and counts, as fields
    mismatches: list[str] = field(default_factory=list)  # the first mismatches, one line each
    mismatch_total: int = 0  # differing windows and values, over both outputs
    previous_run_id: str | None = None  # recovered: the failed run before this one
    log_url: str | None = None
    report_url: str | None = None  # the run's report, or the Replay validation page when it has none

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"notice kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def subject(self) -> str:
        if self.kind == FAILED:
            return f"[{self.dag_id}] run {self.run_id} FAILED at {self.task_id}"
        if self.kind == VALIDATION_FAILED:
            return f"[{self.dag_id}] run {self.run_id}: validation FAILED"
        return f"[{self.dag_id}] run {self.run_id} RECOVERED"

    def lines(self) -> list[str]:
        """The message, line by line; links are plain URLs (Slack and mail readers link them)."""
        if self.kind == FAILED:
            tried = f" (try {self.try_number})" if self.try_number else ""
            head = [f"{self.dag_id} run {self.run_id} failed: task {self.task_id}{tried} failed.",
                    f"Error: {self.error or 'no error was given; see the task log'}"]
        elif self.kind == VALIDATION_FAILED:
            head = [f"{self.dag_id} run {self.run_id}: validation FAILED, the output differs from the expected "
                    f"files ({self.mismatch_total} differences)."]
        else:
            head = [f"{self.dag_id} run {self.run_id} RECOVERED: it passed validation after the failed run "
                    f"{self.previous_run_id}."]
        body = [f"Dataset: {self.dataset}"]
        body += list(self.parts.values())
        if self.mismatches:
            body.append(f"First mismatches ({len(self.mismatches)} of {self.mismatch_total}):")
            body += [f"  {m}" for m in self.mismatches]
        links = []
        if self.report_url:
            links.append(f"Report: {self.report_url}")
        if self.log_url:
            links.append(f"Task log: {self.log_url}")
        return head + body + links

    @property
    def text(self) -> str:
        return "\n".join(self.lines())

    def html(self) -> str:
        """The e-mail body: the same lines, links as links."""
        out = []
        for line in self.lines():
            label, sep, rest = line.partition(": ")
            if sep and label in ("Report", "Task log"):
                out.append(f'{html.escape(label)}: <a href="{html.escape(rest)}">{html.escape(rest)}</a>')
            else:
                out.append(html.escape(line).replace("  ", "&nbsp;&nbsp;"))
        return "<html><body><p>" + "<br>\n".join(out) + "</p></body></html>\n"

    def payload(self) -> dict:
        """The webhook's JSON: Slack's ``text``, and every fact as a field of its own."""
        return {"text": self.text, "kind": self.kind, "dag_id": self.dag_id, "run_id": self.run_id,
                "dataset": self.dataset, "task_id": self.task_id, "try_number": self.try_number,
                "error": self.error, "validation": dict(self.counts), "first_mismatches": list(self.mismatches),
                "mismatch_total": self.mismatch_total, "previous_run_id": self.previous_run_id,
                "links": {"task_log": self.log_url, "report": self.report_url}}


# ---- Building a notice from a run's facts (pure) ----

def page_url(base_url: str) -> str:
    """The Replay validation page under Airflow's base URL."""
    return f"{base_url.rstrip('/')}{REPLAY_VALIDATION_URL_PREFIX}/"


def report_url(base_url: str, folder: str, root: int = 0) -> str:
    """A run's report on the Replay validation page (the plugin serves it by the run's folder name and output
    root)."""
    return page_url(base_url) + report_route(folder, root)


COUNT_FIELDS = ("status", "expected_rows", "produced_rows", "matching", "missing", "extra", "mismatches_per_column",
                "reason")


def validation_facts(record: ValidationRecord) -> dict:
    """A validation record as a notice says it: each part as one line (``parts``) and as fields (``counts``),
    the first mismatches (NOTICE_MISMATCHES of them, one line each: output, window, column, expected and
    produced) and how many differences were counted (``mismatch_total``)."""
    from include.formatting import part_line
    from include.validation import ComparedPart, difference_lines

    parts, counts, mismatches, total = {}, {}, [], 0
    for name in ("cpu_mem", "net_disk"):
        part = getattr(record, name)
        fields = part.model_dump(mode="json")
        parts[name] = part_line(name, fields).strip()
        counts[name] = {k: v for k, v in fields.items() if k in COUNT_FIELDS}
        if not isinstance(part, ComparedPart):
            continue
        total += part.missing + part.extra + sum(part.mismatches_per_column.values())
        mismatches += difference_lines(name, part)
    return {"parts": parts, "counts": counts, "mismatches": mismatches[:NOTICE_MISMATCHES], "mismatch_total": total}


def failure_notice(dag_id: str, run_id: str, dataset: str, task_id: str, error: BaseException | str | None,
                   try_number: int | None, log_url: str | None, report: str | None,
                   record: ValidationRecord | None = None) -> Notice:
    """The notice of a failed task; with the run's validation record (validate_output failed on a difference),
    the validation-failure notice."""
    from include.formatting import error_text
    from include.validation import ComparedPart

    compared = record is not None and any(isinstance(getattr(record, p), ComparedPart) for p in ("cpu_mem", "net_disk"))
    if task_id == VALIDATE_TASK and compared and not record.passed:
        return Notice(kind=VALIDATION_FAILED, dag_id=dag_id, run_id=run_id, dataset=dataset, task_id=task_id,
                      try_number=try_number, log_url=log_url, report_url=report, **validation_facts(record))
    return Notice(kind=FAILED, dag_id=dag_id, run_id=run_id, dataset=dataset, task_id=task_id,
                  try_number=try_number, error=error_text(error), log_url=log_url, report_url=report)


def recovered_notice(dag_id: str, run_id: str, dataset: str, previous_run_id: str, log_url: str | None,
                     report: str | None, record: ValidationRecord | None = None) -> Notice:
    facts = validation_facts(record) if record is not None else {}
    return Notice(kind=RECOVERED, dag_id=dag_id, run_id=run_id, dataset=dataset, task_id=VALIDATE_TASK,
                  previous_run_id=previous_run_id, parts=facts.get("parts", {}), counts=facts.get("counts", {}),
                  log_url=log_url, report_url=report)


# ---- Secrets ----

SECRET_KEY_WORDS = ("password", "secret", "token", "credential", "oauthbearer.config")
MIN_SECRET = 4  # shorter values would redact ordinary words


def connection_secrets(conn) -> list[str]:
    """The values of a connection that must never be shown: its password, and extra values whose key names a
    secret (sasl.password, ssl.keystore.password, ...)."""
    secrets = [conn.password] if conn.password else []
    try:
        extra = conn.extra_dejson
    except Exception:  # a malformed extra holds nothing we could pick out: the whole text is redacted instead
        extra = {}
        if conn.extra:
            secrets.append(conn.extra)
    secrets += [str(v) for k, v in extra.items() if any(w in str(k).lower() for w in SECRET_KEY_WORDS) and v]
    return secrets


def url_secrets(url: str, endpoint: str | None = None) -> list[str]:
    """Whatever of a webhook URL may be a token: the URL itself, its endpoint, its path, each long path segment
    (Slack's /services/T…/B…/<token>), its query values and a password in it."""
    parts = urlsplit(url)
    # A bare scheme://host:port is an address, not a secret (and may be Airflow's own, in the links).
    secrets = [url if parts.path.strip("/") or parts.query else "", endpoint or "", parts.path, parts.query,
               parts.password or ""]
    secrets += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    secrets += [v for _, v in parse_qsl(parts.query)]
    return secrets


class Redactor:
    """Replaces every known secret in a text by REDACTED, longest first (a URL before its path)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in [*self.secrets, *secrets] if s and len(s) >= MIN_SECRET}, key=len,
                              reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def notice(self, n: Notice) -> Notice:
        """The notice with every secret redacted from its texts (ids and numbers are the run's own)."""
        return replace(n, dataset=self(n.dataset), error=self(n.error),
                       parts={k: self(v) for k, v in n.parts.items()},
                       counts={k: {f: self(v) if isinstance(v, str) else v for f, v in c.items()}
                               for k, c in n.counts.items()},
                       mismatches=[self(m) for m in n.mismatches], log_url=self(n.log_url),
                       report_url=self(n.report_url))


# ---- Channels ----

# The connections already said to be missing, in this process (a task process under the scheduler; the whole
# `make run` under dag.test()).
said_off: set[str] = set()


def get_connection(conn_id: str, channel: str):
    """The connection, or None (the channel is off), said once per process."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id not in said_off:
            said_off.add(conn_id)
            log.info("Notices by %s are off: there is no Airflow connection %r", channel, conn_id)
        return None


def recipients(conn) -> list[str]:
    to = conn.extra_dejson.get("to") or []
    if isinstance(to, str):
        to = to.split(",")
    return [t.strip() for t in to if str(t).strip()]


@dataclass
class Channel:
    """One configured way out: its name, what sends a notice through it, and its secrets."""

    name: str
    conn_id: str
    send: Callable[[Notice], None]
    secrets: list[str]


def email_channel(conn_id: str = EMAIL_CONN_ID) -> Channel | None:
    conn = get_connection(conn_id, "e-mail")
    if conn is None:
        return None
    to = recipients(conn)

    def send(notice: Notice) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        if not to:
            raise ValueError(f"connection {conn_id!r} names no recipients: put them in its extra, "
                             '{"to": ["ops@example.com"]}')
        with SmtpHook(smtp_conn_id=conn_id) as hook:
            hook.send_email_smtp(to=to, subject=notice.subject, html_content=notice.html(),
                                 from_email=hook.from_email or DEFAULT_FROM)

    return Channel("e-mail", conn_id, send, connection_secrets(conn))


def webhook_channel(conn_id: str = WEBHOOK_CONN_ID, timeout: float = SEND_TIMEOUT_S) -> Channel | None:
    from airflow.providers.http.hooks.http import HttpHook

    conn = get_connection(conn_id, "webhook")
    if conn is None:
        return None
    endpoint = conn.extra_dejson.get("endpoint") or ""
    hook = HttpHook(method="POST", http_conn_id=conn_id)
    try:
        url = hook.url_from_endpoint(endpoint)
    except ValueError as exc:  # no scheme: the message would quote the host, which may hold a token
        raise ValueError(f"connection {conn_id!r} gives no usable URL (host, schema, port): "
                         f"{type(exc).__name__}") from None

    def send(notice: Notice) -> None:
        # The hook sends every unknown extra key as a header; "endpoint" (which may hold the token) is ours, so
        # it is dropped (requests leaves out a header set to None).
        hook.run(endpoint, json=notice.payload(), headers={"endpoint": None},
                 extra_options={"timeout": timeout})

    return Channel("webhook", conn_id, send, [*connection_secrets(conn), *url_secrets(url, endpoint)])


def send(notice: Notice, channels: list[Channel], redact: Redactor, timeout: float = SEND_TIMEOUT_S) -> dict[str, str]:
    """Send ``notice`` (redacted) through every channel at once, waiting ``timeout`` seconds for all; never
    raises. Returns each channel's outcome: "sent", "failed: ..." or "timed out"."""
    import time

    for ch in channels:
        redact.add(ch.secrets)
    safe = redact.notice(notice)
    # Written by the channels' threads, also after the bound (a channel that timed out may still end later):
    # what is returned and logged is read once, at the bound.
    finished: dict[str, str] = {}

    def one(ch: Channel) -> None:
        try:
            ch.send(safe)
            finished[ch.name] = "sent"
        except Exception as exc:  # a notifier never fails the run: logged, with no secret
            finished[ch.name] = f"failed: {redact(f'{type(exc).__name__}: {exc}')}"

    threads = [threading.Thread(target=one, args=(ch,), name=f"notice-{ch.name}", daemon=True) for ch in channels]
    deadline = time.monotonic() + timeout
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    outcome = {ch.name: finished.get(ch.name, f"timed out after {timeout:g} s") for ch in channels}
    for ch in channels:
        result = outcome[ch.name]
        if result == "sent":
            log.info("Sent the %s notice of run %s by %s (connection %r)", notice.kind, notice.run_id, ch.name,
                     ch.conn_id)
        else:
            log.warning("Could not send the %s notice of run %s by %s (connection %r): %s; the run goes on",
                        notice.kind, notice.run_id, ch.name, ch.conn_id, result)
    return outcome


# ---- The Airflow side: a notifier on task callbacks ----

@dataclass
class RunFacts:
    dag_id: str
    run_id: str
    dataset: str
    folder: Path | None  # the run's output folder; None when its output_dir param is not allowed
    record: ValidationRecord | None  # its validation.json; None when there is none


def run_facts(context: Mapping) -> RunFacts:
    """The run's facts from a callback's context; the output folder comes from the params, confined as the tasks
    confine it."""
    from include.contract import VALIDATION_FILE
    from include.paths import PathNotAllowed, confined, output_dir_for
    from include.validation import ValidationFileError, read_record

    ti = context["ti"]
    params = context.get("params") or {}
    run_id = context.get("run_id") or ti.run_id
    folder = record = None
    try:
        folder = confined(output_dir_for(params.get("output_dir"), run_id), "output_dir", "output")
        if (folder / VALIDATION_FILE).is_file():
            record = read_record(folder / VALIDATION_FILE)
            if record.run_id not in (None, run_id):  # an earlier run's file in a reused folder says nothing here
                record = None
    except (PathNotAllowed, ValidationFileError) as exc:
        log.info("The notice carries no validation details: %s", exc)
    return RunFacts(ti.dag_id, run_id, str(params.get("dataset_path", "")), folder, record)


def base_url() -> str:
    """Airflow's [api] base_url, as the task log links (ti.log_url) use it."""
    from airflow.sdk.configuration import conf

    return conf.get("api", "base_url", fallback="http://localhost:8080/")


def report_link(folder: Path | None) -> str:
    """The run's report on the Replay validation page, or the page itself when the run has no report."""
    from include.contract import REPORT_FILE

    from include.paths import output_root_of

    root = output_root_of(folder) if folder is not None else None
    if root is not None and (folder / REPORT_FILE).is_file():
        return report_url(base_url(), folder.name, root)
    return page_url(base_url())


def kafka_secrets(context: Mapping) -> list[str]:
    """The Kafka connection's secrets (a broker error may quote a setting); none when it cannot be read."""
    from airflow.sdk import BaseHook

    conn_id = (context.get("params") or {}).get("kafka_conn_id")
    try:
        return connection_secrets(BaseHook.get_connection(conn_id)) if conn_id else []
    except Exception:
        return []


class ReplayNotifier(BaseNotifier):
    """An Airflow notifier for metrics_replay's task callbacks: ``on="failure"`` (on_failure_callback of every
    task) sends the failure or validation-failure notice; ``on="success"`` (on_success_callback of
    validate_output) sends the recovered notice when the run before this one failed. Never raises."""

    def __init__(self, on: str, email_conn_id: str = EMAIL_CONN_ID, webhook_conn_id: str = WEBHOOK_CONN_ID,
                 timeout: float = SEND_TIMEOUT_S) -> None:
        super().__init__()
        if on not in ("failure", "success"):
            raise ValueError(f"ReplayNotifier(on={on!r}): on is 'failure' or 'success'")
        self.on = on
        self.email_conn_id = email_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.timeout = timeout

    def notify(self, context) -> None:
        redact = Redactor()
        try:
            redact.add(kafka_secrets(context))
            notice = self.build(context)
            if notice is None:
                return
            channels = [ch for ch in (self.open(email_channel, self.email_conn_id, redact),
                                      self.open(webhook_channel, self.webhook_conn_id, redact, self.timeout))
                        if ch is not None]
            if channels:
                send(notice, channels, redact, self.timeout)
        except Exception as exc:  # a notice never fails the run
            log.warning("No notice sent: %s", redact(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def open(make: Callable[..., Channel | None], conn_id: str, redact: Redactor, *args) -> Channel | None:
        """One channel, or None: a connection that cannot be used turns its channel off, not the other one."""
        try:
            return make(conn_id, *args)
        except Exception as exc:
            log.warning("Notices through connection %r are off for this notice: %s", conn_id,
                        redact(f"{type(exc).__name__}: {exc}"))
            return None

    def build(self, context) -> Notice | None:
        ti = context["ti"]
        facts = run_facts(context)
        if self.on == "failure":
            return failure_notice(facts.dag_id, facts.run_id, facts.dataset, ti.task_id, context.get("exception"),
                                  ti.try_number, ti.log_url, report_link(facts.folder), facts.record)
        previous = ti.get_previous_dagrun()
        if previous is None or str(getattr(previous.state, "value", previous.state)) != "failed":
            return None
        return recovered_notice(facts.dag_id, facts.run_id, facts.dataset, previous.run_id, ti.log_url,
                                report_link(facts.folder), facts.record)
