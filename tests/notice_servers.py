"""A real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1 that receive the replay's notices, and the
Airflow connections replay_email and replay_webhook that point at them.

    servers = NoticeServers().start()
    for key, value in servers.connection_env().items(): monkeypatch.setenv(key, value)
    ... a run ...
    servers.mails, servers.posts   # what arrived

The SMTP server takes a login (so the connection's password is really used) and keeps each message parsed; the
HTTP server keeps each POST's path, headers and JSON body and answers with ``status`` (500 to play a broken
webhook). Each secret is long and unlike anything else, for tests/secret_scan.py.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devtools.kafka import free_port

SMTP_LOGIN = "replay-notices"
SMTP_PASSWORD = "smtp-pass-5q7Wc2Zr9KxL"
WEBHOOK_LOGIN = "replay-hook"
WEBHOOK_PASSWORD = "hook-pass-Vt3Nq8Ls1Pd6"
WEBHOOK_TOKEN = "xoxb-token-Jm4Rf7Hk2Wz9Qy5T"  # in the URL's path, as Slack's incoming webhooks have it
WEBHOOK_ENDPOINT = f"/services/T0REPLAY/B0NOTICE/{WEBHOOK_TOKEN}"
SECRETS = (SMTP_PASSWORD, WEBHOOK_PASSWORD, WEBHOOK_TOKEN)
RECIPIENTS = ["ops@example.com", "oncall@example.com"]
SENDER = "metrics-replay@example.com"
BASE_URL = "http://airflow.example.test:8080"  # Airflow's [api] base_url in the notices' links


@dataclass
class Mail:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        """The text of every text part, decoded (the hook sends HTML, base64 or quoted-printable)."""
        return "\n".join(part.get_content() for part in self.message.walk()
                         if part.get_content_maintype() == "text")

    @property
    def raw(self) -> str:
        return self.message.as_string()


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: dict


class _Handler:
    def __init__(self, servers: NoticeServers) -> None:
        self.servers = servers

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.servers.lock:
            self.servers.mails.append(Mail(list(envelope.rcpt_tos), message))
        return "250 OK"


@dataclass
class NoticeServers:
    status: int = 200  # what the webhook answers
    mails: list[Mail] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> NoticeServers:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword)
            if ok:
                with self.lock:
                    self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=ok and auth_data.password.decode() == SMTP_PASSWORD)

        self.smtp_port = free_port()
        self.smtp = Controller(_Handler(self), hostname="127.0.0.1", port=self.smtp_port,
                               authenticator=authenticate, auth_require_tls=False)
        self.smtp.start()
        servers = self

        class Webhook(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with servers.lock:
                    servers.posts.append(Post(self.path, dict(self.headers.items()), json.loads(body or b"{}")))
                self.send_response(servers.status)
                self.end_headers()
                self.wfile.write(b"ok" if servers.status < 400 else b"broken")

            def log_message(self, *args):  # the test's output stays the run's
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.smtp.stop()
        self.http.shutdown()
        self.http.server_close()

    def connection_env(self, smtp_port: int | None = None) -> dict[str, str]:
        """AIRFLOW_CONN_REPLAY_EMAIL and AIRFLOW_CONN_REPLAY_WEBHOOK pointing at these servers (``smtp_port``:
        another port, e.g. a closed one, for a mail server that is down)."""
        email_conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port or self.smtp_port,
                      "login": SMTP_LOGIN, "password": SMTP_PASSWORD,
                      "extra": {"to": RECIPIENTS, "from_email": SENDER, "disable_tls": True, "disable_ssl": True,
                                "timeout": 5, "retry_limit": 0}}
        webhook_conn = {"conn_type": "http", "host": "127.0.0.1", "port": self.http_port, "schema": "http",
                        "login": WEBHOOK_LOGIN, "password": WEBHOOK_PASSWORD, "extra": {"endpoint": WEBHOOK_ENDPOINT}}
        return {"AIRFLOW_CONN_REPLAY_EMAIL": json.dumps(email_conn),
                "AIRFLOW_CONN_REPLAY_WEBHOOK": json.dumps(webhook_conn)}

    def texts(self) -> dict[str, str]:
        """Everything that arrived, for SecretScan.check(texts=...)."""
        out = {f"mail {i}": m.raw + m.body for i, m in enumerate(self.mails)}
        out.update({f"webhook post {i}": json.dumps(p.body) + json.dumps(p.headers.get("endpoint", ""))
                    for i, p in enumerate(self.posts)})
        return out
