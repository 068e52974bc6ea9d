"""Clocks read at call time (freezegun and time-machine move everything), misuse errors, STS's retry hint."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import freezegun
import httpx
import pytest
import time_machine

from k8s_aws_auth import AsyncTokenVerifier, TokenVerifier, VerifierConfig, generate_token
from k8s_aws_auth.errors import ConfigurationError, ExpiredTokenError, STSThrottledError
from k8s_aws_auth.testing import FakeSTS

CLUSTER = "clock-cluster"
USER = "arn:aws:iam::111122223333:user/frozen"
FAR = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)  # far from the real clock


def _round_trip() -> datetime:
    """generate → verify → FakeSTS, every clock the default one; the token's signing time."""
    fake = FakeSTS()
    alice = fake.create_principal(USER)
    token = generate_token(CLUSTER, credentials=alice.credentials, region="us-west-2")
    with TokenVerifier(VerifierConfig(CLUSTER), client=httpx.Client(transport=fake)) as verifier:
        assert verifier.verify(token.value).arn == USER
        return verifier.validate(token.value).signed_at


@contextlib.contextmanager
def _freezegun() -> Iterator[Callable[[timedelta], object]]:
    with freezegun.freeze_time(FAR) as frozen:
        yield frozen.tick


@contextlib.contextmanager
def _time_machine() -> Iterator[Callable[[timedelta], object]]:
    with time_machine.travel(FAR, tick=False) as traveller:
        yield traveller.shift


@pytest.mark.parametrize(
    "frozen_time", [_freezegun, _time_machine], ids=["freezegun", "time-machine"]
)
def test_frozen_time_moves_generation_the_verifier_and_fake_sts(
    frozen_time: Callable[[], contextlib.AbstractContextManager[Callable[[timedelta], object]]],
) -> None:
    with frozen_time() as move:
        assert _round_trip() == FAR
        fake = FakeSTS()
        alice = fake.create_principal(USER)
        token = generate_token(CLUSTER, credentials=alice.credentials, region="us-west-2")
        move(timedelta(minutes=16))
        client = httpx.Client(transport=fake)
        with (
            TokenVerifier(VerifierConfig(CLUSTER), client=client) as v,
            pytest.raises(ExpiredTokenError),
        ):
            v.verify(token.value)


def test_an_async_verifier_on_a_second_event_loop_is_a_usage_error() -> None:
    fake = FakeSTS()
    alice = fake.create_principal(USER)
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with fake.serve() as url:
        verifier = AsyncTokenVerifier(VerifierConfig(CLUSTER, sts_endpoint_url=url))
        assert asyncio.run(verifier.verify(token)).arn == USER
        with pytest.raises(ConfigurationError, match="another event loop") as caught:
            asyncio.run(verifier.verify(fake.make_token(alice, cluster_id=CLUSTER, now=None)))
        assert caught.value.reason == "event-loop"
        assert fake.count("GetCallerIdentity") == 1
        # The first loop's pooled connection was left behind when it ended (the misuse).
        del verifier, caught
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


class _HintingSTS(httpx.BaseTransport):
    """FakeSTS's answers with a ``Retry-After`` header added."""

    def __init__(self, fake: FakeSTS, hint: str) -> None:
        self.fake, self.hint = fake, hint

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.fake.handle_request(request)
        answer.read()
        return httpx.Response(
            answer.status_code,
            headers=[*answer.headers.multi_items(), ("Retry-After", self.hint)],
            content=answer.content,
        )


@pytest.mark.parametrize(("hint", "expected"), [("7", 7), ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_sts_errors_carry_the_throttling_answer_s_retry_hint(
    hint: str, expected: int | None
) -> None:
    fake = FakeSTS()
    alice = fake.create_principal(USER)
    fake.throttle_next(1)
    config = VerifierConfig(CLUSTER, max_retries=0)
    client = httpx.Client(transport=_HintingSTS(fake, hint))
    with (
        TokenVerifier(config, client=client) as verifier,
        pytest.raises(STSThrottledError) as caught,
    ):
        verifier.verify(fake.make_token(alice, cluster_id=CLUSTER))
    assert caught.value.retry_after == expected
