"""The TLS context that checks the Kubernetes API server (and presents a client certificate).

Built by us rather than by lightkube 0.22, which writes every ``*-data`` field
of a kubeconfig — the client's private key included — to temporary files that
live as long as the configuration. Here CA data is loaded from memory, and a
client key given as data goes through a private (0600) temporary file that is
removed as soon as it is loaded (Python's ``ssl`` reads keys from files only).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator

import attrs

from k8s_aws_auth.errors import ConfigurationError

__all__ = ["TLSFiles", "ssl_context"]


@attrs.frozen
class TLSFiles:
    """What a kubeconfig cluster and user say about TLS (files or PEM data, never both needed).

    Attributes:
        ca_file: ``certificate-authority`` (absolute path).
        ca_pem: ``certificate-authority-data`` (decoded PEM).
        insecure: ``insecure-skip-tls-verify``.
        cert_file: ``client-certificate``.
        key_file: ``client-key``.
        cert_pem: ``client-certificate-data`` (decoded PEM).
        key_pem: ``client-key-data`` (decoded PEM).
    """

    ca_file: str | None = None
    ca_pem: bytes | None = attrs.field(default=None, repr=False)
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    cert_pem: bytes | None = attrs.field(default=None, repr=False)
    key_pem: bytes | None = attrs.field(default=None, repr=False)


def _default_context() -> ssl.SSLContext:
    import certifi  # httpx's own trust store, so "no CA configured" means what it means for httpx

    return ssl.create_default_context(cafile=certifi.where())


@contextlib.contextmanager
def _as_file(path: str | None, pem: bytes | None) -> Iterator[str | None]:
    """``path``, or ``pem`` in a private temporary file removed on exit, or ``None``."""
    if path or not pem:
        yield path
        return
    descriptor, temporary = tempfile.mkstemp(prefix="k8s-aws-auth-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(pem)
        yield temporary
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _load_client_pair(context: ssl.SSLContext, files: TLSFiles) -> None:
    with (
        _as_file(files.cert_file, files.cert_pem) as cert,
        _as_file(files.key_file, files.key_pem) as key,
    ):
        if cert is not None:
            context.load_cert_chain(cert, key)


def ssl_context(files: TLSFiles) -> ssl.SSLContext:
    """The client TLS context (TLS 1.2 or later, hostname checked unless ``insecure``).

    Raises:
        ConfigurationError: a file cannot be read or a PEM block does not load.
    """
    try:
        if files.ca_file:
            context = ssl.create_default_context(cafile=files.ca_file)
        elif files.ca_pem:
            context = ssl.create_default_context(cadata=files.ca_pem.decode("ascii", "replace"))
        else:
            context = _default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if files.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _load_client_pair(context, files)
    except (OSError, ssl.SSLError, ValueError) as exc:
        # The message names the problem; a PEM's content is never part of it.
        detail = (
            getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        )
        raise ConfigurationError(
            f"cannot set up TLS for the Kubernetes API: {detail}", reason="kube-tls"
        ) from None
    return context
