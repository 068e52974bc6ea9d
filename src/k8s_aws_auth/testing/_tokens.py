"""``make_token``: sign a token for tests, at an emulator's clock."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from k8s_aws_auth._core.models import Credentials

from ._clock import utc_now
from ._signing import sign_test_token
from ._values import Principal

if TYPE_CHECKING:
    from ._fake_sts import FakeSTS

__all__ = ["make_token"]


def make_token(
    *,
    credentials: Credentials | Principal,
    cluster_id: str,
    region: str | None = "us-west-2",
    now: datetime | None = None,
    sts: FakeSTS | None = None,
    sts_regional_endpoints: str = "regional",
) -> str:
    """Sign a ``k8s-aws-v1.`` token with [`k8s_aws_auth.presign_token()`][k8s_aws_auth.presign_token] and return it.

    Args:
        credentials: the credentials to sign with, or a [`Principal`][k8s_aws_auth.testing.Principal] from
            [`FakeSTS.register()`][k8s_aws_auth.testing.FakeSTS.register] / [`FakeSTS.create_principal()`][k8s_aws_auth.testing.FakeSTS.create_principal].
        cluster_id: the cluster id to bind (the signed ``x-k8s-aws-id`` header).
        region: the STS region (``None``: the global endpoint, us-east-1 scope).
        now: the signing time; defaults to ``sts``'s clock, else the real time.
        sts: the emulator whose clock gives the default ``now``.
        sts_regional_endpoints: ``"regional"`` (awscli's default) or ``"legacy"``.
    """
    if now is None:
        now = sts.clock() if sts is not None else utc_now()
    return sign_test_token(
        credentials,
        cluster_id=cluster_id,
        region=region,
        now=now,
        sts_regional_endpoints=sts_regional_endpoints,
    )
