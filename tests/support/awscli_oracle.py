"""Run the real awscli and eks-token as test oracles, each command forked from one pre-imported process.

:func:`run_awscli` is ``subprocess.run(["aws", *args], env=env)`` (or
tests/support/awscli_frozen.py with ``frozen``) at a third of the CPU: the
commands run in children forked from tests/support/awscli_forks.py, which
imported awscli once. Each test process (each xdist worker) starts its own
on first use; commands run one at a time. Tests of the ``aws`` script itself
(its shared credential cache, concurrent runs) run the real ``aws`` process.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.child_env import child_env

__all__ = ["run_awscli", "run_eks_token"]

FORKS = pathlib.Path(__file__).with_name("awscli_forks.py")
#: The forking process's own environment: nothing of the developer's, the test's clock.
_SERVER_ENV = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
#: Importing awscli and eks-token takes about a second; under coverage and load, more.
_START_TIMEOUT = 60.0


class _Forks:
    """The forking process of this test process, started on first use, one command at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._log: pathlib.Path | None = None

    def run(
        self,
        program: str,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        frozen: str | None,
        cwd: pathlib.Path | None,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        with self._lock, tempfile.TemporaryDirectory(prefix="awscli-") as scratch:
            out, err = pathlib.Path(scratch, "stdout"), pathlib.Path(scratch, "stderr")
            out.touch()
            err.touch()
            request = {
                "program": program,
                "args": list(args),
                "env": dict(env),
                "frozen": frozen,
                "cwd": None if cwd is None else str(cwd),
                "stdin": os.devnull,
                "stdout": str(out),
                "stderr": str(err),
                "timeout": max(1, round(timeout)),
            }
            process = self._started()
            assert process.stdin is not None
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            # The child's own alarm ends a hung command; this bounds a hung forking process.
            reply = self._reply(process, timeout + 10)
            return subprocess.CompletedProcess(
                [program, *args],
                int(reply["returncode"]),
                out.read_text(encoding="utf-8"),
                err.read_text(encoding="utf-8"),
            )

    def _started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        descriptor, log = tempfile.mkstemp(prefix="awscli-forks-", suffix=".log")
        self._log = pathlib.Path(log)
        with os.fdopen(descriptor, "w") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, str(FORKS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=child_env(_SERVER_ENV, measured=False),
                text=True,
            )
        ready = self._reply(self._process, _START_TIMEOUT)
        assert ready == {"ready": True}, ready
        return self._process

    def _reply(self, process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        readable: list[Any] = []
        while not readable:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise subprocess.TimeoutExpired(str(FORKS), timeout)
            readable, _, _ = select.select([process.stdout], [], [], left)
        line = process.stdout.readline()
        if not line:
            log = self._log.read_text(encoding="utf-8") if self._log else ""
            self.close()
            raise RuntimeError(f"{FORKS.name} exited: {log}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None


_FORKS = _Forks()
atexit.register(_FORKS.close)


def run_awscli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    frozen: str | None = None,
    cwd: pathlib.Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``aws ARGS`` under ``env`` (through ``child_env``); with ``frozen`` (ISO 8601) its clock stopped there."""
    return _FORKS.run("aws", args, child_env(env), frozen=frozen, cwd=cwd, timeout=timeout)


def run_eks_token(
    cluster_name: str, region: str | None, env: Mapping[str, str], *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``eks_token.get_token(cluster_name, region_name=region)`` under ``env``, its JSON on stdout."""
    return _FORKS.run(
        "eks-token", [cluster_name, region or ""], child_env(env), frozen=None, cwd=None,
        timeout=timeout,
    )  # fmt: skip
