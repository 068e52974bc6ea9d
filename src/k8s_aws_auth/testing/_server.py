"""Serve an emulator's answer function over real loopback HTTP (stdlib only)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from ._auth import Received
from ._responses import error_reply

__all__ = ["serve_http"]

_MAX_BODY = 1 << 20
Respond = Callable[[Received, str], Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Benchmarks open dozens of connections at once; the stdlib default backlog is 5.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], respond: Respond) -> None:
        self.respond = respond
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.base_url = f"http://{address[0]}:{self.server_port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client goes away mid-answer (timeouts are part of the tests)."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSTS"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 30
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for
    # the client's delayed ACK (~40 ms a response on Linux), which real STS never adds.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeSTS.requests`` instead of a log."""

    def _reply_raw(self, status: int, code: str, message: str) -> None:
        reply = error_reply(
            status, code, message, "00000000-0000-0000-0000-000000000000", as_json=False
        )
        self.close_connection = True
        self.send_response(reply.status)
        for name, value in reply.headers():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def _handle(self) -> None:
        server = cast(_Server, self.server)
        if self.headers.get("Transfer-Encoding"):
            self._reply_raw(411, "MissingContentLength", "Send the body with a Content-Length.")
            return
        raw_length = self.headers.get("Content-Length", "0")
        if not raw_length.isdigit() or int(raw_length) > _MAX_BODY:
            self._reply_raw(413, "RequestEntityTooLarge", "The request body is too large.")
            return
        body = self.rfile.read(int(raw_length)) if int(raw_length) else b""
        headers = tuple(
            (name, value.encode("latin-1", "replace").decode("utf-8", "replace"))
            for name, value in self.headers.items()
        )
        received = Received(method=self.command, target=self.path, headers=headers, body=body)
        answer = server.respond(received, f"{server.base_url}{self.path}")
        if answer.delay:
            time.sleep(answer.delay)
        reply = answer.reply
        if reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for name, value in reply.headers():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


@contextlib.contextmanager
def serve_http(respond: Respond, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run a threaded HTTP server calling ``respond``; yield ``http://HOST:PORT``; stop on exit."""
    server = _Server((host, port), respond)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="FakeSTS-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        thread.join(timeout=5)
