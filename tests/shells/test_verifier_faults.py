"""Both shells against a misbehaving loopback server (raw sockets, real HTTP).

Deadlines are asserted through what the server saw (attempt counts) and the
error class, with small configured timeouts; never through elapsed time.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from k8s_aws_auth import Credentials, Identity, VerifierConfig, presign_token
from k8s_aws_auth.errors import (
    AccessDeniedError,
    STSResponseError,
    STSThrottledError,
    STSUnavailableError,
)
from tests.support.verifier_harness import KINDS, error_body, identity_body, verify_all

NOW = datetime(2025, 3, 3, 10, 0, 0, tzinfo=timezone.utc)
CLUSTER = "fault-cluster"
ACCOUNT = "444455556666"
ARN = f"arn:aws:iam::{ACCOUNT}:user/ops/carol"
USER_ID = "AIDAFAULTUSERID00001"
CREDENTIALS = Credentials("AKIAFAULTEXAMPLE0001", "fault/secret+key")
TOKEN = presign_token(CREDENTIALS, cluster_id=CLUSTER, now=NOW, region="eu-west-1").value
GOOD = identity_body(ACCOUNT, ARN, USER_ID)


def clock() -> datetime:
    return NOW + timedelta(seconds=30)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- a scripted loopback server -----------------------------------------------------------------


@attrs.frozen
class Received:
    method: str
    target: str
    headers: dict[str, str]


@attrs.define
class Connection:
    sock: socket.socket
    stop: threading.Event
    sent: list[int]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent.append(len(data))


Behaviour = Callable[[Connection], None]


def _head(status: int, headers: Sequence[tuple[str, str]], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> Behaviour:
    def behave(conn: Connection) -> None:
        conn.send(_head(status, [("Content-Type", "application/json"), *headers], len(body)) + body)

    return behave


def delayed(seconds: float, then: Behaviour) -> Behaviour:
    def behave(conn: Connection) -> None:
        if not conn.stop.wait(seconds):
            then(conn)

    return behave


def drip(body_length: int, interval: float) -> Behaviour:
    """Headers at once, then one body byte per ``interval``: each read is quick, the total is not."""

    def behave(conn: Connection) -> None:
        conn.send(_head(200, [("Content-Type", "application/json")], body_length))
        for _ in range(body_length):
            if conn.stop.wait(interval):
                return
            conn.send(b" ")

    return behave


def endless(total: int, *, chunked: bool) -> Behaviour:
    """Stream ``total`` bytes (announced, or chunked with no length) while the client reads."""

    def behave(conn: Connection) -> None:
        if chunked:
            conn.send(_head(200, [("Transfer-Encoding", "chunked")], None))
        else:
            conn.send(_head(200, [("Content-Type", "application/json")], total))
        piece = b"A" * 65536
        framed = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        remaining = total
        while remaining > 0 and not conn.stop.is_set():
            conn.send(framed)
            remaining -= len(piece)
        if chunked:
            conn.send(b"0\r\n\r\n")

    return behave


class ScriptedServer:
    """Answers connection *n* with ``script[n]`` (then ``default``); records what it received."""

    def __init__(self, script: Sequence[Behaviour] = (), default: Behaviour | None = None) -> None:
        self._script = list(script)
        self._default = default if default is not None else reply(500)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.received: list[Received] = []
        self.connections = 0
        self.sent: list[int] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        # close() alone does not wake a thread blocked in accept() on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def bytes_sent(self) -> int:
        return sum(self.sent)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, index: int) -> None:
        with sock:
            sock.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
            except OSError:
                return
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            with self._lock:
                self.received.append(Received(method, target, headers))
            behaviour = self._script[index] if index < len(self._script) else self._default
            try:
                behaviour(Connection(sock, self._stop, self.sent))
            except OSError:  # the client hung up, as it should for oversized or slow answers
                return


@pytest.fixture
def sentinel() -> Iterator[ScriptedServer]:
    """A second host: nothing may ever reach it."""
    with ScriptedServer(default=reply(200, GOOD)) as server:
        yield server


def _config(url: str, **overrides: object) -> VerifierConfig:
    settings: dict[str, object] = {
        "sts_endpoint_url": url,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "deadline": 5.0,
        "max_retries": 2,
    }
    settings.update(overrides)
    return VerifierConfig(CLUSTER, **settings)  # type: ignore[arg-type]


def _run(kind: str, server: ScriptedServer, **overrides: object) -> object:
    return verify_all(kind, _config(server.url, **overrides), [TOKEN], clock=clock).only


# --- retries --------------------------------------------------------------------------------------


def test_success_over_real_http(kind: str, sentinel: ScriptedServer) -> None:
    with ScriptedServer(default=reply(200, GOOD)) as server:
        result = _run(kind, server)
    assert isinstance(result, Identity)
    assert (result.arn, result.account_id, result.user_id) == (ARN, ACCOUNT, USER_ID)
    assert result.sts_endpoint == "sts.eu-west-1.amazonaws.com"
    assert len(server.received) == 1
    request = server.received[0]
    assert request.method == "GET"
    assert request.target.startswith("/?Action=GetCallerIdentity&Version=2011-06-15&")
    assert request.headers["host"] == "sts.eu-west-1.amazonaws.com"
    assert request.headers["x-k8s-aws-id"] == CLUSTER
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("k8s-aws-auth/")
    assert sentinel.connections == 0


def test_server_errors_then_success_are_retried(kind: str) -> None:
    script = [reply(503, error_body("ServiceUnavailable", "busy")), reply(500), reply(200, GOOD)]
    with ScriptedServer(script) as server:
        result = verify_all(kind, _config(server.url), [TOKEN], clock=clock)
    assert isinstance(result.only, Identity)
    assert len(server.received) == 3
    assert result.stats is not None
    assert result.stats.sts_requests == 3
    assert result.stats.sts_calls == {"ok": 1}


def test_server_errors_exhaust_the_retries(kind: str) -> None:
    with ScriptedServer(default=reply(502)) as server:
        result = _run(kind, server, max_retries=3)
    assert isinstance(result, STSResponseError)
    assert result.reason == "sts-server-error"
    assert len(server.received) == 4


def test_throttling_is_retried_then_reported(kind: str) -> None:
    throttled = reply(400, error_body("Throttling", "Rate exceeded"))
    with ScriptedServer(default=throttled) as server:
        result = _run(kind, server, max_retries=2)
    assert isinstance(result, STSThrottledError)
    assert len(server.received) == 3


def test_throttling_then_success(kind: str) -> None:
    throttled = reply(400, error_body("Throttling", "Rate exceeded"))
    with ScriptedServer([throttled, reply(200, GOOD)]) as server:
        result = _run(kind, server)
    assert isinstance(result, Identity)
    assert len(server.received) == 2


def test_denial_is_not_retried(kind: str) -> None:
    denied = reply(403, error_body("SignatureDoesNotMatch", "The request signature ..."))
    with ScriptedServer(default=denied) as server:
        result = _run(kind, server)
    assert isinstance(result, AccessDeniedError)
    assert len(server.received) == 1


# --- timeouts and the deadline --------------------------------------------------------------------


def test_slow_answers_time_out_and_are_retried(kind: str) -> None:
    with ScriptedServer(default=delayed(3.0, reply(200, GOOD))) as server:
        result = _run(kind, server, read_timeout=0.2, max_retries=2)
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-timeout"  # each attempt hit its own read timeout
    assert len(server.received) == 3


def test_dripping_server_is_cut_at_the_deadline(kind: str) -> None:
    # Each byte comes well within the read timeout; only the total deadline stops it. The
    # deadline leaves the server's threads time to read the request on a loaded machine
    # (at 0.5 s, xdist workers beside it, the client once gave up before they had run).
    with ScriptedServer(default=drip(10_000, 0.05)) as server:
        result = _run(kind, server, read_timeout=5.0, deadline=2.0, max_retries=3)
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-deadline"
    assert len(server.received) == 1  # the deadline is final: no retry
    assert server.bytes_sent < 10_000


def test_deadline_spans_retries(kind: str) -> None:
    # Every answer is a 503 after 1.2 s: without the deadline there would be 6 attempts.
    # (Seconds, not tenths: the server's threads must get to run on a loaded machine.)
    with ScriptedServer(default=delayed(1.2, reply(503))) as server:
        result = _run(kind, server, read_timeout=5.0, deadline=2.0, max_retries=5)
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-deadline"
    assert 1 <= len(server.received) <= 2


def test_connection_refused_is_unavailable(kind: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    # Nothing listens on the port any more.
    result = verify_all(
        kind, _config(f"http://127.0.0.1:{port}", max_retries=1), [TOKEN], clock=clock
    ).only
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-unavailable"
    assert "2 attempts" in str(result)


# --- answers that are never accepted ----------------------------------------------------------------


def test_redirect_is_not_followed(kind: str, sentinel: ScriptedServer) -> None:
    with ScriptedServer(default=reply(302, GOOD, [("Location", sentinel.url + "/")])) as server:
        result = _run(kind, server)
    assert isinstance(result, STSResponseError)
    assert result.reason == "sts-redirect"
    assert len(server.received) == 1
    assert sentinel.connections == 0


def test_redirect_is_not_followed_by_a_permissive_borrowed_client(
    kind: str, sentinel: ScriptedServer
) -> None:
    options = {"follow_redirects": True, "max_redirects": 5, "trust_env": True}
    with ScriptedServer(default=reply(307, GOOD, [("Location", sentinel.url + "/")])) as server:
        result = verify_all(
            kind, _config(server.url), [TOKEN], client_options=options, clock=clock
        ).only
    assert isinstance(result, STSResponseError)
    assert result.reason == "sts-redirect"
    assert len(server.received) == 1
    assert sentinel.connections == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_fifty_megabyte_body_is_capped(kind: str, chunked: bool) -> None:
    size = 50 * 1024 * 1024
    with ScriptedServer(default=endless(size, chunked=chunked)) as server:
        tracemalloc.start()
        try:
            result = _run(kind, server)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(result, STSResponseError)
    assert result.reason == "sts-too-large"
    assert len(server.received) == 1  # oversized answers are not retried
    assert peak < 8 * 1024 * 1024
    assert server.bytes_sent < size  # we hung up long before the end


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (
            reply(200, b'{"GetCallerIdentityResponse": {"GetCallerIdentityResult": '),
            "sts-bad-response",
        ),
        (
            reply(
                200,
                b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"444455556666",'
                b'"Arn":"arn:aws:iam::444455556666:user/ops/carol","UserId":"AIDAFAULTUSERID00001",'
                b'"Arn":"arn:aws:iam::444455556666:role/admin"}}}',
            ),
            "sts-bad-response",
        ),
        (reply(200, identity_body("111111111111", ARN, USER_ID)), "sts-account"),
        (
            reply(
                200, identity_body(ACCOUNT, f"arn:aws-us-gov:iam::{ACCOUNT}:user/carol", USER_ID)
            ),
            "sts-partition",
        ),
        (reply(200, gzip.compress(GOOD), [("Content-Encoding", "gzip")]), "sts-content-encoding"),
        (reply(200, GOOD, [("Content-Encoding", "deflate")]), "sts-content-encoding"),
        (reply(200, b"<GetCallerIdentityResponse/>"), "sts-bad-response"),
        (reply(404, b"not found"), "sts-bad-response"),
    ],
    ids=[
        "truncated-json",
        "duplicate-key",
        "wrong-account",
        "cross-partition",
        "gzip",
        "deflate-header",
        "xml",
        "404",
    ],
)
def test_unusable_answers_are_sts_errors(kind: str, behaviour: Behaviour, reason: str) -> None:
    with ScriptedServer(default=behaviour) as server:
        result = _run(kind, server)
    assert isinstance(result, STSResponseError)
    assert result.reason == reason
    assert len(server.received) == 1


def test_connection_dropped_without_answer_is_retried(kind: str) -> None:
    def hang_up(conn: Connection) -> None:
        conn.sock.shutdown(socket.SHUT_RDWR)

    with ScriptedServer([hang_up, reply(200, GOOD)]) as server:
        result = _run(kind, server)
    assert isinstance(result, Identity)
    assert len(server.received) == 2


def drip_headers(interval: float) -> Behaviour:
    """A status line, then header bytes one per ``interval``, never finishing the head."""

    def behave(conn: Connection) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        while not conn.stop.wait(interval):
            conn.send(b"a")

    return behave


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_deadline_also_covers_dripped_headers(backend: str) -> None:
    # The async shell bounds the whole exchange; the sync shell can only bound
    # the body this way (see docs/verifying.md, "Timeouts, retries and the deadline").
    # As in test_dripping_server_is_cut_at_the_deadline: a deadline the server can meet.
    with ScriptedServer(default=drip_headers(0.05)) as server:
        result = _run(backend, server, read_timeout=5.0, deadline=2.0, max_retries=3)
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-deadline"
    assert len(server.received) == 1
