"""``generate_token`` / ``agenerate_token``: the clock-reading convenience over :func:`presign_token`.

With ``credentials`` omitted, credentials *and* the STS host settings (region,
``AWS_STS_REGIONAL_ENDPOINTS``, FIPS, dual-stack) are resolved the way the AWS
CLI resolves them (:mod:`k8s_aws_auth.credentials`); anything passed
explicitly wins. With explicit credentials nothing is read from the
environment: ``region=None`` then means the global host, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ._models import Credentials, Token
from ._token import presign_token

if TYPE_CHECKING:
    from .credentials import AsyncCredentialResolver, CredentialResolver

__all__ = ["agenerate_token", "generate_token"]


def _fixed_clock(now: datetime | None) -> Callable[[], datetime] | None:
    if now is None:
        return None
    return lambda: now


def _sign(
    resolver: CredentialResolver | AsyncCredentialResolver | None,
    credentials: Credentials,
    cluster_id: str,
    *,
    region: str | None,
    sts_regional_endpoints: str | None,
    use_fips: bool | None,
    use_dualstack: bool | None,
    now: datetime | None,
) -> Token:
    if resolver is not None:
        settings = resolver.settings()
        region = region if region is not None else settings.region
        if sts_regional_endpoints is None:
            sts_regional_endpoints = settings.sts_regional_endpoints
        use_fips = settings.use_fips if use_fips is None else use_fips
        use_dualstack = settings.use_dualstack if use_dualstack is None else use_dualstack
    return presign_token(
        credentials,
        cluster_id=cluster_id,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints or "regional",
        use_fips=bool(use_fips),
        use_dualstack=bool(use_dualstack),
        now=now if now is not None else datetime.now(timezone.utc),
    )


def generate_token(
    cluster_id: str,
    *,
    credentials: Credentials | None = None,
    region: str | None = None,
    sts_regional_endpoints: str | None = None,
    now: datetime | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    use_fips: bool | None = None,
    use_dualstack: bool | None = None,
) -> Token:
    """Generate a token for ``cluster_id``, byte-identical to ``aws eks get-token``.

    Args:
        cluster_id: the EKS cluster name or id (signed as ``x-k8s-aws-id``).
        credentials: sign with these; ``None`` resolves them with the default
            chain (environment, profile, web identity, SSO, process, container,
            IMDS) and also takes region and endpoint settings from the
            environment and profile.
        region: the STS region; ``None`` means "configured, else none" (no
            region signs for the global host with the us-east-1 scope).
        sts_regional_endpoints: ``"regional"`` (default) or ``"legacy"``;
            ``None`` means configured (``AWS_STS_REGIONAL_ENDPOINTS``) or regional.
        now: the signing time (default: the current time).
        profile: the shared-config profile to use (like ``aws --profile``).
        environ: the environment to read instead of ``os.environ``.
        use_fips: sign for the FIPS STS host; ``None`` means configured.
        use_dualstack: sign for the dual-stack STS host; ``None`` means configured.

    Raises:
        CredentialsError: no credentials were found or a configured source failed.
        ConfigurationError: an invalid region or endpoint mode.
    """
    resolver = None
    if credentials is None:
        from .credentials import CredentialResolver

        resolver = CredentialResolver(profile=profile, environ=environ, clock=_fixed_clock(now))
        credentials = resolver.resolve()
    return _sign(
        resolver,
        credentials,
        cluster_id,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
        now=now,
    )


async def agenerate_token(
    cluster_id: str,
    *,
    credentials: Credentials | None = None,
    region: str | None = None,
    sts_regional_endpoints: str | None = None,
    now: datetime | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    use_fips: bool | None = None,
    use_dualstack: bool | None = None,
) -> Token:
    """Async twin of :func:`generate_token` (network providers run on the event loop)."""
    resolver = None
    if credentials is None:
        from .credentials import AsyncCredentialResolver

        resolver = AsyncCredentialResolver(
            profile=profile, environ=environ, clock=_fixed_clock(now)
        )
        credentials = await resolver.resolve()
    return _sign(
        resolver,
        credentials,
        cluster_id,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
        now=now,
    )
