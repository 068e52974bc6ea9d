"""pytest plugin: FakeSTS fixtures for k8s_aws_auth users.

Registered through the ``pytest11`` entry point, so pytest imports it in every
run of every project that has k8s_aws_auth installed: it defines fixtures only,
adds no hooks or options, and imports the emulator only when a fixture is used.

Fixtures:
    fake_sts_clock: a [`FixedClock`][k8s_aws_auth.testing.FixedClock] at the current second.
    fake_sts: a [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] on that clock.
    fake_sts_url: ``fake_sts`` served on loopback HTTP; the base URL.
    fake_sts_principal: an IAM user registered with ``fake_sts``.
    fake_sts_cluster_id: the cluster id the verifier fixtures check (override it).
    token_verifier: a [`TokenVerifier`][k8s_aws_auth.TokenVerifier] for that cluster,
        wired to ``fake_sts`` (in memory) and its clock.
    async_token_verifier: the same as an [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier].
    token_factory: a [`TokenFactory`][k8s_aws_auth.testing.TokenFactory] signing as
        ``fake_sts_principal`` for that cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from k8s_aws_auth import AsyncTokenVerifier, TokenVerifier
    from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal, TokenFactory

__all__ = [
    "async_token_verifier",
    "fake_sts",
    "fake_sts_clock",
    "fake_sts_cluster_id",
    "fake_sts_principal",
    "fake_sts_url",
    "token_factory",
    "token_verifier",
]

#: The cluster id of the ``fake_sts_cluster_id`` fixture.
FIXTURE_CLUSTER_ID = "fake-sts-cluster"

#: The ARN of the principal the ``fake_sts_principal`` fixture registers.
FIXTURE_PRINCIPAL_ARN = "arn:aws:iam::111122223333:user/fake-sts-user"


@pytest.fixture
def fake_sts_clock() -> FixedClock:
    """A clock that stands still at the current second; ``.advance(minutes=16)`` moves it."""
    from k8s_aws_auth.testing._clock import FixedClock

    return FixedClock()


@pytest.fixture
def fake_sts(fake_sts_clock: FixedClock) -> FakeSTS:
    """A fresh STS emulator judging time by ``fake_sts_clock``; use it as an httpx transport."""
    from k8s_aws_auth.testing._fake_sts import FakeSTS

    return FakeSTS(clock=fake_sts_clock)


@pytest.fixture
def fake_sts_url(fake_sts: FakeSTS) -> Iterator[str]:
    """``fake_sts`` served over loopback HTTP for the test; the base URL ``http://127.0.0.1:PORT``."""
    with fake_sts.serve() as url:
        yield url


@pytest.fixture
def fake_sts_principal(fake_sts: FakeSTS) -> Principal:
    """An IAM user (``arn:aws:iam::111122223333:user/fake-sts-user``) registered with ``fake_sts``."""
    return fake_sts.create_principal(FIXTURE_PRINCIPAL_ARN)


@pytest.fixture
def fake_sts_cluster_id() -> str:
    """The cluster id the verifier fixtures check and ``token_factory`` signs for."""
    return FIXTURE_CLUSTER_ID


@pytest.fixture
def token_verifier(
    fake_sts: FakeSTS, fake_sts_clock: FixedClock, fake_sts_cluster_id: str
) -> Iterator[TokenVerifier]:
    """A ``TokenVerifier`` for ``fake_sts_cluster_id`` asking ``fake_sts`` in memory, on its clock."""
    import httpx

    from k8s_aws_auth import TokenVerifier, VerifierConfig

    with (
        httpx.Client(transport=fake_sts) as client,
        TokenVerifier(
            VerifierConfig(fake_sts_cluster_id), client=client, clock=fake_sts_clock
        ) as verifier,
    ):
        yield verifier


@pytest.fixture
def async_token_verifier(
    fake_sts: FakeSTS, fake_sts_clock: FixedClock, fake_sts_cluster_id: str
) -> AsyncTokenVerifier:
    """An ``AsyncTokenVerifier`` like ``token_verifier`` (its in-memory client needs no closing)."""
    import httpx

    from k8s_aws_auth import AsyncTokenVerifier, VerifierConfig

    return AsyncTokenVerifier(
        VerifierConfig(fake_sts_cluster_id),
        client=httpx.AsyncClient(transport=fake_sts),
        clock=fake_sts_clock,
    )


@pytest.fixture
def token_factory(
    fake_sts: FakeSTS, fake_sts_principal: Principal, fake_sts_cluster_id: str
) -> TokenFactory:
    """Valid and invalid tokens for ``fake_sts_cluster_id``, signed as ``fake_sts_principal``."""
    from k8s_aws_auth.testing._factory import TokenFactory

    return TokenFactory(fake_sts, cluster_id=fake_sts_cluster_id, principal=fake_sts_principal)
