"""The ordered provider chain: first answer wins, every skip is logged with its reason."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.errors import NoCredentialsError

from ._base import CredentialFlow, CredentialProvider, ProviderContext, Skip

__all__ = ["CredentialChain", "StaticProvider"]


@attrs.frozen
class StaticProvider:
    """Always answers with the given credentials (secrets hidden in ``repr``)."""

    credentials: Credentials
    name: str = attrs.field(default="static", init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Return the credentials; no I/O."""
        yield from ()
        return self.credentials


def _as_tuple(providers: Sequence[CredentialProvider]) -> tuple[CredentialProvider, ...]:
    return tuple(providers)


@attrs.frozen
class CredentialChain:
    """Providers tried in order; the first that returns credentials wins.

    A provider that is not configured is skipped (its reason goes into the
    attempt log, `NoCredentialsError.attempts`); a configured provider
    that fails stops the chain with its [`CredentialProviderError`][k8s_aws_auth.errors.CredentialProviderError], as in
    the AWS CLI. Later providers are not run, so no network call happens
    once an earlier provider answered.
    """

    providers: tuple[CredentialProvider, ...] = attrs.field(converter=_as_tuple)
    name: str = attrs.field(default="chain", kw_only=True)

    def resolve_flow(
        self,
        ctx: ProviderContext,
        *,
        skip: int = 0,
        attempts: list[tuple[str, str]] | None = None,
    ) -> CredentialFlow[tuple[Credentials, CredentialProvider]]:
        """Run the chain; return the credentials and the provider that answered.

        ``skip`` providers at the front were already tried (their reasons are in
        ``attempts``). Raises [`NoCredentialsError`][k8s_aws_auth.errors.NoCredentialsError] (with the attempt log)
        when every provider skipped.
        """
        attempts = list(attempts or ())
        for provider in self.providers[skip:]:
            result = yield from provider.flow(ctx)
            if isinstance(result, Skip):
                attempts.append((provider.name, result.reason))
                continue
            return result, provider
        raise NoCredentialsError("no AWS credentials found", attempts=attempts)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """The chain as one provider: credentials, or a skip listing every member's reason."""
        try:
            credentials, _provider = yield from self.resolve_flow(ctx)
        except NoCredentialsError as exc:
            return Skip("; ".join(f"{name}: {why}" for name, why in exc.attempts) or "empty chain")
        return credentials
