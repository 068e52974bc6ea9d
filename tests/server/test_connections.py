"""Every phase of a webhook connection is bounded, against the real ``serve`` process.

Each scenario waits for the server to end a connection it must not keep; a server
that keeps it makes the wait run out (``CUT_OFF`` seconds) and the test fail. The
bounds are liveness bounds far above the configured timeouts, not measurements.

Every scenario runs on both stacks ``serve`` can use: h11 on asyncio (the
fallback without the C extensions) and httptools on uvloop (``auto`` when they
are installed), so no bound depends on the parser or the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import logging
import os
import pathlib
import platform
import resource
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from k8s_aws_auth.testing import FakeSTS
from tests.support.server import (
    CLUSTER_ID,
    ServerProcess,
    review,
    start_webhook,
    webhook_client,
)

# One worker runs each stack's tests (xdist loadgroup: the module's group plus the
# stack's, below): its module fixture starts that stack's webhook once, and the last
# scenario checks the server that every earlier one attacked. The two stacks' halves
# run on two workers at once (each half is a minute of mostly waiting on timeouts).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server-connections")]

ALICE = "arn:aws:iam::111122223333:user/alice"
#: Seconds a test waits for the server to end a connection; the timeouts below are 1-2 s.
CUT_OFF = 15.0
SHORT_TIMEOUTS = {
    "tlsHandshakeTimeout": "1s",
    "headerTimeout": "1s",
    "bodyTimeout": "1s",
    "idleTimeout": "2s",
}
REVIEW_PATH = "/authenticate"
#: (``--http``, ``--loop``) of each stack under test.
STACKS = [
    pytest.param(("h11", "asyncio"), id="h11-asyncio", marks=pytest.mark.xdist_group("h11")),
    pytest.param(
        ("httptools", "uvloop"), id="httptools-uvloop", marks=pytest.mark.xdist_group("httptools")
    ),
]


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The HTTP parser and event loop the module's servers run on."""
    http, loop = request.param
    return http, loop


def wait_for(
    condition: Callable[[], bool], failure: str, server: ServerProcess | None = None
) -> None:
    """Poll ``condition`` for up to ``CUT_OFF`` seconds."""
    deadline = time.monotonic() + CUT_OFF
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(failure + (f":\n{server.log_text()[-3000:]}" if server else ""))


class Webhook:
    """A running ``serve`` with its FakeSTS, an httpx client and raw-socket helpers."""

    def __init__(self, root: pathlib.Path, sts: FakeSTS, server: ServerProcess) -> None:
        self.server_http = serving_field(server, "http")
        self.root = root
        self.sts = sts
        self.server = server
        self.alice = sts.create_principal(ALICE, seed="connections-alice")
        self.client, self.url = webhook_client(root / "state" / "kubeconfig.yaml", timeout=30.0)
        self.token = sts.make_token(self.alice, cluster_id=CLUSTER_ID)

    @property
    def port(self) -> int:
        return self.server.port

    def tls(self, timeout: float = 10.0) -> ssl.SSLSocket:
        """A raw TLS connection to the webhook, handshake done."""
        context = ssl.create_default_context(cafile=str(self.root / "state" / "ca.pem"))
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return context.wrap_socket(raw, server_hostname="localhost")

    def review_request(self) -> bytes:
        return http_request("POST", REVIEW_PATH, _json(review(self.token)))

    def username(self, client: httpx.Client | None = None) -> str:
        response = (client or self.client).post(self.url, json=review(self.token))
        assert response.status_code == 200, response.text
        return str(response.json()["status"]["user"]["username"])

    def metric(self, name: str) -> float:
        text = self.client.get(self.url.replace(REVIEW_PATH, "/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name} in\n{text}")

    def counter(self, name: str) -> float:
        """A counter's value; 0 while the server does not export it (yet)."""
        try:
            return self.metric(name)
        except AssertionError:
            return 0.0

    def close(self) -> None:
        self.client.close()


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer with a Content-Length: status, headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of an answer"
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def closed_by_server(
    sock: socket.socket, *, within: float = CUT_OFF, trickle: bytes = b"", every: float = 0.2
) -> bool:
    """Whether the server ends the connection within ``within`` seconds.

    Meanwhile the client sends ``trickle`` one byte every ``every`` seconds (and
    then stays silent); whatever the server sends is read and dropped.
    """
    deadline = time.monotonic() + within
    pending = bytearray(trickle)
    while time.monotonic() < deadline:
        if pending:
            try:
                sock.sendall(bytes(pending[:1]))
            except OSError:  # reset or broken pipe: the server is gone
                return True
            del pending[:1]
        sock.settimeout(every if pending else max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, or a TLS error on a torn-down connection
            return True
    return False


def answer_while_trickling(sock: socket.socket, data: bytes, every: float = 0.2) -> bytes:
    """Send ``data`` a byte every ``every`` seconds until the server answers; the answer's start."""
    deadline = time.monotonic() + CUT_OFF
    for byte in data:
        assert time.monotonic() < deadline, "no answer while trickling"
        sock.sendall(bytes([byte]))
        sock.settimeout(every)
        with contextlib.suppress(TimeoutError):
            return sock.recv(65536)
    raise AssertionError("the whole body went through without an answer")


@contextlib.contextmanager
def webhook(
    root: pathlib.Path,
    settings: dict[str, Any],
    stack: tuple[str, str],
    preexec_fn: Callable[[], None] | None = None,
    flags: tuple[str, ...] = (),
) -> Iterator[Webhook]:
    sts = FakeSTS()
    mapping = {"mapUsers": [{"userARN": ALICE, "username": "alice"}]}
    http, loop = stack
    flags = ("--http", http, "--loop", loop, *flags)
    with sts.serve() as sts_url:
        server = start_webhook(
            root, {**mapping, **settings}, sts_url, flags=flags, preexec_fn=preexec_fn
        )
        assert (serving_field(server, "http"), serving_field(server, "loop")) == stack
        running = Webhook(root, sts, server)
        try:
            yield running
        finally:
            running.close()
            server.close()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, stack: tuple[str, str]) -> Iterator[Webhook]:
    """One ``serve`` with short connection timeouts per stack."""
    with webhook(tmp_path_factory.mktemp("connections"), SHORT_TIMEOUTS, stack) as server:
        yield server


# --- item 3: TCP_NODELAY ----------------------------------------------------------------------

_PIDFD_GETFD = 438  # the same number on every Linux architecture (generic syscall table)


def _server_socket_option(pid: int, peer: tuple[str, int], option: int) -> int:
    """``getsockopt(IPPROTO_TCP, option)`` of process ``pid``'s socket connected to ``peer``.

    The socket is duplicated out of the server process with ``pidfd_getfd(2)``
    (allowed for our own child), so this reads the kernel's state of the very
    socket the server accepted.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            fd = libc.syscall(_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                error = ctypes.get_errno()
                if error == errno.EBADF:  # closed since listdir
                    continue
                raise AssertionError(f"pidfd_getfd failed: {os.strerror(error)}")
            duplicate = socket.socket(fileno=fd)
            try:
                if duplicate.family == socket.AF_INET and duplicate.getpeername() == peer:
                    return duplicate.getsockopt(socket.IPPROTO_TCP, option)
            except OSError:  # not connected (the listening socket, the event loop's own)
                pass
            finally:
                duplicate.close()  # closes our duplicate only
    finally:
        os.close(pidfd)
    raise AssertionError(f"the server has no socket connected to {peer}")


@pytest.mark.skipif(platform.system() != "Linux", reason="pidfd_getfd(2) is Linux-only")
def test_accepted_connections_have_tcp_nodelay(running: Webhook) -> None:
    # Without TCP_NODELAY every answer waits for the client's delayed ACK (~40 ms).
    with running.tls() as sock:
        sock.sendall(http_request("GET", "/healthz"))
        assert read_response(sock)[0] == 200
        peer = sock.getsockname()
        nodelay = _server_socket_option(running.server.process.pid, peer, socket.TCP_NODELAY)
    assert nodelay != 0


class RecordCountingClient:
    """TLS over a plain socket through memory BIOs, counting the server's TLS records."""

    def __init__(self, webhook: Webhook) -> None:
        context = ssl.create_default_context(cafile=str(webhook.root / "state" / "ca.pem"))
        self.sock = socket.create_connection(("127.0.0.1", webhook.port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.raw = b""  # the server's bytes not yet split into records
        self.records = 0
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._receive()
        self._flush()

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        self.incoming.write(data)
        self.raw += data
        while len(self.raw) >= 5:  # type (1), version (2), length (2), then the record
            end = 5 + int.from_bytes(self.raw[3:5], "big")
            if len(self.raw) < end:
                break
            self.records += 1
            self.raw = self.raw[end:]

    def exchange(self, request: bytes) -> tuple[bytes, int]:
        """Send ``request``; the complete answer and how many records carried it."""
        self.tls.write(request)
        self._flush()
        self.records, answer = 0, b""
        while True:
            try:
                answer += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._receive()
                continue
            head, _, body = answer.partition(b"\r\n\r\n")
            length = head.lower().partition(b"content-length:")[2].split(b"\r\n")[0]
            if length and len(body) >= int(length):
                assert not self.raw, "part of a record beyond the answer"
                return answer, self.records


def test_an_answer_is_one_tls_record(running: Webhook) -> None:
    # uvicorn writes an answer's head and body separately: two TLS records and two
    # send() calls per review unless the connection guard joins them.
    client = RecordCountingClient(running)
    try:
        client.exchange(http_request("GET", "/healthz"))  # session tickets come first
        for request in (running.review_request(), http_request("GET", "/healthz")):
            answer, records = client.exchange(request)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert records == 1, answer
    finally:
        client.sock.close()


def test_joined_writes_keep_the_order_of_pipelined_answers(running: Webhook) -> None:
    # A review, a HEAD (an answer without a body write), a review: each answer whole
    # and in order; then garbage, which the parser answers itself (400).
    with running.tls() as sock:
        head = http_request("HEAD", "/healthz")
        sock.sendall(running.review_request() + head + running.review_request())
        status, _, body = read_response(sock)
        assert (status, json.loads(body)["status"]["authenticated"]) == (200, True)
        data = b""
        while data.count(b"\r\n\r\n") < 2:  # the HEAD answer's head, the next head
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")
        second = data.partition(b"\r\n\r\n")[2]
        assert second.startswith(b"HTTP/1.1 200 "), second
        length = int(second.lower().partition(b"content-length:")[2].split(b"\r\n")[0])
        rest = second.partition(b"\r\n\r\n")[2]
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, rest
            rest += chunk
        assert json.loads(rest[:length])["status"]["authenticated"] is True
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert read_response(sock)[0] == 400


# --- item 4: every phase is bounded --------------------------------------------------------


def test_a_stalled_tls_handshake_is_cut_off(running: Webhook) -> None:
    failures = running.counter("k8s_aws_auth_connections_tls_handshake_failures_total")
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as silent:
        assert closed_by_server(silent)
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as slow:
        # A TLS record header, then a ClientHello that never comes.
        assert closed_by_server(slow, trickle=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    after = running.metric("k8s_aws_auth_connections_tls_handshake_failures_total")
    assert after >= failures + 2
    assert running.username() == "alice"


def test_a_trickled_first_head_is_cut_off(running: Webhook) -> None:
    before = running.counter("k8s_aws_auth_connections_header_timeouts_total")
    with running.tls() as sock:
        assert closed_by_server(sock, trickle=running.review_request()[:60])
    assert running.metric("k8s_aws_auth_connections_header_timeouts_total") >= before + 1


def test_a_trickled_later_head_is_cut_off(running: Webhook) -> None:
    before = running.counter("k8s_aws_auth_connections_header_timeouts_total")
    with running.tls() as sock:
        for _ in range(2):  # a keep-alive connection in good standing ...
            sock.sendall(running.review_request())
            assert read_response(sock)[0] == 200
        # ... then the next head trickles in, a byte at a time, each well within idleTimeout.
        assert closed_by_server(sock, trickle=running.review_request()[:60])
    assert running.metric("k8s_aws_auth_connections_header_timeouts_total") >= before + 1


PAD_HEADER = b"X-Pad: " + b"a" * 4000 + b"\r\n"


@pytest.mark.parametrize("after_a_request", [False, True], ids=["first-head", "later-head"])
def test_an_oversized_head_is_refused_and_the_connection_closed(
    running: Webhook, after_a_request: bool
) -> None:
    # 20 KB of headers at once: no timeout stops a fast client within headerTimeout, only
    # a size cap does (16 KiB).
    before = running.counter("k8s_aws_auth_connections_oversized_heads_total")
    with running.tls() as sock:
        if after_a_request:
            sock.sendall(running.review_request())
            assert read_response(sock)[0] == 200
        sock.sendall(b"POST /authenticate HTTP/1.1\r\nHost: localhost\r\n" + PAD_HEADER * 5)
        sock.settimeout(CUT_OFF)
        status, headers, _ = read_response(sock)
        # h11 answers 400 at its own cap, the guard 431 (httptools has none).
        assert status in (400, 431)
        assert headers.get("connection") == "close"
        assert closed_by_server(sock)
    if running.server_http == "httptools":
        assert running.metric("k8s_aws_auth_connections_oversized_heads_total") >= before + 1
    assert running.username() == "alice"


def test_one_byte_then_silence_after_a_request_is_cut_off(running: Webhook) -> None:
    with running.tls() as sock:
        sock.sendall(running.review_request())
        assert read_response(sock)[0] == 200
        assert closed_by_server(sock, trickle=b"P")


def test_an_idle_keep_alive_connection_is_closed(running: Webhook) -> None:
    before = running.counter("k8s_aws_auth_connections_idle_closes_total")
    with running.tls() as sock:
        sock.sendall(running.review_request())
        assert read_response(sock)[0] == 200
        assert closed_by_server(sock)
    assert running.metric("k8s_aws_auth_connections_idle_closes_total") >= before + 1


def test_a_trickled_body_gets_408_and_the_connection_closes(running: Webhook) -> None:
    body = _json(review(running.token))
    with running.tls() as sock:
        sock.sendall(http_request("POST", REVIEW_PATH, body)[: -len(body)])
        # One byte every 0.2 s: never the whole body within bodyTimeout.
        answer = answer_while_trickling(sock, body)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert closed_by_server(sock)


def test_one_byte_after_a_408_does_not_hold_the_connection(running: Webhook) -> None:
    with running.tls() as sock:
        sock.sendall(
            b"POST /authenticate HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"apiVer'
        )
        sock.settimeout(CUT_OFF)
        status, headers, _ = read_response(sock)
        assert status == 408
        assert headers.get("connection") == "close"
        assert closed_by_server(sock, trickle=b"x")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(http_request("POST", REVIEW_PATH, b"{not json"), 400, id="400"),
        pytest.param(
            b"POST /authenticate HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{",
            413,
            id="413",
        ),
    ],
)
def test_400_and_413_close_the_connection(
    running: Webhook, request_bytes: bytes, status: int
) -> None:
    with running.tls() as sock:
        sock.sendall(request_bytes)
        sock.settimeout(CUT_OFF)
        answer, headers, _ = read_response(sock)
        assert answer == status
        assert headers.get("connection") == "close"
        # Whatever the client sends now (the rest of a body, a next request) is not read.
        assert closed_by_server(sock, trickle=b'"rest of the body"')


def test_a_client_that_stops_reading_is_dropped(running: Webhook) -> None:
    # Pipelined /metrics requests, never read: the answers pile up on the server.
    sent = 8000  # about 40 MB of answers: more than any socket buffers hold
    name = "k8s_aws_auth_connections_write_timeouts_total"
    before = running.counter(name)
    with running.tls() as sock:
        with contextlib.suppress(OSError):
            sock.settimeout(CUT_OFF)
            sock.sendall(http_request("GET", "/metrics") * sent)
        # Without reading (which would let the server go on), watch its end of the
        # connection in the kernel's table.
        client_port = sock.getsockname()[1]
        wait_for(
            lambda: not established(running.port, client_port), "the server kept the connection"
        )
        received = bytearray()
        sock.settimeout(CUT_OFF)
        with contextlib.suppress(OSError):  # the reset that follows what was sent before
            while chunk := sock.recv(1 << 20):
                received += chunk
    answers = received.count(b"HTTP/1.1 200 ")
    assert answers < sent
    assert running.metric(name) >= before + 1


def test_the_webhook_still_serves_after_the_hostile_clients(running: Webhook) -> None:
    assert running.username() == "alice"
    assert running.server.process.poll() is None
    log = running.server.log_text()
    assert "Traceback" not in log
    assert running.metric("k8s_aws_auth_connections_open") >= 1


# --- the connection limit --------------------------------------------------------------------


def _wait_for_log(server: ServerProcess, text: str) -> None:
    wait_for(lambda: text in server.log_text(), f"no log line with {text!r}", server)


def serving_field(server: ServerProcess, name: str) -> Any:
    """A field of the server's "serving" log line."""
    for record in server.logs():
        if record.get("message") == "serving":
            return record[name]
    raise AssertionError("no serving line")


def _tcp_table() -> Iterator[tuple[int, int, str, int]]:
    """``(local port, remote port, state, rx_queue)`` of every IPv4 TCP socket on the host."""
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        yield (
            int(local.split(":")[1], 16),
            int(remote.split(":")[1], 16),
            state,
            int(queues.split(":")[1], 16),
        )


def accept_queue(port: int) -> int:
    """Connections waiting in the kernel's accept queue of the socket listening on ``port``."""
    for local, _, state, rx_queue in _tcp_table():
        if local == port and state == "0A":  # LISTEN: rx_queue is the accept backlog
            return rx_queue
    raise AssertionError(f"nothing listens on port {port}")


def established(server_port: int, client_port: int) -> bool:
    """Whether the server's end of the connection from ``client_port`` is still established."""
    return any(
        local == server_port and remote == client_port and state == "01"
        for local, remote, state, _ in _tcp_table()
    )


def test_at_max_connections_new_clients_wait_for_a_free_slot(
    tmp_path: pathlib.Path, stack: tuple[str, str]
) -> None:
    with webhook(
        tmp_path, {"idleTimeout": "60s"}, stack, flags=("--max-connections", "3")
    ) as running:
        assert serving_field(running.server, "max_connections") == 3
        held = [running.tls() for _ in range(2)]  # and running.client's connection: 3
        try:
            assert running.username() == "alice"
            for sock in held:
                sock.sendall(running.review_request())
                assert read_response(sock)[0] == 200
            answers: list[str] = []
            late_client, _ = webhook_client(tmp_path / "state" / "kubeconfig.yaml", timeout=60.0)
            late = threading.Thread(target=lambda: answers.append(running.username(late_client)))
            late.start()
            try:
                # The late client's connection waits, unaccepted, while three are open.
                wait_for(lambda: accept_queue(running.port) == 1, "no connection waits")
                assert late.is_alive()
                assert not answers
                _wait_for_log(running.server, "the connection limit is reached")
                held.pop().close()  # a slot frees: the waiting client is served
                late.join(timeout=CUT_OFF)
                assert answers == ["alice"]
            finally:
                late.join(timeout=CUT_OFF)
                late_client.close()
        finally:
            for sock in held:
                sock.close()


# --- at the open-file limit --------------------------------------------------------------------

OPEN_FILES = 64


def _low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.mark.parametrize(
    "max_connections",
    [
        pytest.param(None, id="default-limit"),
        pytest.param(1000, id="above-the-fd-limit"),
    ],
)
def test_a_flood_at_the_open_file_limit_does_not_stop_the_webhook(
    tmp_path: pathlib.Path, max_connections: int | None, stack: tuple[str, str]
) -> None:
    settings: dict[str, Any] = {**SHORT_TIMEOUTS, "idleTimeout": "60s"}
    if max_connections is not None:
        settings["maxConnections"] = max_connections
    with webhook(tmp_path, settings, stack, preexec_fn=_low_open_file_limit) as running:
        cap = serving_field(running.server, "max_connections")
        assert cap == (OPEN_FILES // 2 if max_connections is None else max_connections)
        # An established kube-apiserver connection, with the token already verified.
        assert running.username() == "alice"
        flood: list[socket.socket] = []
        try:
            for n in range(5 * OPEN_FILES):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
                if n % 2:
                    sock.sendall(b"\x16\x03\x01")  # the start of a TLS record, nothing more
                flood.append(sock)
            # At the limit: connections wait unaccepted in the kernel's queue ...
            wait_for(lambda: accept_queue(running.port) > 0, "the server is not at its limit")
            # ... the established connection is still answered ...
            assert running.username() == "alice"
            # ... and so is a new one, once the guard has cut enough of the flood.
            fresh, _ = webhook_client(tmp_path / "state" / "kubeconfig.yaml", timeout=60.0)
            with fresh:
                assert running.username(fresh) == "alice"
        finally:
            for sock in flood:
                sock.close()
        # Released: the server recovers on its own.
        recovered, _ = webhook_client(tmp_path / "state" / "kubeconfig.yaml", timeout=60.0)
        with recovered:
            assert running.username(recovered) == "alice"
        log = running.server.log_text()
        assert running.server.process.poll() is None
        assert "Traceback" not in log
        assert len(log) < 32 * 1024, log[-3000:]
        # Said once per interval, without a traceback.
        expected = (
            "out of file descriptors"
            if max_connections is not None
            else "the connection limit is reached"
        )
        assert 1 <= log.count(expected) <= 3, log[-3000:]


# --- nothing the event loop reports floods the log ----------------------------------------


def test_event_loop_errors_are_logged_once_per_interval() -> None:
    from k8s_aws_auth.server._serve import LoopErrorReporter

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("k8s_aws_auth.server")
    logger.addHandler(handler)
    reporter = LoopErrorReporter(interval=3600)
    loop = asyncio.new_event_loop()
    try:
        for _ in range(1000):  # say, one per hostile connection
            reporter(loop, {"message": "Exception in callback", "exception": RuntimeError("x")})
        reporter(loop, {"message": "Fatal error on transport"})
    finally:
        loop.close()
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        "Exception in callback",
        "Fatal error on transport",
    ]
    assert records[0].exc_info is not None  # the first of a kind keeps its traceback
