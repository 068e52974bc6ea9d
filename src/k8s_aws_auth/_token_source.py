"""Token sources: a current token for a long-running client, refreshed before it expires.

[`TokenSource`][k8s_aws_auth.TokenSource] (threads) and
[`AsyncTokenSource`][k8s_aws_auth.AsyncTokenSource] (asyncio and trio) hold one
token and sign a new one when the clock reaches ``expiration - refresh_before``:
one refresh at a time, the others wait for it. They keep one credential resolver
(and, with ``role_arn``, one for the role's session), so credentials are cached
and refreshed by their own rules (an assumed role's session lasts an hour; a
token, 14 minutes) rather than found again for every token.

Clocks: the signing time and the refresh decision use ``clock`` (default: the
wall clock, read at each call, so freezegun and time-machine move it); nothing
here uses a monotonic clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ._core.instants import utc
from ._core.models import Credentials, Token
from ._generate import RoleOptions, sign_with_settings
from ._runtime.clock import utc_now
from .errors import ConfigurationError, K8sAwsAuthError

if TYPE_CHECKING:
    import anyio

    from .credentials import AsyncCredentialResolver, ClientSettings, CredentialResolver

__all__ = ["DEFAULT_REFRESH_BEFORE", "AsyncTokenSource", "TokenSource"]

#: Refresh a minute before the token's own expiration (which is itself a minute
#: before STS stops honouring the URL): kubectl re-runs its plugin only once the
#: token has expired; a library client refreshes earlier so no request races the edge.
DEFAULT_REFRESH_BEFORE = timedelta(minutes=1)
_MAX_REFRESH_BEFORE = timedelta(minutes=10)

Clock = Callable[[], datetime]


class _Held(NamedTuple):
    """The held token, its ``Authorization`` value and when to refresh it (replaced as a whole)."""

    token: Token
    header: str
    refresh_at: datetime


class _SourceBase:
    """What both sources share: the options, the current token and the refresh rule."""

    def __init__(
        self,
        cluster_id: str,
        *,
        credentials: Credentials | None,
        resolver: object | None,
        resolver_kind: str,
        region: str | None,
        sts_regional_endpoints: str | None,
        profile: str | None,
        environ: Mapping[str, str] | None,
        use_fips: bool | None,
        use_dualstack: bool | None,
        imds_region: bool,
        role: RoleOptions,
        refresh_before: timedelta,
        clock: Clock | None,
    ) -> None:
        from ._core.cluster_id import normalize_cluster_id

        normalize_cluster_id(cluster_id)  # a bad id fails here, not at the first request
        role.check()
        if not isinstance(refresh_before, timedelta) or not (
            timedelta(0) <= refresh_before <= _MAX_REFRESH_BEFORE
        ):
            raise ConfigurationError(
                "refresh_before must be a timedelta from 0 to 10 minutes", reason="refresh_before"
            )
        if clock is not None and not callable(clock):
            raise ConfigurationError("clock must be a zero-argument callable", reason="clock")
        if resolver is not None and (
            credentials is not None or profile is not None or environ is not None or imds_region
        ):
            raise ConfigurationError(
                f"give a {resolver_kind} alone: credentials, profile, environ and "
                "imds_region are its own settings",
                reason="resolver",
            )
        self._cluster_id = cluster_id
        self._region = region
        self._sts_regional_endpoints = sts_regional_endpoints
        self._use_fips = use_fips
        self._use_dualstack = use_dualstack
        self._role = role
        self._refresh_before = refresh_before
        self._clock: Clock = clock if clock is not None else utc_now
        self._resolver_options: dict[str, Any] = {
            "profile": profile,
            "environ": environ,
            "imds_region": imds_region,
            "clock": clock,
        }
        if credentials is not None:
            if not isinstance(credentials, Credentials):
                raise ConfigurationError("credentials must be Credentials", reason="credentials")
            from .credentials import StaticProvider

            self._resolver_options["chain"] = StaticProvider(credentials)
            if environ is None and not imds_region:
                # As generate_token: explicit credentials read nothing from the environment.
                self._resolver_options["environ"] = {}
        self._settings: ClientSettings | None = None
        self._role_for: Credentials | None = None  # the source credentials of the role session
        self._held: _Held | None = None

    @property
    def cluster_id(self) -> str:
        """The cluster the tokens are for."""
        return self._cluster_id

    def _now(self) -> datetime:
        return utc(self._clock(), "the clock's time")

    def current(self, now: datetime | None = None) -> Token | None:
        """The held token if it needs no refresh at ``now`` (default: the clock), else ``None``.

        Never signs, waits or does I/O.
        """
        held = self._held_at(self._now() if now is None else now)
        return None if held is None else held.token

    def _held_at(self, now: datetime) -> _Held | None:
        held = self._held  # one read: a refresh replaces the whole value
        if held is not None and now < held.refresh_at:
            return held
        return None

    def invalidate(self, token: Token | None = None) -> None:
        """Forget the held token (only if it is ``token``, when given): the next call signs anew.

        For a client whose server refused the token (401): concurrent requests
        that were refused with the same token cause one refresh, not one each.
        """
        held = self._held
        if held is not None and (token is None or held.token is token):
            self._held = None

    def _usable(self, now: datetime) -> Token | None:
        """The held token if it has not expired (kept when a refresh fails)."""
        held = self._held
        if held is not None and now < held.token.expiration:
            return held.token
        return None

    def _role_changed(self, base: Credentials) -> bool:
        return self._role.role_arn is not None and base is not self._role_for

    def _signing_region(self) -> str | None:
        assert self._settings is not None
        return self._region if self._region is not None else self._settings.region

    def _sign(self, credentials: Credentials, now: datetime) -> Token:
        token = sign_with_settings(
            self._settings,
            credentials,
            self._cluster_id,
            region=self._region,
            sts_regional_endpoints=self._sts_regional_endpoints,
            use_fips=self._use_fips,
            use_dualstack=self._use_dualstack,
            now=now,
        )
        # A token whose credentials expire within the margin is used once, then refreshed.
        refresh_at = max(token.expiration - self._refresh_before, now)
        self._held = _Held(token, "Bearer " + token.value, refresh_at)
        return token


class TokenSource(_SourceBase):
    """A current token for ``cluster_id``: signed on first use, refreshed before it expires.

    Takes the options of [`generate_token()`][k8s_aws_auth.generate_token] but
    ``now`` — ``credentials``, ``resolver`` (a
    [`CredentialResolver`][k8s_aws_auth.CredentialResolver]), ``region``,
    ``sts_regional_endpoints``, ``profile``, ``environ``, ``use_fips``,
    ``use_dualstack``, ``imds_region``, ``role_arn``, ``external_id``,
    ``role_session_name``, ``forward_session_name`` — resolved once: the region
    and endpoint settings at the first token, the credentials by their
    resolver's own refresh rules, an assumed role's session until it nears its
    expiry.

    Args:
        cluster_id: the EKS cluster name or id.
        refresh_before: sign a new token this long before the held one's
            ``expiration`` (0 to 10 minutes; default 1 minute).
        clock: returns the current aware UTC time (default: the wall clock).

    Thread-safe: one refresh at a time; callers that find the token current never
    wait. If a refresh fails while the held token has not yet expired, the held
    token is returned and the next call tries again; once it has expired, the
    error is raised.

    Example::

        source = TokenSource("my-cluster", region="eu-west-1")
        headers = {"Authorization": f"Bearer {source.token().value}"}
    """

    def __init__(
        self,
        cluster_id: str,
        *,
        credentials: Credentials | None = None,
        resolver: CredentialResolver | None = None,
        region: str | None = None,
        sts_regional_endpoints: str | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        use_fips: bool | None = None,
        use_dualstack: bool | None = None,
        imds_region: bool = False,
        role_arn: str | None = None,
        external_id: str | None = None,
        role_session_name: str | None = None,
        forward_session_name: bool = False,
        refresh_before: timedelta = DEFAULT_REFRESH_BEFORE,
        clock: Clock | None = None,
    ) -> None:
        from .credentials import CredentialResolver

        if resolver is not None and not isinstance(resolver, CredentialResolver):
            raise ConfigurationError("resolver must be a CredentialResolver", reason="resolver")
        super().__init__(
            cluster_id,
            credentials=credentials,
            resolver=resolver,
            resolver_kind="CredentialResolver",
            region=region,
            sts_regional_endpoints=sts_regional_endpoints,
            profile=profile,
            environ=environ,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            imds_region=imds_region,
            role=RoleOptions(
                role_arn=role_arn,
                external_id=external_id,
                role_session_name=role_session_name,
                forward_session_name=forward_session_name,
            ),
            refresh_before=refresh_before,
            clock=clock,
        )
        self._resolver = resolver
        self._role_resolver: CredentialResolver | None = None
        self._lock = threading.Lock()

    def token(self) -> Token:
        """The current token, signing a new one when the held one is due for refresh.

        Raises:
            CredentialsError: credentials could not be found or refreshed (or
                AssumeRole failed) and the held token, if any, has expired.
            ConfigurationError: an invalid region, endpoint mode or role ARN.
        """
        now = self._now()
        token = self.current(now)
        if token is not None:
            return token
        with self._lock:
            now = self._now()
            token = self.current(now)
            if token is not None:
                return token  # another thread refreshed it while we waited
            try:
                return self._sign(self._credentials(), now)
            except K8sAwsAuthError:
                usable = self._usable(now)
                if usable is None:
                    raise
                return usable

    def _credentials(self) -> Credentials:
        from .credentials import CredentialResolver

        if self._resolver is None:
            self._resolver = CredentialResolver(**self._resolver_options)
        resolver = self._resolver
        if self._settings is None:
            self._settings = resolver.settings(region=self._region)
        base = resolver.resolve()
        if self._role.role_arn is None:
            return base
        if self._role_resolver is None or self._role_changed(base):
            provider = self._role.provider(base, self._signing_region())
            self._role_resolver = resolver.with_chain(provider)
            self._role_for = base
        return self._role_resolver.resolve()


class AsyncTokenSource(_SourceBase):
    """The async twin of [`TokenSource`][k8s_aws_auth.TokenSource]: ``await source.token()`` (asyncio or trio).

    The same arguments, with ``resolver`` an
    [`AsyncCredentialResolver`][k8s_aws_auth.AsyncCredentialResolver]. The
    refresh lock is created on first use (never at construction), so a source
    may be built outside the event loop that uses it.
    """

    def __init__(
        self,
        cluster_id: str,
        *,
        credentials: Credentials | None = None,
        resolver: AsyncCredentialResolver | None = None,
        region: str | None = None,
        sts_regional_endpoints: str | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        use_fips: bool | None = None,
        use_dualstack: bool | None = None,
        imds_region: bool = False,
        role_arn: str | None = None,
        external_id: str | None = None,
        role_session_name: str | None = None,
        forward_session_name: bool = False,
        refresh_before: timedelta = DEFAULT_REFRESH_BEFORE,
        clock: Clock | None = None,
    ) -> None:
        from .credentials import AsyncCredentialResolver

        if resolver is not None and not isinstance(resolver, AsyncCredentialResolver):
            raise ConfigurationError(
                "resolver must be an AsyncCredentialResolver", reason="resolver"
            )
        super().__init__(
            cluster_id,
            credentials=credentials,
            resolver=resolver,
            resolver_kind="AsyncCredentialResolver",
            region=region,
            sts_regional_endpoints=sts_regional_endpoints,
            profile=profile,
            environ=environ,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            imds_region=imds_region,
            role=RoleOptions(
                role_arn=role_arn,
                external_id=external_id,
                role_session_name=role_session_name,
                forward_session_name=forward_session_name,
            ),
            refresh_before=refresh_before,
            clock=clock,
        )
        self._resolver = resolver
        self._role_resolver: AsyncCredentialResolver | None = None
        self._alock: anyio.Lock | None = None

    async def token(self) -> Token:
        """The current token (see [`TokenSource.token()`][k8s_aws_auth.TokenSource.token])."""
        token = self.current()
        if token is not None:
            return token
        if self._alock is None:
            import anyio

            self._alock = anyio.Lock()
        async with self._alock:
            now = self._now()
            token = self.current(now)
            if token is not None:
                return token
            try:
                return self._sign(await self._credentials(), now)
            except K8sAwsAuthError:
                usable = self._usable(now)
                if usable is None:
                    raise
                return usable

    async def _credentials(self) -> Credentials:
        from .credentials import AsyncCredentialResolver

        if self._resolver is None:
            self._resolver = AsyncCredentialResolver(**self._resolver_options)
        resolver = self._resolver
        if self._settings is None:
            self._settings = await resolver.asettings(region=self._region)
        base = await resolver.resolve()
        if self._role.role_arn is None:
            return base
        if self._role_resolver is None or self._role_changed(base):
            provider = self._role.provider(base, self._signing_region())
            self._role_resolver = resolver.with_chain(provider)
            self._role_for = base
        return await self._role_resolver.resolve()
