"""Where the bearer token of a Kubernetes API request comes from.

Three sources, one small interface (``bearer``/``abearer`` for the current
value, ``invalidate`` after a 401, ``secrets`` for scrubbing):

* ``StaticToken``: a kubeconfig ``token``.
* ``TokenFile``: a service-account token file (in-cluster) or a kubeconfig
  ``tokenFile``, re-read when older than a minute — as client-go does, since the
  kubelet rotates projected tokens long before they expire — and at once after
  a 401. lightkube 0.22 re-reads only after a 401.
* ``ExecPlugin``: a kubeconfig ``exec`` user, run by us for every
  ``client.authentication.k8s.io`` version (v1, v1beta1, v1alpha1; lightkube
  0.22 refuses v1, the version ``k8s-aws-auth kubeconfig`` writes). The token
  is reused until its ``expirationTimestamp`` draws near, or until a 401.
  The plugin runs without a terminal (``interactive: false``): a user whose
  ``interactiveMode`` is ``Always`` is refused when it is configured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Protocol

import attrs

from k8s_aws_auth._core.exec_credential import EXEC_API_VERSIONS
from k8s_aws_auth._core.redact import scrub, secret_forms
from k8s_aws_auth.errors import ConfigurationError

__all__ = [
    "CredentialSource",
    "ExecPlugin",
    "ExecSpec",
    "NoCredentials",
    "StaticToken",
    "TokenFile",
    "cluster_info",
    "exec_spec_from_kubeconfig",
    "parse_exec_credential",
]

#: The most a plugin may print (an ExecCredential is a few KB).
_MAX_PLUGIN_OUTPUT = 1024 * 1024
_MAX_TOKEN_FILE = 64 * 1024


class CredentialSource(Protocol):
    """What the transport asks for the ``Authorization`` header."""

    def bearer(self) -> str | None:
        """The current token (``None``: send no ``Authorization``); may block on I/O."""

    async def abearer(self) -> str | None:
        """``bearer`` for asyncio code (a plugin runs as an asyncio subprocess)."""

    def invalidate(self, used: str | None) -> bool:
        """Drop ``used`` after a 401; whether asking again may give another token."""

    def secrets(self) -> tuple[str, ...]:
        """Every spelling of the tokens handed out so far (to scrub from messages)."""


class NoCredentials:
    """No ``Authorization`` header (``--master`` without a kubeconfig, client certificates)."""

    def bearer(self) -> str | None:
        """Always ``None``."""
        return None

    async def abearer(self) -> str | None:
        """Always ``None``."""
        return None

    def invalidate(self, used: str | None) -> bool:
        """Nothing to refresh."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """None."""
        return ()


class StaticToken:
    """A fixed token (a kubeconfig ``token``)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"

    def bearer(self) -> str | None:
        """The token."""
        return self._token

    async def abearer(self) -> str | None:
        """The token."""
        return self._token

    def invalidate(self, used: str | None) -> bool:
        """A fixed token cannot change."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """The token's spellings."""
        return secret_forms([self._token])


class TokenFile:
    """A token file, re-read once ``refresh_after`` seconds passed (``clock``) and after a 401.

    A failed re-read keeps the token read before (the kubelet replaces the file
    atomically; a transient error must not cut the server off), and only the
    first read's failure is an error.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        refresh_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = os.fspath(path)
        self._refresh_after = refresh_after
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0
        self._seen: set[str] = set()

    def __repr__(self) -> str:
        return f"TokenFile({self._path!r})"

    def _read(self) -> str:
        try:
            with open(self._path, "rb") as file:
                data = file.read(_MAX_TOKEN_FILE + 1)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the token file {self._path}: {exc.strerror or type(exc).__name__}",
                reason="kube-token-file",
            ) from None
        token = data.decode("utf-8", "replace").strip()
        if not token or len(data) > _MAX_TOKEN_FILE:
            raise ConfigurationError(
                f"the token file {self._path} is empty or too large", reason="kube-token-file"
            )
        return token

    def bearer(self) -> str | None:
        """The token, re-read from the file when the last read is ``refresh_after`` old."""
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._read_at >= self._refresh_after:
                try:
                    self._token = self._read()
                except ConfigurationError:
                    if self._token is None:
                        raise
                self._read_at = now
                self._seen.add(self._token)
            return self._token

    async def abearer(self) -> str | None:
        """``bearer`` (a local file read: not worth a thread)."""
        return self.bearer()

    def invalidate(self, used: str | None) -> bool:
        """Re-read at the next request."""
        with self._lock:
            self._read_at = float("-inf")
        return True

    def secrets(self) -> tuple[str, ...]:
        """The spellings of every token read so far."""
        with self._lock:
            return secret_forms(self._seen)


@attrs.frozen
class ExecSpec:
    """A kubeconfig ``user.exec`` entry.

    Attributes:
        api_version: ``client.authentication.k8s.io/v1``, ``v1beta1`` or ``v1alpha1``.
        command: The plugin executable (a relative path with a ``/`` resolves
            against the kubeconfig's directory, as in kubectl).
        args: Its arguments.
        env: Extra environment variables, on top of the process environment.
        interactive_mode: ``Never``, ``IfAvailable`` or ``Always``.
        cluster_info: What ``KUBERNETES_EXEC_INFO`` carries in ``spec.cluster``
            when the user has ``provideClusterInfo: true`` (else ``None``).
        install_hint: Shown when the command cannot be started.
    """

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    interactive_mode: str = "IfAvailable"
    cluster_info: Mapping[str, object] | None = attrs.field(default=None, repr=False)
    install_hint: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.api_version not in EXEC_API_VERSIONS:
            raise ConfigurationError(
                f"exec apiVersion {self.api_version!r} is not one of {sorted(EXEC_API_VERSIONS)}",
                reason="kubeconfig",
            )
        if self.interactive_mode not in ("Never", "IfAvailable", "Always"):
            raise ConfigurationError(
                f"exec interactiveMode {self.interactive_mode!r} is not Never, IfAvailable or Always",
                reason="kubeconfig",
            )
        if self.interactive_mode == "Always":
            raise ConfigurationError(
                "the exec plugin needs a terminal (interactiveMode: Always); "
                "the Kubernetes API is called without one",
                reason="kubeconfig",
            )

    def exec_info(self) -> str:
        """The ``KUBERNETES_EXEC_INFO`` value: this version, not interactive, the cluster if asked."""
        spec: dict[str, object] = {"interactive": False}
        if self.cluster_info is not None:
            spec["cluster"] = dict(self.cluster_info)
        return json.dumps({"kind": "ExecCredential", "apiVersion": self.api_version, "spec": spec})


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _parse_timestamp(value: object) -> float:
    """An RFC 3339 time as Unix time (any fraction length: Python 3.10 reads 3 or 6 digits only)."""
    match = _RFC3339.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("status.expirationTimestamp is not an RFC 3339 time")
    whole, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(
            whole.replace("t", "T") + ("+00:00" if offset in ("Z", "z") else offset)
        )
    except ValueError:
        raise ValueError("status.expirationTimestamp is not an RFC 3339 time") from None
    return moment.astimezone(timezone.utc).timestamp() + float(fraction or 0)


def parse_exec_credential(text: str | bytes, api_version: str) -> tuple[str, float | None]:
    """The token and the expiry (Unix time, or ``None``) of a plugin's ExecCredential output.

    Raises:
        ValueError: the output is not an ExecCredential of ``api_version`` with a
            token (the message never quotes the output).
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("the output is not JSON") from None
    if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
        raise ValueError("the output is not an ExecCredential object")
    if document.get("apiVersion") != api_version:
        raise ValueError(f"the output is not of apiVersion {api_version} (the configured one)")
    status = document.get("status")
    if not isinstance(status, dict):
        raise ValueError("the ExecCredential has no status")
    token = status.get("token")
    if not isinstance(token, str) or not token:
        if status.get("clientCertificateData") or status.get("clientKeyData"):
            raise ValueError("the plugin returned a client certificate; only tokens are supported")
        raise ValueError("the ExecCredential has no status.token")
    expiry = status.get("expirationTimestamp")
    return token, None if expiry in (None, "") else _parse_timestamp(expiry)


class ExecPlugin:
    """A kubeconfig exec plugin, run without a terminal; its token cached until near expiry.

    Args:
        spec: The kubeconfig's exec entry.
        refresh_before: Run the plugin again this many seconds before the token's
            ``expirationTimestamp``.
        timeout: The most a plugin run may take (seconds).
        clock: Wall time (``expirationTimestamp`` is wall time).
        environ: The environment the plugin inherits (default: this process's).
    """

    def __init__(
        self,
        spec: ExecSpec,
        *,
        refresh_before: float = 30.0,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self._refresh_before = refresh_before
        self._timeout = timeout
        self._clock = clock
        self._environ = environ
        self._token: str | None = None
        self._expiry: float | None = None
        self._seen: set[str] = set()
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"ExecPlugin({self.spec.command!r})"

    def _fresh(self) -> str | None:
        if self._token is None:
            return None
        if self._expiry is not None and self._clock() >= self._expiry - self._refresh_before:
            return None
        return self._token

    def _command(self) -> tuple[list[str], dict[str, str]]:
        environ = dict(os.environ if self._environ is None else self._environ)
        environ.update(self.spec.env)
        environ["KUBERNETES_EXEC_INFO"] = self.spec.exec_info()
        return [self.spec.command, *self.spec.args], environ

    def _accept(self, returncode: int | None, stdout: bytes, stderr: bytes) -> str:
        name = os.path.basename(self.spec.command)
        if returncode != 0:
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            detail = scrub(last[0][:300], self.secrets())
            raise ConfigurationError(
                f"exec plugin {name} exited with status {returncode}"
                + (f": {detail}" if detail else ""),
                reason="kube-exec",
            )
        if len(stdout) > _MAX_PLUGIN_OUTPUT:
            raise ConfigurationError(f"exec plugin {name} printed too much", reason="kube-exec")
        try:
            token, expiry = parse_exec_credential(stdout, self.spec.api_version)
        except ValueError as exc:
            raise ConfigurationError(f"exec plugin {name}: {exc}", reason="kube-exec") from None
        self._token, self._expiry = token, expiry
        self._seen.add(token)
        return token

    def _not_started(self, exc: OSError) -> ConfigurationError:
        hint = f" ({self.spec.install_hint.strip()})" if self.spec.install_hint else ""
        return ConfigurationError(
            f"cannot run exec plugin {self.spec.command}: {exc.strerror or type(exc).__name__}{hint}",
            reason="kube-exec",
        )

    def bearer(self) -> str | None:
        """The cached token, or a fresh one from running the plugin (blocks)."""
        with self._thread_lock:
            token = self._fresh()
            if token is not None:
                return token
            argv, environ = self._command()
            try:
                done = subprocess.run(  # noqa: S603 - the kubeconfig's own command
                    argv,
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=self._timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise self._timed_out() from None
            except OSError as exc:
                raise self._not_started(exc) from None
            return self._accept(done.returncode, done.stdout, done.stderr)

    def _timed_out(self) -> ConfigurationError:
        return ConfigurationError(
            f"exec plugin {os.path.basename(self.spec.command)} did not finish in {self._timeout:g} s",
            reason="kube-exec",
        )

    async def abearer(self) -> str | None:
        """``bearer`` without blocking the event loop (one plugin run at a time)."""
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            token = self._fresh()
            if token is not None:
                return token
            argv, environ = self._command()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    env=environ,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                raise self._not_started(exc) from None
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), self._timeout)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                raise self._timed_out() from None
            return self._accept(process.returncode, stdout, stderr)

    def invalidate(self, used: str | None) -> bool:
        """Forget ``used`` so the next request runs the plugin again."""
        if used is not None and used == self._token:
            self._token = self._expiry = None
        return True

    def secrets(self) -> tuple[str, ...]:
        """The spellings of every token the plugin returned."""
        return secret_forms(self._seen)


def exec_spec_from_kubeconfig(
    entry: Mapping[str, object],
    *,
    base_dir: str | None,
    cluster_info: Mapping[str, object] | None,
) -> ExecSpec:
    """An ``ExecSpec`` from a kubeconfig ``user.exec`` mapping (``base_dir``: the kubeconfig's folder).

    ``cluster_info`` is used only when the entry sets ``provideClusterInfo: true``.
    v1 requires ``interactiveMode``, as kubectl does; the older versions default
    it to ``IfAvailable``.
    """
    api_version = entry.get("apiVersion")
    command = entry.get("command")
    if not isinstance(api_version, str) or not isinstance(command, str) or not command:
        raise ConfigurationError(
            "the kubeconfig's exec user needs apiVersion and command", reason="kubeconfig"
        )
    if "/" in command and not os.path.isabs(command) and base_dir:
        command = os.path.join(base_dir, command)
    args = entry.get("args") or []
    env_entries = entry.get("env") or []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ConfigurationError("the exec user's args must be strings", reason="kubeconfig")
    if not isinstance(env_entries, list):
        raise ConfigurationError("the exec user's env must be a list", reason="kubeconfig")
    env: list[tuple[str, str]] = []
    for item in env_entries:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigurationError(
                "each exec env entry needs a name and a value", reason="kubeconfig"
            )
        env.append((item["name"], str(item.get("value") or "")))
    mode = entry.get("interactiveMode")
    if mode is None:
        if api_version == "client.authentication.k8s.io/v1":
            raise ConfigurationError(
                "the exec user needs interactiveMode with client.authentication.k8s.io/v1",
                reason="kubeconfig",
            )
        mode = "IfAvailable"
    hint = entry.get("installHint")
    return ExecSpec(
        api_version=api_version,
        command=command,
        args=tuple(args),
        env=tuple(env),
        interactive_mode=str(mode),
        cluster_info=cluster_info if entry.get("provideClusterInfo") is True else None,
        install_hint=hint if isinstance(hint, str) else None,
    )


def cluster_info(
    server: str, ca_pem: bytes | None, insecure: bool, extension: object
) -> dict[str, object]:
    """``spec.cluster`` of ``KUBERNETES_EXEC_INFO`` for a cluster entry."""
    info: dict[str, object] = {"server": server}
    if ca_pem:
        info["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    if insecure:
        info["insecure-skip-tls-verify"] = True
    if extension is not None:
        info["config"] = extension
    return info
