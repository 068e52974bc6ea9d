"""FastAPI and Starlette services under real uvicorn on loopback, verifying against a served FakeSTS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from k8s_aws_auth import AsyncTokenVerifier, VerifierConfig
from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal
from tests.integrations.apps import fastapi_app, starlette_app
from tests.support.asgi import stalled_server, uvicorn_serving

CLUSTER = "web-cluster"
ARN = "arn:aws:iam::111122223333:user/alice"

AppFactory = Callable[..., Any]
APPS = [pytest.param(fastapi_app, id="fastapi"), pytest.param(starlette_app, id="starlette")]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    return FakeSTS(clock=clock)


@pytest.fixture
def alice(fake: FakeSTS) -> Principal:
    return fake.create_principal(ARN)


@pytest.fixture
def sts_url(fake: FakeSTS) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def _verifier(url: str, clock: FixedClock, **options: Any) -> AsyncTokenVerifier:
    config = VerifierConfig(CLUSTER, sts_endpoint_url=url, **options)
    return AsyncTokenVerifier(config, clock=clock)


@pytest.mark.parametrize("factory", APPS)
def test_a_verified_token_is_the_request_s_identity(
    factory: AppFactory, fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with uvicorn_serving(factory(_verifier(sts_url, clock))) as url:
        plain = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"})
        # The scheme is case-insensitive; runs of blanks are tolerated (HTTP itself
        # strips the value's surrounding whitespace: see test_bearer.py).
        loose = httpx.get(f"{url}/whoami", headers={"Authorization": f"bEaReR \t  {token}"})
    assert plain.status_code == 200, plain.text
    assert plain.json()["arn"] == ARN
    assert loose.status_code == 200, loose.text
    assert fake.count("GetCallerIdentity") == 2  # no cache configured: each request asks STS


@pytest.mark.parametrize("factory", APPS)
def test_denied_tokens_get_401_with_an_rfc6750_challenge(
    factory: AppFactory, fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    wrong_cluster = fake.make_token(alice, cluster_id="another-cluster")
    expired = fake.make_token(alice, cluster_id=CLUSTER, now=clock() - _minutes(16))
    with uvicorn_serving(factory(_verifier(sts_url, clock))) as url:
        answers = {
            name: httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {value}"})
            for name, value in (("sts-denied", wrong_cluster), ("expired", expired))
        }
    for reason, answer in answers.items():
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == (
            f'Bearer error="invalid_token", error_description="{reason}"'
        )
        assert wrong_cluster not in answer.text
        assert expired not in answer.text


def test_fastapi_answers_a_request_without_a_token_with_the_bare_challenge(
    clock: FixedClock, sts_url: str, fake: FakeSTS
) -> None:
    with uvicorn_serving(fastapi_app(_verifier(sts_url, clock))) as url:
        missing = httpx.get(f"{url}/whoami")
        basic = httpx.get(f"{url}/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
        two = httpx.get(f"{url}/whoami", headers={"Authorization": "Bearer one two"})
    for answer in (missing, basic):
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert two.status_code == 400
    assert two.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')
    assert fake.count() == 0


def test_starlette_leaves_a_request_without_a_token_unauthenticated(
    clock: FixedClock, sts_url: str
) -> None:
    with uvicorn_serving(starlette_app(_verifier(sts_url, clock))) as url:
        answer = httpx.get(f"{url}/whoami")
    assert answer.status_code == 401  # the route's @requires, not the backend


@pytest.mark.parametrize("factory", APPS)
@pytest.mark.parametrize("fault", ["throttling", "server-error"])
def test_an_sts_outage_is_503_with_retry_after(
    factory: AppFactory,
    fault: str,
    fake: FakeSTS,
    alice: Principal,
    clock: FixedClock,
    sts_url: str,
) -> None:
    token = fake.make_token(alice, cluster_id=CLUSTER)
    attempts = 3  # max_retries=2: the first try and two retries
    if fault == "throttling":
        fake.throttle_next(attempts)
    else:
        fake.fail_next(attempts, status=500, code="InternalFailure")
    verifier = _verifier(sts_url, clock)
    with uvicorn_serving(factory(verifier, retry_after=7)) as url:
        answer = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"})
        again = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "7"
    assert "WWW-Authenticate" not in answer.headers
    assert again.status_code == 200  # an outage is never cached as a denial


@pytest.mark.parametrize("factory", APPS)
def test_an_sts_timeout_is_503_with_retry_after(
    factory: AppFactory, fake: FakeSTS, alice: Principal, clock: FixedClock
) -> None:
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with stalled_server() as stalled:
        verifier = _verifier(stalled, clock, read_timeout=0.2, deadline=5.0, max_retries=0)
        with uvicorn_serving(factory(verifier)) as url:
            answer = httpx.get(
                f"{url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize("factory", APPS)
def test_twenty_concurrent_requests_with_one_token_make_one_sts_call(
    factory: AppFactory, fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    token = fake.make_token(alice, cluster_id=CLUSTER)
    fake.delay_next(0.5)  # the leader's STS call is in flight while the others arrive

    async def twenty(url: str) -> list[int]:
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            answers = await asyncio.gather(*[client.get(f"{url}/whoami") for _ in range(20)])
        return [answer.status_code for answer in answers]

    with uvicorn_serving(factory(_verifier(sts_url, clock, cache_size=100))) as url:
        statuses = asyncio.run(twenty(url))
    assert statuses == [200] * 20
    assert fake.count("GetCallerIdentity") == 1


def _minutes(count: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=count)
