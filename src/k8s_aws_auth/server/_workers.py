"""``serve --workers N``: one listening socket, N worker processes, a supervisor.

The supervisor checks the configuration and writes the certificates once
(``build_server``, so a bad setting fails before any worker starts), binds the
socket, and starts N workers (``multiprocessing``'s spawn: fresh interpreters)
that inherit it. Each worker is a whole ``serve`` (its own event loop, listener,
connection guard, verifier cache, mapping reloader and metrics) accepting on the
shared socket; the kernel hands each new connection to one of them. One cache per
worker: a token's first review on a worker calls STS.

* **A worker that dies** after it started serving is replaced (at most once a
  second per slot); one that dies before it served (a start-up failure, e.g. no
  EC2 credentials) stops the whole server with exit code 1, as one process would.
* **SIGTERM or SIGINT** to the supervisor is passed to every worker, which drains
  its in-flight reviews as a single ``serve`` does (``shutdownTimeout``); the
  supervisor waits for them (killing any still running ``shutdownTimeout`` + 5 s
  later) and exits 0.
* **/metrics** on any worker shows the sum over all workers (see
  `merged_render`): the supervisor keeps the snapshot directory.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from ._config import ServerConfig
from ._logging import configure_logging
from ._serve import _bind, _bind_health_port, build_server, run_worker
from ._stack import resolve_stack
from ._worker_metrics import retire_snapshot

__all__ = ["run_workers"]

_log = logging.getLogger("k8s_aws_auth.server")

#: Seconds between two starts of the same worker slot.
_RESTART_PAUSE = 1.0
_POLL = 0.5
_KILL_GRACE = 5.0


def _worker_main(
    config: ServerConfig,
    sock: socket.socket,
    health_sock: socket.socket | None,
    slot: int,
    metrics_dir: str,
    ready: Any,
) -> None:
    """One worker (a child process): ``serve`` on the inherited sockets."""
    configure_logging(config.log_level, log_format=config.log_format)
    run_worker(
        config,
        sock,
        slot=slot,
        metrics_dir=Path(metrics_dir),
        ready=ready.set,
        health_sock=health_sock,
    )


@attrs.define
class _Slot:
    """One worker's place: its current process, its "serving" event, when it started."""

    index: int
    process: Any = None
    ready: Any = None
    started: float = 0.0


def run_workers(config: ServerConfig, workers: int) -> int:
    """Supervise ``workers`` worker processes until SIGTERM/SIGINT; the exit code."""
    configure_logging(config.log_level, log_format=config.log_format)
    resolve_stack(config.http, config.loop)  # a missing extension fails here, once
    build_server(config)  # settings, mapping and certificates checked and written once
    sock = _bind(config.address, config.port)
    # The health port is bound once here and shared like the webhook's socket.
    health_sock = _bind_health_port(config)
    metrics_dir = Path(tempfile.mkdtemp(prefix="k8s-aws-auth-metrics-"))
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    slots = [_Slot(index) for index in range(workers)]

    def start(slot: _Slot) -> None:
        slot.ready = context.Event()
        slot.process = context.Process(
            target=_worker_main,
            args=(config, sock, health_sock, slot.index, str(metrics_dir), slot.ready),
            name=f"k8s-aws-auth-worker-{slot.index}",
        )
        slot.started = time.monotonic()
        slot.process.start()

    host, port = sock.getsockname()[:2]
    exit_code = 0
    try:
        for slot in slots:
            start(slot)
        _log.info(
            "supervising workers",
            extra={"fields": {"workers": workers, "address": host, "port": port}},
        )
        while not stopping:
            multiprocessing.connection.wait([s.process.sentinel for s in slots], timeout=_POLL)
            for slot in slots:
                if stopping or slot.process.is_alive():
                    continue
                slot.process.join()
                retire_snapshot(metrics_dir, slot.process.pid)
                fields = {
                    "worker": slot.index,
                    "pid": slot.process.pid,
                    "exit_code": slot.process.exitcode,
                }
                if not slot.ready.is_set():
                    _log.error("a worker failed to start: stopping", extra={"fields": fields})
                    stopping, exit_code = True, 1
                    break
                _log.warning("a worker ended: starting another", extra={"fields": fields})
                pause = _RESTART_PAUSE - (time.monotonic() - slot.started)
                if pause > 0:
                    time.sleep(pause)
                start(slot)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(slots, config.shutdown_timeout + _KILL_GRACE)
        sock.close()
        if health_sock is not None:
            health_sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    _log.info("stopped")
    return exit_code


def _stop_all(slots: list[_Slot], grace: float) -> None:
    running = [s.process for s in slots if s.process is not None and s.process.is_alive()]
    for process in running:
        process.terminate()  # SIGTERM: the worker drains, then exits
    deadline = time.monotonic() + grace
    for process in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            _log.warning(
                "a worker did not stop in time: killing it",
                extra={"fields": {"pid": process.pid}},
            )
            os.kill(process.pid, signal.SIGKILL)
            process.join()
