"""Check a received request's SigV4 signature the way AWS does (pure, clock passed in).

The canonical request is recomputed from what was *received*: method, path, the
query parameters (decoded, then ``UriEncode``-d and sorted; query authentication
leaves out ``X-Amz-Signature``), the headers named in the signed-header list as
they arrived, and the payload hash (empty-string SHA-256 for query
authentication, the body's SHA-256 for header authentication).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from urllib.parse import quote, unquote, unquote_plus

import attrs

from k8s_aws_auth._core.instants import clamped, utc
from k8s_aws_auth._core.partitions import PARTITIONS, allowed_hosts
from k8s_aws_auth._core.sigv4 import (
    ALGORITHM,
    EMPTY_PAYLOAD_SHA256,
    canonical_query,
    canonical_request,
    credential_scope,
    normalize_header_value,
    sign,
    signing_key,
    string_to_sign,
)

__all__ = [
    "SIGNATURE_MISMATCH",
    "WINDOW",
    "Received",
    "Rejection",
    "SignedRequest",
    "check_signature",
    "check_window",
    "parse_form",
    "parse_query",
    "host_region",
    "read_signature",
    "signed_at",
]

#: STS accepts a signed request up to 15 minutes either side of its own clock.
WINDOW = timedelta(minutes=15)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_QUERY_AUTH_NAMES = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_HEADER_AUTH = re.compile(r"\s*(?P<algorithm>\S+)\s+(?P<rest>.*)", re.DOTALL)


class Rejection(Exception):
    """The emulator refuses the request with this STS error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


@attrs.frozen(kw_only=True)
class Received:
    """An HTTP request as it reached the emulator."""

    method: str
    target: str
    """The raw request target: path and query, percent-encoded as received."""
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)

    @property
    def path(self) -> str:
        """The raw path."""
        return self.target.partition("?")[0] or "/"

    @property
    def query(self) -> str:
        """The raw query string."""
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """All values of header ``name`` joined by commas (as SigV4 does), or ``None``."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        if not values:
            return None
        return ",".join(normalize_header_value(value) for value in values)


def _split(raw: str, *, plus_is_space: bool) -> list[tuple[str, str]]:
    unquoter = unquote_plus if plus_is_space else unquote
    pairs = []
    for component in raw.split("&"):
        if not component:
            continue
        name, _, value = component.partition("=")
        pairs.append((unquoter(name), unquoter(value)))
    return pairs


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Decode a URL query (``+`` is kept literally, as RFC 3986 reads it)."""
    return _split(raw, plus_is_space=False)


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` body (``+`` is a space)."""
    return _split(raw.decode("utf-8", "replace"), plus_is_space=True)


@attrs.frozen(kw_only=True)
class SignedRequest:
    """The signature parts of a request, from its query or its ``Authorization`` header."""

    mode: str
    """``query`` or ``header``."""
    access_key_id: str
    datestamp: str
    region: str
    service: str
    terminator: str
    signed_headers: str
    signature: str = attrs.field(repr=False)
    amz_date: str
    security_token: str | None = attrs.field(repr=False)


def _incomplete(message: str) -> Rejection:
    return Rejection(400, "IncompleteSignature", message)


def _credential_parts(value: str) -> tuple[str, str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise _incomplete(
            "Authorization credential is malformed: expected "
            "'<access key>/<date>/<region>/<service>/aws4_request'."
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def read_signature(received: Received, query: dict[str, str]) -> SignedRequest | None:
    """Find the request's signature: ``Authorization`` header first, then the query.

    Returns ``None`` for an unsigned request; raises `Rejection` for a
    malformed one.
    """
    authorization = received.header("authorization")
    if authorization is not None:
        match = _HEADER_AUTH.fullmatch(authorization)
        if match is None or match["algorithm"] != ALGORITHM:
            algorithm = match["algorithm"] if match else ""
            raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'.")
        fields: dict[str, str] = {}
        for item in match["rest"].split(","):
            name, sep, value = item.strip().partition("=")
            if sep:
                fields[name] = value
        missing = [
            name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields
        ]
        if missing:
            raise _incomplete(
                f"Authorization header requires '{missing[0]}' parameter. "
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            )
        amz_date = received.header("x-amz-date")
        if amz_date is None:
            raise _incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
        key, datestamp, region, service, terminator = _credential_parts(fields["Credential"])
        return SignedRequest(
            mode="header",
            access_key_id=key,
            datestamp=datestamp,
            region=region,
            service=service,
            terminator=terminator,
            signed_headers=fields["SignedHeaders"],
            signature=fields["Signature"],
            amz_date=amz_date,
            security_token=received.header("x-amz-security-token"),
        )
    if not any(name in query for name in _QUERY_AUTH_NAMES):
        return None
    if not all(name in query for name in _QUERY_AUTH_NAMES):
        raise _incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'. "
            "Re-examine the query-string parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}'.")
    key, datestamp, region, service, terminator = _credential_parts(query["X-Amz-Credential"])
    return SignedRequest(
        mode="query",
        access_key_id=key,
        datestamp=datestamp,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=query["X-Amz-SignedHeaders"],
        signature=query["X-Amz-Signature"],
        amz_date=query["X-Amz-Date"],
        security_token=query.get("X-Amz-Security-Token"),
    )


@lru_cache(maxsize=1)
def _known_hosts() -> dict[str, tuple[str, str]]:
    """Every STS host of every partition → (signing region, partition)."""
    table: dict[str, tuple[str, str]] = {}
    for name in PARTITIONS:
        for host, region in allowed_hosts(name).items():
            table[host] = (region, name)
    return table


def host_region(host: str | None) -> tuple[str, str] | None:
    """``(signing region, partition)`` when ``host`` (port ignored) is a known STS host."""
    if host is None:
        return None
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return _known_hosts().get(name.lower())


def signed_at(signed: SignedRequest) -> datetime:
    """Parse the request's ``X-Amz-Date`` strictly; check the scope matches it."""
    if not _AMZ_DATE.fullmatch(signed.amz_date):
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{signed.amz_date}'.")
    try:
        moment = datetime.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise _incomplete(
            f"Date must be in ISO-8601 'basic format'. Got '{signed.amz_date}'."
        ) from None
    if signed.terminator != "aws4_request":
        raise _incomplete(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{signed.terminator}'."
        )
    if signed.datestamp != signed.amz_date[:8]:
        raise Rejection(
            403,
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{signed.datestamp}' != '{signed.amz_date[:8]}', from '{signed.amz_date}'.",
        )
    if signed.service != "sts":
        raise Rejection(
            403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'. "
        )
    return moment


def _basic(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def check_window(moment: datetime, now: datetime) -> None:
    """Refuse a request signed more than 15 minutes before or after ``now``, with STS's wording."""
    now = utc(now, "now").replace(microsecond=0)
    # At the calendar's edges the window ends there (STS's own calendar is longer).
    earliest, latest = clamped(now, -WINDOW), clamped(now, WINDOW)
    if moment < earliest:
        raise Rejection(
            403,
            "SignatureDoesNotMatch",
            f"Signature expired: {_basic(moment)} is now earlier than {_basic(earliest)} "
            f"({_basic(now)} - 15 min.)",
        )
    if moment > latest:
        raise Rejection(
            403,
            "SignatureDoesNotMatch",
            f"Signature not yet current: {_basic(moment)} is still later than "
            f"{_basic(latest)} ({_basic(now)} + 15 min.)",
        )


def _canonical_path(raw_path: str) -> str:
    # STS (like every service but S3) signs the percent-encoded path encoded once more.
    return quote(raw_path, safe="/~")


def check_signature(
    received: Received,
    signed: SignedRequest,
    query_pairs: Sequence[tuple[str, str]],
    secret_access_key: str,
) -> None:
    """Recompute the signature from the received request; raise on any difference."""
    mismatch = Rejection(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH)
    names = signed.signed_headers.split(";")
    if "host" not in names:
        raise Rejection(
            403,
            "SignatureDoesNotMatch",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    lines = []
    for name in names:
        value = received.header(name)
        if value is None or name != name.lower():
            raise mismatch
        lines.append(f"{name}:{normalize_header_value(value)}\n")
    if signed.mode == "query":
        pairs = [(k, v) for k, v in query_pairs if k != "X-Amz-Signature"]
        payload_hash = EMPTY_PAYLOAD_SHA256
    else:
        pairs = list(query_pairs)
        payload_hash = hashlib.sha256(received.body).hexdigest()
    canonical = canonical_request(
        received.method,
        _canonical_path(received.path),
        canonical_query(pairs),
        "".join(lines),
        signed.signed_headers,
        payload_hash,
    )
    scope = credential_scope(signed.datestamp, signed.region, signed.service)
    key = signing_key(secret_access_key, signed.datestamp, signed.region, signed.service)
    expected = sign(key, string_to_sign(signed.amz_date, scope, canonical))
    if not hmac.compare_digest(expected.encode("ascii"), signed.signature.encode("utf-8")):
        raise mismatch
