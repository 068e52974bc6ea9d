"""Both shells, one suite: FakeSTS as an httpx transport and as a loopback server.

Every test runs through the sync shell and the async shell under asyncio and
trio (``_verifier_harness.KINDS``); most also through both ways of reaching
FakeSTS (``reach``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    Identity,
    TokenVerifier,
    ValidatedToken,
    VerifierConfig,
    _verifier,
    decode_token,
    encode_token,
)
from k8s_aws_auth.errors import (
    AccessDeniedError,
    ConfigurationError,
    ExpiredTokenError,
    MalformedTokenError,
    STSError,
    STSResponseError,
    STSThrottledError,
    STSUnavailableError,
    TokenError,
    UntrustedEndpointError,
)
from k8s_aws_auth.testing import FakeSTS, FixedClock, make_token
from tests.support.botocore_oracle import BotocoreTokenOracle
from tests.support.budget import examples
from tests.support.verifier_harness import KINDS, Verified, verify_all

START = datetime(2025, 6, 1, 8, 30, 0, tzinfo=timezone.utc)
CLUSTER = "prod-cluster-1"
ACCOUNT = "123456789012"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/dev/alice"
USER_ID = "AIDAALICEEXAMPLE00001"
USER_CREDENTIALS = Credentials("AKIAALICEEXAMPLE0001", "alice/secret+key=value")
ROLE_SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/ci-build-42"
ROLE_USER_ID = "AROADEPLOYEREXAMPLE01:ci-build-42"
ROLE_CREDENTIALS = Credentials(
    "ASIADEPLOYEREXAMPLE1",
    "role-secret/with+chars",
    "FwoGZXIvYXdzEExampleSessionToken/with+plus=and/slash" * 8,
)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    sts = FakeSTS(clock=clock)
    sts.register(USER_CREDENTIALS, USER_ARN, user_id=USER_ID)
    sts.register(ROLE_CREDENTIALS, ROLE_SESSION_ARN, user_id=ROLE_USER_ID)
    return sts


@attrs.frozen
class Reach:
    """How the verifier reaches FakeSTS: its config and (for the transport) client options."""

    config: VerifierConfig
    client_options: dict[str, Any] | None


@pytest.fixture(params=["transport", "server"])
def reach(request: pytest.FixtureRequest, fake: FakeSTS) -> Iterator[Reach]:
    if request.param == "transport":
        yield Reach(VerifierConfig(CLUSTER), {"transport": fake})
    else:
        with fake.serve() as url:
            yield Reach(VerifierConfig(CLUSTER, sts_endpoint_url=url), None)


def _verify(
    kind: str, reach: Reach, tokens: list[str], clock: FixedClock, **kwargs: Any
) -> Verified:
    return verify_all(
        kind, reach.config, tokens, client_options=reach.client_options, clock=clock, **kwargs
    )


def _tamper_signature(token: str) -> str:
    """Flip the last signature digit; the token stays well-formed."""
    url = decode_token(token)
    last = url[-1]
    return encode_token(url[:-1] + ("0" if last != "0" else "1"))


# --- accepted --------------------------------------------------------------------------------------


def test_iam_user_token_gives_the_user_identity(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    result = _verify(kind, reach, [token], clock)
    assert result.only == Identity(
        arn=USER_ARN,
        canonical_arn=USER_ARN,
        account_id=ACCOUNT,
        user_id=USER_ID,
        session_name="",
        access_key_id="AKIAALICEEXAMPLE0001",
        sts_endpoint="sts.us-west-2.amazonaws.com",
        partition="aws",
        principal_type="user",
    )
    assert [r.outcome for r in fake.requests] == ["ok"]


def test_assumed_role_token_gives_the_role(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(
        credentials=ROLE_CREDENTIALS, cluster_id=CLUSTER, region="eu-central-1", now=START
    )
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, Identity)
    assert result.arn == ROLE_SESSION_ARN
    assert result.canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/Deployer"
    assert (result.user_id, result.session_name) == ("AROADEPLOYEREXAMPLE01", "ci-build-42")
    assert result.principal_type == "assumed-role"
    assert result.sts_endpoint == "sts.eu-central-1.amazonaws.com"


@pytest.mark.parametrize(
    ("region", "mode", "host"),
    [
        ("us-east-1", "regional", "sts.us-east-1.amazonaws.com"),
        ("ap-southeast-2", "regional", "sts.ap-southeast-2.amazonaws.com"),
        (None, "regional", "sts.amazonaws.com"),
        ("us-west-2", "legacy", "sts.amazonaws.com"),
    ],
    ids=["us-east-1", "ap-southeast-2", "no-region", "legacy"],
)
@pytest.mark.parametrize("credentials", ["user", "role"])
def test_botocore_tokens_verify(
    kind: str,
    reach: Reach,
    clock: FixedClock,
    region: str | None,
    mode: str,
    host: str,
    credentials: str,
) -> None:
    creds = USER_CREDENTIALS if credentials == "user" else ROLE_CREDENTIALS
    token = BotocoreTokenOracle().token(
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
        region=region,
        mode=mode,
        cluster_id=CLUSTER,
        moment=clock() - timedelta(seconds=40),
    )
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, Identity)
    assert result.arn == (USER_ARN if credentials == "user" else ROLE_SESSION_ARN)
    assert result.access_key_id == creds.access_key_id
    assert result.sts_endpoint == host


def test_many_tokens_through_one_verifier(kind: str, reach: Reach, clock: FixedClock) -> None:
    tokens = [
        make_token(
            credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock() - timedelta(seconds=s)
        )
        for s in range(5)
    ]
    result = _verify(kind, reach, tokens, clock)
    assert all(isinstance(r, Identity) and r.arn == USER_ARN for r in result.results)
    assert result.stats is not None
    assert result.stats.sts_requests == 5
    assert result.stats.sts_calls == {"ok": 5}


def test_sts_outcomes_are_counted_by_reason(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    def token(cluster_id: str = CLUSTER, age: int = 0) -> str:
        now = clock() - timedelta(seconds=age)
        return make_token(credentials=USER_CREDENTIALS, cluster_id=cluster_id, now=now)

    fake.throttle_next()
    tokens = [
        token(age=1),  # throttled once, no retry left
        token(age=2),  # confirmed
        token(cluster_id="another-cluster"),  # refused by STS
        token(age=16 * 60),  # refused locally: never an STS call
    ]
    config = VerifierConfig(CLUSTER, max_retries=0)
    result = verify_all(kind, config, tokens, transport=fake, clock=clock)
    assert [type(r) for r in result.results] == [
        STSThrottledError,
        Identity,
        AccessDeniedError,
        ExpiredTokenError,
    ]
    assert result.stats is not None
    assert result.stats.sts_calls == {"sts-throttled": 1, "ok": 1, "sts-denied": 1}
    assert result.stats.sts_requests == 3
    assert result.stats.local_rejections == 1


def test_a_bug_in_the_sts_exchange_is_counted_as_internal(
    kind: str, fake: FakeSTS, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_flow(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("flow bug")

    monkeypatch.setattr(_verifier, "sts_flow", broken_flow)
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    result = verify_all(kind, VerifierConfig(CLUSTER), [token], transport=fake, clock=clock)
    assert isinstance(result.only, STSError)
    assert result.only.reason == "internal"
    assert isinstance(result.only.__cause__, RuntimeError)
    assert result.stats is not None
    assert result.stats.sts_calls == {"internal": 1}
    assert fake.requests == []


def test_one_shot_helpers(kind: str, reach: Reach, clock: FixedClock) -> None:
    good = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    bad = make_token(credentials=USER_CREDENTIALS, cluster_id="another", now=clock())
    result = _verify(kind, reach, [good, bad], clock, one_shot=True)
    assert isinstance(result.results[0], Identity)
    assert isinstance(result.results[1], AccessDeniedError)


# --- denied ------------------------------------------------------------------------------------------


def test_token_for_another_cluster_is_denied_by_sts(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id="staging-cluster", now=clock())
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, AccessDeniedError)
    assert result.sts_code == "SignatureDoesNotMatch"
    # STS checked the signature against *our* cluster id.
    assert [r.header("x-k8s-aws-id") for r in fake.requests] == [CLUSTER]


def test_expired_token_is_denied_locally(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    clock.advance(minutes=15, seconds=1)
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, ExpiredTokenError)
    assert fake.requests == []


def test_tampered_signature_is_denied_by_sts(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    token = _tamper_signature(
        make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=START)
    )
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, AccessDeniedError)
    assert result.sts_code == "SignatureDoesNotMatch"


def test_tampered_session_token_is_denied_by_sts(
    kind: str, reach: Reach, clock: FixedClock
) -> None:
    url = decode_token(make_token(credentials=ROLE_CREDENTIALS, cluster_id=CLUSTER, now=START))
    token = encode_token(url.replace("FwoGZXIvYXdzEExample", "FwoGZXIvYXdzEExamplf", 1))
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, AccessDeniedError)


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (
            lambda url: url.replace(
                "sts.us-west-2.amazonaws.com", "sts.us-west-2.amazonaws.com.evil.io"
            ),
            UntrustedEndpointError,
        ),
        (lambda url: url + "&action=GetCallerIdentity", MalformedTokenError),
        (lambda url: url.replace("https://", "http://"), UntrustedEndpointError),
    ],
    ids=["foreign-host", "duplicate-param", "plain-http"],
)
def test_locally_refused_tampering_never_reaches_sts(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock, edit: Any, error: type[TokenError]
) -> None:
    url = decode_token(make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=START))
    result = _verify(kind, reach, [encode_token(edit(url))], clock).only
    assert isinstance(result, error)
    assert fake.requests == []


def test_unknown_access_key_is_denied(kind: str, reach: Reach, clock: FixedClock) -> None:
    stranger = Credentials("AKIASTRANGEREXAMPLE1", "not-registered")
    token = make_token(credentials=stranger, cluster_id=CLUSTER, now=clock())
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, AccessDeniedError)
    assert result.sts_code == "InvalidClientTokenId"


@pytest.mark.parametrize(
    "token",
    [None, b"k8s-aws-v1.aGVsbG8", 42, "", "Bearer k8s-aws-v1.x", "k8s-aws-v1." + "A" * 20000],
    ids=["none", "bytes", "int", "empty", "bearer-prefix", "oversized"],
)
def test_garbage_is_malformed(kind: str, reach: Reach, clock: FixedClock, token: Any) -> None:
    result = _verify(kind, reach, [token], clock).only
    assert isinstance(result, MalformedTokenError)


def test_messages_never_contain_secrets(
    kind: str, reach: Reach, fake: FakeSTS, clock: FixedClock
) -> None:
    tokens = [
        make_token(credentials=ROLE_CREDENTIALS, cluster_id=CLUSTER, now=clock()),
        make_token(credentials=ROLE_CREDENTIALS, cluster_id="elsewhere", now=clock()),
        _tamper_signature(make_token(credentials=ROLE_CREDENTIALS, cluster_id=CLUSTER, now=START)),
    ]
    # The first token meets three 500s (every attempt) whose message echoes a URL.
    fake.fail_next(3, status=500, code="InternalFailure", message=decode_token(tokens[0]))
    result = _verify(kind, reach, tokens, clock)
    assert [type(r) for r in result.results] == [
        STSResponseError,
        AccessDeniedError,
        AccessDeniedError,
    ]
    secrets = [ROLE_CREDENTIALS.session_token, ROLE_CREDENTIALS.secret_access_key]
    for token in tokens:
        url = decode_token(token)
        secrets += [token, url, url.rsplit("=", 1)[1]]
    for outcome in result.results:
        assert isinstance(outcome, (TokenError, STSError))
        for text in (str(outcome), repr(outcome)):
            assert not any(secret in text for secret in secrets if secret)


# --- the borrowed client is not trusted with policy --------------------------------------------------


def test_borrowed_client_settings_never_reach_sts(
    kind: str, fake: FakeSTS, clock: FixedClock
) -> None:
    options = {
        "transport": fake,
        "follow_redirects": True,
        "auth": ("someone", "password"),
        "cookies": {"session": "cookie-value"},
        "headers": {"X-Leak": "base-header", "Authorization": "Bearer other-credential"},
        "params": {"extra": "param"},
    }
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    result = verify_all(kind, VerifierConfig(CLUSTER), [token], client_options=options, clock=clock)
    assert isinstance(result.only, Identity)
    [received] = fake.requests
    assert [name.lower() for name, _ in received.headers] == [
        "host",
        "x-k8s-aws-id",
        "accept",
        "user-agent",
        "accept-encoding",
    ]
    assert "extra=param" not in received.url
    assert result.borrowed_client_closed is False


def test_borrowed_client_over_loopback_is_left_open(
    kind: str, fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    with fake.serve() as url:
        config = VerifierConfig(CLUSTER, sts_endpoint_url=url)
        result = verify_all(
            kind, config, [token], client_options={"cookies": {"a": "b"}}, clock=clock
        )
    assert isinstance(result.only, Identity)
    assert result.borrowed_client_closed is False
    assert fake.requests[0].header("cookie") is None


def test_owned_client_is_closed_and_verifier_refuses_afterwards(
    fake: FakeSTS, clock: FixedClock
) -> None:
    verifier = TokenVerifier(VerifierConfig(CLUSTER), clock=clock)
    verifier.close()
    verifier.close()  # idempotent
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    with pytest.raises(STSError) as info:
        verifier.verify(token)
    assert info.value.reason == "closed"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_owned_client_is_closed(backend: str, clock: FixedClock) -> None:
    async def main() -> None:
        async with AsyncTokenVerifier(VerifierConfig(CLUSTER), clock=clock) as verifier:
            pass
        token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
        with pytest.raises(STSError) as info:
            await verifier.verify(token)
        assert info.value.reason == "closed"

    anyio.run(main, backend=backend)


def test_owned_client_policy() -> None:
    config = VerifierConfig(CLUSTER, max_connections=7)
    with TokenVerifier(config) as verifier:
        client = verifier._client
        assert client.follow_redirects is False
        assert client.trust_env is False
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 7
    assert client.is_closed


# --- local validation and the boundary ---------------------------------------------------------------


def test_validate_is_local_only(kind: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    config = VerifierConfig(CLUSTER)
    if kind == "sync":
        with TokenVerifier(config, client=httpx.Client(transport=fake), clock=clock) as verifier:
            validated = verifier.validate(token)
    else:
        verifier_async = AsyncTokenVerifier(
            config, client=httpx.AsyncClient(transport=fake), clock=clock
        )
        validated = verifier_async.validate(token)
    assert isinstance(validated, ValidatedToken)
    assert validated.access_key_id == "AKIAALICEEXAMPLE0001"
    assert validated.signed_at == clock()
    assert fake.requests == []


def test_a_failing_transport_is_unavailable_not_a_crash(kind: str, clock: FixedClock) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("transport bug")

    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    result = verify_all(
        kind, VerifierConfig(CLUSTER), [token], transport=httpx.MockTransport(explode), clock=clock
    ).only
    assert isinstance(result, STSUnavailableError)
    assert result.reason == "sts-transport-error"
    assert isinstance(result.__cause__, RuntimeError)


def test_a_failing_clock_is_wrapped_with_its_cause(kind: str, fake: FakeSTS) -> None:
    def broken() -> datetime:
        raise ValueError("clock broke")

    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=START)
    result = verify_all(kind, VerifierConfig(CLUSTER), [token], transport=fake, clock=broken).only
    assert isinstance(result, STSError)
    assert result.reason == "internal"
    assert isinstance(result.__cause__, ValueError)


def test_a_naive_clock_is_a_configuration_error(kind: str, fake: FakeSTS) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=START)
    config = VerifierConfig(CLUSTER, cache_size=10)
    result = verify_all(
        kind, config, [token], transport=fake, clock=lambda: START.replace(tzinfo=None)
    ).only
    assert isinstance(result, ConfigurationError)


def test_keyboard_interrupt_is_not_swallowed(clock: FixedClock) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    client = httpx.Client(transport=httpx.MockTransport(interrupt))
    verifier = TokenVerifier(VerifierConfig(CLUSTER), client=client, clock=clock)
    with pytest.raises(KeyboardInterrupt):
        verifier.verify(token)
    verifier.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancellation_is_not_converted(backend: str, fake: FakeSTS, clock: FixedClock) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    fake.delay_next(30)

    async def main() -> bool:
        client = httpx.AsyncClient(transport=fake)
        async with AsyncTokenVerifier(VerifierConfig(CLUSTER), client=client, clock=clock) as v:
            with anyio.move_on_after(0.05) as scope:
                await v.verify(token)
        await client.aclose()
        return scope.cancelled_caught

    # An STSError escaping instead of the cancellation would fail this test.
    assert anyio.run(main, backend=backend) is True


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(VerifierConfig(CLUSTER), client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AsyncTokenVerifier(VerifierConfig(CLUSTER), client=httpx.Client())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        TokenVerifier(VerifierConfig(CLUSTER, cache_ttl=timedelta(seconds=-1)))
    with pytest.raises(ConfigurationError):
        TokenVerifier("prod-cluster-1")  # type: ignore[arg-type]


def test_base64_variants_of_one_token_are_not_aliases(
    kind: str, reach: Reach, clock: FixedClock
) -> None:
    # Padding or the standard alphabet would give a second spelling of the same
    # URL (and a second cache key); both are refused outright.
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    raw = base64.urlsafe_b64decode(token[len("k8s-aws-v1.") :] + "==")
    padded = "k8s-aws-v1." + base64.urlsafe_b64encode(raw).decode()
    standard = "k8s-aws-v1." + base64.b64encode(raw).decode().rstrip("=")
    variants = [v for v in (padded, standard) if v != token]
    assert variants
    result = _verify(kind, reach, variants, clock)
    assert all(isinstance(r, MalformedTokenError) for r in result.results)


# --- properties -----------------------------------------------------------------------------------

_PROPERTY = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY
@given(data=st.data())
def test_any_edit_of_a_token_is_refused_never_crashes(data: st.DataObject) -> None:
    clock = FixedClock(START)
    sts = FakeSTS(clock=clock)
    sts.register(ROLE_CREDENTIALS, ROLE_SESSION_ARN, user_id=ROLE_USER_ID)
    token = make_token(credentials=ROLE_CREDENTIALS, cluster_id=CLUSTER, now=START)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.text(min_size=0, max_size=3))
    edited = token[:position] + replacement + token[position + 1 :]
    with TokenVerifier(
        VerifierConfig(CLUSTER), client=httpx.Client(transport=sts), clock=clock
    ) as verifier:
        try:
            identity = verifier.verify(edited)
        except (TokenError, STSError):
            return
    # Accepted only if the edit left the token unchanged.
    assert edited == token
    assert identity.arn == ROLE_SESSION_ARN


@_PROPERTY
@given(token=st.one_of(st.text(max_size=300), st.binary(max_size=300), st.none(), st.integers()))
def test_arbitrary_input_gets_a_library_error(token: Any) -> None:
    sts = FakeSTS(clock=lambda: START)
    with (
        TokenVerifier(
            VerifierConfig(CLUSTER, cache_size=10),
            client=httpx.Client(transport=sts),
            clock=lambda: START,
        ) as verifier,
        pytest.raises(TokenError),
    ):
        verifier.verify(token)
    assert sts.requests == []


def test_a_clock_that_is_not_callable_is_refused() -> None:
    for shell in (TokenVerifier, AsyncTokenVerifier):
        with pytest.raises(ConfigurationError) as caught:
            shell(VerifierConfig(CLUSTER), clock=START)  # type: ignore[arg-type]
        assert caught.value.reason == "clock"


def test_validate_wraps_a_failing_clock_and_keeps_the_token_out(fake: FakeSTS) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=START)

    def broken() -> datetime:
        raise ValueError(f"clock broke while holding {token}")

    client = httpx.Client(transport=fake)
    verifier = TokenVerifier(VerifierConfig(CLUSTER), client=client, clock=broken)
    with verifier, pytest.raises(STSError) as caught:
        verifier.validate(token)
    assert caught.value.reason == "internal"
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.__context__ is None  # raised outside the except block
    for shown in (str(caught.value), str(caught.value.__cause__), repr(caught.value.__cause__)):
        assert token not in shown
    assert fake.requests == []


def test_clear_cache_makes_the_next_verification_ask_sts_again(
    fake: FakeSTS, clock: FixedClock
) -> None:
    token = make_token(credentials=USER_CREDENTIALS, cluster_id=CLUSTER, now=clock())
    config = VerifierConfig(CLUSTER, cache_size=10)
    with TokenVerifier(config, client=httpx.Client(transport=fake), clock=clock) as verifier:
        assert verifier.config is config
        first = verifier.verify(token)
        assert verifier.verify(token) == first
        assert (len(fake.requests), verifier.stats.cache_entries) == (1, 1)
        verifier.clear_cache()
        assert verifier.stats.cache_entries == 0
        assert verifier.verify(token) == first
    assert len(fake.requests) == 2
