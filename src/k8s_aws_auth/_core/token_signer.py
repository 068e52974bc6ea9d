"""Token signing on strings and whole seconds: the one implementation behind
[`presign_token()`][k8s_aws_auth.presign_token] and the exec plugin's start-up path.

It imports only the SigV4 math, the partition table and the cluster-id rules
(`digests`, binascii, time): no attrs, datetime, typing, hashlib or re, which
together cost the ``k8s-aws-auth token`` process more than Python's own start-up.
"""

from __future__ import annotations

import binascii
from functools import lru_cache

from k8s_aws_auth.errors import ConfigurationError, CredentialsError

from . import sigv4
from .cluster_id import normalize_cluster_id
from .partitions import sts_host_for

__all__ = [
    "CLIENT_TOKEN_LIFETIME_SECONDS",
    "LAST_SIGNING_SECOND",
    "STS_URL_LIFETIME_SECONDS",
    "TOKEN_PREFIX",
    "X_AMZ_EXPIRES",
    "encode_token",
    "sign_token",
    "too_late_to_sign",
]

TOKEN_PREFIX = "k8s-aws-v1."
#: What awscli and current aws-iam-authenticator put in X-Amz-Expires (STS ignores it).
X_AMZ_EXPIRES = 60
#: STS honours a presigned GetCallerIdentity for 15 minutes; clients stop a minute early.
CLIENT_TOKEN_LIFETIME_SECONDS = 14 * 60
#: STS honours a presigned GetCallerIdentity URL this long after X-Amz-Date,
#: whatever X-Amz-Expires says.
STS_URL_LIFETIME_SECONDS = 15 * 60
#: The last Unix second a token can be signed at: its lifetime then ends at
#: 9999-12-31T23:59:59Z, the calendar's last second. Verifiers refuse later ones.
LAST_SIGNING_SECOND = 253402300799 - STS_URL_LIFETIME_SECONDS

# What STS session tokens are made of: standard base64.
_SESSION_TOKEN_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)

_GCI_PARAMS = (("Action", "GetCallerIdentity"), ("Version", "2011-06-15"))

_TO_URLSAFE_ALPHABET = bytes.maketrans(b"+/", b"-_")


def too_late_to_sign() -> ConfigurationError:
    """The error for a signing time after `LAST_SIGNING_SECOND`."""
    return ConfigurationError(
        "cannot sign a token this close to the end of year 9999: its 15-minute lifetime "
        "would end past the calendar",
        reason="clock",
    )


def encode_token(url: str) -> str:
    """Wrap a presigned URL as a token: prefix + unpadded base64url of its UTF-8 bytes."""
    encoded = binascii.b2a_base64(url.encode("utf-8"), newline=False)
    return TOKEN_PREFIX + encoded.translate(_TO_URLSAFE_ALPHABET).rstrip(b"=").decode("ascii")


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
) -> sigv4.Presigner:
    # Checked once per cached presigner. Verifiers refuse any other character in
    # X-Amz-Security-Token, so such a token could never be used.
    if session_token and not _SESSION_TOKEN_CHARACTERS.issuperset(session_token):
        raise CredentialsError(
            "the session token has characters that are not standard base64 "
            "(A-Z, a-z, 0-9, +, /, =), which STS session tokens never have",
            reason="session-token",
        )
    host, signing_region = sts_host_for(
        region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
    )
    return sigv4.Presigner(
        sigv4.SigningKeys(access_key_id, secret_access_key, session_token),
        host,
        signing_region,
        "sts",
        datestamp,
        _GCI_PARAMS,
        {"x-k8s-aws-id": normalize_cluster_id(cluster_id)},
        X_AMZ_EXPIRES,
    )


def sign_token(
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    *,
    cluster_id: str,
    x_amz_date: str,
    region: str | None = None,
    sts_regional_endpoints: str = "regional",
    use_fips: bool = False,
    use_dualstack: bool = False,
) -> str:
    """The token signed at ``x_amz_date`` (``YYYYMMDDTHHMMSSZ``), byte-identical to awscli's.

    The caller has checked the keys are non-empty strings and the signing time
    (see `LAST_SIGNING_SECOND`); the cluster id, region and endpoint mode
    are validated here ([`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError]), and the session token
    must be standard base64 ([`CredentialsError`][k8s_aws_auth.errors.CredentialsError], never quoting it).
    """
    template_inputs = (
        access_key_id,
        secret_access_key,
        session_token,
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
    return encode_token(presigner.url(x_amz_date))
