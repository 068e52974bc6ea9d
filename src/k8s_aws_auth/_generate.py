"""``generate_token`` / ``agenerate_token``: the clock-reading convenience over [`presign_token()`][k8s_aws_auth.presign_token].

With ``credentials`` omitted, credentials *and* the STS host settings (region,
``AWS_STS_REGIONAL_ENDPOINTS``, FIPS, dual-stack) are resolved the way the AWS
CLI resolves them ([`k8s_aws_auth.credentials`][k8s_aws_auth.credentials]), by a
``resolver`` when one is given; anything passed explicitly wins. With explicit
credentials nothing is read from the environment: ``region=None`` then means the
global host, as before (unless ``imds_region=True`` asks for the configured
settings and the instance's region). ``role_arn`` assumes a role with those
credentials before signing (the CLI's ``--role``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._core.models import Credentials, Token
from ._core.token import presign_token
from ._runtime.clock import utc_now
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .credentials import AsyncCredentialResolver, ClientSettings, CredentialResolver

__all__ = ["RoleOptions", "agenerate_token", "generate_token", "sign_with_settings"]


def _fixed_clock(now: datetime | None) -> Callable[[], datetime] | None:
    if now is None:
        return None
    return lambda: now


def sign_with_settings(
    settings: ClientSettings | None,
    credentials: Credentials,
    cluster_id: str,
    *,
    region: str | None,
    sts_regional_endpoints: str | None,
    use_fips: bool | None,
    use_dualstack: bool | None,
    now: datetime | None,
) -> Token:
    """Sign with ``credentials``; unset host settings come from ``settings`` (``None``: none configured).

    Shared by ``generate_token`` and the token sources, which resolve the settings once.
    """
    if settings is not None:
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
        now=now if now is not None else utc_now(),
    )


def _environment_answer(
    *, profile: str | None, environ: Mapping[str, str] | None, region: str | None
) -> tuple[Credentials, ClientSettings] | None:
    """The default chain's answer when its first provider, the environment's keys, decides it.

    The same reading as [`EnvProvider`][k8s_aws_auth.credentials.EnvProvider] (one
    function) and the resolver's settings rules, without building the chain: a
    fresh process signing with environment keys pays milliseconds less. ``None``
    (run the resolver) for an explicit profile, incomplete keys, or keys with an
    ``AWS_CREDENTIAL_EXPIRATION`` (the provider parses and checks it).
    """
    import os

    from .credentials.internal import EXPIRATION_ENV, environment_keys

    source = os.environ if environ is None else environ
    keys = environment_keys(source) if profile is None else None
    if keys is None or not keys[1] or source.get(EXPIRATION_ENV):
        return None
    from .credentials.internal import SharedFiles, resolve_settings

    settings = resolve_settings(SharedFiles(source), region=region)
    return Credentials(*keys), settings


def _plan(
    credentials: Credentials | None,
    *,
    region: str | None,
    profile: str | None,
    environ: Mapping[str, str] | None,
    now: datetime | None,
    imds_region: bool,
) -> tuple[Credentials, ClientSettings | None] | dict[str, Any]:
    """Credentials and settings found without a resolver, else the resolver's arguments.

    Explicit credentials need none (settings ``None``: nothing configured is read)
    unless the instance's region may be looked up; environment keys need none
    unless a profile was chosen or IMDS may be asked.
    """
    if credentials is not None and not (imds_region and region is None):
        return credentials, None
    if credentials is None and not imds_region:
        answer = _environment_answer(profile=profile, environ=environ, region=region)
        if answer is not None:
            return answer
    options: dict[str, Any] = {
        "profile": profile,
        "environ": environ,
        "clock": _fixed_clock(now),
        "imds_region": imds_region,
    }
    if credentials is not None:
        from .credentials import StaticProvider

        options["chain"] = StaticProvider(credentials)
    return options


@attrs.frozen(kw_only=True)
class RoleOptions:
    """The role to assume before signing, as ``generate_token`` takes it (``role_arn=None``: none)."""

    role_arn: str | None = None
    external_id: str | None = attrs.field(default=None, repr=False)
    role_session_name: str | None = None
    forward_session_name: bool = False

    def check(self) -> None:
        """Refuse role options without a role, and a session name given twice."""
        if self.role_arn is None:
            if self.external_id is not None or self.role_session_name is not None:
                raise ConfigurationError(
                    "external_id and role_session_name need a role_arn", reason="role-arn"
                )
            if self.forward_session_name:
                raise ConfigurationError("forward_session_name needs a role_arn", reason="role-arn")
        elif self.forward_session_name and self.role_session_name is not None:
            raise ConfigurationError(
                "give role_session_name or forward_session_name, not both", reason="role-arn"
            )
        if self.role_session_name is not None:
            from .credentials.internal import valid_session_name

            if not valid_session_name(self.role_session_name):
                raise ConfigurationError(
                    "role_session_name must be 2-64 characters of letters, digits and +=,.@_-",
                    reason="role-session-name",
                )

    def provider(self, source: Credentials, region: str | None) -> Any:
        """The AssumeRole provider for ``source``'s credentials (the ARN checked first)."""
        from .credentials.internal import ExplicitRoleProvider, check_role_arn

        assert self.role_arn is not None
        check_role_arn(self.role_arn, region)
        return ExplicitRoleProvider(
            source=source,
            role_arn=self.role_arn,
            external_id=self.external_id,
            session_name=self.role_session_name,
            forward_session_name=self.forward_session_name,
            region=region,
        )


def _check_resolver(
    resolver: object,
    kind: type,
    credentials: Credentials | None,
    *,
    profile: str | None,
    environ: Mapping[str, str] | None,
    imds_region: bool,
) -> None:
    if not isinstance(resolver, kind):
        raise ConfigurationError(f"resolver must be a {kind.__name__}", reason="resolver")
    if credentials is not None:
        raise ConfigurationError("give credentials or a resolver, not both", reason="resolver")
    if profile is not None or environ is not None or imds_region:
        raise ConfigurationError(
            "profile, environ and imds_region are the resolver's own settings: "
            "give them to the resolver",
            reason="resolver",
        )


def _role_environ(
    settings: ClientSettings | None, environ: Mapping[str, str] | None
) -> Mapping[str, str] | None:
    # Explicit credentials read nothing from the environment; neither does their AssumeRole.
    return {} if settings is None and environ is None else environ


def generate_token(
    cluster_id: str,
    *,
    credentials: Credentials | None = None,
    resolver: CredentialResolver | None = None,
    region: str | None = None,
    sts_regional_endpoints: str | None = None,
    now: datetime | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    use_fips: bool | None = None,
    use_dualstack: bool | None = None,
    imds_region: bool = False,
    role_arn: str | None = None,
    external_id: str | None = None,
    role_session_name: str | None = None,
    forward_session_name: bool = False,
) -> Token:
    """Generate a token for ``cluster_id``, byte-identical to ``aws eks get-token``.

    Args:
        cluster_id: the EKS cluster name or id (signed as ``x-k8s-aws-id``).
        credentials: sign with these; ``None`` resolves them with the default
            chain (environment, profile, web identity, SSO, process, container,
            IMDS) and also takes region and endpoint settings from the
            environment and profile.
        resolver: a [`CredentialResolver`][k8s_aws_auth.CredentialResolver] to take the
            credentials *and* its region and endpoint settings from (instead of
            ``credentials``, ``profile``, ``environ`` and ``imds_region``).
        region: the STS region; ``None`` means "configured, else none" (no
            region signs for the global host with the us-east-1 scope).
        sts_regional_endpoints: ``"regional"`` (default) or ``"legacy"``;
            ``None`` means configured (``AWS_STS_REGIONAL_ENDPOINTS``) or regional.
        now: the signing time (default: the current time).
        profile: the shared-config profile to use (like ``aws --profile``).
        environ: the environment to read instead of ``os.environ``.
        use_fips: sign for the FIPS STS host; ``None`` means configured.
        use_dualstack: sign for the dual-stack STS host; ``None`` means configured.
        imds_region: when no region is given or configured, use the EC2
            instance's region from the instance metadata service (short
            timeouts; unreachable or disabled IMDS means no region, the global
            host). With explicit ``credentials`` this also reads the region and
            endpoint settings from the environment and profile, like the default.
        role_arn: assume this IAM role (``AssumeRole`` at the configured STS
            endpoint, with the credentials found above) and sign with its
            session's credentials, like ``token --role``. The ARN is checked
            first: an IAM role of the signing region's partition.
        external_id: the ``ExternalId`` for AssumeRole (with ``role_arn``).
        role_session_name: the ``RoleSessionName`` (default ``k8s-aws-auth-<unix time>``).
        forward_session_name: use the caller's own session name as the
            ``RoleSessionName`` (a GetCallerIdentity call first), as
            aws-iam-authenticator's ``--forward-session-name``.

    Raises:
        CredentialsError: no credentials were found or a configured source failed
            (AssumeRole refused included), or their session token is not standard
            base64 (``reason="session-token"``).
        ConfigurationError: an invalid region, endpoint mode, role ARN
            (``reason="role-arn"``) or combination of arguments; ``now`` naive,
            off the calendar in UTC, or after 9999-12-31T23:44:59Z, when the
            token's 15-minute lifetime would end past the calendar (``reason="clock"``).
    """
    role = RoleOptions(
        role_arn=role_arn,
        external_id=external_id,
        role_session_name=role_session_name,
        forward_session_name=forward_session_name,
    )
    role.check()
    settings: ClientSettings | None
    if resolver is not None:
        from .credentials import CredentialResolver

        _check_resolver(
            resolver,
            CredentialResolver,
            credentials,
            profile=profile,
            environ=environ,
            imds_region=imds_region,
        )
        credentials, settings = resolver.resolve(), resolver.settings(region=region)
    else:
        plan = _plan(
            credentials,
            region=region,
            profile=profile,
            environ=environ,
            now=now,
            imds_region=imds_region,
        )
        if isinstance(plan, dict):
            from .credentials import CredentialResolver

            resolver = CredentialResolver(**plan)
            plan = resolver.resolve(), resolver.settings(region=region)
        credentials, settings = plan
    if role.role_arn is not None:
        from .credentials import CredentialResolver

        signing_region = settings.region if settings is not None and region is None else region
        provider = role.provider(credentials, signing_region)
        if resolver is None:
            resolver = CredentialResolver(
                profile=profile, environ=_role_environ(settings, environ), clock=_fixed_clock(now)
            )
        credentials = resolver.with_chain(provider).resolve()
    return sign_with_settings(
        settings,
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
    resolver: AsyncCredentialResolver | None = None,
    region: str | None = None,
    sts_regional_endpoints: str | None = None,
    now: datetime | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    use_fips: bool | None = None,
    use_dualstack: bool | None = None,
    imds_region: bool = False,
    role_arn: str | None = None,
    external_id: str | None = None,
    role_session_name: str | None = None,
    forward_session_name: bool = False,
) -> Token:
    """Async twin of [`generate_token()`][k8s_aws_auth.generate_token] (network providers run on the event loop).

    ``resolver`` is an [`AsyncCredentialResolver`][k8s_aws_auth.AsyncCredentialResolver].
    """
    role = RoleOptions(
        role_arn=role_arn,
        external_id=external_id,
        role_session_name=role_session_name,
        forward_session_name=forward_session_name,
    )
    role.check()
    settings: ClientSettings | None
    if resolver is not None:
        from .credentials import AsyncCredentialResolver

        _check_resolver(
            resolver,
            AsyncCredentialResolver,
            credentials,
            profile=profile,
            environ=environ,
            imds_region=imds_region,
        )
        credentials, settings = await resolver.resolve(), await resolver.asettings(region=region)
    else:
        plan = _plan(
            credentials,
            region=region,
            profile=profile,
            environ=environ,
            now=now,
            imds_region=imds_region,
        )
        if isinstance(plan, dict):
            from .credentials import AsyncCredentialResolver

            resolver = AsyncCredentialResolver(**plan)
            plan = await resolver.resolve(), await resolver.asettings(region=region)
        credentials, settings = plan
    if role.role_arn is not None:
        from .credentials import AsyncCredentialResolver

        signing_region = settings.region if settings is not None and region is None else region
        provider = role.provider(credentials, signing_region)
        if resolver is None:
            resolver = AsyncCredentialResolver(
                profile=profile, environ=_role_environ(settings, environ), clock=_fixed_clock(now)
            )
        credentials = await resolver.with_chain(provider).resolve()
    return sign_with_settings(
        settings,
        credentials,
        cluster_id,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
        now=now,
    )
