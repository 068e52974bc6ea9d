"""generate_token's role and resolver options, TokenSource/AsyncTokenSource and TokenAuth."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import anyio
import httpx
import pytest

from k8s_aws_auth import (
    AsyncTokenSource,
    TokenAuth,
    TokenSource,
    TokenVerifier,
    VerifierConfig,
    agenerate_token,
    generate_token,
)
from k8s_aws_auth.credentials import AsyncCredentialResolver, CredentialResolver, StaticProvider
from k8s_aws_auth.errors import ConfigurationError, CredentialsError
from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal

CLUSTER = "source-cluster"
USER = "arn:aws:iam::111122223333:user/alice"
ROLE = "arn:aws:iam::111122223333:role/Deployer"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    sts = FakeSTS(clock=clock)
    sts.register_role(ROLE, trusted=[USER], external_id="ext-1")
    return sts


@pytest.fixture
def alice(fake: FakeSTS) -> Principal:
    return fake.create_principal(USER)


@pytest.fixture
def sts_url(fake: FakeSTS) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def _verify(token: str, url: str, clock: FixedClock) -> str:
    with TokenVerifier(VerifierConfig(CLUSTER, sts_endpoint_url=url), clock=clock) as verifier:
        return verifier.verify(token).arn


# --- generate_token --------------------------------------------------------------------------


def test_generate_token_assumes_the_role_at_the_resolver_s_endpoint_and_region(
    fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    resolver = CredentialResolver(
        StaticProvider(alice.credentials),
        environ={"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_STS": sts_url},
        clock=clock,
    )
    token = generate_token(
        CLUSTER,
        resolver=resolver,
        role_arn=ROLE,
        external_id="ext-1",
        role_session_name="ci-run",
        now=clock(),
    )
    assert [r.action for r in fake.requests] == ["AssumeRole"]
    with TokenVerifier(VerifierConfig(CLUSTER, sts_endpoint_url=sts_url), clock=clock) as v:
        identity = v.verify(token.value)
    assert identity.arn == "arn:aws:sts::111122223333:assumed-role/Deployer/ci-run"
    assert identity.sts_endpoint == "sts.eu-west-1.amazonaws.com"  # the resolver's region


def test_agenerate_token_takes_the_same_role_options(
    fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    async def main() -> str:
        token = await agenerate_token(
            CLUSTER,
            credentials=alice.credentials,
            environ={"AWS_ENDPOINT_URL_STS": sts_url},
            region="us-west-2",
            role_arn=ROLE,
            external_id="ext-1",
            forward_session_name=True,
            now=clock(),
        )
        return token.value

    token = anyio.run(main)
    assert [r.action for r in fake.requests] == ["GetCallerIdentity", "AssumeRole"]
    # alice is an IAM user: no session name to forward, so a time-based one is used.
    assert _verify(token, sts_url, clock).startswith(
        "arn:aws:sts::111122223333:assumed-role/Deployer/k8s-aws-auth-"
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"role_arn": "not-an-arn"}, "not an assumable IAM role ARN"),
        ({"role_arn": USER}, "names 'user', not an IAM role"),
        ({"role_arn": "arn:aws-cn:iam::111122223333:role/X"}, "partition 'aws-cn' is not 'aws'"),
        ({"external_id": "x"}, "need a role_arn"),
        ({"forward_session_name": True}, "needs a role_arn"),
        (
            {"role_arn": ROLE, "forward_session_name": True, "role_session_name": "s"},
            "not both",
        ),
        ({"role_arn": ROLE, "role_session_name": "x"}, "2-64 characters"),
    ],
)
def test_role_options_are_checked_before_any_call(
    fake: FakeSTS, alice: Principal, sts_url: str, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        generate_token(
            CLUSTER,
            credentials=alice.credentials,
            region="us-west-2",
            environ={"AWS_ENDPOINT_URL_STS": sts_url},
            **options,  # type: ignore[arg-type]
        )
    assert fake.count() == 0


def test_resolver_and_its_own_settings_are_not_given_twice(alice: Principal) -> None:
    resolver = CredentialResolver(StaticProvider(alice.credentials), environ={})
    with pytest.raises(ConfigurationError, match="not both"):
        generate_token(CLUSTER, resolver=resolver, credentials=alice.credentials)
    with pytest.raises(ConfigurationError, match="resolver's own settings"):
        generate_token(CLUSTER, resolver=resolver, profile="dev")
    with pytest.raises(ConfigurationError, match="must be a CredentialResolver"):
        generate_token(CLUSTER, resolver=AsyncCredentialResolver(environ={}))  # type: ignore[arg-type]


# --- TokenSource -------------------------------------------------------------------------------


def _source(alice: Principal, url: str, clock: FixedClock, **options: object) -> TokenSource:
    return TokenSource(
        CLUSTER,
        credentials=alice.credentials,
        region="us-west-2",
        environ={"AWS_ENDPOINT_URL_STS": url},
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def test_a_source_reuses_its_token_and_refreshes_a_minute_before_expiry(
    alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock)
    first = source.token()
    assert first.expiration == clock() + timedelta(minutes=14)
    clock.advance(minutes=12, seconds=59)
    assert source.token() is first
    clock.advance(seconds=1)  # 13 minutes: one minute before the token's expiration
    second = source.token()
    assert second is not first
    assert second.value != first.value
    assert _verify(second.value, sts_url, clock) == USER


def test_a_role_session_outlives_many_tokens(
    fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock, role_arn=ROLE, external_id="ext-1")
    tokens = set()
    for _ in range(4):  # 52 minutes: four tokens, one AssumeRole (an hour's session)
        tokens.add(source.token().value)
        clock.advance(minutes=13)
    assert len(tokens) == 4
    assert fake.count("AssumeRole") == 1
    clock.advance(minutes=10)  # the session is within its refresh window: assumed again
    source.token()
    assert fake.count("AssumeRole") == 2


def test_sixteen_threads_cause_one_refresh(
    fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock, role_arn=ROLE, external_id="ext-1")
    fake.delay_next(0.3)  # the refreshing thread holds the lock while the others arrive
    barrier = threading.Barrier(16)
    seen: list[str] = []

    def call() -> None:
        barrier.wait()
        seen.append(source.token().value)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 16
    assert len(set(seen)) == 1
    assert fake.count("AssumeRole") == 1


def test_a_failed_refresh_keeps_the_token_until_it_expires(
    fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock, role_arn=ROLE, external_id="ext-1")
    first = source.token()
    clock.advance(minutes=13, seconds=30)
    source._role_resolver = None  # the next refresh must call AssumeRole, which fails
    fake.fail_next(10)
    assert source.token() is first  # still valid for 30 seconds
    clock.advance(seconds=30)
    with pytest.raises(CredentialsError):
        source.token()


def test_source_arguments_are_checked_at_construction(alice: Principal) -> None:
    with pytest.raises(ConfigurationError, match="refresh_before"):
        TokenSource(CLUSTER, credentials=alice.credentials, refresh_before=timedelta(hours=1))
    with pytest.raises(ConfigurationError, match="cluster id"):
        TokenSource("", credentials=alice.credentials)
    with pytest.raises(ConfigurationError, match="need a role_arn"):
        AsyncTokenSource(CLUSTER, credentials=alice.credentials, external_id="x")
    with pytest.raises(ConfigurationError, match="must be an AsyncCredentialResolver"):
        AsyncTokenSource(CLUSTER, resolver=CredentialResolver(environ={}))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_async_source_refreshes_once_for_sixteen_tasks(
    backend: str, fake: FakeSTS, alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = AsyncTokenSource(
        CLUSTER,
        credentials=alice.credentials,
        region="us-west-2",
        environ={"AWS_ENDPOINT_URL_STS": sts_url},
        role_arn=ROLE,
        external_id="ext-1",
        clock=clock,
    )
    seen: list[str] = []

    async def main() -> None:
        fake.delay_next(0.3)

        async def one() -> None:
            seen.append((await source.token()).value)

        async with anyio.create_task_group() as group:
            for _ in range(16):
                group.start_soon(one)

    anyio.run(main, backend=backend)
    assert len(seen) == 16
    assert len(set(seen)) == 1
    assert fake.count("AssumeRole") == 1


# --- TokenAuth (in memory; end to end against a service in test_token_auth_e2e.py) ------------


def test_token_auth_retries_a_401_once_with_a_new_token(
    alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock)
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        clock.advance(seconds=1)  # time passes: the retry signs at a later second
        return httpx.Response(401 if len(seen) == 1 else 200)

    with httpx.Client(transport=httpx.MockTransport(server), auth=TokenAuth(source)) as client:
        answer = client.post("http://service/items", json={"a": 1})
    assert answer.status_code == 200
    assert len(seen) == 2
    assert seen[0] != seen[1]
    assert all(header.startswith("Bearer k8s-aws-v1.") for header in seen)


def test_token_auth_does_not_retry_forever_nor_a_streamed_body(
    alice: Principal, clock: FixedClock, sts_url: str
) -> None:
    source = _source(alice, sts_url, clock)
    calls: list[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        request.read()
        calls.append(1)
        return httpx.Response(401)

    with httpx.Client(transport=httpx.MockTransport(server), auth=TokenAuth(source)) as client:
        assert client.get("http://service/").status_code == 401
        assert len(calls) == 2  # the request and exactly one retry
        streamed = client.post("http://service/", content=iter([b"chunk"]))
        assert streamed.status_code == 401
        assert len(calls) == 3  # a streamed body cannot be sent again


def test_token_auth_refuses_an_async_source_on_a_sync_client(
    alice: Principal, sts_url: str, clock: FixedClock
) -> None:
    source = AsyncTokenSource(CLUSTER, credentials=alice.credentials, clock=clock)
    auth = TokenAuth(source)
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(ConfigurationError, match=r"serves only httpx\.AsyncClient"),
    ):
        client.get("http://service/", auth=auth)
    with pytest.raises(ConfigurationError, match="with a cluster id only"):
        TokenAuth(source, region="us-west-2")


def test_token_auth_picks_the_source_its_resolver_fits(
    fake: FakeSTS, alice: Principal, clock: FixedClock
) -> None:
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(204)

    sync_resolver = CredentialResolver(StaticProvider(alice.credentials), environ={})
    auth = TokenAuth(CLUSTER, resolver=sync_resolver, region="us-west-2", clock=clock)

    async def call(auth: TokenAuth) -> int:
        transport = httpx.MockTransport(server)
        async with httpx.AsyncClient(transport=transport, auth=auth) as client:
            return (await client.get("http://service/")).status_code

    # A sync resolver serves async clients too (its source refreshes in a worker thread).
    assert anyio.run(call, auth) == 204
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        assert client.get("http://service/").status_code == 204
    assert seen[0] == seen[1]  # one source, one token
    async_resolver = AsyncCredentialResolver(StaticProvider(alice.credentials), environ={})
    async_auth = TokenAuth(CLUSTER, resolver=async_resolver, region="us-west-2", clock=clock)
    assert anyio.run(call, async_auth) == 204
    with (
        httpx.Client(transport=httpx.MockTransport(server), auth=async_auth) as client,
        pytest.raises(ConfigurationError, match="serves only"),
    ):
        client.get("http://service/")
