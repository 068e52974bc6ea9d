"""Credentials from the environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``."""

from __future__ import annotations

import attrs

from k8s_aws_auth._models import Credentials

from ._base import CredentialFlow, ProviderContext, Skip, parse_timestamp, provider_error

__all__ = ["EnvProvider"]


@attrs.frozen
class EnvProvider:
    """``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN`` or the older
    ``AWS_SECURITY_TOKEN``, + ``AWS_CREDENTIAL_EXPIRATION``), as the AWS CLI reads them.

    Skipped when the key id is unset or empty, or when a profile was chosen
    explicitly (an explicit profile overrides the environment, as in the SDKs).
    """

    name: str = attrs.field(default="environment", init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Read the variables; no I/O."""
        if ctx.env_disabled:
            return Skip("a profile was chosen explicitly")
        yield from ()
        return self.read(ctx)

    def read(self, ctx: ProviderContext) -> Credentials | Skip:
        """The credentials in ``ctx.environ`` (used directly by ``credential_source = Environment``)."""
        environ = ctx.environ
        access_key_id = environ.get("AWS_ACCESS_KEY_ID", "")
        if not access_key_id:
            return Skip("AWS_ACCESS_KEY_ID is not set")
        secret = environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not secret:
            raise provider_error(
                self.name,
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is missing or empty",
                "partial-credentials",
            )
        # The AWS CLI prefers the older name when both are set.
        token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN") or None
        expiration = None
        raw_expiration = environ.get("AWS_CREDENTIAL_EXPIRATION", "")
        if raw_expiration:
            expiration = parse_timestamp(raw_expiration)
            if expiration is None:
                raise provider_error(
                    self.name,
                    "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 timestamp",
                    "bad-expiration",
                )
        return Credentials(access_key_id, secret, token, expiration)
