"""Credentials from the environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``."""

from __future__ import annotations

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import CredentialFlow, ProviderContext, Skip, parse_timestamp, provider_error
from ._env_keys import EXPIRATION_ENV, environment_keys

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
        keys = environment_keys(ctx.environ)
        if keys is None:
            return Skip("AWS_ACCESS_KEY_ID is not set")
        access_key_id, secret, token = keys
        if not secret:
            raise provider_error(
                self.name,
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is missing or empty",
                "partial-credentials",
            )
        expiration = None
        raw_expiration = ctx.environ.get(EXPIRATION_ENV, "")
        if raw_expiration:
            expiration = parse_timestamp(raw_expiration)
            if expiration is None:
                raise provider_error(
                    self.name,
                    "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 timestamp",
                    "bad-expiration",
                )
        return Credentials(access_key_id, secret, token, expiration)
