"""The STS GetCallerIdentity exchange, pure: build the request, read the answer.

The request is rebuilt from a [`ValidatedToken`][k8s_aws_auth.ValidatedToken]; the answer is accepted
only as a 200 with the exact JSON envelope STS sends, whose ARN is a known
identity type in the configured partition and whose ``Account`` equals the
ARN's account. Everything else is classified as *deny* (STS's definitive
refusals) or *could not decide* (the rest).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from k8s_aws_auth.errors import AccessDeniedError, STSResponseError, STSThrottledError

from .arn import arn_parts
from .config import VerifierConfig
from .models import Identity, ValidatedToken

__all__ = [
    "StsErrorInfo",
    "build_verify_request",
    "parse_error_body",
    "parse_identity_response",
    "raise_for_error_response",
    "verify_url_and_headers",
]

#: STS codes that are a definitive refusal of the signed request: deny.
DENY_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AccessDenied",
        "AccessDeniedException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidAccessKeyId",
        "RegionDisabledException",
    }
)
#: STS codes that mean "too many requests": retry later.
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}", re.ASCII)
_XML_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]{0,512})</Message>")


@attrs.frozen(kw_only=True)
class VerifyRequest:
    """A neutral description of the outbound GET (the flow turns it into HTTP)."""

    url: str = attrs.field(repr=False)
    headers: tuple[tuple[str, bytes], ...] = attrs.field(repr=False)
    host: str


def build_verify_request(validated: ValidatedToken, config: VerifierConfig) -> VerifyRequest:
    """The GetCallerIdentity GET for ``validated``, with the verifier's own cluster id.

    Only these headers are sent: ``Host`` (the validated STS host),
    ``x-k8s-aws-id`` (the *configured* id, UTF-8) and ``Accept: application/json``.
    """
    url, headers = verify_url_and_headers(validated, config)
    return VerifyRequest(url=url, headers=headers, host=validated.host)


def verify_url_and_headers(
    validated: ValidatedToken, config: VerifierConfig
) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """The URL and headers of `build_verify_request()`, without the value object."""
    base = config.sts_endpoint_url or f"https://{validated.host}"
    return f"{base}/?{validated.query}", (
        ("Host", validated.host.encode("ascii")),
        ("x-k8s-aws-id", config.cluster_id.encode("utf-8")),
        ("Accept", b"application/json"),
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Built by dict() in C; a key seen twice leaves the dict shorter than the pairs.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _not_json(constant: str) -> Any:
    # json.loads accepts NaN and Infinity, which RFC 8259 JSON (and STS) never has.
    raise ValueError("not a JSON constant")


# Built once: json.loads with hooks would build a decoder (and its scanner) per call.
# A decoder keeps no state between calls.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_not_json)


# What the decoder's failure becomes (``None`` is a JSON document: ``null``).
_NOT_JSON: Any = object()


def _strict_json(body: bytes) -> Any:
    # Decoding first pins UTF-8 (json.loads would guess UTF-16/32 from bytes) and
    # makes a BOM an error, as json.loads does for str.
    return _STRICT_DECODER.decode(body.decode("utf-8"))


def _bad(
    message: str, status: int, reason: str = "sts-bad-response", sts_code: str | None = None
) -> STSResponseError:
    return STSResponseError(message, reason=reason, status_code=status, sts_code=sts_code)


def parse_identity_response(
    body: bytes, validated: ValidatedToken, config: VerifierConfig, *, status: int = 200
) -> Identity:
    """Turn a 200 GetCallerIdentity JSON body into an [`Identity`][k8s_aws_auth.Identity], strictly.

    Raises [`STSResponseError`][k8s_aws_auth.errors.STSResponseError] (could not decide) for anything that is not
    the exact envelope, or whose ARN and account disagree or lie outside the
    configured partition.
    """
    # Every error here is raised outside the except block that detected it: the
    # decoder's exception holds the whole body (a hostile server may echo our
    # request in it) and must not stay attached as the error's __context__.
    try:
        document = _strict_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        document = _NOT_JSON
    if document is _NOT_JSON:
        raise _bad("STS answer is not valid JSON without duplicate keys", status)
    try:
        envelope = _only(document, "GetCallerIdentityResponse", _ENVELOPE_MEMBERS)
        inner = _only(envelope, "GetCallerIdentityResult", _RESPONSE_MEMBERS)
        result = _exact(inner, _RESULT_MEMBERS)
    except ValueError as exc:
        problem: str | None = str(exc)
    else:
        problem = None
    if problem is not None:
        raise _bad(f"STS answer does not have the GetCallerIdentity envelope: {problem}", status)
    account, arn, user_id = result["Account"], result["Arn"], result["UserId"]
    for name, value in (("Account", account), ("Arn", arn), ("UserId", user_id)):
        # [\x20-\x7e]+ without a regex: non-empty printable ASCII.
        if not (isinstance(value, str) and value.isascii() and value.isprintable() and value):
            raise _bad(f"STS answer field {name} is not a non-empty printable string", status)
    try:
        partition, _, arn_account, kind, _, _, arn_session, canonical_arn = arn_parts(arn)
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        raise _bad(f"STS answer has an invalid Arn: {problem}", status)
    if partition != config.partition:
        raise _bad("STS answer Arn belongs to another partition", status, "sts-partition")
    # arn_parts admits only a 12-digit ARN account, so equality checks Account's form too.
    if account != arn_account:
        raise _bad("STS answer Account does not match the Arn's account", status, "sts-account")
    session_name = ""
    identity_user_id = user_id
    if kind in ("assumed-role", "role"):
        unique_id, sep, session = user_id.partition(":")
        if not sep or not unique_id or ":" in session:
            raise _bad("STS answer UserId is not UNIQUEID:SESSION for a role", status)
        if kind == "assumed-role" and session != arn_session:
            raise _bad("STS answer UserId session does not match the Arn", status)
        identity_user_id, session_name = unique_id, session
    # Interned: the few accounts, hosts, partitions and kinds are shared by every
    # identity a verifier caches, instead of one copy per cache entry.
    return Identity(
        arn=arn,
        canonical_arn=canonical_arn,
        account_id=sys.intern(account),
        user_id=identity_user_id,
        session_name=session_name,
        access_key_id=validated.access_key_id,
        sts_endpoint=sys.intern(validated.host),
        partition=sys.intern(partition),
        principal_type=sys.intern(kind),
    )


# The members each level of the GetCallerIdentity JSON envelope may (or must) hold.
_ENVELOPE_MEMBERS = frozenset({"GetCallerIdentityResponse"})
_RESPONSE_MEMBERS = frozenset({"GetCallerIdentityResult", "ResponseMetadata"})
_RESULT_MEMBERS = frozenset({"Account", "Arn", "UserId"})


def _only(document: object, key: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(document, dict) or key not in document:
        raise ValueError(f"missing {key}")
    if not document.keys() <= allowed:
        raise ValueError("unexpected members")
    value = document[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def _exact(document: Mapping[str, Any], members: frozenset[str]) -> Mapping[str, Any]:
    if document.keys() != members:
        raise ValueError("result does not hold exactly Account, Arn and UserId")
    return document


@attrs.frozen(kw_only=True)
class StsErrorInfo:
    """The code (and type) of an STS error body, if it could be read."""

    code: str | None
    message: str | None = attrs.field(default=None, repr=False)


def parse_error_body(body: bytes) -> StsErrorInfo:
    """Read the error code from an STS JSON or XML error body (bounded, never raises)."""
    body = body[:65536]
    stripped = body.lstrip()
    code: str | None = None
    message: str | None = None
    if stripped.startswith(b"{"):
        try:
            document = _strict_json(stripped)
            error = document.get("Error") if isinstance(document, dict) else None
            if isinstance(error, dict):
                raw_code, raw_message = error.get("Code"), error.get("Message")
                code = raw_code if isinstance(raw_code, str) else None
                message = raw_message if isinstance(raw_message, str) else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
    elif stripped.startswith(b"<"):
        code_match = _XML_CODE.search(body)
        if code_match:
            code = code_match.group(1).decode("ascii", "replace")
        message_match = _XML_MESSAGE.search(body)
        if message_match:
            message = message_match.group(1).decode("utf-8", "replace")
    if code is not None and not _CODE.fullmatch(code):
        code = None
    return StsErrorInfo(code=code, message=message)


def raise_for_error_response(status: int, body: bytes) -> None:
    """Raise the right error for a non-200 STS answer (never returns for a non-200).

    Deny ([`AccessDeniedError`][k8s_aws_auth.errors.AccessDeniedError]) for STS's definitive refusals; could not
    decide ([`STSThrottledError`][k8s_aws_auth.errors.STSThrottledError], [`STSResponseError`][k8s_aws_auth.errors.STSResponseError]) otherwise.
    Messages carry the status and code only, never the body.
    """
    if status == 200:
        return
    if 300 <= status < 400:
        raise _bad(
            f"STS answered with a redirect ({status}); redirects are never followed",
            status,
            "sts-redirect",
        )
    info = parse_error_body(body)
    code = info.code
    if status == 429 or code in THROTTLE_CODES:
        raise STSThrottledError(
            f"STS throttled the request (HTTP {status}{', ' + code if code else ''})",
            status_code=status,
            sts_code=code,
        )
    if 400 <= status < 500 and code in DENY_CODES:
        detail = code
        if code == "SignatureDoesNotMatch" and info.message:
            if "Signature expired" in info.message:
                detail = "SignatureDoesNotMatch: signature expired"
            elif "not yet current" in info.message:
                detail = "SignatureDoesNotMatch: signature not yet current"
        raise AccessDeniedError(f"STS refused the token ({detail})", sts_code=code)
    if status >= 500:
        raise _bad(
            f"STS server error (HTTP {status}{', ' + code if code else ''})",
            status,
            "sts-server-error",
            code,
        )
    raise _bad(
        f"unexpected STS answer (HTTP {status}{', ' + code if code else ''})",
        status,
        sts_code=code,
    )
