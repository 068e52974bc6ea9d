"""Real loopback HTTP stand-ins (IMDS, container endpoint, SSO portal) and file helpers for credential tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs

from k8s_aws_auth.credentials import AsyncCredentialResolver, CredentialResolver
from tests.support.ports import free_port

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["Seen"], Reply]


@attrs.frozen
class Seen:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class StandIn:
    """A loopback HTTP server answering from ``routes[(method, path)]``; records every request."""

    def __init__(self, routes: Mapping[tuple[str, str], Route | Reply]) -> None:
        self.routes = dict(routes)
        self.seen: list[Seen] = []
        self.base_url = ""

    def reply(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        route = self.routes.get((seen.method, seen.path))
        if route is None:
            return 404, {}, b"not found"
        return route(seen) if callable(route) else route


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, dict(self.headers.items()), body)
            status, headers, payload = stand_in.reply(seen)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve(stand_in: StandIn) -> Iterator[StandIn]:
    """Run ``stand_in`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    server.daemon_threads = True
    stand_in.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


IMDS_REGION_PATH = "/latest/meta-data/placement/region"
IMDS_SESSION = "imds-session-token"


def imds_region_stand_in(region: bytes = b"eu-central-1") -> StandIn:
    """IMDSv2 answering the placement region only to a request carrying its session token."""

    def token(seen: Seen) -> Reply:
        if seen.header("x-aws-ec2-metadata-token-ttl-seconds") is None:
            return 400, {}, b""
        return 200, {}, IMDS_SESSION.encode()

    def placement(seen: Seen) -> Reply:
        if seen.header("x-aws-ec2-metadata-token") != IMDS_SESSION:
            return 401, {}, b""
        return 200, {}, region

    return StandIn({("PUT", "/latest/api/token"): token, ("GET", IMDS_REGION_PATH): placement})


def expires_in(delta: timedelta) -> str:
    """An ``Expiration`` ``delta`` from now by the real clock, written the way AWS writes it.

    For credentials served to code that reads the real clock: a fixed date in a test
    expires (or is not yet due) as the calendar moves on.
    """
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def unused_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    return free_port()


def write_aws_files(
    home: Path, *, config: str | None = None, credentials: str | None = None
) -> None:
    """Write ``~/.aws/config`` and/or ``~/.aws/credentials`` under ``home``."""
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (aws / "config").write_text(config)
    if credentials is not None:
        (aws / "credentials").write_text(credentials)


def resolver_pair(
    environ: Mapping[str, str], **kwargs: Any
) -> tuple[CredentialResolver, AsyncCredentialResolver]:
    """A sync and an async resolver over the same environment and options."""
    return CredentialResolver(environ=environ, **kwargs), AsyncCredentialResolver(
        environ=environ, **kwargs
    )
