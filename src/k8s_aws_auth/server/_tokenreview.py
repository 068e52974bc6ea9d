"""The TokenReview wire format, pure: parse what kube-apiserver sends, encode the answer.

kube-apiserver's webhook token authenticator POSTs an ``authentication.k8s.io``
``TokenReview`` (``v1`` or ``v1beta1``; the two have the same shape) and reads
``status`` back. The answer repeats the request's ``apiVersion`` and ``kind``
(upstream omits them). Parsing is strict — one JSON object, no duplicate keys,
a known ``apiVersion``, ``kind: TokenReview``, a string ``spec.token`` within
the size cap — and every refusal is a [`TokenReviewRequestError`][k8s_aws_auth.server.TokenReviewRequestError] whose
message never contains the token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "API_GROUP",
    "SUPPORTED_API_VERSIONS",
    "ReviewedUser",
    "TokenReviewRequest",
    "TokenReviewRequestError",
    "encode_token_review",
    "parse_token_review",
]

API_GROUP = "authentication.k8s.io"
SUPPORTED_API_VERSIONS = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1")
KIND = "TokenReview"
_MAX_AUDIENCES = 64
_MAX_AUDIENCE_LENGTH = 1024


class TokenReviewRequestError(ValueError):
    """The request body is not an acceptable TokenReview (answered with HTTP 400).

    ``reason`` is a short code for metrics and logs.
    """

    def __init__(self, message: str, *, reason: str = "malformed_request") -> None:
        super().__init__(message)
        self.reason = reason


@attrs.frozen(kw_only=True)
class TokenReviewRequest:
    """The parts of a TokenReview request the webhook uses.

    ``audiences`` is ``None`` when the request named none (kube-apiserver then
    assumes its own audiences).
    """

    api_version: str
    token: str = attrs.field(repr=False)
    audiences: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class ReviewedUser:
    """``status.user`` of a successful review.

    ``extra`` values are lists of strings, as the API defines them.
    """

    username: str
    uid: str
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise TokenReviewRequestError(f"duplicate JSON key {key[:64]!r}")
        result[key] = value
    return result


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TokenReviewRequestError(f"{where} must be a JSON object")
    return value


# What the decoder's failure becomes (``None`` is a JSON document: ``null``).
_NOT_JSON: Any = object()
# Built once: json.loads/json.dumps with any non-default argument build a new
# decoder/encoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)
# No circular-reference check (a dictionary of every container's id per call, about
# a quarter of the encoding): the answers are built here from strings, lists and
# dictionaries, and a cycle planted in a mapper's user still fails (RecursionError),
# as a 500 answer.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
#: The answer's constant start per apiVersion; only ``status`` is encoded per review.
_ANSWER_PREFIX = {
    version: _ENCODER.encode({"apiVersion": version, "kind": KIND, "status": {}})[:-3].encode()
    for version in SUPPORTED_API_VERSIONS
}


def parse_token_review(body: bytes, *, max_token_size: int) -> TokenReviewRequest:
    """Parse a TokenReview request body.

    Raises:
        TokenReviewRequestError: the body is not UTF-8 JSON, has duplicate keys,
            names an unsupported ``apiVersion`` or ``kind``, lacks a string
            ``spec.token``, carries a token longer than ``max_token_size``
            bytes, or has malformed ``spec.audiences``.
    """
    if not body.strip():
        raise TokenReviewRequestError("expected a request body")
    try:
        document = _DECODER.decode(body.decode("utf-8"))
    except TokenReviewRequestError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: the C decoder refuses absurd nesting cleanly.
        document = _NOT_JSON
    if document is _NOT_JSON:
        # Raised outside the handler: the decoder's exception holds the body, token included.
        raise TokenReviewRequestError("request body is not valid JSON")
    review = _object(document, "request body")
    api_version = review.get("apiVersion")
    if api_version not in SUPPORTED_API_VERSIONS:
        shown = api_version[:64] if isinstance(api_version, str) else type(api_version).__name__
        raise TokenReviewRequestError(
            f"unsupported apiVersion {shown!r}; expected one of {', '.join(SUPPORTED_API_VERSIONS)}",
            reason="unsupported_api_version",
        )
    if review.get("kind") != KIND:
        raise TokenReviewRequestError("kind must be TokenReview", reason="unsupported_api_version")
    spec = _object(review.get("spec"), "spec")
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise TokenReviewRequestError("spec.token must be a non-empty string")
    if len(token) > max_token_size:
        raise TokenReviewRequestError(
            f"spec.token is longer than {max_token_size} bytes", reason="token_too_large"
        )
    return TokenReviewRequest(
        api_version=api_version, token=token, audiences=_audiences(spec.get("audiences"))
    )


def _audiences(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > _MAX_AUDIENCES:
        raise TokenReviewRequestError(
            f"spec.audiences must be a list of at most {_MAX_AUDIENCES} strings"
        )
    for audience in value:
        if not isinstance(audience, str) or len(audience) > _MAX_AUDIENCE_LENGTH:
            raise TokenReviewRequestError(
                f"spec.audiences entries must be strings of at most {_MAX_AUDIENCE_LENGTH} characters"
            )
    return tuple(value)


def encode_token_review(
    api_version: str,
    *,
    user: ReviewedUser | None = None,
    error: str | None = None,
    audiences: Sequence[str] | None = None,
) -> bytes:
    """The response body: authenticated when ``user`` is given, denied otherwise.

    ``api_version`` should be the request's (one of [`SUPPORTED_API_VERSIONS`][k8s_aws_auth.server.SUPPORTED_API_VERSIONS]);
    ``error`` becomes ``status.error`` of a denial and must not contain secrets.
    """
    status: dict[str, Any] = {"authenticated": user is not None}
    if user is not None:
        user_doc: dict[str, Any] = {"username": user.username, "uid": user.uid}
        if user.groups:
            user_doc["groups"] = list(user.groups)
        if user.extra:
            user_doc["extra"] = {key: list(values) for key, values in user.extra.items()}
        status["user"] = user_doc
        if audiences is not None:
            status["audiences"] = list(audiences)
    elif error:
        status["error"] = error
    prefix = _ANSWER_PREFIX.get(api_version)
    if prefix is None:
        document = {"apiVersion": api_version, "kind": KIND, "status": status}
        return _ENCODER.encode(document).encode("utf-8")
    return prefix + _ENCODER.encode(status).encode("utf-8") + b"}"
