"""``CredentialResolver`` / ``AsyncCredentialResolver``: run the chain, cache, refresh.

The shells own the only side effects: they read ``os.environ`` once (unless an
``environ`` is given), read files, run ``credential_process``, prompt for MFA
codes, write a refreshed SSO token back to the AWS CLI's cache, and create an
httpx client *only when a provider actually needs the network* (so static
credentials never import httpx). Both shells run the
same provider flows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth._runtime.clock import utc_now
from k8s_aws_auth._runtime.private_file import write_private_file
from k8s_aws_auth.errors import CredentialsError, NoCredentialsError

from ._base import (
    CredentialFlow,
    CredentialOutcome,
    CredentialProvider,
    ProviderContext,
    ReadFile,
    Skip,
)
from ._local_runner import STDIN, MfaInput, prompt, run_process
from ._refresh import ADVISORY_REFRESH, MANDATORY_REFRESH, Need, RefreshWindows, refresh_need
from ._region import ClientSettings, resolve_settings
from ._shared_files import read_text_file

if TYPE_CHECKING:
    import anyio
    import httpx

    from k8s_aws_auth._core.effects import Flow, HttpRequest, Outcome, Sleep

    from ._local_effects import ProcessFailure, ProcessResult, Prompt, RunProcess, WriteFile

__all__ = [
    "AsyncCredentialResolver",
    "CredentialResolver",
    "read_text_file",
    "write_private_file",
]

T = TypeVar("T")


def _single(effect: HttpRequest | Sleep) -> Flow[Outcome]:
    return (yield effect)  # one effect through the shared drivers


class _ResolverBase:
    """State and policy shared by both shells."""

    def __init__(
        self,
        chain: CredentialProvider | None = None,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        read_file: ReadFile | None = None,
        clock: Callable[[], datetime] | None = None,
        mfa_input: MfaInput | None = STDIN,
        process_runner: Callable[[RunProcess], ProcessResult | ProcessFailure] | None = None,
        advisory_refresh: timedelta = ADVISORY_REFRESH,
        mandatory_refresh: timedelta = MANDATORY_REFRESH,
        imds_region: bool = False,
        write_file: Callable[[str, str], None] | None = None,
    ) -> None:
        # ``None``: the default chain, built only if the environment has no keys
        # (so the common case never imports the network providers).
        self._chain: CredentialProvider | None = chain
        # Read the process environment once, here, so providers never do.
        self._environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self._read_file: ReadFile = read_file or read_text_file
        self._clock = clock or utc_now
        self._profile = profile
        self._mfa_input = mfa_input
        self._run_process = process_runner or run_process
        self._write_file = write_file or write_private_file
        self._imds_region = imds_region
        # The instance's region never changes: once found it is kept (misses are retried).
        self._instance_region: str | None = None
        self._windows = RefreshWindows(advisory=advisory_refresh, mandatory=mandatory_refresh)
        self._current: Credentials | None = None
        self._source: CredentialProvider | None = None
        self._config_cache: list[Any] = []

    def __repr__(self) -> str:
        chain = "default_chain()" if self._chain is None else repr(self._chain)
        return (
            f"{type(self).__name__}(chain={chain}, profile={self._profile!r}, "
            f"imds_region={self._imds_region!r})"
        )

    @property
    def chain(self) -> CredentialProvider:
        """The providers this resolver tries (the default chain unless one was given)."""
        if self._chain is None:
            from ._default_chain import default_chain

            self._chain = default_chain()
        return self._chain

    def _options(self) -> dict[str, Any]:
        """The constructor arguments (but the chain and the client) this resolver was built with."""
        return {
            "profile": self._profile,
            "environ": self._environ,
            "read_file": self._read_file,
            "clock": self._clock,
            "mfa_input": self._mfa_input,
            "process_runner": self._run_process,
            "advisory_refresh": self._windows.advisory,
            "mandatory_refresh": self._windows.mandatory,
            "imds_region": self._imds_region,
            "write_file": self._write_file,
        }

    @property
    def profile(self) -> str | None:
        """The explicitly chosen profile, or ``None`` (``AWS_PROFILE``/``default``)."""
        return self._profile

    def _context(self, *, fresh: bool = False) -> ProviderContext:
        if fresh:
            self._config_cache = []
        return ProviderContext(
            environ=self._environ,
            read_file=self._read_file,
            clock=self._clock,
            profile=self._profile,
            config_cache=self._config_cache,
        )

    @property
    def imds_region(self) -> bool:
        """Whether the EC2 instance's region is used when no region is configured."""
        return self._imds_region

    def _settings_flow(self, region: str | None) -> CredentialFlow[ClientSettings]:
        """The configured settings; the instance's region (IMDS) only if allowed and none is set."""
        ctx = self._context()
        settings = resolve_settings(ctx, region=region)
        if settings.region is not None or not self._imds_region:
            return settings
        if self._instance_region is None:
            from ._imds import imds_region_flow

            self._instance_region = yield from imds_region_flow(ctx)
        if self._instance_region is None:
            return settings  # not on EC2 (or IMDS is off): the global host, as without a region
        return ClientSettings(
            region=self._instance_region,
            sts_regional_endpoints=settings.sts_regional_endpoints,
            use_fips=settings.use_fips,
            use_dualstack=settings.use_dualstack,
        )

    def settings(self, *, region: str | None = None) -> ClientSettings:
        """Region, STS endpoint mode, FIPS and dual-stack settings, resolved like the AWS CLI.

        ``region``, when given (a flag, an argument), wins and nothing is looked
        up for it. With ``imds_region=True`` and no region configured anywhere,
        the EC2 instance's region is asked for (see the subclasses).
        """
        flow = self._settings_flow(region)
        try:
            flow.send(None)
        except StopIteration as stop:
            settings: ClientSettings = stop.value
            return settings
        flow.close()
        from k8s_aws_auth.errors import ConfigurationError

        raise ConfigurationError(
            "no region is configured and imds_region=True needs a lookup: "
            "use 'await resolver.asettings()'",
            reason="imds-region-async",
        )

    def _need(self) -> Need:
        return refresh_need(self._current, self._clock(), self._windows)

    def _plan(self) -> CredentialFlow[tuple[Credentials, CredentialProvider]]:
        """Refresh with the provider that answered last; fall back to the whole chain."""
        ctx = self._context(fresh=self._current is not None)
        source = self._source
        if source is not None:
            result = yield from source.flow(ctx)
            if not isinstance(result, Skip):
                return result, source
        skipped: list[tuple[str, str]] = []
        if self._chain is None:
            # The default chain starts with the environment: try it before building the rest.
            from ._env import EnvProvider

            env = EnvProvider()
            first = yield from env.flow(ctx)
            if not isinstance(first, Skip):
                return first, env
            skipped.append((env.name, first.reason))
        chain = self.chain
        from ._chain import CredentialChain

        if isinstance(chain, CredentialChain):
            return (yield from chain.resolve_flow(ctx, skip=len(skipped), attempts=skipped))
        result = yield from chain.flow(ctx)
        if isinstance(result, Skip):
            raise NoCredentialsError(attempts=[(chain.name, result.reason)])
        return result, chain

    def _accept(self, found: tuple[Credentials, CredentialProvider]) -> Credentials:
        credentials, source = found
        if credentials.expiration is not None and credentials.expiration <= self._clock():
            raise CredentialsError(
                f"{source.name}: the credentials it returned have already expired"
            )
        self._current, self._source = credentials, source
        return credentials

    def _run_local(self, effect: RunProcess | Prompt | WriteFile) -> CredentialOutcome:
        """Carry out an effect that is not HTTP (blocking: the async shell runs it in a thread)."""
        from ._local_effects import Prompt, RunProcess, WriteFailure

        if isinstance(effect, RunProcess):
            return self._run_process(effect)
        if isinstance(effect, Prompt):
            return prompt(effect.text, self._mfa_input)
        try:
            self._write_file(effect.path, effect.text)
        except (OSError, UnicodeError) as exc:
            return WriteFailure(type(exc).__name__)
        return None


class CredentialResolver(_ResolverBase):
    """Find AWS credentials like the AWS CLI, cache them and refresh them before they expire.

    Args:
        chain: the providers to try (default [`default_chain()`][k8s_aws_auth.default_chain]).
        client: an ``httpx.Client`` to borrow for the network providers; by
            default a short-lived one is created only when a provider needs it.
        profile: use this profile (like ``--profile``); environment credentials
            are then ignored. ``None``: ``AWS_PROFILE``, else ``default``.
        environ: the environment to read (default: ``os.environ``, copied once).
        read_file: ``path -> text | None`` (default: read from disk).
        clock: returns the current aware UTC time.
        mfa_input: reads one line (the MFA code) after the prompt is written to
            stderr; default stdin; ``None`` when nobody can answer (then a
            profile with ``mfa_serial`` fails with a clear error).
        process_runner: runs ``credential_process`` commands.
        advisory_refresh: refresh temporary credentials this long before they
            expire, keeping the old ones if the refresh fails.
        mandatory_refresh: within this window of expiry a refresh must succeed.
        imds_region: when no region is configured anywhere (environment,
            profile, argument), ask the EC2 instance metadata service for the
            instance's region ([`settings()`][k8s_aws_auth.CredentialResolver.settings]). Off by default, as in the AWS
            CLI's ``eks get-token``; the lookup has IMDS's short timeouts (1 s,
            1 attempt unless configured) and ends at the first failed connection.
        write_file: ``(path, text)`` writes a file atomically with mode 0600
            (a refreshed SSO token goes back to the AWS CLI's cache with it).

    [`resolve()`][k8s_aws_auth.CredentialResolver.resolve] is thread-safe; one refresh runs at a time.
    """

    def __init__(
        self,
        chain: CredentialProvider | None = None,
        *,
        client: httpx.Client | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        read_file: ReadFile | None = None,
        clock: Callable[[], datetime] | None = None,
        mfa_input: MfaInput | None = STDIN,
        process_runner: Callable[[RunProcess], ProcessResult | ProcessFailure] | None = None,
        advisory_refresh: timedelta = ADVISORY_REFRESH,
        mandatory_refresh: timedelta = MANDATORY_REFRESH,
        imds_region: bool = False,
        write_file: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(
            chain,
            profile=profile,
            environ=environ,
            read_file=read_file,
            clock=clock,
            mfa_input=mfa_input,
            process_runner=process_runner,
            advisory_refresh=advisory_refresh,
            mandatory_refresh=mandatory_refresh,
            imds_region=imds_region,
            write_file=write_file,
        )
        self._client = client
        self._lock = threading.Lock()

    def with_chain(self, chain: CredentialProvider) -> CredentialResolver:
        """A new resolver trying ``chain``, with this one's client, environment, profile, files and clock.

        Its credentials are cached and refreshed on their own (an assumed role's
        session next to the source credentials it was obtained with).
        """
        return CredentialResolver(chain, client=self._client, **self._options())

    def resolve(self) -> Credentials:
        """Current credentials: cached, refreshed in the advisory window, fetched when needed."""
        need = self._need()
        if need is Need.NONE:
            assert self._current is not None
            return self._current
        if need is Need.ADVISORY:
            if not self._lock.acquire(blocking=False):
                assert self._current is not None
                return self._current  # someone else is refreshing; ours is still good
            try:
                if self._need() is not Need.NONE:
                    try:
                        return self._accept(self._drive(self._plan()))
                    except CredentialsError:
                        pass  # advisory only: keep the still-valid credentials
                assert self._current is not None
                return self._current
            finally:
                self._lock.release()
        with self._lock:
            if self._need() is Need.MANDATORY:
                return self._accept(self._drive(self._plan()))
            assert self._current is not None
            return self._current

    def settings(self, *, region: str | None = None) -> ClientSettings:
        """Region, STS endpoint mode, FIPS and dual-stack settings, resolved like the AWS CLI.

        ``region``, when given, wins. With ``imds_region=True`` and no region
        configured anywhere, the EC2 instance's region is looked up (once found,
        it is kept); unreachable or disabled IMDS leaves the region unset.
        """
        return self._drive(self._settings_flow(region))

    def _drive(self, flow: CredentialFlow[T]) -> T:
        owned: httpx.Client | None = None
        outcome: CredentialOutcome = None
        try:
            while True:
                effect = flow.send(outcome)
                from ._local_effects import LOCAL_EFFECTS

                if isinstance(effect, LOCAL_EFFECTS):
                    outcome = self._run_local(effect)
                else:
                    from k8s_aws_auth._runtime.drivers import run_sync

                    client = self._client
                    if client is None:
                        if owned is None:
                            import httpx

                            from k8s_aws_auth._runtime.transport_override import sync_transport

                            owned = httpx.Client(transport=sync_transport())
                        client = owned
                    outcome = run_sync(_single(effect), client)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()
            if owned is not None:
                owned.close()


class AsyncCredentialResolver(_ResolverBase):
    """The async twin of [`CredentialResolver`][k8s_aws_auth.CredentialResolver] (asyncio and trio, via anyio).

    Same arguments, with ``client: httpx.AsyncClient``. The refresh lock is
    created on first use, never at construction. ``credential_process``, the
    MFA prompt and the SSO cache write run in a worker thread. With
    ``imds_region=True`` use [`asettings()`][k8s_aws_auth.AsyncCredentialResolver.asettings]: [`settings()`][k8s_aws_auth.AsyncCredentialResolver.settings] cannot wait for
    IMDS and raises ``ConfigurationError`` when it would have to.
    """

    def __init__(
        self,
        chain: CredentialProvider | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        read_file: ReadFile | None = None,
        clock: Callable[[], datetime] | None = None,
        mfa_input: MfaInput | None = STDIN,
        process_runner: Callable[[RunProcess], ProcessResult | ProcessFailure] | None = None,
        advisory_refresh: timedelta = ADVISORY_REFRESH,
        mandatory_refresh: timedelta = MANDATORY_REFRESH,
        imds_region: bool = False,
        write_file: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(
            chain,
            profile=profile,
            environ=environ,
            read_file=read_file,
            clock=clock,
            mfa_input=mfa_input,
            process_runner=process_runner,
            advisory_refresh=advisory_refresh,
            mandatory_refresh=mandatory_refresh,
            imds_region=imds_region,
            write_file=write_file,
        )
        self._client = client
        self._alock: anyio.Lock | None = None

    def _get_lock(self) -> anyio.Lock:
        if self._alock is None:
            import anyio

            self._alock = anyio.Lock()
        return self._alock

    def with_chain(self, chain: CredentialProvider) -> AsyncCredentialResolver:
        """A new resolver trying ``chain`` (see [`CredentialResolver.with_chain()`][k8s_aws_auth.CredentialResolver.with_chain])."""
        return AsyncCredentialResolver(chain, client=self._client, **self._options())

    async def resolve(self) -> Credentials:
        """Current credentials (see [`CredentialResolver.resolve()`][k8s_aws_auth.CredentialResolver.resolve])."""
        need = self._need()
        if need is Need.NONE:
            assert self._current is not None
            return self._current
        lock = self._get_lock()
        if need is Need.ADVISORY:
            import anyio

            try:
                lock.acquire_nowait()
            except anyio.WouldBlock:
                assert self._current is not None
                return self._current
            try:
                if self._need() is not Need.NONE:
                    try:
                        return self._accept(await self._drive(self._plan()))
                    except CredentialsError:
                        pass
                assert self._current is not None
                return self._current
            finally:
                lock.release()
        async with lock:
            if self._need() is Need.MANDATORY:
                return self._accept(await self._drive(self._plan()))
            assert self._current is not None
            return self._current

    async def asettings(self, *, region: str | None = None) -> ClientSettings:
        """The settings (see [`CredentialResolver.settings()`][k8s_aws_auth.CredentialResolver.settings]), IMDS looked up on the event loop."""
        return await self._drive(self._settings_flow(region))

    async def _drive(self, flow: CredentialFlow[T]) -> T:
        owned: httpx.AsyncClient | None = None
        outcome: CredentialOutcome = None
        try:
            while True:
                effect = flow.send(outcome)
                from ._local_effects import LOCAL_EFFECTS

                if isinstance(effect, LOCAL_EFFECTS):
                    import anyio.to_thread

                    outcome = await anyio.to_thread.run_sync(self._run_local, effect)
                else:
                    from k8s_aws_auth._runtime.drivers import run_async

                    client = self._client
                    if client is None:
                        if owned is None:
                            import httpx

                            from k8s_aws_auth._runtime.transport_override import async_transport

                            owned = httpx.AsyncClient(transport=async_transport())
                        client = owned
                    outcome = await run_async(_single(effect), client)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()
            if owned is not None:
                await owned.aclose()
