"""Signature Version 4, pure: no clock, no environment, no I/O.

Implements the parts of the AWS SigV4 specification that tokens and the STS
credential calls need: RFC 3986 ``UriEncode``, the canonical query and headers,
signing-key derivation (memoised: the key changes once a day per secret),
presigned GET URLs (query authentication, empty-payload hash as botocore and
the Go SDK sign) and signed form POSTs (header authentication).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote

from ._models import Credentials

__all__ = [
    "ALGORITHM",
    "EMPTY_PAYLOAD_SHA256",
    "amz_date",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "credential_scope",
    "normalize_header_value",
    "presign_url",
    "sign",
    "sign_post",
    "signing_key",
    "string_to_sign",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
#: SHA-256 of the empty string: the payload hash of a presigned GET (botocore, aws-sdk-go).
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()

_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def uri_encode(value: str) -> str:
    """Percent-encode ``value`` as SigV4's ``UriEncode``: all but ``A-Za-z0-9-_.~``, upper hex, UTF-8."""
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="-_.~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string: each name and value ``UriEncode``-d, pairs sorted, joined by ``&``."""
    return "&".join(
        f"{name}={value}"
        for name, value in sorted((uri_encode(k), uri_encode(v)) for k, v in params)
    )


def normalize_header_value(value: str) -> str:
    """Trim and collapse whitespace runs to one space, as botocore does before signing a header."""
    return " ".join(value.split())


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """Return ``(canonical headers block, signed headers list)`` for ``headers``."""
    items = sorted((name.lower(), normalize_header_value(value)) for name, value in headers.items())
    block = "".join(f"{name}:{value}\n" for name, value in items)
    return block, ";".join(name for name, _ in items)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers_block: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """Assemble the SigV4 canonical request from its already canonical parts."""
    return f"{method}\n{path}\n{query}\n{headers_block}\n{signed_headers}\n{payload_hash}"


def amz_date(now: datetime) -> str:
    """Format an aware datetime as ``YYYYMMDDTHHMMSSZ`` in UTC."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def credential_scope(datestamp: str, region: str, service: str) -> str:
    """``<yyyymmdd>/<region>/<service>/aws4_request``."""
    return f"{datestamp}/{region}/{service}/aws4_request"


def string_to_sign(x_amz_date: str, scope: str, canonical: str) -> str:
    """The SigV4 string to sign for a canonical request."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{x_amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=128)
def signing_key(secret_access_key: str, datestamp: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key (memoised: it depends only on the secret, day, region, service)."""
    key = hmac.digest(("AWS4" + secret_access_key).encode("utf-8"), datestamp.encode(), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def sign(key: bytes, to_sign: str) -> str:
    """HMAC-SHA256 of the string to sign, lower-case hex."""
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def presign_url(
    *,
    credentials: Credentials,
    host: str,
    region: str,
    service: str,
    now: datetime,
    params: Sequence[tuple[str, str]],
    signed_headers: Mapping[str, str],
    expires: int,
    path: str = "/",
    scheme: str = "https",
) -> str:
    """Presign a GET with query authentication and return the URL.

    ``params`` come first in the given order, then the ``X-Amz-*`` parameters in
    botocore's order (``X-Amz-Security-Token`` after ``X-Amz-SignedHeaders``),
    then ``X-Amz-Signature``: the exact bytes ``aws eks get-token`` produces.
    ``signed_headers`` are signed together with ``host``.
    """
    x_amz_date = amz_date(now)
    datestamp = x_amz_date[:8]
    scope = credential_scope(datestamp, region, service)
    headers = {"host": host, **{name.lower(): value for name, value in signed_headers.items()}}
    headers_block, signed_list = canonical_headers(headers)
    query_params = [
        *params,
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key_id}/{scope}"),
        ("X-Amz-Date", x_amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", signed_list),
    ]
    if credentials.session_token:
        query_params.append(("X-Amz-Security-Token", credentials.session_token))
    canonical = canonical_request(
        "GET", path, canonical_query(query_params), headers_block, signed_list, EMPTY_PAYLOAD_SHA256
    )
    key = signing_key(credentials.secret_access_key, datestamp, region, service)
    signature = sign(key, string_to_sign(x_amz_date, scope, canonical))
    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in query_params)
    return f"{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"


def sign_post(
    *,
    credentials: Credentials,
    host: str,
    region: str,
    service: str,
    now: datetime,
    body: bytes,
    path: str = "/",
    content_type: str = "application/x-www-form-urlencoded; charset=utf-8",
) -> dict[str, str]:
    """Sign a form POST with header authentication; return the headers to send.

    The returned mapping holds ``Content-Type``, ``X-Amz-Date``,
    ``X-Amz-Security-Token`` (temporary credentials only) and ``Authorization``;
    ``Host`` is signed as given and must be sent unchanged.
    """
    x_amz_date = amz_date(now)
    datestamp = x_amz_date[:8]
    scope = credential_scope(datestamp, region, service)
    to_send = {"Content-Type": content_type, "X-Amz-Date": x_amz_date}
    if credentials.session_token:
        to_send["X-Amz-Security-Token"] = credentials.session_token
    headers_block, signed_list = canonical_headers({"host": host, **to_send})
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = canonical_request("POST", path, "", headers_block, signed_list, payload_hash)
    key = signing_key(credentials.secret_access_key, datestamp, region, service)
    signature = sign(key, string_to_sign(x_amz_date, scope, canonical))
    to_send["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_list}, Signature={signature}"
    )
    return to_send
