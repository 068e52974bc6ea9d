"""The ``k8s-aws-v1.`` envelope and pure token generation."""

from __future__ import annotations

import binascii
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from . import _sigv4
from ._config import normalize_cluster_id
from ._models import Credentials, Token
from ._partitions import sts_host_for
from .errors import ConfigurationError, CredentialsError

__all__ = [
    "CLIENT_TOKEN_LIFETIME",
    "TOKEN_PREFIX",
    "X_AMZ_EXPIRES",
    "decode_token",
    "encode_token",
    "presign_token",
]

TOKEN_PREFIX = "k8s-aws-v1."
#: What awscli and current aws-iam-authenticator put in X-Amz-Expires (STS ignores it).
X_AMZ_EXPIRES = 60
#: STS honours a presigned GetCallerIdentity for 15 minutes; clients stop a minute early.
CLIENT_TOKEN_LIFETIME = timedelta(minutes=14)

_GCI_PARAMS = (("Action", "GetCallerIdentity"), ("Version", "2011-06-15"))


_TO_URLSAFE_ALPHABET = bytes.maketrans(b"+/", b"-_")


def encode_token(url: str) -> str:
    """Wrap a presigned URL as a token: prefix + unpadded base64url of its UTF-8 bytes."""
    encoded = binascii.b2a_base64(url.encode("utf-8"), newline=False)
    return TOKEN_PREFIX + encoded.translate(_TO_URLSAFE_ALPHABET).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> str:
    """Unwrap a token's envelope strictly and return the URL it carries.

    Only the envelope is checked (prefix, canonical unpadded base64url, printable
    ASCII); use :func:`validate_token` for the security checks.
    """
    from ._validate import decode_envelope

    return decode_envelope(token, max_size=1 << 20)


def _aware_utc(now: datetime, name: str) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ConfigurationError(f"{name} must be a timezone-aware datetime", reason="clock")
    return now.astimezone(timezone.utc)


# One presigner per (credentials, cluster, endpoint, day): a client signs the same
# inputs over and over, and everything but the second is the same each time. The
# entries hold key material, hence a small bound; an evicted entry is rebuilt.
@lru_cache(maxsize=32)
def _token_presigner(
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    cluster_id: str,
    region: str | None,
    sts_regional_endpoints: str,
    use_fips: bool,
    use_dualstack: bool,
    datestamp: str,
) -> _sigv4.Presigner:
    host, signing_region = sts_host_for(
        region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
    )
    return _sigv4.Presigner(
        Credentials(access_key_id, secret_access_key, session_token),
        host,
        signing_region,
        "sts",
        datestamp,
        _GCI_PARAMS,
        {"x-k8s-aws-id": normalize_cluster_id(cluster_id)},
        X_AMZ_EXPIRES,
    )


def presign_token(
    credentials: Credentials,
    *,
    cluster_id: str,
    now: datetime,
    region: str | None = None,
    sts_regional_endpoints: str = "regional",
    use_fips: bool = False,
    use_dualstack: bool = False,
) -> Token:
    """Sign a token at ``now`` (pure): the bytes ``aws eks get-token`` prints for the same inputs.

    ``expiration`` is the signing second + 14 minutes, or the credentials' own
    expiration when that comes first (upstream bug #590).
    """
    if not isinstance(credentials, Credentials):
        raise ConfigurationError("credentials must be a Credentials value", reason="credentials")
    if not credentials.access_key_id or not credentials.secret_access_key:
        raise CredentialsError("credentials have an empty access key id or secret access key")
    signed_at = _aware_utc(now, "now").replace(microsecond=0)
    x_amz_date = _sigv4.amz_date(signed_at)
    template_inputs = (
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        cluster_id,
        region,
        sts_regional_endpoints,
        use_fips,
        use_dualstack,
        x_amz_date[:8],
    )
    try:
        presigner = _token_presigner(*template_inputs)
    except TypeError:  # an unhashable input: build uncached, which raises the precise error
        presigner = _token_presigner.__wrapped__(*template_inputs)
    url = presigner.url(x_amz_date)
    expiration = signed_at + CLIENT_TOKEN_LIFETIME
    if credentials.expiration is not None:
        expiration = min(expiration, _aware_utc(credentials.expiration, "credentials.expiration"))
    return Token(encode_token(url), expiration)
