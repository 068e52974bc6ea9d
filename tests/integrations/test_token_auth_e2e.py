"""TokenAuth with real httpx clients against the FastAPI service under uvicorn, for longer than a token's life.

One FixedClock drives the client's token source, the service's verifier and
FakeSTS: the test moves it instead of sleeping through 15-minute lifetimes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from k8s_aws_auth import AsyncTokenSource, AsyncTokenVerifier, TokenAuth, VerifierConfig
from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal
from tests.integrations.apps import fastapi_app
from tests.support.asgi import uvicorn_serving

CLUSTER = "auth-cluster"
USER = "arn:aws:iam::111122223333:user/client"
ROLE = "arn:aws:iam::111122223333:role/Caller"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    sts = FakeSTS(clock=clock)
    sts.register_role(ROLE)
    return sts


@pytest.fixture
def client_principal(fake: FakeSTS) -> Principal:
    return fake.create_principal(USER)


@pytest.fixture
def service(fake: FakeSTS, clock: FixedClock) -> Iterator[tuple[str, AsyncTokenVerifier, str]]:
    with fake.serve() as sts_url:
        config = VerifierConfig(CLUSTER, sts_endpoint_url=sts_url, cache_size=100)
        verifier = AsyncTokenVerifier(config, clock=clock)
        with uvicorn_serving(fastapi_app(verifier)) as url:
            yield url, verifier, sts_url


def _options(principal: Principal, sts_url: str, clock: FixedClock) -> dict[str, object]:
    return {
        "credentials": principal.credentials,
        "region": "us-west-2",
        "environ": {"AWS_ENDPOINT_URL_STS": sts_url},
        "clock": clock,
    }


def test_a_sync_client_stays_authenticated_for_forty_minutes(
    service: tuple[str, AsyncTokenVerifier, str],
    fake: FakeSTS,
    client_principal: Principal,
    clock: FixedClock,
) -> None:
    url, verifier, sts_url = service
    auth = TokenAuth(CLUSTER, **_options(client_principal, sts_url, clock))
    statuses = []
    with httpx.Client(base_url=url, auth=auth) as client:
        for _ in range(41):  # one request a minute
            statuses.append(client.get("/whoami").status_code)
            clock.advance(minutes=1)
    assert statuses == [200] * 41
    # Tokens signed at minutes 0, 13, 26 and 39: reused in between, refreshed before expiry
    # (the service never saw an expired one), each confirmed once by STS (the cache).
    assert fake.count("GetCallerIdentity") == 4
    assert verifier.stats.local_rejections == 0


def test_an_async_client_with_a_role_refreshes_once_for_sixteen_requests(
    service: tuple[str, AsyncTokenVerifier, str],
    fake: FakeSTS,
    client_principal: Principal,
    clock: FixedClock,
) -> None:
    url, verifier, sts_url = service
    source = AsyncTokenSource(CLUSTER, role_arn=ROLE, **_options(client_principal, sts_url, clock))  # type: ignore[arg-type]

    async def rounds() -> list[int]:
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=url, auth=TokenAuth(source), timeout=30) as client:
            for _ in range(3):  # at minutes 0, 13 and 26: a refresh each time
                fake.delay_next(0.3)  # the refresh is in flight while the others wait
                answers = await asyncio.gather(*[client.get("/whoami") for _ in range(16)])
                statuses += [answer.status_code for answer in answers]
                clock.advance(minutes=13)
        return statuses

    statuses = asyncio.run(rounds())
    assert statuses == [200] * 48
    assert fake.count("AssumeRole") == 1  # the role's hour-long session served three tokens
    assert fake.count("GetCallerIdentity") == 3  # one token per round, one STS call each
    assert verifier.stats.local_rejections == 0


def test_a_401_is_answered_by_one_retry_with_a_new_token(
    service: tuple[str, AsyncTokenVerifier, str],
    fake: FakeSTS,
    client_principal: Principal,
    clock: FixedClock,
) -> None:
    url, _, sts_url = service
    auth = TokenAuth(CLUSTER, **_options(client_principal, sts_url, clock))
    with httpx.Client(base_url=url, auth=auth) as client:
        assert client.get("/whoami").status_code == 200
        clock.advance(minutes=13)  # a new token, not in the service's cache
        fake.fail_next(1, status=403, code="InvalidClientTokenId", message="revoked")
        answer = client.get("/whoami")
    assert answer.status_code == 200
    assert [request.status for request in fake.requests][-2:] == [403, 200]
