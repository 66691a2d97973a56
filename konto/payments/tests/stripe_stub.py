"""A local stand-in for api.stripe.com: serves recorded Stripe responses and records every request it gets."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESPONSES = Path(__file__).parent / "stripe_responses"


def recorded(name: str) -> dict[str, Any]:
    """A recorded Stripe response body from stripe_responses/<name>.json."""
    return json.loads((RESPONSES / f"{name}.json").read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    is_dropped: bool = False  # close the connection without answering
    wait: threading.Event | None = None  # hold the answer until the test sets this event


DROP = Reply(is_dropped=True)


def reply(name: str, status: int = 200, **headers: str) -> Reply:
    return Reply(status=status, body=recorded(name), headers=headers)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]

    def param(self, name: str) -> str:
        """One form-encoded parameter, e.g. "metadata[konto_org]"."""
        values = self.form.get(name) or self.query.get(name) or []
        assert len(values) == 1, f"{name}: {values}"
        return values[0]


class StripeStub:
    """Route (method, path) → queued replies; an unexpected request gets a 599 the test will notice."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.requests: list[Request] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                stub.requests.append(
                    Request(
                        method=self.command,
                        path=parts.path,
                        query=parse_qs(parts.query, keep_blank_values=True),
                        headers=dict(self.headers.items()),
                        form=parse_qs(body, keep_blank_values=True),
                    )
                )
                queue = stub.replies.get((self.command, parts.path))
                if not queue:
                    self._send(599, {"error": {"message": f"unexpected {self.command} {parts.path}"}}, {})
                    return
                answer = queue.popleft()
                if answer.wait is not None:
                    answer.wait.wait()
                if answer.is_dropped:
                    self.close_connection = True
                    return
                self._send(answer.status, answer.body or {}, answer.headers)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_stub{len(stub.requests):04d}")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle  # noqa: N815 - the names http.server dispatches to
            do_POST = _handle  # noqa: N815
            do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[(method, path)].extend(replies)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
