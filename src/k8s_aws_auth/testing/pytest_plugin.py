"""pytest plugin: FakeSTS fixtures for k8s_aws_auth users.

Registered through the ``pytest11`` entry point, so pytest imports it in every
run of every project that has k8s_aws_auth installed: it defines fixtures only,
adds no hooks or options, and imports the emulator only when a fixture is used.

Fixtures:
    fake_sts_clock: a [`FixedClock`][k8s_aws_auth.testing.FixedClock] at the current second.
    fake_sts: a [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] on that clock.
    fake_sts_url: ``fake_sts`` served on loopback HTTP; the base URL.
    fake_sts_principal: an IAM user registered with ``fake_sts``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal

__all__ = ["fake_sts", "fake_sts_clock", "fake_sts_principal", "fake_sts_url"]

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
