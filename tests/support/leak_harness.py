"""Catch a planted secret anywhere a log record or an error chain could carry it.

Not a test module (leading underscore). :func:`every_record` captures every
record of every logger at every level (the root logger and each existing logger
at level 1 and propagating, so uvicorn's TRACE records come too), each rendered
with its traceback and stack as a handler would print it, plus the record's
attributes (``args``, ``exc_info`` objects, ``fields``). :func:`chain_texts`
walks an exception's ``__cause__`` and ``__context__`` (suppressed ones too),
group members, ``args``, attributes and formatted traceback.
:meth:`Planted.assert_absent` then looks for every spelling of every planted
secret: raw and percent-encoded.

Plant values nothing else could produce by chance (see :data:`CANARY`), so a
hit is always a leak.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote

import attrs

#: In every planted value: a leak is easy to spot in a failure message.
CANARY = "leakcanary"


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe="")}


@attrs.frozen
class Planted:
    """Named secret values; :meth:`assert_absent` fails naming the one found."""

    secrets: dict[str, str] = attrs.field(factory=dict)

    def plus(self, **more: str | None) -> Planted:
        """These secrets and ``more`` (``None`` values are ignored)."""
        added = {name: value for name, value in more.items() if value}
        return Planted({**self.secrets, **added})

    def assert_absent(self, texts: Iterable[str], where: str = "") -> None:
        """No text holds any spelling of any planted secret."""
        for text in texts:
            for name, value in self.secrets.items():
                for form in _forms(value):
                    at = text.find(form)
                    if at >= 0:
                        context = text[max(0, at - 80) : at + len(form) + 40].replace(
                            form, f"<{name}>"
                        )
                        raise AssertionError(f"{name} leaked{where}: ...{context}...")


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.texts.append(self.format(record))  # message, traceback and stack, as printed
        self.texts.append(repr(vars(record)))  # args, exc_info, fields, ...
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.extend(chain_texts(record.exc_info[1]))


@attrs.frozen
class Captured:
    """What :func:`every_record` saw."""

    handler: _Everything

    @property
    def records(self) -> list[logging.LogRecord]:
        """Every record, in order."""
        return self.handler.records

    @property
    def texts(self) -> list[str]:
        """Every rendering of every record."""
        return self.handler.texts

    def messages(self, logger: str) -> list[str]:
        """The messages of the records logged on ``logger`` (exact name)."""
        return [r.getMessage() for r in self.records if r.name == logger]

    def loggers(self) -> set[str]:
        """The names of the loggers that logged something."""
        return {record.name for record in self.records}


@contextlib.contextmanager
def every_record() -> Iterator[Captured]:
    """Capture every record of every logger, whatever its level, while the block runs.

    Loggers created inside the block inherit the root's level and propagate by
    default, so they are caught too. Levels, propagation and ``disabled`` are
    restored afterwards (loggers created in the block go back to ``NOTSET``).
    """
    handler = _Everything()
    root = logging.getLogger()
    saved_root = root.level
    saved: list[tuple[logging.Logger, int, bool, bool]] = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            saved.append((logger, logger.level, logger.propagate, logger.disabled))
            logger.setLevel(1)
            logger.propagate = True
            logger.disabled = False
    root.addHandler(handler)
    root.setLevel(1)
    try:
        yield Captured(handler)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled
        known = {id(entry[0]) for entry in saved}
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and id(logger) not in known:
                logger.setLevel(logging.NOTSET)  # created in the block (uvicorn sets levels)


def _printed(value: object, render: Callable[[object], str] = repr) -> str:
    try:
        return render(value)
    except Exception as exc:  # a value that cannot be printed cannot leak through printing
        return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"


def chain_texts(exc: BaseException) -> list[str]:
    """Everything an exception and its whole chain show: text, repr, args, attributes, traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [_printed(current, str), _printed(current), _printed(current.args)]
        texts.append(_printed(getattr(current, "__dict__", {})))
        texts += [_printed(note, str) for note in getattr(current, "__notes__", ())]
        linked = [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]
        pending += [e for e in linked if isinstance(e, BaseException)]
    return texts


# --- a hostile server that echoes what it is sent ------------------------------------------------

Reply = tuple[int, list[tuple[str, str]], bytes]

#: How :class:`EchoServer` answers a request it has no canned reply for.
ECHO_MODES = ("status-line", "broken-header", "echo")


@attrs.define
class EchoServer:
    """A loopback HTTP server (raw sockets) that sends our requests back to us.

    ``mode`` says how, for every request without a canned ``replies[(method, path)]``:

    * ``status-line``: the request line comes back as the status line (h11 refuses
      it, quoting it, and httpx raises ``RemoteProtocolError``);
    * ``broken-header``: a status line, then one header line holding every
      request header and a NUL (h11 refuses it, quoting the whole line);
    * ``echo``: a well-formed answer with status ``status``, the request target as
      the reason phrase, every request header (and a printable body, as
      ``X-Echo-Body``) echoed as response headers, and the request head and body
      as the response body.

    ``requests`` records each request as ``(request line, headers, body)``.
    """

    mode: str = "echo"
    status: int = 200
    replies: dict[tuple[str, str], Reply] = attrs.field(factory=dict)
    requests: list[tuple[str, list[tuple[str, str]], bytes]] = attrs.field(factory=list)
    base_url: str = ""

    def answer(self, line: str, headers: list[tuple[str, str]], head: bytes, body: bytes) -> bytes:
        """The raw bytes sent back for one request."""
        method, _, rest = line.partition(" ")
        target = rest.rpartition(" ")[0]
        canned = self.replies.get((method, target.partition("?")[0]))
        if canned is not None:
            status, extra, payload = canned
            lines = [f"HTTP/1.1 {status} OK", *(f"{k}: {v}" for k, v in extra)]
            return _framed(lines, payload)
        if self.mode == "status-line":
            return line.encode("latin-1") + b"\r\n\r\n"
        if self.mode == "broken-header":
            joined = " | ".join(f"{k}: {v}" for k, v in headers)
            return f"HTTP/1.1 200 OK\r\nX-Echo: {joined}\x00\r\n\r\n".encode("latin-1")
        framing = {"content-length", "transfer-encoding", "connection"}
        echoed = [f"{k}: {v}" for k, v in headers if k.lower() not in framing]
        text = body.decode("latin-1")
        if text and text.isprintable():  # a form or JSON body fits in a header
            echoed.append(f"X-Echo-Body: {text}")
        return _framed([f"HTTP/1.1 {self.status} {target}", *echoed], head + body)


def _framed(lines: list[str], payload: bytes) -> bytes:
    head = [*lines, f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + payload


def _serve_one(server: EchoServer, connection: socket.socket) -> None:
    with connection:
        connection.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = [
                (k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)
            ]
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            while len(body) < length:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                body += chunk
            server.requests.append((line, headers, body))
            connection.sendall(server.answer(line, headers, head + b"\r\n\r\n", body))
        except OSError:
            return


@contextlib.contextmanager
def echoing(server: EchoServer) -> Iterator[EchoServer]:
    """Run ``server`` on 127.0.0.1 (a free port) while the block runs."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve_one, args=(server, connection), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
