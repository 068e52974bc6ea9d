"""Realistic fake AWS credentials and unique ids (deterministic when seeded)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.errors import ConfigurationError

__all__ = ["new_credentials", "unique_id"]

# IAM access key ids and unique ids use upper-case base32 after a 4-letter prefix.
_KEY_PREFIX = {"user": "AKIA", "temporary": "ASIA"}


class _Bytes:
    """A byte source: ``secrets`` by default, a SHA-256 counter stream when seeded."""

    def __init__(self, seed: str | int | None) -> None:
        self._seed = None if seed is None else str(seed).encode("utf-8")
        self._counter = 0

    def take(self, size: int) -> bytes:
        if self._seed is None:
            return secrets.token_bytes(size)
        out = b""
        while len(out) < size:
            self._counter += 1
            out += hashlib.sha256(self._seed + b"\0" + str(self._counter).encode()).digest()
        return out[:size]


def _base32(raw: bytes, length: int) -> str:
    return base64.b32encode(raw).decode("ascii")[:length]


def unique_id(prefix: str, name: str) -> str:
    """A stable IAM-style unique id (``AIDA…``, ``AROA…``): ``prefix`` + 17 base32 chars of ``name``."""
    return prefix + _base32(hashlib.sha256(name.encode("utf-8")).digest(), 17)


def new_credentials(
    kind: str = "user",
    *,
    seed: str | int | None = None,
    expiration: datetime | None = None,
) -> Credentials:
    """Make realistic fake credentials.

    Args:
        kind: ``"user"`` for long-term keys (``AKIA…``, no session token) or
            ``"temporary"`` for session credentials (``ASIA…`` with a session
            token that contains ``+``, ``/`` and ``=`` like real ones do).
        seed: makes the result deterministic (same seed, same keys).
        expiration: stored as ``Credentials.expiration``.

    Returns:
        Credentials with a 20-character key id and a 40-character secret.
    """
    if kind not in _KEY_PREFIX:
        raise ConfigurationError("kind must be 'user' or 'temporary'", reason="credentials")
    source = _Bytes(seed)
    key_id = _KEY_PREFIX[kind] + _base32(source.take(10), 16)
    secret = base64.b64encode(source.take(30)).decode("ascii")
    token = None
    if kind == "temporary":
        # Real session tokens are a few hundred base64 characters, often padded.
        token = base64.b64encode(source.take(257)).decode("ascii")
    return Credentials(key_id, secret, token, expiration)
