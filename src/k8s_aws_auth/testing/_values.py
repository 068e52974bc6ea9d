"""Frozen values the emulator hands out: registered principals and recorded requests."""

from __future__ import annotations

import attrs

from k8s_aws_auth._core.models import Credentials

__all__ = ["Principal", "RecordedRequest"]


@attrs.frozen(kw_only=True)
class Principal:
    """A caller identity [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] knows, with the credentials that sign as it.

    ``arn``, ``user_id`` and ``account_id`` are exactly what GetCallerIdentity
    answers for a request signed with ``credentials``.
    """

    arn: str
    user_id: str
    account_id: str
    credentials: Credentials


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] received, and how it answered.

    ``url``, ``headers`` and ``body`` can hold bearer tokens and signatures, so
    they are left out of ``repr``.
    """

    method: str
    url: str = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    """Header (name, value) pairs as received, in order."""
    body: bytes = attrs.field(repr=False)
    action: str | None
    """The ``Action`` parameter, when the request had a readable one."""
    status: int
    """The HTTP status answered; 0 when the connection was dropped on purpose."""
    outcome: str
    """``"ok"``, the STS error code answered (``"SignatureDoesNotMatch"``…), or ``"dropped"``."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None
