"""The verification flow, written once for both shells (pure generator, no I/O).

`verify_flow()` runs every local check, then yields the rebuilt STS
GetCallerIdentity GET and judges what comes back:

* a 200 whose body is complete, not content-encoded and exactly the JSON
  envelope STS sends → [`Identity`][k8s_aws_auth.Identity];
* one of STS's definitive refusals → [`AccessDeniedError`][k8s_aws_auth.errors.AccessDeniedError]
  (deny);
* throttling, a 5xx, a timeout or a network error → retried after a full-jitter
  exponential backoff (a yielded `Sleep`), at most ``config.max_retries``
  times, then the last [`STSError`][k8s_aws_auth.errors.STSError];
* the driver's deadline, a redirect and every other answer → an
  [`STSError`][k8s_aws_auth.errors.STSError] at once (could not decide, never a denial).

Randomness (the jitter) comes in as ``random``, like time comes in as ``now``.
Messages carry statuses, codes and exception class names, never the token or URL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from k8s_aws_auth.errors import STSError, STSResponseError, STSThrottledError, STSUnavailableError

from .config import VerifierConfig
from .effects import Flow, HttpRequest, HttpResponse, Sleep, TransportFailure
from .models import Identity, ValidatedToken
from .sts import parse_identity_response, raise_for_error_response, verify_url_and_headers
from .validate import validate_token
from .version import __version__

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "USER_AGENT",
    "backoff_delay",
    "build_http_request",
    "sts_flow",
    "verify_flow",
]

#: First retry waits up to this many seconds; each later one up to twice as long.
BACKOFF_BASE = 0.1
#: No single backoff pause is longer than this (the deadline bounds the total).
BACKOFF_CAP = 2.0
USER_AGENT = f"k8s-aws-auth/{__version__}".encode("ascii")

# Transport failures worth another attempt: the next one may well succeed.
_RETRYABLE_FAILURES = frozenset({"timeout", "network"})
_FAILURE_REASONS = {
    "timeout": "sts-timeout",
    "network": "sts-unavailable",
    "deadline": "sts-deadline",
}
_FAILURE_MESSAGES = {
    "timeout": "STS did not answer in time",
    "network": "STS could not be reached",
    "deadline": "the verification deadline passed before STS answered",
}


def backoff_delay(retry: int, random: Callable[[], float], *, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**retry))``.

    Full jitter spreads the retries of many verifiers hit by the same outage,
    instead of having them all come back at the same instant.
    """
    return random() * min(cap, base * (2.0**retry))


def build_http_request(validated: ValidatedToken, config: VerifierConfig) -> HttpRequest:
    """The neutral GET for ``validated``: only our own headers, bounded timeouts and body.

    The query, signature and session token are marked as the request's ``secrets``.
    """
    url, headers = verify_url_and_headers(validated, config)
    # The query is the token; its signature and session token are secrets on their own.
    secrets: tuple[str, ...] = (validated.query, validated.signature)
    if validated.security_token is not None:
        secrets += (validated.security_token,)
    return HttpRequest(
        method="GET",
        url=url,
        secrets=secrets,
        headers=(
            *headers,
            ("User-Agent", USER_AGENT),
            # Bodies are read raw; ask for them unencoded (an encoded one is refused).
            ("Accept-Encoding", b"identity"),
        ),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_body=config.max_response_bytes,
    )


def _failure_error(failure: TransportFailure, attempts: int) -> STSUnavailableError:
    kind = failure.kind
    message = _FAILURE_MESSAGES.get(kind, "the HTTP client failed before STS answered")
    error = STSUnavailableError(
        f"{message} ({failure.detail}; {attempts} attempt{'s' if attempts != 1 else ''})",
        reason=_FAILURE_REASONS.get(kind, "sts-transport-error"),
    )
    error.__cause__ = failure.cause
    return error


def _retry_after(value: str | None) -> int | None:
    """A ``Retry-After`` in delta-seconds (0..3600), else ``None`` (HTTP dates are not trusted)."""
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 4:
        return None
    return min(int(value), 3600)


def _judge(response: HttpResponse, validated: ValidatedToken, config: VerifierConfig) -> Identity:
    """Identity for a usable 200; otherwise raise the deny or could-not-decide error.

    A could-not-decide error carries the answer's ``Retry-After`` hint, when it has one.
    """
    try:
        return _judge_answer(response, validated, config)
    except STSError as error:
        error.retry_after = _retry_after(response.header("Retry-After"))
        raise


def _judge_answer(
    response: HttpResponse, validated: ValidatedToken, config: VerifierConfig
) -> Identity:
    status = response.status
    if 300 <= status < 400:
        raise_for_error_response(status, b"")  # never followed, whatever the body says
    if status >= 500:
        # Retried whatever the body says; the code (if readable) only goes in the message.
        raise_for_error_response(status, response.body)
    encoding = response.header("Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise STSResponseError(
            f"STS answer has a Content-Encoding other than identity (HTTP {status})",
            reason="sts-content-encoding",
            status_code=status,
        )
    if response.truncated:
        raise STSResponseError(
            f"STS answer is larger than {config.max_response_bytes} bytes (HTTP {status})",
            reason="sts-too-large",
            status_code=status,
        )
    if status != 200:
        raise_for_error_response(status, response.body)
        # Unreachable: raise_for_error_response raises for every non-200.
        raise STSResponseError(f"unexpected STS answer (HTTP {status})", status_code=status)
    return parse_identity_response(response.body, validated, config)


def _retryable(error: STSError) -> bool:
    if isinstance(error, STSThrottledError):
        return True
    return (
        isinstance(error, STSResponseError)
        and error.status_code is not None
        and error.status_code >= 500
    )


def sts_flow(
    validated: ValidatedToken,
    config: VerifierConfig,
    *,
    random: Callable[[], float],
    backoff_base: float = BACKOFF_BASE,
    backoff_cap: float = BACKOFF_CAP,
) -> Flow[Identity]:
    """Ask STS about an already validated token, retrying what is worth retrying.

    Yields `HttpRequest` (receives `HttpResponse` or
    `TransportFailure`) and `Sleep` (receives ``None``); returns
    the [`Identity`][k8s_aws_auth.Identity] or raises a ``TokenError`` (deny) or ``STSError``.
    """
    request = build_http_request(validated, config)
    attempts = 0
    while True:
        attempts += 1
        outcome = yield request
        error: STSError
        if isinstance(outcome, TransportFailure):
            error = _failure_error(outcome, attempts)
            retryable = outcome.kind in _RETRYABLE_FAILURES
        elif isinstance(outcome, HttpResponse):
            try:
                return _judge(outcome, validated, config)
            except STSError as exc:
                error = exc
                retryable = _retryable(exc)
        else:
            raise STSError(
                f"the flow expected an HTTP outcome, got {type(outcome).__name__}",
                reason="internal",
            )
        if not retryable or attempts > config.max_retries:
            raise error
        pause = backoff_delay(attempts - 1, random, base=backoff_base, cap=backoff_cap)
        yield Sleep(pause)


def verify_flow(
    token: str,
    config: VerifierConfig,
    *,
    now: datetime,
    random: Callable[[], float],
    backoff_base: float = BACKOFF_BASE,
    backoff_cap: float = BACKOFF_CAP,
) -> Flow[Identity]:
    """Verify ``token`` at ``now``: every local check, then the STS exchange (`sts_flow()`).

    The local checks run on the first ``next()``/``send(None)``; a token they
    refuse raises its ``TokenError`` before any request is yielded.
    """
    validated = validate_token(token, config, now=now)
    identity: Identity = yield from sts_flow(
        validated, config, random=random, backoff_base=backoff_base, backoff_cap=backoff_cap
    )
    return identity
