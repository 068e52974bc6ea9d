"""Loopback ports for the servers the tests start as separate processes.

A port handed to a child (``serve --port N``, ``--health-port N``) is free when
chosen and bound by the child a moment later. Taken from the kernel's
ephemeral range (``bind(("127.0.0.1", 0))``), it can be given in between to
any outgoing connection of the suite — there are thousands, to FakeSTS and the
other stand-ins — or to the same choice in another xdist worker, and the child
then exits "Address already in use". So ports come from below the ephemeral
range, in a block of their own for each xdist worker, one after the other;
nothing else on the machine picks ports there by itself.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import socket

#: The first port of the first worker's block, and the size of each block.
FIRST_PORT = 20000
BLOCK = 400
_PORT_RANGE_FILE = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> range:
    """The ports the kernel hands out for ``bind(0)`` and outgoing connections."""
    try:
        low, high = (int(part) for part in _PORT_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default, where /proc does not say
    return range(low, high + 1)


def worker_block(worker: str | None) -> range:
    """The ports of one xdist worker (``gw0``, ``gw1``…; ``None`` outside xdist)."""
    index = int(worker[2:]) if worker and worker.startswith("gw") and worker[2:].isdigit() else 0
    start = FIRST_PORT + BLOCK * index
    return range(start, start + BLOCK)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind: a port whose last connection is in TIME_WAIT is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out the ports of one worker's block in turn, skipping any that are taken."""

    def __init__(self, block: range, ephemeral: range, *, start: int = 0) -> None:
        self._ports = [port for port in block if port not in ephemeral]
        count = len(self._ports)
        # Two suites run at once on one machine (worktrees) share the blocks: start
        # each process at its own place in its block, so they rarely meet.
        self._next = itertools.cycle([(start + n) % count for n in range(count)] if count else [])

    def __call__(self) -> int:
        """A port of the block that nothing listens on now."""
        for _ in range(len(self._ports)):
            port = self._ports[next(self._next)]
            if _bindable(port):
                return port
        return _kernel_port()  # the block is exhausted or overlaps the ephemeral range


def _kernel_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: This process's allocator (each xdist worker is a process of its own).
free_port = PortAllocator(
    worker_block(os.environ.get("PYTEST_XDIST_WORKER")), ephemeral_range(), start=os.getpid()
)
