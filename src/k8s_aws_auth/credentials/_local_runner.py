"""What the resolver shells do for the effects that are not HTTP: run ``credential_process``, prompt for MFA.

Blocking on purpose: the async resolver runs them in a worker thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._local_effects import ProcessFailure, ProcessResult, RunProcess

__all__ = ["STDIN", "MfaInput", "prompt", "run_process"]

#: Reads one line: the MFA code typed after the prompt.
MfaInput = Callable[[], str]


def run_process(effect: RunProcess) -> ProcessResult | ProcessFailure:
    """Run a ``credential_process`` command (no shell, inherited stdin, timeout, capped output)."""
    import subprocess

    from ._local_effects import ProcessFailure, ProcessResult

    try:
        completed = subprocess.run(  # noqa: S603 - argv from the user's own config, no shell
            list(effect.argv),
            capture_output=True,
            timeout=effect.timeout,
            env=None if effect.env is None else dict(effect.env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ProcessFailure(kind="timeout", detail="TimeoutExpired")
    except FileNotFoundError:
        return ProcessFailure(kind="not-found", detail="no such program")
    except (OSError, ValueError) as exc:
        return ProcessFailure(kind="error", detail=type(exc).__name__)
    return ProcessResult(
        returncode=completed.returncode,
        stdout=completed.stdout[: effect.max_output],
        stderr=completed.stderr[: effect.max_output],
    )


def _stdin_readline() -> str:
    return sys.stdin.readline() if sys.stdin is not None else ""


class _Default:
    def __repr__(self) -> str:
        return "<stdin>"


#: The default ``mfa_input``: a line read from stdin (shown as ``<stdin>`` in reprs).
STDIN: Any = _Default()


def prompt(text: str, mfa_input: MfaInput | None) -> str | None:
    """Write ``text`` to stderr and read the answer with ``mfa_input``; ``None`` when nobody can answer."""
    reader = _stdin_readline if mfa_input is STDIN else mfa_input
    if reader is None:
        return None
    sys.stderr.write(text)
    sys.stderr.flush()
    line = reader()
    return line.rstrip("\r\n") if line else None
