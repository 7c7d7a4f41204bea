"""Real loopback servers for the channel tests: aiosmtpd SMTP (plain, STARTTLS, TLS, AUTH) and an HTTP(S) receiver."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.core.render import (
    AlertContext,
    ArticleInfo,
    Changes,
    Message,
    Outlet,
    Snippet,
    StoryInfo,
    render_alert,
)

SMTP_USER = "alerts@example.org"
SMTP_PASSWORD = "s3cret-p4ss"
NOW = datetime(2024, 10, 18, 12, 5, tzinfo=UTC)


def free_port() -> int:
    """A port nothing listens on (bound and released), for 'connection refused' and fixed-port servers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- alerts -----------------------------------------------------------------------------------


def make_alert(**overrides: Any) -> AlertContext:
    """A full alert (every field set); keyword arguments replace fields."""
    text = "Kyiv and its partners said on Friday the grain corridor will stay open through the winter."
    fields: dict[str, Any] = {
        "event": "new_version",
        "delivery_id": "alert-42-7-3",
        "watch": "grain exports",
        "article": ArticleInfo(
            id=42,
            url="https://kyiv.example/news/grain-corridor?id=1&src=rss",
            title="Grain corridor to stay open",
            source="Kyiv Post",
            published=datetime(2024, 10, 18, 9, 30, tzinfo=UTC),
            version=3,
        ),
        "story": StoryInfo(
            id=7,
            other_outlets=(
                Outlet(
                    "Reuters",
                    "Ukraine grain route stays open",
                    "https://reuters.example/a",
                    datetime(2024, 10, 18, 8, 0, tzinfo=UTC),
                ),
                Outlet("Meduza", "Зерновой коридор продлён", "https://meduza.example/b", None),
            ),
        ),
        "created_at": NOW,
        "terms": ("grain", "corridor"),
        "snippet": Snippet(
            text,
            (
                (text.index("grain"), text.index("grain") + 5),
                (text.index("corridor"), text.index("corridor") + 8),
            ),
        ),
        "changes": Changes(added=("winter", "Friday"), removed=("autumn",)),
    }
    fields.update(overrides)
    return AlertContext(**fields)


@pytest.fixture
def alert() -> AlertContext:
    return make_alert()


@pytest.fixture
def message(alert: AlertContext) -> Message:
    return render_alert(alert, channel="test")


# --- TLS --------------------------------------------------------------------------------------


@dataclass
class TLS:
    """A throwaway CA (trustme), a certificate for 127.0.0.1/localhost, and the CA as a PEM file."""

    ca: trustme.CA
    cert: trustme.LeafCert
    ca_file: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return TLS(ca, cert, str(path))


# --- SMTP -------------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None
    tls: bool

    @property
    def email(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SMTPRecorder:
    """aiosmtpd handler: records accepted messages; can refuse recipients or the DATA."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse_rcpt: dict[str, str] = {}  # address -> reply, e.g. "550 5.1.1 no such user"
        self.data_reply: str | None = None  # e.g. "451 4.3.0 try again later"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                login=session.auth_data.login if session.auth_data is not None else None,
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 Ok: queued as 1"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SMTPServer:
    host: str
    port: int
    recorder: SMTPRecorder

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


@pytest.fixture
def smtp_server(tls: TLS) -> Iterator[Callable[..., SMTPServer]]:
    """Start aiosmtpd on loopback: `smtp_server(security="none"|"starttls"|"tls", auth=False)`."""
    controllers: list[Controller] = []

    def start(security: str = "none", auth: bool = False) -> SMTPServer:
        recorder = SMTPRecorder()
        port = free_port()
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ident": "news-monitor test SMTP"}
        if security == "starttls":
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        elif security == "tls":
            kwargs.update(ssl_context=tls.server_context())
        if auth:
            kwargs.update(
                authenticator=_authenticator, auth_required=True, auth_require_tls=security != "none"
            )
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SMTPServer("127.0.0.1", port, recorder)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never says anything: for timeouts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# --- HTTP receiver ----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # wait for this before answering (timeouts)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP(S) server on 127.0.0.1 in a thread: answers queued replies (then 200), records requests."""

    def __init__(self, port: int = 0, context: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(request)
                    reply = receiver.replies.pop(0) if receiver.replies else Reply()
                if reply.hold is not None:
                    reply.hold.wait(10)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        if context is not None:
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        self.scheme = "https" if context is not None else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="webhook-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def https_receiver(tls: TLS) -> Iterator[Receiver]:
    server = Receiver(context=tls.server_context())
    yield server
    server.stop()


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "webhook-payload.schema.json"
