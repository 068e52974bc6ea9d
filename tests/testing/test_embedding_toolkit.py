"""The embedding toolkit: FakeSTS.intercept(), the verifier fixtures and TokenFactory."""

from __future__ import annotations

import anyio
import pytest

from k8s_aws_auth import (
    AsyncTokenVerifier,
    TokenVerifier,
    VerifierConfig,
    generate_token,
)
from k8s_aws_auth.errors import (
    AccessDeniedError,
    ExpiredTokenError,
    STSUnavailableError,
    TokenNotYetValidError,
)
from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal, TokenFactory

ROLE = "arn:aws:iam::111122223333:role/Intercepted"


def test_intercept_routes_owned_clients_without_any_argument(
    fake_sts: FakeSTS, fake_sts_principal: Principal, fake_sts_clock: FixedClock
) -> None:
    fake_sts.register_role(ROLE)
    with fake_sts.intercept():
        # AssumeRole through the resolver's own client, GetCallerIdentity through the verifier's.
        token = generate_token(
            "intercepted",
            credentials=fake_sts_principal.credentials,
            region="us-west-2",
            role_arn=ROLE,
            role_session_name="intercepted-test",
            now=fake_sts_clock(),
        )
        with TokenVerifier(VerifierConfig("intercepted"), clock=fake_sts_clock) as verifier:
            identity = verifier.verify(token.value)

        async def averify() -> str:
            config = VerifierConfig("intercepted")
            async with AsyncTokenVerifier(config, clock=fake_sts_clock) as verifier:
                return (await verifier.verify(token.value)).canonical_arn

        assert anyio.run(averify) == ROLE
    assert identity.canonical_arn == ROLE
    assert [r.action for r in fake_sts.requests] == [
        "AssumeRole",
        "GetCallerIdentity",
        "GetCallerIdentity",
    ]


def test_outside_intercept_owned_clients_use_the_network(
    fake_sts: FakeSTS, fake_sts_principal: Principal, fake_sts_clock: FixedClock
) -> None:
    token = fake_sts.make_token(fake_sts_principal, cluster_id="c")
    with fake_sts.intercept():
        pass
    # An unroutable endpoint proves the request left the process (and fails fast).
    config = VerifierConfig("c", sts_endpoint_url="http://127.0.0.1:9", max_retries=0)
    with (
        TokenVerifier(config, clock=fake_sts_clock) as verifier,
        pytest.raises(STSUnavailableError),
    ):
        verifier.verify(token)
    assert fake_sts.count() == 0


def test_the_verifier_fixtures_are_wired_to_the_fake(
    token_verifier: TokenVerifier,
    async_token_verifier: AsyncTokenVerifier,
    token_factory: TokenFactory,
    fake_sts: FakeSTS,
    fake_sts_cluster_id: str,
) -> None:
    assert token_verifier.config.cluster_id == fake_sts_cluster_id
    token = token_factory.valid()
    assert token_verifier.verify(token).arn == token_factory.principal.arn

    async def averify() -> str:
        return (await async_token_verifier.verify(token)).arn

    assert anyio.run(averify) == token_factory.principal.arn
    assert fake_sts.count("GetCallerIdentity") == 2


def test_the_token_factory_makes_each_kind_of_bad_token(
    token_verifier: TokenVerifier, token_factory: TokenFactory, fake_sts: FakeSTS
) -> None:
    with pytest.raises(ExpiredTokenError):
        token_verifier.verify(token_factory.expired())
    with pytest.raises(TokenNotYetValidError):
        token_verifier.verify(token_factory.not_yet_valid())
    assert fake_sts.count() == 0  # refused locally
    for bad in (token_factory.wrong_cluster(), token_factory.tampered()):
        with pytest.raises(AccessDeniedError) as caught:
            token_verifier.verify(bad)
        assert caught.value.sts_code == "SignatureDoesNotMatch"
    identity = token_verifier.verify(token_factory.assumed_role())
    assert identity.principal_type == "assumed-role"
    assert identity.canonical_arn == "arn:aws:iam::111122223333:role/token-factory-role"
    assert identity.session_name == "token-factory-session"


def test_respx_recipe_routes_sts_hosts_to_the_fake(
    fake_sts: FakeSTS, fake_sts_principal: Principal, fake_sts_clock: FixedClock
) -> None:
    respx = pytest.importorskip("respx")  # a test-only dependency (the test extra has it)
    token = fake_sts.make_token(fake_sts_principal, cluster_id="c")
    with respx.mock(assert_all_called=True) as router:
        router.route(host__regex=r"^sts\..*amazonaws\.com$").mock(
            side_effect=fake_sts.handle_request
        )
        with TokenVerifier(VerifierConfig("c"), clock=fake_sts_clock) as verifier:
            assert verifier.verify(token).arn == fake_sts_principal.arn
    assert fake_sts.count("GetCallerIdentity") == 1
