"""Signature Version 4, pure: no clock, no environment, no I/O.

Implements the parts of the AWS SigV4 specification that tokens and the STS
credential calls need: RFC 3986 ``UriEncode``, the canonical query and headers,
signing-key derivation (memoised: the key changes once a day per secret),
presigned GET URLs (query authentication, empty-payload hash as botocore and
the Go SDK sign) and signed form POSTs (header authentication).

Presigning is split in two for speed: a `Presigner` does, once per
(credentials, endpoint, parameters, day), everything that does not depend on the
signing second (encoding, sorting, the signing key and its HMAC pads), and
`Presigner.url()` then costs one SHA-256 and one HMAC per URL.

The exec plugin signs through this module at start-up, so it imports only
time and `digests` (SHA-256 without hashlib): no attrs, datetime, re, urllib,
hashlib or hmac.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from .digests import hmac_pads, hmac_sha256, sha256
from .frozen import Frozen

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from .models import Credentials

__all__ = [
    "ALGORITHM",
    "EMPTY_PAYLOAD_SHA256",
    "Presigner",
    "SigningKeys",
    "amz_date",
    "amz_date_at",
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
EMPTY_PAYLOAD_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
#: Each UTF-8 byte as UriEncode writes it: itself if unreserved, else %XX (upper hex).
_ENCODED_BYTE = tuple(chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in range(256))


def uri_encode(value: str) -> str:
    """Percent-encode ``value`` as SigV4's ``UriEncode``: all but ``A-Za-z0-9-_.~``, upper hex, UTF-8."""
    if _UNRESERVED.issuperset(value):
        return value
    return "".join([_ENCODED_BYTE[byte] for byte in value.encode("utf-8")])


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
    offset = now.utcoffset()
    if offset is None:  # naive: local time, as astimezone() reads it
        return amz_date(now.astimezone())
    # Shifting by the offset gives the UTC fields without importing datetime.timezone.
    utc = now - offset
    return _format_amz_date(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)


def amz_date_at(epoch_seconds: int) -> str:
    """Format a Unix time (whole seconds) as ``YYYYMMDDTHHMMSSZ``, without datetime."""
    return _format_amz_date(*time.gmtime(epoch_seconds)[:6])


def _format_amz_date(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    if year < 1000:  # keep strftime's unpadded years, as botocore prints them
        return time.strftime("%Y%m%dT%H%M%SZ", (year, month, day, hour, minute, second, 0, 1, -1))
    # %-formatting the fields is three times faster than strftime.
    return "%04d%02d%02dT%02d%02d%02dZ" % (year, month, day, hour, minute, second)  # noqa: UP031


def credential_scope(datestamp: str, region: str, service: str) -> str:
    """``<yyyymmdd>/<region>/<service>/aws4_request``."""
    return f"{datestamp}/{region}/{service}/aws4_request"


def string_to_sign(x_amz_date: str, scope: str, canonical: str) -> str:
    """The SigV4 string to sign for a canonical request."""
    digest = sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{x_amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=128)
def signing_key(secret_access_key: str, datestamp: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key (memoised: it depends only on the secret, day, region, service)."""
    key = hmac_sha256(("AWS4" + secret_access_key).encode("utf-8"), datestamp.encode())
    key = hmac_sha256(key, region.encode("utf-8"))
    key = hmac_sha256(key, service.encode("utf-8"))
    return hmac_sha256(key, b"aws4_request")


def sign(key: bytes, to_sign: str) -> str:
    """HMAC-SHA256 of the string to sign, lower-case hex."""
    return hmac_sha256(key, to_sign.encode("utf-8")).hex()


# Stands for X-Amz-Date while the template is built; an encoded string never holds it.
_DATE_MARK = "\x00"


class SigningKeys(Frozen):
    """The three strings a signature needs, for callers that must not import attrs.

    The exec plugin signs with these at start-up; elsewhere pass
    [`Credentials`][k8s_aws_auth.Credentials]. The secret and session token stay out of ``repr``.
    """

    __slots__ = ("access_key_id", "secret_access_key", "session_token")
    repr_hidden = frozenset({"secret_access_key", "session_token"})
    access_key_id: str
    secret_access_key: str
    session_token: str | None

    def __init__(
        self, access_key_id: str, secret_access_key: str, session_token: str | None = None
    ) -> None:
        self._init(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
        )


class Presigner:
    """Everything in a presigned GET that does not depend on the signing second.

    Built once per (credentials, endpoint, parameters, day); `url()` then
    fills in ``X-Amz-Date`` and the signature. Callers memoise instances (they
    hold key material: keep any cache small and bounded).
    """

    __slots__ = (
        "_canonical_head",
        "_canonical_tail",
        "_datestamp",
        "_inner",
        "_outer",
        "_to_sign_mid",
        "_url_head",
        "_url_tail",
    )

    def __init__(
        self,
        credentials: Credentials | SigningKeys,
        host: str,
        region: str,
        service: str,
        datestamp: str,
        params: Sequence[tuple[str, str]],
        signed_headers: Mapping[str, str],
        expires: int,
        path: str = "/",
        scheme: str = "https",
    ) -> None:
        """Prepare presigning for one day (``datestamp`` is ``YYYYMMDD``).

        Raises:
            ValueError: ``params`` holds an ``X-Amz-Date`` of its own, or the
                host, path or a signed header value holds a NUL character.
        """
        scope = credential_scope(datestamp, region, service)
        headers = {"host": host, **{name.lower(): value for name, value in signed_headers.items()}}
        headers_block, signed_list = canonical_headers(headers)
        query_params = [
            *params,
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{credentials.access_key_id}/{scope}"),
            ("X-Amz-Date", _DATE_MARK),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", signed_list),
        ]
        if credentials.session_token:
            query_params.append(("X-Amz-Security-Token", credentials.session_token))
        encoded = [
            (uri_encode(name), value if value is _DATE_MARK else uri_encode(value))
            for name, value in query_params
        ]
        if sum(name == "X-Amz-Date" for name, _ in encoded) != 1:
            raise ValueError("params must not contain X-Amz-Date")
        # X-Amz-Date is the only name of its kind, so the mark sorts where the real
        # date would: split the canonical request and the URL around it.
        canonical = canonical_request(
            "GET",
            path,
            "&".join(f"{name}={value}" for name, value in sorted(encoded)),
            headers_block,
            signed_list,
            EMPTY_PAYLOAD_SHA256,
        )
        query = "&".join(f"{name}={value}" for name, value in encoded)
        url = f"{scheme}://{host}{path}?{query}"
        if canonical.count(_DATE_MARK) != 1 or url.count(_DATE_MARK) != 1:
            raise ValueError("host, path and signed header values must not contain NUL")
        head, _, tail = canonical.partition(_DATE_MARK)
        self._canonical_head = head.encode("utf-8")
        self._canonical_tail = tail.encode("utf-8")
        self._url_head, _, tail = url.partition(_DATE_MARK)
        self._url_tail = tail + "&X-Amz-Signature="
        self._datestamp = datestamp
        self._to_sign_mid = f"\n{scope}\n"
        # HMAC (RFC 2104) pads: the signing key is fixed for a day, so the states
        # of key ^ ipad and key ^ opad are hashed once and each signature then
        # costs two copies of them instead of a full HMAC key set-up.
        self._inner, self._outer = hmac_pads(
            signing_key(credentials.secret_access_key, datestamp, region, service)
        )

    def url(self, x_amz_date: str) -> str:
        """The presigned URL for ``x_amz_date`` (``YYYYMMDDTHHMMSSZ`` of this presigner's day)."""
        if not x_amz_date.startswith(self._datestamp):
            raise ValueError("x_amz_date is not on this presigner's day")
        digest = sha256(
            self._canonical_head + x_amz_date.encode("ascii") + self._canonical_tail
        ).hexdigest()
        to_sign = f"{ALGORITHM}\n{x_amz_date}{self._to_sign_mid}{digest}"
        inner = self._inner.copy()
        inner.update(to_sign.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return self._url_head + x_amz_date + self._url_tail + outer.hexdigest()


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
    ``signed_headers`` are signed together with ``host``. To sign many URLs,
    keep a `Presigner` instead.
    """
    x_amz_date = amz_date(now)
    presigner = Presigner(
        credentials,
        host,
        region,
        service,
        x_amz_date[:8],
        params,
        signed_headers,
        expires,
        path,
        scheme,
    )
    return presigner.url(x_amz_date)


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
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Sign a form POST with header authentication; return the headers to send.

    The returned mapping holds ``Content-Type``, ``X-Amz-Date``,
    ``X-Amz-Security-Token`` (temporary credentials only), ``extra_headers``
    (signed too, e.g. ``x-amz-source-arn``) and ``Authorization``; ``Host`` is
    signed as given and must be sent unchanged.
    """
    x_amz_date = amz_date(now)
    datestamp = x_amz_date[:8]
    scope = credential_scope(datestamp, region, service)
    to_send = {"Content-Type": content_type, "X-Amz-Date": x_amz_date}
    if extra_headers:
        to_send.update(extra_headers)
    if credentials.session_token:
        to_send["X-Amz-Security-Token"] = credentials.session_token
    headers_block, signed_list = canonical_headers({"host": host, **to_send})
    payload_hash = sha256(body).hexdigest()
    canonical = canonical_request("POST", path, "", headers_block, signed_list, payload_hash)
    key = signing_key(credentials.secret_access_key, datestamp, region, service)
    signature = sign(key, string_to_sign(x_amz_date, scope, canonical))
    to_send["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_list}, Signature={signature}"
    )
    return to_send
