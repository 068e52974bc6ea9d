"""Frozen value types shared by the core and the shells."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["Credentials", "Identity", "Token", "ValidatedToken"]


@attrs.frozen(kw_only=False)
class Credentials:
    """AWS credentials used to sign a token.

    ``secret_access_key`` and ``session_token`` never appear in ``repr``;
    ``expiration`` (aware UTC) is set for temporary credentials.
    """

    access_key_id: str
    secret_access_key: str = attrs.field(repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    expiration: datetime | None = None


@attrs.frozen(kw_only=False)
class Token:
    """A ``k8s-aws-v1.`` bearer token and the moment a client should stop using it.

    ``value`` is a bearer credential for 15 minutes, so neither ``repr`` nor ``str``
    shows it: use ``token.value`` where the token itself is meant.
    """

    value: str = attrs.field(repr=False)
    expiration: datetime


@attrs.frozen(kw_only=True)
class ValidatedToken:
    """The parts of a token that passed every local check ([`validate_token()`][k8s_aws_auth.validate_token]).

    The outbound STS request is rebuilt from these parts, never from the token's bytes.
    ``signature`` and ``security_token`` are hidden from ``repr``.
    """

    host: str
    """The STS host, byte-equal to an allowlisted host of the configured partition."""
    region: str
    """The signing region of the credential scope (``us-east-1`` for the global host)."""
    partition: str
    access_key_id: str
    """Taken from the credential scope; trustworthy only after STS accepted the signature."""
    signed_at: datetime
    """``X-Amz-Date`` as an aware UTC datetime."""
    expires_at: datetime
    """``signed_at`` + 15 minutes: STS refuses the URL after this."""
    x_amz_expires: int
    signature: str = attrs.field(repr=False)
    security_token: str | None = attrs.field(repr=False, default=None)
    query: str = attrs.field(repr=False)
    """The canonical query string rebuilt from the validated parameters."""

    @property
    def url(self) -> str:
        """The rebuilt presigned GetCallerIdentity URL (a bearer credential: never log it)."""
        return f"https://{self.host}/?{self.query}"


@attrs.frozen(kw_only=True)
class Identity:
    """A caller identity confirmed by STS.

    ``canonical_arn`` turns an assumed-role session into its role ARN
    (``arn:aws:iam::111122223333:role/Admin``); ``session_name`` is the role
    session name (attacker-influenced when the role is assumable by people).
    ``access_key_id`` comes from the token's credential scope, trustworthy because
    STS accepted the signature made with it.
    """

    arn: str
    canonical_arn: str
    account_id: str
    user_id: str
    session_name: str
    access_key_id: str
    sts_endpoint: str
    partition: str = "aws"
    principal_type: str = "user"
    """One of ``user``, ``root``, ``role``, ``assumed-role``, ``federated-user``."""
