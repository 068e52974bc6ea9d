"""Effects of credential flows beyond HTTP: run a ``credential_process``, prompt for an MFA code,
write a refreshed SSO token back to the AWS CLI's cache.

The resolvers carry them out (a subprocess, a line from the injected input, a file);
tests step flows by hand and send the outcomes in.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = [
    "LOCAL_EFFECTS",
    "ProcessFailure",
    "ProcessResult",
    "Prompt",
    "RunProcess",
    "WriteFailure",
    "WriteFile",
]


@attrs.frozen(kw_only=True)
class RunProcess:
    """Run ``argv`` (no shell) with a timeout; the flow receives a ProcessResult or ProcessFailure."""

    argv: tuple[str, ...] = attrs.field(repr=False)
    timeout: float
    max_output: int = 1024 * 1024
    env: Mapping[str, str] | None = attrs.field(default=None, repr=False, eq=False)
    """The environment for the process (the resolver's); ``None`` inherits the parent's."""


@attrs.frozen(kw_only=True)
class ProcessResult:
    """A finished process: exit status and (capped) output."""

    returncode: int
    stdout: bytes = attrs.field(repr=False)
    stderr: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ProcessFailure:
    """The process could not be run or did not finish: ``kind`` is ``timeout``, ``not-found`` or ``error``."""

    kind: str
    detail: str


@attrs.frozen
class Prompt:
    """Ask the user for a line (an MFA code); the flow receives the text, or ``None`` if nobody can answer."""

    text: str


@attrs.frozen(kw_only=True)
class WriteFile:
    """Replace the file at ``path`` with ``text`` atomically, readable by its owner only (0600).

    The flow receives ``None`` when the file was written, else a `WriteFailure`.
    """

    path: str
    text: str = attrs.field(repr=False)


@attrs.frozen
class WriteFailure:
    """The file could not be written; ``detail`` names the exception class only."""

    detail: str


#: Every effect here: what a resolver carries out itself rather than through the HTTP drivers.
LOCAL_EFFECTS = (RunProcess, Prompt, WriteFile)
