"""Every local check on a token, in a fixed and documented order (pure).

The order (each step raises the first failure it finds):

1. ``size``: the token is a ``str`` of at most ``max_token_size`` characters.
2. ``prefix``: it starts with ``k8s-aws-v1.``.
3. ``encoding``: the rest is canonical unpadded base64url (alphabet
   ``A-Za-z0-9-_``, no ``=``, no CR/LF, zero trailing bits, length % 4 != 1).
4. ``url-chars``: the decoded URL is printable ASCII (0x21–0x7E) only.
5. ``scheme``: it starts with ``https://`` exactly.
6. ``userinfo`` / ``port`` / ``host``: the authority is byte-equal to an STS host
   of the configured partition (no ``@``, port, trailing dot, upper case).
7. ``path`` / ``fragment``: the path is exactly ``/`` and is followed by ``?``;
   no ``#`` anywhere.
8. ``query-syntax``: ``NAME=VALUE`` components joined by ``&``, none empty.
9. ``duplicate-param``: no name twice, compared case-insensitively (CVE-2022-2385).
10. ``param-case`` / ``unknown-param``: every name is one of the nine allowed
    names, spelled exactly as SigV4 spells it.
11. ``missing-param``: all of them present except the optional security token.
12. ``security-token``: ``X-Amz-Security-Token``, when present, is made of the
    characters STS session tokens are made of — standard base64, ``A-Za-z0-9``
    bare and ``+ / =`` as ``%2B %2F %3D`` — and is not empty.
13. ``value-encoding``: every other value is in canonical SigV4 ``UriEncode`` form.
14. ``action``, ``version``, ``algorithm``: ``GetCallerIdentity``,
    ``2011-06-15``, ``AWS4-HMAC-SHA256``.
15. ``signed-headers``: exactly ``host;x-k8s-aws-id``.
16. ``date``: ``X-Amz-Date`` is ``YYYYMMDDTHHMMSSZ`` and a real instant;
    ``date-range``: its 15-minute lifetime ends within the calendar (before
    year 10000).
17. ``credential-scope``: ``AKID/DATE/REGION/sts/aws4_request`` with an
    ``[A-Z0-9]{16,128}`` key id, the date of ``X-Amz-Date`` and the host's region.
18. ``expires``: ``X-Amz-Expires`` is an ASCII integer in 0..900.
19. ``signature``: 64 lower-case hex digits.
20. ``expired``: ``now`` is not after ``X-Amz-Date`` + 15 minutes.
21. ``not-yet-valid``: ``X-Amz-Date`` is not after ``now`` + ``max_future_skew``
    (a bound past the calendar's end holds every date).

``now`` may be in any time zone; one whose instant lies outside years 1–9999
in UTC is a [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError], like a naive one.

Messages name the check and the parameter, never a value from the token.
"""

from __future__ import annotations

import binascii
import re
from datetime import datetime, timedelta, timezone

from k8s_aws_auth.errors import (
    ClusterIDNotSignedError,
    ConfigurationError,
    ExpiredTokenError,
    MalformedTokenError,
    RegionNotAllowedError,
    TokenNotYetValidError,
    UntrustedEndpointError,
)

from .config import VerifierConfig
from .instants import clamped, shifted, utc
from .models import ValidatedToken
from .sigv4 import ALGORITHM
from .token_signer import STS_URL_LIFETIME_SECONDS, TOKEN_PREFIX

__all__ = ["STS_URL_LIFETIME", "decode_envelope", "validate_token"]

#: STS honours a presigned GetCallerIdentity URL for 15 minutes after X-Amz-Date,
#: whatever X-Amz-Expires says.
STS_URL_LIFETIME = timedelta(seconds=STS_URL_LIFETIME_SECONDS)
_PREFIX_LEN = len(TOKEN_PREFIX)
_MAX_X_AMZ_EXPIRES = 900

# The nine names STS may see, in the spelling SigV4 uses. Any other spelling of
# them is refused: STS reads names case-sensitively, so a differently spelt copy
# is a parameter the verifier and STS would read differently (CVE-2022-2385).
_ACTION = "Action"
_VERSION = "Version"
_ALGORITHM = "X-Amz-Algorithm"
_CREDENTIAL = "X-Amz-Credential"
_DATE = "X-Amz-Date"
_EXPIRES = "X-Amz-Expires"
_SIGNED_HEADERS = "X-Amz-SignedHeaders"
_SECURITY_TOKEN = "X-Amz-Security-Token"
_SIGNATURE = "X-Amz-Signature"
_REQUIRED = (
    _ACTION,
    _VERSION,
    _ALGORITHM,
    _CREDENTIAL,
    _DATE,
    _EXPIRES,
    _SIGNED_HEADERS,
    _SIGNATURE,
)
_REQUIRED_SET = frozenset(_REQUIRED)
_ALLOWED = _REQUIRED_SET | {_SECURITY_TOKEN}
_ALLOWED_LOWER = frozenset(name.lower() for name in _ALLOWED)

# A value in canonical UriEncode form whose decoded bytes are printable ASCII:
# unreserved characters bare, every other printable character as upper-case %XX.
# Written as runs of unreserved characters between escapes ("unrolled"): one
# character class per run instead of an alternation per character is ~20x faster
# on a long session token, and the escape that starts each repetition keeps the
# match linear (no nested quantifier can backtrack). ``(?=.)`` refuses "".
_CANONICAL_VALUE = re.compile(
    r"(?=.)[A-Za-z0-9_.~-]*(?:%(?:2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-D])[A-Za-z0-9_.~-]*)*",
    re.ASCII | re.DOTALL,
)
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+", re.ASCII)
# A session token: base64's alphabet, its three non-alphanumerics as their
# canonical escapes (unrolled as above; "(?=.)" refuses "").
_SESSION_TOKEN_VALUE = re.compile(r"(?=.)[A-Za-z0-9]*(?:%(?:2B|2F|3D)[A-Za-z0-9]*)*", re.ASCII)
_DATE_FORMAT = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_AUTHORITY = re.compile(r"[^/?#]*")
_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}", re.ASCII)
_EXPIRES_FORMAT = re.compile(r"0|[1-9][0-9]{0,2}", re.ASCII)
_SIGNATURE_FORMAT = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Bytes a URL may contain: printable ASCII without space.
_URL_BYTES = bytes(range(0x21, 0x7F))
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
# For a body of length % 4 == 2 (or 3) the last character carries 4 (or 2)
# unused bits; canonical encoders leave them zero.
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_ALPHABET_BYTES = _B64_ALPHABET.encode("ascii")
_PADDING = {0: b"", 2: b"==", 3: b"="}
_LAST_CHAR_OK = {
    2: frozenset(c for i, c in enumerate(_B64_ALPHABET) if i % 16 == 0),
    3: frozenset(c for i, c in enumerate(_B64_ALPHABET) if i % 4 == 0),
    0: frozenset(_B64_ALPHABET),
}


def _malformed(message: str, reason: str) -> MalformedTokenError:
    return MalformedTokenError(message, reason=reason)


def decode_envelope(token: object, *, max_size: int) -> str:
    """Steps 1–4: size, prefix, strict base64url and printable ASCII; return the URL."""
    if not isinstance(token, str):
        raise _malformed("token must be a string", "type")
    if len(token) > max_size:
        raise _malformed(f"token is larger than {max_size} characters", "size")
    if not token.startswith(TOKEN_PREFIX):
        raise _malformed("token does not start with 'k8s-aws-v1.'", "prefix")
    body = token[_PREFIX_LEN:]
    remainder = len(body) % 4
    # ``isascii`` is O(1) on a str; deleting the alphabet from the bytes and
    # finding nothing left checks the characters 3-4x faster than a regex.
    data = body.encode("ascii") if body.isascii() else b""
    if (
        not data
        or remainder == 1
        or body[-1] not in _LAST_CHAR_OK[remainder]
        or data.translate(None, _B64_ALPHABET_BYTES)
    ):
        raise _malformed("token body is not canonical unpadded base64url", "encoding")
    try:
        # The alphabet and padding are checked above, so the lenient decoder is exact.
        raw = binascii.a2b_base64(data.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder])
    except (binascii.Error, ValueError):  # unreachable after the checks above; kept total
        raise _malformed("token body is not canonical unpadded base64url", "encoding") from None
    if raw.translate(None, _URL_BYTES):
        raise _malformed("presigned URL contains bytes outside printable ASCII", "url-chars")
    return raw.decode("ascii")


def _decode_session_token(value: str) -> str:
    """Percent-decode a value known to match ``_SESSION_TOKEN_VALUE``."""
    # Only these three escapes can occur, and C-level replaces beat ``unquote``'s
    # per-escape Python loop 5-10x.
    if "%" not in value:
        return value
    return value.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")


def _parse_date(value: str) -> datetime:
    if _DATE_FORMAT.fullmatch(value) is None:
        raise _malformed("X-Amz-Date is not in the form YYYYMMDDTHHMMSSZ", "date")
    # Two int() calls and arithmetic cost half of six int() calls.
    date, time = int(value[:8]), int(value[9:15])
    try:
        return datetime(
            date // 10000,
            date // 100 % 100,
            date % 100,
            time // 10000,
            time // 100 % 100,
            time % 100,
            0,
            timezone.utc,
        )
    except ValueError:
        raise _malformed("X-Amz-Date is not a valid date and time", "date") from None


def _check_authority(url: str, config: VerifierConfig) -> tuple[str, str, int]:
    """Step 5–6: return (host, signing region, index of the path)."""
    if not url.startswith("https://"):
        raise UntrustedEndpointError("presigned URL must use https://", reason="scheme")
    match = _AUTHORITY.match(url, 8)  # always matches, if only ""
    end = match.end() if match is not None else 8
    authority = url[8:end]
    region = config.hosts.get(authority)
    if region is not None:
        return authority, region, end
    if "@" in authority:
        raise UntrustedEndpointError("presigned URL must not contain userinfo", reason="userinfo")
    if ":" in authority:
        raise UntrustedEndpointError("presigned URL must not contain a port", reason="port")
    raise UntrustedEndpointError(
        f"presigned URL host is not an STS endpoint of partition {config.partition}",
        reason="host",
    )


def _split_query(query: str) -> dict[str, str]:
    """Steps 8–11: the raw query as a name → raw value map of exactly the allowed names."""
    components = query.split("&")
    # Fast path for a well-formed query; anything else takes the step-by-step
    # path below, which finds the first failure in the documented order. With
    # every name one of the allowed spellings, names that differ only in case
    # cannot occur, so exact-duplicate counting covers step 9 here.
    params: dict[str, str] = {}
    for component in components:
        name, sep, value = component.partition("=")
        if not sep:
            break
        params[name] = value
    else:
        if (
            len(params) == len(components)
            and _ALLOWED.issuperset(params)
            and _REQUIRED_SET.issubset(params)
        ):
            return params
    return _split_query_in_order(components)


def _split_query_in_order(components: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    seen_lower: set[str] = set()
    for component in components:
        name, sep, value = component.partition("=")
        if not sep or not name:
            raise _malformed("query has an empty component or a name without '='", "query-syntax")
        lower = name.lower()
        if lower in seen_lower:
            raise _malformed(
                "query repeats a parameter name (case-insensitively)", "duplicate-param"
            )
        seen_lower.add(lower)
        params[name] = value
    for name in params:
        if name not in _ALLOWED:
            if name.lower() in _ALLOWED_LOWER:
                raise _malformed(
                    "query parameter name is not spelt the way SigV4 spells it", "param-case"
                )
            raise _malformed("query has a parameter that is not allowed", "unknown-param")
    for name in _REQUIRED:
        if name not in params:
            raise _malformed(f"query parameter {name} is missing", "missing-param")
    return params


def _check_credential(value: str, x_amz_date: str, region: str) -> str:
    """Step 16: the credential scope; return the access key id."""
    # Fast path: the only scope that passes is KEY + this suffix (the date is
    # digits and the region a known one, so the slow path would accept it too).
    suffix = f"%2F{x_amz_date[:8]}%2F{region}%2Fsts%2Faws4_request"
    if value.endswith(suffix) and _ACCESS_KEY_ID.fullmatch(value[: -len(suffix)]):
        return value[: -len(suffix)]
    parts = value.split("%2F")
    if len(parts) != 5 or not all(_UNRESERVED.fullmatch(part) for part in parts):
        raise _malformed(
            "X-Amz-Credential is not KEY/DATE/REGION/sts/aws4_request", "credential-scope"
        )
    access_key_id, datestamp, scope_region, service, terminator = parts
    if not _ACCESS_KEY_ID.fullmatch(access_key_id):
        raise _malformed("X-Amz-Credential has a malformed access key id", "credential-scope")
    if datestamp != x_amz_date[:8]:
        raise _malformed("X-Amz-Credential date does not match X-Amz-Date", "credential-scope")
    if service != "sts" or terminator != "aws4_request":
        raise _malformed("X-Amz-Credential is not scoped to the sts service", "credential-scope")
    if scope_region != region:
        raise RegionNotAllowedError(
            "X-Amz-Credential region does not match the STS host's region",
            reason="credential-scope",
        )
    return access_key_id


def validate_token(token: str, config: VerifierConfig, *, now: datetime) -> ValidatedToken:
    """Run every local check on ``token`` at ``now`` (no I/O) and return its validated parts.

    Raises a [`TokenError`][k8s_aws_auth.errors.TokenError] subclass whose ``reason``
    names the failed check (see this module's docstring for the order), or
    [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError] for a bad ``config`` or a
    ``now`` that is naive or off the calendar in UTC. Nothing else escapes.
    """
    if not isinstance(config, VerifierConfig):
        raise ConfigurationError("config must be a VerifierConfig", reason="config")
    now = utc(now, "now")
    url = decode_envelope(token, max_size=config.max_token_size)
    host, region, path_at = _check_authority(url, config)
    if url[path_at : path_at + 2] != "/?":
        raise UntrustedEndpointError(
            "presigned URL path must be exactly '/' followed by a query", reason="path"
        )
    if "#" in url:
        raise _malformed("presigned URL must not have a fragment", "fragment")
    params = _split_query(url[path_at + 2 :])

    security_token = params.get(_SECURITY_TOKEN)
    # STS session tokens are base64: any other character (an encoded space, %00,
    # "-") is a spelling no real credential has, refused before anything reads it.
    if security_token is not None and not _SESSION_TOKEN_VALUE.fullmatch(security_token):
        raise _malformed(
            "X-Amz-Security-Token is not standard base64 (A-Z, a-z, 0-9 and %2B, %2F, %3D)",
            "security-token",
        )
    for name, value in params.items():
        # Values other than the credential and signed headers are compared exactly
        # below; these two may carry %XX and must be canonical.
        if name != _SECURITY_TOKEN and not _CANONICAL_VALUE.fullmatch(value):
            raise _malformed(f"{name} value is not canonically percent-encoded", "value-encoding")
    if params[_ACTION] != "GetCallerIdentity":
        raise _malformed("Action must be GetCallerIdentity", "action")
    if params[_VERSION] != "2011-06-15":
        raise _malformed("Version must be 2011-06-15", "version")
    if params[_ALGORITHM] != ALGORITHM:
        raise _malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256", "algorithm")
    if params[_SIGNED_HEADERS] != "host%3Bx-k8s-aws-id":
        raise ClusterIDNotSignedError(
            "X-Amz-SignedHeaders must be exactly host;x-k8s-aws-id", reason="signed-headers"
        )
    x_amz_date = params[_DATE]
    signed_at = _parse_date(x_amz_date)
    expires_at = shifted(signed_at, STS_URL_LIFETIME)
    if expires_at is None:  # a date in the last 15 minutes of year 9999
        raise _malformed(
            "X-Amz-Date is too close to the end of year 9999 for its 15-minute lifetime",
            "date-range",
        )
    access_key_id = _check_credential(params[_CREDENTIAL], x_amz_date, region)
    expires = params[_EXPIRES]
    if not _EXPIRES_FORMAT.fullmatch(expires) or int(expires) > _MAX_X_AMZ_EXPIRES:
        raise _malformed("X-Amz-Expires must be an integer from 0 to 900", "expires")
    signature = params[_SIGNATURE]
    if not _SIGNATURE_FORMAT.fullmatch(signature):
        raise _malformed("X-Amz-Signature must be 64 lower-case hex digits", "signature")

    if now > expires_at:
        raise ExpiredTokenError("token expired (X-Amz-Date is more than 15 minutes ago)")
    if signed_at > clamped(now, config.max_future_skew):
        raise TokenNotYetValidError("token X-Amz-Date is too far in the future")

    # Rebuild the query from the validated values (all canonical, so re-encoding
    # them would give the same bytes) in the order awscli emits.
    query = (
        f"Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm={ALGORITHM}"
        f"&X-Amz-Credential={params[_CREDENTIAL]}&X-Amz-Date={x_amz_date}"
        f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
    )
    if security_token is not None:
        query += f"&X-Amz-Security-Token={security_token}"
    query += f"&X-Amz-Signature={signature}"
    return ValidatedToken(
        host=host,
        region=region,
        partition=config.partition,
        access_key_id=access_key_id,
        signed_at=signed_at,
        expires_at=expires_at,
        x_amz_expires=int(expires),
        signature=signature,
        security_token=None if security_token is None else _decode_session_token(security_token),
        query=query,
    )
