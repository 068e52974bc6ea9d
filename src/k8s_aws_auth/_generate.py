"""``generate_token`` / ``agenerate_token``: the clock-reading convenience over :func:`presign_token`.

Credential resolution (the default chain) plugs in here when ``credentials`` is omitted.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ._models import Credentials, Token
from ._token import presign_token
from .errors import NoCredentialsError

__all__ = ["agenerate_token", "generate_token"]


def generate_token(
    cluster_id: str,
    *,
    credentials: Credentials | None = None,
    region: str | None = None,
    sts_regional_endpoints: str = "regional",
    now: datetime | None = None,
) -> Token:
    """Generate a token for ``cluster_id``, byte-identical to ``aws eks get-token``.

    ``now`` defaults to the current time; ``region=None`` signs for the global
    host with the us-east-1 scope, like the AWS CLI without a region.
    """
    if credentials is None:
        raise NoCredentialsError("no credentials given (the default chain is not available yet)")
    return presign_token(
        credentials,
        cluster_id=cluster_id,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        now=now if now is not None else datetime.now(timezone.utc),
    )


async def agenerate_token(
    cluster_id: str,
    *,
    credentials: Credentials | None = None,
    region: str | None = None,
    sts_regional_endpoints: str = "regional",
    now: datetime | None = None,
) -> Token:
    """Async twin of :func:`generate_token`."""
    return generate_token(
        cluster_id,
        credentials=credentials,
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        now=now,
    )
