"""Environments for the child processes tests start: the test's own clock goes with them.

Tests that start a process with an environment built from scratch (to keep the
developer's AWS settings out) would otherwise drop the variables that move the
clock under ``nox -s timeshift`` (libfaketime: ``LD_PRELOAD`` and ``FAKETIME*``),
and the child would sign, cache and judge expiry by another clock than the
test's. Every such environment goes through :func:`child_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["child_env", "clock_variables", "coverage_variables"]

#: The dynamic loader's preload variables (libfaketime is injected with them).
_PRELOAD_NAMES = ("LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "DYLD_FORCE_FLAT_NAMESPACE")
#: libfaketime reads ``FAKETIME`` and its ``FAKETIME_*`` options.
_FAKETIME_PREFIX = "FAKETIME"
#: coverage.py's ``patch = subprocess`` starts measuring a child Python from these.
_COVERAGE_PREFIX = "COVERAGE_"


def clock_variables() -> dict[str, str]:
    """The variables of this process that decide which clock a child process sees."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in _PRELOAD_NAMES or name.startswith(_FAKETIME_PREFIX)
    }


def coverage_variables() -> dict[str, str]:
    """The variables of this process that make coverage.py measure a child Python too."""
    return {name: value for name, value in os.environ.items() if name.startswith(_COVERAGE_PREFIX)}


def child_env(env: Mapping[str, str], *, measured: bool = True) -> dict[str, str]:
    """``env`` plus the clock variables, and the coverage ones unless ``measured`` is false.

    ``measured=False`` is for a child whose loaded modules are what the test checks:
    coverage.py, started in it, imports ``typing``, ``datetime``, ``hashlib`` and more
    of its own. Its variables then go even when ``env`` is a copy of ``os.environ``.
    """
    if measured:
        return {**env, **clock_variables(), **coverage_variables()}
    unmeasured = {
        name: value for name, value in env.items() if not name.startswith(_COVERAGE_PREFIX)
    }
    return {**unmeasured, **clock_variables()}
