"""``EC2Resolver`` / ``AsyncEC2Resolver``: ``{{EC2PrivateDNSName}}`` lookups, batched, rate-limited, cached.

* Concurrent lookups are coalesced: the first caller waits ``batch_window``
  for others to queue their ids, then fetches them in batches of at most
  ``max_batch`` ids per call ([`describe_instances_flow()`][k8s_aws_auth.mapping.describe_instances_flow]).
* Every call takes a token from a token bucket (``qps``, ``burst``): upstream's
  flags of the same name only limited its AssumeRole client.
* Answers are cached for ``cache_ttl`` seconds (unknown instances for
  ``negative_ttl``), at most ``cache_size`` entries, least recently used out.

The public names are ``k8s_aws_auth.mapping.EC2Resolver`` and
``k8s_aws_auth.mapping.AsyncEC2Resolver`` (lazy aliases of these classes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

import anyio
import attrs
import httpx

from k8s_aws_auth._core.effects import Flow
from k8s_aws_auth._runtime.clock import utc_now
from k8s_aws_auth._runtime.drivers import run_async, run_sync
from k8s_aws_auth.mapping import EC2LookupError
from k8s_aws_auth.mapping.internal import EC2_DNS_NAME, INSTANCE_ID

from .describe import CredentialSource, default_ec2_endpoint, describe_instances_flow
from .limits import TokenBucket, TTLCache

__all__ = ["AsyncEC2Resolver", "EC2Resolver"]


@attrs.define
class _Slot:
    done: threading.Event | anyio.Event
    value: str | None = None
    error: EC2LookupError | None = None


class _ResolverCore:
    """State shared by the sync and async resolvers: cache, bucket, queue, flow building."""

    def __init__(
        self,
        region: str,
        *,
        credentials: CredentialSource,
        endpoint_url: str | None,
        qps: float,
        burst: int,
        cache_ttl: float,
        negative_ttl: float,
        cache_size: int,
        max_batch: int,
        batch_window: float,
        max_retries: int,
        backoff: float,
        deadline: float,
        clock: Callable[[], datetime] | None,
        monotonic: Callable[[], float] | None,
    ) -> None:
        if not 1 <= max_batch <= 1000:
            raise ValueError("max_batch must be between 1 and 1000")
        if cache_ttl <= 0 or negative_ttl < 0 or batch_window < 0 or deadline <= 0:
            raise ValueError("cache_ttl and deadline must be positive, windows non-negative")
        self.region = region
        self.endpoint_url = endpoint_url or default_ec2_endpoint(region)
        self._credentials = credentials
        self._clock = clock or utc_now
        self._monotonic = monotonic or time.monotonic
        self.bucket = TokenBucket(qps, burst, self._monotonic)
        self.cache = TTLCache(cache_size, self._monotonic)
        self._cache_ttl = cache_ttl
        self._negative_ttl = negative_ttl
        self.max_batch = max_batch
        self.batch_window = batch_window
        self._max_retries = max_retries
        self._backoff = backoff
        self.deadline = deadline
        self.pending: dict[str, _Slot] = {}
        self.queue: list[str] = []
        self.leading = False
        self.calls = 0
        """DescribeInstances calls made (for metrics: upstream's ec2_describe_instances_calls_total)."""

    @staticmethod
    def check_ids(instance_ids: Iterable[str]) -> list[str]:
        unique = list(dict.fromkeys(instance_ids))
        for instance_id in unique:
            if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
                raise EC2LookupError(
                    "the session name is not an EC2 instance id", reason="not-an-instance"
                )
        return unique

    def flow(self, batch: Sequence[str]) -> Flow[dict[str, str]]:
        self.calls += 1
        return describe_instances_flow(
            batch,
            credentials=self._credentials,
            region=self.region,
            endpoint_url=self.endpoint_url,
            clock=self._clock,
            max_retries=self._max_retries,
            backoff=self._backoff,
        )

    @property
    def wait_limit(self) -> float:
        """Seconds a caller waits for its ids to be settled before giving up (``ec2-timeout``)."""
        return self.deadline * (self._max_retries + 2)

    def enqueue(
        self, instance_ids: Iterable[str], new_event: Callable[[], threading.Event | anyio.Event]
    ) -> tuple[dict[str, str | None], list[tuple[str, _Slot]], bool]:
        """``(cached answers, slots to wait for, whether the caller must lead the fetch)``.

        Uncached ids join the queue once (a pending id's slot is shared); the
        caller holds the sync resolver's lock, or does not await, meanwhile.
        """
        results: dict[str, str | None] = {}
        waits: list[tuple[str, _Slot]] = []
        for instance_id in self.check_ids(instance_ids):
            hit, value = self.cache.get(instance_id)
            if hit:
                results[instance_id] = value
                continue
            slot = self.pending.get(instance_id)
            if slot is None:
                slot = _Slot(done=new_event())
                self.pending[instance_id] = slot
                self.queue.append(instance_id)
            waits.append((instance_id, slot))
        lead = bool(waits) and not self.leading
        if lead:
            self.leading = True
        return results, waits, lead

    def next_batch(self) -> list[str]:
        batch = self.queue[: self.max_batch]
        del self.queue[: self.max_batch]
        return batch

    def settle(self, batch: Sequence[str], found: dict[str, str] | EC2LookupError) -> None:
        for instance_id in batch:
            slot = self.pending.pop(instance_id, None)
            if isinstance(found, EC2LookupError):
                if slot is not None:
                    slot.error = found
            else:
                dns = found.get(instance_id) or None
                if dns is not None and not EC2_DNS_NAME.fullmatch(dns):
                    dns = None
                if dns is not None:
                    self.cache.put(instance_id, dns, self._cache_ttl)
                elif self._negative_ttl > 0:
                    self.cache.put(instance_id, None, self._negative_ttl)
                if slot is not None:
                    slot.value = dns
            if slot is not None:
                slot.done.set()

    def fail_all(self) -> None:
        """The leader died: release every waiter with a retryable error and stop leading."""
        self.leading = False
        failure = EC2LookupError("EC2 lookup failed", reason="ec2-error", retryable=True)
        self.settle(list(self.pending), failure)
        self.queue.clear()


def _timed_out() -> EC2LookupError:
    return EC2LookupError("EC2 lookup timed out", reason="ec2-timeout", retryable=True)


def _require(instance_id: str, dns: str | None) -> str:
    if not dns:
        raise EC2LookupError(
            f"EC2 knows no instance {instance_id} with a private DNS name",
            reason="ec2-no-dns-name",
        )
    return dns


class _Counters:
    """The counters both resolvers expose (for metrics)."""

    _core: _ResolverCore

    @property
    def calls(self) -> int:
        """How many DescribeInstances calls this resolver made."""
        return self._core.calls

    @property
    def cache_hits(self) -> int:
        """Lookups answered from the cache (negative entries included)."""
        return self._core.cache.hits

    @property
    def cache_misses(self) -> int:
        """Lookups that found no live cache entry."""
        return self._core.cache.misses


class EC2Resolver(_Counters):
    """Resolve instance ids to private DNS names over a sync ``httpx.Client``.

    Thread-safe; pass ``resolver.resolve`` as ``ec2_dns`` to
    [`IdentityMapper`][k8s_aws_auth.mapping.IdentityMapper]. ``credentials`` is a [`Credentials`][k8s_aws_auth.Credentials] or a
    zero-argument callable returning one (called per request, so rotation
    works). ``sleep`` and ``monotonic`` are injectable for tests.
    """

    def __init__(
        self,
        region: str,
        *,
        credentials: CredentialSource,
        endpoint_url: str | None = None,
        client: httpx.Client | None = None,
        qps: float = 15.0,
        burst: int = 5,
        cache_ttl: float = 3600.0,
        negative_ttl: float = 60.0,
        cache_size: int = 10_000,
        max_batch: int = 100,
        batch_window: float = 0.02,
        max_retries: int = 3,
        backoff: float = 0.2,
        deadline: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._core = _ResolverCore(
            region,
            credentials=credentials,
            endpoint_url=endpoint_url,
            qps=qps,
            burst=burst,
            cache_ttl=cache_ttl,
            negative_ttl=negative_ttl,
            cache_size=cache_size,
            max_batch=max_batch,
            batch_window=batch_window,
            max_retries=max_retries,
            backoff=backoff,
            deadline=deadline,
            clock=clock,
            monotonic=monotonic,
        )
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(trust_env=False)
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP client if the resolver created it."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> EC2Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, instance_id: str) -> str:
        """The private DNS name of ``instance_id``; [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] if there is none."""
        return _require(instance_id, self.resolve_many([instance_id])[instance_id])

    def resolve_many(self, instance_ids: Iterable[str]) -> dict[str, str | None]:
        """``{id: DNS name or None}``, fetching the uncached ids in rate-limited batches."""
        core = self._core
        with self._lock:
            results, waits, lead = core.enqueue(instance_ids, threading.Event)
        if lead:
            self._lead()
        for instance_id, slot in waits:
            assert isinstance(slot.done, threading.Event)
            if not slot.done.wait(core.wait_limit):
                raise _timed_out()
            if slot.error is not None:
                raise slot.error
            results[instance_id] = slot.value
        return results

    def _lead(self) -> None:
        core = self._core
        try:
            if core.batch_window > 0:
                self._sleep(core.batch_window)
            while True:
                with self._lock:
                    batch = core.next_batch()
                    if not batch:
                        core.leading = False
                        return
                wait = core.bucket.reserve()
                if wait > 0:
                    self._sleep(wait)
                try:
                    found: dict[str, str] | EC2LookupError = run_sync(
                        core.flow(batch), self._client, deadline=core.deadline
                    )
                except EC2LookupError as exc:
                    found = exc
                with self._lock:
                    core.settle(batch, found)
        except BaseException:
            with self._lock:
                core.fail_all()
            raise


class AsyncEC2Resolver(_Counters):
    """The async twin of [`EC2Resolver`][k8s_aws_auth.mapping.EC2Resolver] (asyncio or trio), over ``httpx.AsyncClient``.

    Pass ``resolver.resolve`` as ``ec2_dns`` to [`IdentityMapper.amap()`][k8s_aws_auth.mapping.IdentityMapper.amap].
    """

    def __init__(
        self,
        region: str,
        *,
        credentials: CredentialSource,
        endpoint_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        qps: float = 15.0,
        burst: int = 5,
        cache_ttl: float = 3600.0,
        negative_ttl: float = 60.0,
        cache_size: int = 10_000,
        max_batch: int = 100,
        batch_window: float = 0.02,
        max_retries: int = 3,
        backoff: float = 0.2,
        deadline: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._core = _ResolverCore(
            region,
            credentials=credentials,
            endpoint_url=endpoint_url,
            qps=qps,
            burst=burst,
            cache_ttl=cache_ttl,
            negative_ttl=negative_ttl,
            cache_size=cache_size,
            max_batch=max_batch,
            batch_window=batch_window,
            max_retries=max_retries,
            backoff=backoff,
            deadline=deadline,
            clock=clock,
            monotonic=monotonic,
        )
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(trust_env=False)
        self._sleep = sleep or anyio.sleep

    async def aclose(self) -> None:
        """Close the HTTP client if the resolver created it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncEC2Resolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def resolve(self, instance_id: str) -> str:
        """The private DNS name of ``instance_id``; [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] if there is none."""
        return _require(instance_id, (await self.resolve_many([instance_id]))[instance_id])

    async def resolve_many(self, instance_ids: Iterable[str]) -> dict[str, str | None]:
        """``{id: DNS name or None}``, fetching the uncached ids in rate-limited batches."""
        core = self._core
        # No await between reading and updating the shared state: one task at a time.
        results, waits, lead = core.enqueue(instance_ids, anyio.Event)
        if lead:
            await self._lead()
        for instance_id, slot in waits:
            assert isinstance(slot.done, anyio.Event)
            with anyio.move_on_after(core.wait_limit):
                await slot.done.wait()
            if not slot.done.is_set():
                raise _timed_out()
            if slot.error is not None:
                raise slot.error
            results[instance_id] = slot.value
        return results

    async def _lead(self) -> None:
        core = self._core
        try:
            if core.batch_window > 0:
                await self._sleep(core.batch_window)
            while True:
                batch = core.next_batch()
                if not batch:
                    core.leading = False
                    return
                wait = core.bucket.reserve()
                if wait > 0:
                    await self._sleep(wait)
                try:
                    found: dict[str, str] | EC2LookupError = await run_async(
                        core.flow(batch), self._client, deadline=core.deadline
                    )
                except EC2LookupError as exc:
                    found = exc
                core.settle(batch, found)
        except BaseException:
            core.fail_all()
            raise
