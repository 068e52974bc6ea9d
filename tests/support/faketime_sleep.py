"""Start-up hook of the ``timeshift`` virtualenv: ``time.sleep`` that survives libfaketime 0.9.10.

``nox -s timeshift`` installs this module and a ``.pth`` line importing it into
its own virtualenv, so every Python process of the shifted runs (pytest and each
child it starts, whatever environment the child gets) loads it before any other
code. It is never imported by the normal test runs.

Why it exists: the shifted runs need ``FAKETIME_DONT_FAKE_MONOTONIC=1``; with
a faked monotonic clock every lock, ``Event`` and ``join`` timeout waits for
decades, because glibc's ``sem_clockwait`` hands libfaketime's monotonic deadline
to the kernel unconverted (libfaketime issue #390). But libfaketime 0.9.10
(Debian 12's) then rewrites the absolute ``CLOCK_MONOTONIC`` deadline of Python
3.11's ``time.sleep`` as if it were a faked wall-clock time and the kernel refuses
it with ``EINVAL`` (libfaketime issue #426). Only when that bug is present is
``time.sleep`` replaced, by a ``select()`` wait of the same length (a relative
timeout, which libfaketime passes through untouched). Nothing else changes: the
wall clock stays moved, the monotonic clock and every timeout stay real.
"""

from __future__ import annotations

import errno
import time


def _select_sleep(seconds: float) -> None:
    """Sleep ``seconds`` like ``time.sleep``, with a relative ``select()`` timeout."""
    import select  # only when something sleeps: CLI start-up tests count modules

    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


def _install() -> None:
    try:
        time.sleep(0)
    except OSError as exc:  # anything but the known bug: leave time.sleep as it is
        if exc.errno == errno.EINVAL:
            # typeshed also admits SupportsIndex delays, which select() takes as well;
            # spelling that out would import typing into every process (start-up tests).
            time.sleep = _select_sleep  # type: ignore[assignment]


_install()
