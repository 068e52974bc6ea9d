"""Single-flight (one STS call for concurrent verifications of one token) and the positive cache."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial

import anyio
import httpx
import pytest

from k8s_aws_auth import AsyncTokenVerifier, Credentials, Identity, TokenVerifier, VerifierConfig
from k8s_aws_auth._runtime.cache import CacheEntry, IdentityCache, cache_key
from k8s_aws_auth._runtime.singleflight import SingleFlight
from k8s_aws_auth.errors import (
    AccessDeniedError,
    ExpiredTokenError,
    K8sAwsAuthError,
    STSResponseError,
    TokenNotYetValidError,
)
from k8s_aws_auth.testing import FakeSTS, FixedClock, make_token
from tests.support.verifier_harness import KINDS, Step, verify_all

START = datetime(2025, 9, 9, 9, 0, 0, tzinfo=timezone.utc)
CLUSTER = "sf-cluster"
ARN = "arn:aws:iam::210987654321:user/bob"
CREDENTIALS = Credentials("AKIABOBEXAMPLE000001", "bob-secret/key")
FOLLOWERS = 99


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    sts = FakeSTS(clock=clock)
    sts.register(CREDENTIALS, ARN, user_id="AIDABOBEXAMPLE000001")
    return sts


def _token(clock: FixedClock, cluster_id: str = CLUSTER, seconds_ago: int = 0) -> str:
    return make_token(
        credentials=CREDENTIALS,
        cluster_id=cluster_id,
        now=clock() - timedelta(seconds=seconds_ago),
    )


def _wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (a safety limit only: the test never measures time)."""
    limit = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < limit, "condition not reached"
        time.sleep(0.001)


class Gate(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Hold requests until opened, then pass them to FakeSTS.

    ``abort_first`` makes the first request raise ``abort_with`` once the gate
    opens (a leader interrupted mid-call).
    """

    def __init__(self, inner: FakeSTS, abort_with: BaseException | None = None) -> None:
        self.inner = inner
        self.opened = threading.Event()
        self.async_opened: anyio.Event | None = None
        self.abort_with = abort_with
        self.entered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.entered += 1
        first = self.entered == 1
        assert self.opened.wait(timeout=20)
        if first and self.abort_with is not None:
            raise self.abort_with
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.entered += 1
        assert self.async_opened is not None
        await self.async_opened.wait()
        return await self.inner.handle_async_request(request)


# --- single-flight: threads ---------------------------------------------------------------------


def test_hundred_threads_share_one_sts_call(fake: FakeSTS, clock: FixedClock) -> None:
    gate = Gate(fake)
    token = _token(clock)
    with TokenVerifier(
        VerifierConfig(CLUSTER), client=httpx.Client(transport=gate), clock=clock
    ) as verifier:
        results: list[object] = [None] * (FOLLOWERS + 1)

        def work(index: int) -> None:
            try:
                results[index] = verifier.verify(token)
            except K8sAwsAuthError as exc:
                results[index] = exc

        threads = [threading.Thread(target=work, args=(i,)) for i in range(FOLLOWERS + 1)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: verifier.stats.singleflight_joins == FOLLOWERS)
        gate.opened.set()
        for thread in threads:
            thread.join()
        stats = verifier.stats
    assert fake.count() == 1
    assert all(isinstance(r, Identity) and r.arn == ARN for r in results)
    assert stats.singleflight_joins == FOLLOWERS
    assert stats.sts_requests == 1
    assert stats.sts_calls == {"ok": 1}
    assert stats.verifications == FOLLOWERS + 1


def test_threads_share_a_denial_each_with_its_own_exception(
    fake: FakeSTS, clock: FixedClock
) -> None:
    gate = Gate(fake)
    token = _token(clock, cluster_id="somewhere-else")
    with TokenVerifier(
        VerifierConfig(CLUSTER), client=httpx.Client(transport=gate), clock=clock
    ) as verifier:
        results: list[object] = [None] * 20

        def work(index: int) -> None:
            try:
                verifier.verify(token)
            except AccessDeniedError as exc:
                results[index] = exc

        threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: verifier.stats.singleflight_joins == 19)
        gate.opened.set()
        for thread in threads:
            thread.join()
    assert fake.count() == 1
    assert all(isinstance(r, AccessDeniedError) for r in results)
    assert {r.sts_code for r in results if isinstance(r, AccessDeniedError)} == {
        "SignatureDoesNotMatch"
    }
    assert len({id(r) for r in results}) == 20  # no shared exception object


class _Interrupted(BaseException):
    """Stands for KeyboardInterrupt / SystemExit hitting the leader thread."""


def test_interrupted_leader_does_not_strand_its_followers(fake: FakeSTS, clock: FixedClock) -> None:
    gate = Gate(fake, abort_with=_Interrupted())
    token = _token(clock)
    with TokenVerifier(
        VerifierConfig(CLUSTER), client=httpx.Client(transport=gate), clock=clock
    ) as verifier:
        results: list[object] = [None] * 10

        def work(index: int) -> None:
            try:
                results[index] = verifier.verify(token)
            except _Interrupted as exc:
                results[index] = exc

        threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: verifier.stats.singleflight_joins == 9)
        gate.opened.set()
        for thread in threads:
            thread.join()
    interrupted = [r for r in results if isinstance(r, _Interrupted)]
    assert len(interrupted) == 1  # only the leader saw its own interruption
    assert sum(isinstance(r, Identity) for r in results) == 9
    # The interrupted call never reached STS. The woken followers elect a new
    # leader; with an instant STS a straggler may lead another call, never more
    # than one per follower.
    assert 1 <= fake.count() <= 9


def test_sequential_calls_are_not_shared() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls: list[int] = []

    def work(n: int) -> int:
        calls.append(n)
        return n

    for n in range(3):
        assert flight.do("key", partial(work, n)) == n
    assert calls == [0, 1, 2]
    assert flight.joins == 0
    assert len(flight) == 0


# --- single-flight: tasks -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_hundred_tasks_share_one_sts_call(backend: str, fake: FakeSTS, clock: FixedClock) -> None:
    gate = Gate(fake)
    token = _token(clock)

    async def main() -> tuple[list[object], object]:
        gate.async_opened = anyio.Event()
        results: list[object] = []
        client = httpx.AsyncClient(transport=gate)
        async with AsyncTokenVerifier(
            VerifierConfig(CLUSTER), client=client, clock=clock
        ) as verifier:

            async def work() -> None:
                results.append(await verifier.verify(token))

            async with anyio.create_task_group() as group:
                for _ in range(FOLLOWERS + 1):
                    group.start_soon(work)
                with anyio.fail_after(20):
                    while verifier.stats.singleflight_joins < FOLLOWERS:
                        await anyio.sleep(0.001)
                gate.async_opened.set()
            stats = verifier.stats
        await client.aclose()
        return results, stats

    results, stats = anyio.run(main, backend=backend)
    assert fake.count() == 1
    assert len(results) == FOLLOWERS + 1
    assert all(isinstance(r, Identity) and r.arn == ARN for r in results)
    assert stats.singleflight_joins == FOLLOWERS  # type: ignore[attr-defined]
    assert stats.sts_calls == {"ok": 1}  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancelled_leader_does_not_hang_followers(
    backend: str, fake: FakeSTS, clock: FixedClock
) -> None:
    gate = Gate(fake)
    token = _token(clock)

    async def main() -> tuple[list[object], bool]:
        gate.async_opened = anyio.Event()
        results: list[object] = []
        client = httpx.AsyncClient(transport=gate)
        async with AsyncTokenVerifier(
            VerifierConfig(CLUSTER), client=client, clock=clock
        ) as verifier:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    results.append(await verifier.verify(token))

            async def follower() -> None:
                results.append(await verifier.verify(token))

            async with anyio.create_task_group() as group:
                group.start_soon(leader)
                with anyio.fail_after(20):
                    while gate.entered < 1:  # the leader is inside the STS call
                        await anyio.sleep(0.001)
                for _ in range(5):
                    group.start_soon(follower)
                with anyio.fail_after(20):
                    while verifier.stats.singleflight_joins < 5:
                        await anyio.sleep(0.001)
                leader_scope.cancel()
                # A follower leads the retry; let it (and only it) through.
                with anyio.fail_after(20):
                    while gate.entered < 2:
                        await anyio.sleep(0.001)
                gate.async_opened.set()
        await client.aclose()
        return results, leader_scope.cancelled_caught

    results, cancelled = anyio.run(main, backend=backend)
    assert cancelled
    assert len(results) == 5
    assert all(isinstance(r, Identity) for r in results)
    assert fake.count() == 1


# --- the cache -----------------------------------------------------------------------------------


def test_cache_is_off_by_default(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock)
    result = verify_all(kind, VerifierConfig(CLUSTER), [token, token], transport=fake, clock=clock)
    assert all(isinstance(r, Identity) for r in result.results)
    assert fake.count() == 2
    assert result.stats is not None
    assert (result.stats.cache_hits, result.stats.cache_misses) == (0, 0)


def test_cache_serves_repeat_verifications(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock)
    config = VerifierConfig(CLUSTER, cache_size=100)
    result = verify_all(kind, config, [token, token, token], transport=fake, clock=clock)
    assert all(isinstance(r, Identity) and r.arn == ARN for r in result.results)
    assert fake.count() == 1
    assert result.stats is not None
    assert (result.stats.cache_hits, result.stats.cache_misses) == (2, 1)
    assert result.stats.cache_entries == 1


def test_cache_never_outlives_the_token(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock, seconds_ago=60)  # expires at START + 14 min
    config = VerifierConfig(CLUSTER, cache_size=100)
    steps: Sequence[Step] = [
        token,
        lambda: clock.advance(minutes=13, seconds=59),
        token,  # still fresh: cached
        lambda: clock.advance(seconds=2),
        token,  # past X-Amz-Date + 15 min: re-validated and refused
    ]
    result = verify_all(kind, config, steps, transport=fake, clock=clock)
    first, second, third = result.results
    assert isinstance(first, Identity)
    assert second == first
    assert isinstance(third, ExpiredTokenError)
    assert fake.count() == 1
    assert result.stats is not None
    assert result.stats.cache_hits == 1
    assert result.stats.cache_entries == 0


def test_cache_ttl_bounds_entries(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock)
    config = VerifierConfig(CLUSTER, cache_size=100, cache_ttl=timedelta(seconds=30))
    steps: Sequence[Step] = [
        token,
        lambda: clock.advance(seconds=29),
        token,
        lambda: clock.advance(seconds=2),
        token,
    ]
    result = verify_all(kind, config, steps, transport=fake, clock=clock)
    assert all(isinstance(r, Identity) for r in result.results)
    assert fake.count() == 2


def test_clock_stepping_back_is_not_served_from_cache(
    kind: str, fake: FakeSTS, clock: FixedClock
) -> None:
    token = _token(clock)
    config = VerifierConfig(CLUSTER, cache_size=100)
    steps: Sequence[Step] = [token, lambda: clock.set(START - timedelta(minutes=6)), token]
    result = verify_all(kind, config, steps, transport=fake, clock=clock)
    assert isinstance(result.results[0], Identity)
    assert isinstance(result.results[1], TokenNotYetValidError)


def test_cache_is_lru_bounded(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    a, b, c = (_token(clock, seconds_ago=s) for s in (1, 2, 3))
    config = VerifierConfig(CLUSTER, cache_size=2)
    result = verify_all(kind, config, [a, b, a, c, b, a], transport=fake, clock=clock)
    assert all(isinstance(r, Identity) for r in result.results)
    # a, b: calls; a: hit (a now newest); c: call, evicts b; b: call, evicts a; a: call.
    assert fake.count() == 5
    assert result.stats is not None
    assert result.stats.cache_hits == 1
    assert result.stats.cache_entries == 2


def test_denials_are_not_cached(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock, cluster_id="not-this-one")
    config = VerifierConfig(CLUSTER, cache_size=100)
    result = verify_all(kind, config, [token, token], transport=fake, clock=clock)
    assert all(isinstance(r, AccessDeniedError) for r in result.results)
    assert fake.count() == 2


def test_sts_errors_are_never_cached(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = _token(clock)
    fake.fail_next(3, status=503)  # every attempt of the first verification
    config = VerifierConfig(CLUSTER, cache_size=100)
    result = verify_all(kind, config, [token, token, token], transport=fake, clock=clock)
    first, second, third = result.results
    assert isinstance(first, STSResponseError)
    assert isinstance(second, Identity)
    assert third == second
    assert fake.count() == 4  # 3 failed attempts, 1 success, then a cache hit


def test_cache_key_binds_cluster_and_partition() -> None:
    token = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9u"
    keys = {
        cache_key(token, "a", "aws"),
        cache_key(token, "b", "aws"),
        cache_key(token, "a", "aws-cn"),
        cache_key(token + "x", "a", "aws"),
    }
    assert len(keys) == 4
    assert all(len(key) == 32 for key in keys)
    assert token.encode() not in b"".join(keys)


def test_identity_cache_window_and_bound() -> None:
    identity = Identity(
        arn=ARN,
        canonical_arn=ARN,
        account_id="210987654321",
        user_id="AIDABOBEXAMPLE000001",
        session_name="",
        access_key_id="AKIABOBEXAMPLE000001",
        sts_endpoint="sts.amazonaws.com",
    )
    cache = IdentityCache(2)
    window = CacheEntry(
        identity=identity, not_before=START, fresh_until=START + timedelta(minutes=1)
    )
    cache.put(b"k1", window)
    assert cache.get(b"k1", START) == identity
    assert cache.get(b"k1", START + timedelta(seconds=59)) == identity
    assert cache.get(b"k1", START + timedelta(minutes=1)) is None  # end is exclusive
    assert len(cache) == 0  # and the stale entry was dropped
    cache.put(b"k1", window)
    assert cache.get(b"k1", START - timedelta(seconds=1)) is None
    for key in (b"a", b"b", b"c"):
        cache.put(key, window)
    assert len(cache) == 2
    assert cache.get(b"a", START) is None
    empty = IdentityCache(0)
    empty.put(b"a", window)
    assert len(empty) == 0


def _identity_from_its_own_strings(access_key_id: str = "AKIABOBEXAMPLE000001") -> Identity:
    # Each STS answer is parsed into strings of its own: build them afresh.
    def fresh(text: str) -> str:
        return "".join(list(text))

    return Identity(
        arn=fresh(ARN),
        canonical_arn=fresh(ARN),
        account_id=fresh("210987654321"),
        user_id=fresh("AIDABOBEXAMPLE000001"),
        session_name="",
        access_key_id=fresh(access_key_id),
        sts_endpoint="sts.amazonaws.com",
    )


def test_identity_cache_stores_equal_identities_once() -> None:
    cache = IdentityCache(10)
    end = START + timedelta(minutes=1)
    first, second = _identity_from_its_own_strings(), _identity_from_its_own_strings()
    other = _identity_from_its_own_strings("AKIABOBEXAMPLE000002")
    assert first == second
    assert first.arn is not second.arn
    cache.put(b"k1", CacheEntry(identity=first, not_before=START, fresh_until=end))
    cache.put(b"k2", CacheEntry(identity=second, not_before=START, fresh_until=end))
    cache.put(b"k3", CacheEntry(identity=other, not_before=START, fresh_until=end))
    assert cache.get(b"k2", START) is cache.get(b"k1", START)
    assert cache.get(b"k3", START) == other != first
    # The sharing holds nothing alive by itself: gone with the last entry.
    alive = weakref.ref(cache.get(b"k1", START))
    del first, second
    cache.clear()
    assert alive() is None
