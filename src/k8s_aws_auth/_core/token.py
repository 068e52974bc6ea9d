"""The ``k8s-aws-v1.`` envelope and pure token generation."""

from __future__ import annotations

# Not used here: loading it makes `digests` hash with OpenSSL, about three times
# faster per hash than the builtin modules the exec plugin's start-up path uses,
# for the long-running processes that come through this module.
import hashlib  # noqa: F401
from datetime import datetime, timedelta, timezone

from k8s_aws_auth.errors import ConfigurationError, CredentialsError

from . import sigv4
from .instants import utc
from .models import Credentials, Token
from .token_signer import (
    CLIENT_TOKEN_LIFETIME_SECONDS,
    LAST_SIGNING_SECOND,
    TOKEN_PREFIX,
    X_AMZ_EXPIRES,
    encode_token,
    sign_token,
    too_late_to_sign,
)

__all__ = [
    "CLIENT_TOKEN_LIFETIME",
    "TOKEN_PREFIX",
    "X_AMZ_EXPIRES",
    "decode_token",
    "encode_token",
    "presign_token",
]

#: STS honours a presigned GetCallerIdentity for 15 minutes; clients stop a minute early.
CLIENT_TOKEN_LIFETIME = timedelta(seconds=CLIENT_TOKEN_LIFETIME_SECONDS)
_LAST_SIGNING_TIME = datetime.fromtimestamp(LAST_SIGNING_SECOND, timezone.utc)


def decode_token(token: str) -> str:
    """Unwrap a token's envelope strictly and return the URL it carries.

    Only the envelope is checked (prefix, canonical unpadded base64url, printable
    ASCII); use [`validate_token()`][k8s_aws_auth.validate_token] for the security checks.
    """
    from .validate import decode_envelope

    return decode_envelope(token, max_size=1 << 20)


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

    Raises:
        ConfigurationError: (``reason="clock"``) ``now`` or ``credentials.expiration``
            is naive or off the calendar in UTC, or ``now`` is so close to the end
            of year 9999 that the token's 15-minute lifetime would end past it.
        CredentialsError: empty keys, or a session token that is not standard
            base64 (``reason="session-token"``).
    """
    if not isinstance(credentials, Credentials):
        raise ConfigurationError("credentials must be a Credentials value", reason="credentials")
    if not credentials.access_key_id or not credentials.secret_access_key:
        raise CredentialsError("credentials have an empty access key id or secret access key")
    signed_at = utc(now, "now").replace(microsecond=0)
    if signed_at > _LAST_SIGNING_TIME:
        raise too_late_to_sign()
    value = sign_token(
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        cluster_id=cluster_id,
        x_amz_date=sigv4.amz_date(signed_at),
        region=region,
        sts_regional_endpoints=sts_regional_endpoints,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
    )
    expiration = signed_at + CLIENT_TOKEN_LIFETIME
    if credentials.expiration is not None:
        expiration = min(expiration, utc(credentials.expiration, "credentials.expiration"))
    return Token(value, expiration)
