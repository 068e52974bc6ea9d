"""The verifier shells: [`TokenVerifier`][k8s_aws_auth.TokenVerifier] (sync) and [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] (async).

Both are thin: the checks live in ``_core.validate``, the STS exchange in the
``_core.verify_flow`` generator, the HTTP in ``_runtime.drivers``. The shells add what needs
state: the clock, the HTTP client, single-flight, the positive cache and the
counters behind [`TokenVerifier.stats`][k8s_aws_auth.TokenVerifier.stats].

Order of one ``verify``: read the clock → serve a fresh cache entry (its time
window repeats the token's expiry and not-yet-valid checks, the only parts of
validation that change over time) → every local check → join the STS call in
flight for the same token, or lead one → cache the identity.

At the boundary, anything that is not a [`K8sAwsAuthError`][k8s_aws_auth.errors.K8sAwsAuthError]
becomes an [`STSError`][k8s_aws_auth.errors.STSError] (reason ``internal``, a
scrubbed copy of the original chained as ``__cause__``, with its traceback): a
bug must read as "could not decide", never as a denial or an identity.
Cancellation and ``KeyboardInterrupt`` are ``BaseException`` and pass through
untouched.
"""

from __future__ import annotations

import random as _random_module
import threading
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType

import attrs
import httpx

from ._core.config import VerifierConfig
from ._core.instants import clamped, utc
from ._core.models import Identity, ValidatedToken
from ._core.redact import detached, secret_forms
from ._core.validate import validate_token
from ._core.verify_flow import sts_flow
from ._runtime.cache import CacheEntry, IdentityCache, cache_key
from ._runtime.clock import utc_now
from ._runtime.drivers import run_async, run_sync
from ._runtime.log_guard import guard_logs
from ._runtime.singleflight import AsyncSingleFlight, SingleFlight
from ._runtime.transport_override import async_transport, sync_transport
from .errors import ConfigurationError, K8sAwsAuthError, STSError

__all__ = [
    "AsyncTokenVerifier",
    "TokenVerifier",
    "VerifierStats",
    "averify_token",
    "verify_token",
]

Clock = Callable[[], datetime]


@attrs.frozen(kw_only=True)
class VerifierStats:
    """A snapshot of a verifier's counters (monotonic since construction), for metrics.

    ``sts_calls`` counts STS exchanges (one per single-flight leader, retries
    included in one exchange) by outcome: ``ok`` or the error's ``reason``
    (``sts-denied``, ``sts-throttled``, ``sts-timeout``, ...).
    """

    verifications: int
    """Calls to ``verify``."""
    local_rejections: int
    """Tokens refused by the local checks (no STS call)."""
    cache_hits: int
    cache_misses: int
    """Lookups that found nothing fresh (counted only when the cache is on)."""
    cache_entries: int
    singleflight_joins: int
    """Verifications that shared an STS call already in flight."""
    sts_requests: int
    """HTTP requests sent to STS (retries included)."""
    sts_calls: Mapping[str, int] = attrs.field(factory=dict)


class _Counters:
    """Mutable counters behind [`VerifierStats`][k8s_aws_auth.VerifierStats] (one lock: threads may share a verifier)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.verifications = 0
        self.local_rejections = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.sts_requests = 0
        self.sts_calls: dict[str, int] = {}

    # One method per event (not a generic setattr by name): this runs on every verification.
    def verification(self) -> None:
        with self._lock:
            self.verifications += 1

    def local_rejection(self) -> None:
        with self._lock:
            self.local_rejections += 1

    def cache_lookup(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.cache_hits += 1
            else:
                self.cache_misses += 1

    def sts_request(self) -> None:
        with self._lock:
            self.sts_requests += 1

    def sts_outcome(self, outcome: str) -> None:
        with self._lock:
            self.sts_calls[outcome] = self.sts_calls.get(outcome, 0) + 1


def _internal(exc: Exception, token: object) -> STSError:
    """``STSError(reason="internal")`` for a bug, chained to a scrubbed copy of ``exc``.

    The caller raises it outside its ``except`` block, so ``exc`` (whose message
    or attributes may hold the token) is not kept as ``__context__`` either.
    """
    error = STSError(
        f"unexpected internal error during verification ({type(exc).__name__})",
        reason="internal",
    )
    secrets = secret_forms([token]) if isinstance(token, str) else ()
    error.__cause__ = detached(exc, secrets, keep_traceback=True)
    return error


def _closed() -> STSError:
    return STSError("the verifier has been closed", reason="closed")


def _client_limits(config: VerifierConfig) -> httpx.Limits:
    size = config.max_connections or None  # 0 means "no limit"
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


# Owned clients use trust_env=False: environment proxies (HTTPS_PROXY), .netrc
# credentials and SSL_CERT_FILE would silently reroute or decorate requests that
# carry bearer credentials; an operator who wants a proxy passes a client set up
# for it. follow_redirects=False is httpx's default, pinned here on purpose (the
# drivers also refuse redirects per request).


def _owned_sync_client(config: VerifierConfig) -> httpx.Client:
    return httpx.Client(
        transport=sync_transport(),  # None but inside FakeSTS.intercept()
        limits=_client_limits(config),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
    )


def _owned_async_client(config: VerifierConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=async_transport(),  # None but inside FakeSTS.intercept()
        limits=_client_limits(config),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
    )


def _running_loop() -> object:
    """The event loop running this coroutine: asyncio's loop, or trio's run (its root task)."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_root_task()


def _wrong_loop() -> ConfigurationError:
    return ConfigurationError(
        "this AsyncTokenVerifier's HTTP client belongs to another event loop: "
        "create one verifier per event loop (e.g. in the app's lifespan)",
        reason="event-loop",
    )


class _VerifierBase:
    """What both shells share: config, clock, cache, counters and the local checks."""

    _flight: SingleFlight[Identity] | AsyncSingleFlight[Identity]  # set by each shell

    def __init__(self, config: VerifierConfig, clock: Clock | None) -> None:
        if not isinstance(config, VerifierConfig):
            raise ConfigurationError("config must be a VerifierConfig", reason="config")
        ttl = config.cache_ttl
        if ttl is not None and (not isinstance(ttl, timedelta) or ttl <= timedelta(0)):
            raise ConfigurationError(
                "cache_ttl must be a positive timedelta or None", reason="cache_ttl"
            )
        if clock is not None and not callable(clock):
            raise ConfigurationError("clock must be a zero-argument callable", reason="clock")
        self._config = config
        self._clock: Clock = clock if clock is not None else utc_now
        # Jitter only needs to differ between processes, not to be unpredictable.
        self._random = _random_module.Random().random  # noqa: S311
        self._cache = IdentityCache(config.cache_size) if config.cache_size > 0 else None
        self._counters = _Counters()
        self._is_closed = False
        # A process that verifies tokens receives them (a webhook under uvicorn):
        # guard its server's loggers before the first request, not at the first STS call.
        guard_logs()

    @property
    def config(self) -> VerifierConfig:
        """The configuration tokens are checked against."""
        return self._config

    @property
    def stats(self) -> VerifierStats:
        """A snapshot of the counters (cheap; safe to call from any thread)."""
        counters = self._counters
        with counters._lock:
            return VerifierStats(
                verifications=counters.verifications,
                local_rejections=counters.local_rejections,
                cache_hits=counters.cache_hits,
                cache_misses=counters.cache_misses,
                cache_entries=0 if self._cache is None else len(self._cache),
                singleflight_joins=self._flight.joins,
                sts_requests=counters.sts_requests,
                sts_calls=dict(counters.sts_calls),
            )

    def clear_cache(self) -> None:
        """Forget every cached identity (e.g. after revoking credentials)."""
        if self._cache is not None:
            self._cache.clear()

    def _now(self) -> datetime:
        # In UTC, so the cache bounds below meet the calendar's edges exactly.
        return utc(self._clock(), "the clock's time")

    def validate(self, token: str) -> ValidatedToken:
        """Run only the local checks on ``token`` at the clock's current time (no I/O).

        Raises a [`TokenError`][k8s_aws_auth.errors.TokenError] (deny) naming the failed check.
        """
        try:
            return validate_token(token, self._config, now=self._now())
        except K8sAwsAuthError:
            raise
        except Exception as exc:
            error = _internal(exc, token)
        raise error

    def _begin(
        self, token: str
    ) -> tuple[Identity | None, ValidatedToken | None, Hashable, datetime]:
        """Cache lookup, then local checks: ``(cached identity, validated, key, now)``.

        ``key`` names the token for single-flight and the cache: its SHA-256 digest
        when the cache is on (the cache never holds a token), else the token itself
        (held only while its STS call is in flight, saving a hash per call).
        """
        if self._is_closed:
            raise _closed()
        counters = self._counters
        counters.verification()
        now = self._now()
        config = self._config
        cache = self._cache
        key: Hashable = token
        # Only a string that could pass the size check is worth hashing.
        if cache is not None and isinstance(token, str) and len(token) <= config.max_token_size:
            key = cache_key(token, config.cluster_id, config.partition)
            identity = cache.get(key, now)
            counters.cache_lookup(hit=identity is not None)
            if identity is not None:
                return identity, None, key, now
        try:
            validated = validate_token(token, config, now=now)
        except K8sAwsAuthError:
            counters.local_rejection()
            raise
        return None, validated, key, now

    def _sts_failed(self, exc: Exception) -> None:
        """Count an STS exchange that ended in ``exc`` (by reason; a bug counts as ``internal``)."""
        reason = exc.reason if isinstance(exc, K8sAwsAuthError) else "internal"
        self._counters.sts_outcome(reason)

    def _sts_confirmed(
        self, key: Hashable, identity: Identity, validated: ValidatedToken, now: datetime
    ) -> Identity:
        """Count a confirmed identity and cache it (when the cache is on); return it."""
        self._counters.sts_outcome("ok")
        cache = self._cache
        if cache is None:
            return identity
        assert isinstance(key, bytes)  # the cache is on: _begin keyed by the digest
        fresh_until = validated.expires_at
        if self._config.cache_ttl is not None:
            fresh_until = min(fresh_until, clamped(now, self._config.cache_ttl))
        cache.put(
            key,
            CacheEntry(
                identity=identity,
                not_before=clamped(validated.signed_at, -self._config.max_future_skew),
                fresh_until=fresh_until,
            ),
        )
        return identity


class TokenVerifier(_VerifierBase):
    """Verify tokens: every local check, then STS GetCallerIdentity (sync).

    Args:
        config: what tokens are checked against, plus the network settings.
        client: an ``httpx.Client`` to borrow (never closed by the verifier and
            not trusted with policy: requests are built here, redirects never
            followed, no client headers, cookies or auth sent). When omitted the
            verifier owns a client sized for ``config.max_connections``.
        clock: zero-argument callable returning an aware UTC ``datetime``.

    Thread-safe: share one verifier between threads (single-flight and the
    cache then work across them). Use it as a context manager or call
    [`close()`][k8s_aws_auth.TokenVerifier.close].
    """

    def __init__(
        self,
        config: VerifierConfig,
        *,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, clock)
        if client is not None and not isinstance(client, httpx.Client):
            raise ConfigurationError("client must be an httpx.Client", reason="client")
        self._owns_client = client is None
        self._client = client if client is not None else _owned_sync_client(config)
        self._flight: SingleFlight[Identity] = SingleFlight()

    def verify(self, token: str) -> Identity:
        """Verify ``token`` and return the identity STS confirmed.

        Raises:
            TokenError: deny (a local check failed or STS refused the token).
            STSError: could not decide (network, throttling, 5xx, bad answer): retry later.
        """
        try:
            identity, validated, key, now = self._begin(token)
            if identity is not None:
                return identity
            assert validated is not None
            return self._flight.do(key, partial(self._ask, validated, key, now))
        except K8sAwsAuthError:
            raise
        except Exception as exc:
            error = _internal(exc, token)
        raise error

    def _ask(self, validated: ValidatedToken, key: Hashable, now: datetime) -> Identity:
        try:
            identity = run_sync(
                sts_flow(validated, self._config, random=self._random),
                self._client,
                deadline=self._config.deadline,
                on_request=self._counters.sts_request,
            )
        except Exception as exc:
            self._sts_failed(exc)
            raise
        return self._sts_confirmed(key, identity, validated, now)

    def close(self) -> None:
        """Close the owned HTTP client (a borrowed one is left open); idempotent."""
        self._is_closed = True
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> TokenVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTokenVerifier(_VerifierBase):
    """Verify tokens: every local check, then STS GetCallerIdentity (async: asyncio or trio).

    The same arguments and rules as [`TokenVerifier`][k8s_aws_auth.TokenVerifier], with an
    ``httpx.AsyncClient``. Use one instance per event loop; use it as an async
    context manager or call [`aclose()`][k8s_aws_auth.AsyncTokenVerifier.aclose].
    """

    def __init__(
        self,
        config: VerifierConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, clock)
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise ConfigurationError("client must be an httpx.AsyncClient", reason="client")
        self._owns_client = client is None
        self._client = client if client is not None else _owned_async_client(config)
        self._flight: AsyncSingleFlight[Identity] = AsyncSingleFlight()
        # The owned client's connections belong to the first loop that uses it.
        self._loop: object | None = None

    async def verify(self, token: str) -> Identity:
        """Verify ``token`` and return the identity STS confirmed.

        Raises:
            TokenError: deny (a local check failed or STS refused the token).
            STSError: could not decide (network, throttling, 5xx, bad answer): retry later.
        """
        try:
            identity, validated, key, now = self._begin(token)
            if identity is not None:
                return identity
            assert validated is not None
            return await self._flight.do(key, partial(self._ask, validated, key, now))
        except K8sAwsAuthError:
            raise
        except Exception as exc:
            error = _internal(exc, token)
        raise error

    def _check_loop(self) -> None:
        """A usage error, not an STS outage, for an owned client driven from a second loop."""
        if not self._owns_client:
            return  # a borrowed client's loop is its owner's business
        loop = _running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise _wrong_loop()

    async def _ask(self, validated: ValidatedToken, key: Hashable, now: datetime) -> Identity:
        self._check_loop()
        try:
            identity = await run_async(
                sts_flow(validated, self._config, random=self._random),
                self._client,
                deadline=self._config.deadline,
                on_request=self._counters.sts_request,
            )
        except Exception as exc:
            self._sts_failed(exc)
            raise
        return self._sts_confirmed(key, identity, validated, now)

    async def aclose(self) -> None:
        """Close the owned HTTP client (a borrowed one is left open); idempotent."""
        self._is_closed = True
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncTokenVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def verify_token(
    token: str,
    config: VerifierConfig,
    *,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
) -> Identity:
    """Verify one token with a short-lived [`TokenVerifier`][k8s_aws_auth.TokenVerifier] (services: keep a verifier)."""
    with TokenVerifier(config, client=client, clock=clock) as verifier:
        return verifier.verify(token)


async def averify_token(
    token: str,
    config: VerifierConfig,
    *,
    client: httpx.AsyncClient | None = None,
    clock: Clock | None = None,
) -> Identity:
    """Verify one token with a short-lived [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] (services: keep a verifier)."""
    async with AsyncTokenVerifier(config, client=client, clock=clock) as verifier:
        return await verifier.verify(token)
