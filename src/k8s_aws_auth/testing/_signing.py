"""Test tokens signed with the library's own ``presign_token``: the one body of both ``make_token``s."""

from __future__ import annotations

from datetime import datetime

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth._core.token import presign_token

from ._values import Principal

__all__ = ["sign_test_token"]


def sign_test_token(
    credentials: Credentials | Principal,
    *,
    cluster_id: str,
    region: str | None,
    now: datetime,
    sts_regional_endpoints: str,
) -> str:
    """The ``k8s-aws-v1.`` token ``credentials`` (or a principal's) sign at ``now``."""
    if isinstance(credentials, Principal):
        credentials = credentials.credentials
    token = presign_token(
        credentials,
        cluster_id=cluster_id,
        now=now,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
    )
    return token.value
