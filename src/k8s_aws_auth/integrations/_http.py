"""What every integration shares: the bearer header's parsing and the HTTP answer to each outcome.

Bearer parsing (RFC 6750 §2.1, as lenient as FastAPI's ``HTTPBearer``): the
scheme is matched case-insensitively, surrounding whitespace is ignored, and
exactly one credential must follow the scheme. The token itself is then checked
strictly by the verifier ([`validate_token()`][k8s_aws_auth.validate_token]
refuses ``"Bearer …"`` and whitespace: the integrations strip the scheme).

Answers: a denial ([`TokenError`][k8s_aws_auth.errors.TokenError]) is ``401``
with ``WWW-Authenticate: Bearer error="invalid_token", error_description="<reason
code>"``; could not decide ([`STSError`][k8s_aws_auth.errors.STSError]) is
``503`` with ``Retry-After`` (STS's own hint, else the configured default); any
other library error (a usage error such as a verifier used from a second event
loop) is ``500``. No answer ever carries the token or the error's message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs

from k8s_aws_auth._core.models import Identity
from k8s_aws_auth._verifier import AsyncTokenVerifier, TokenVerifier
from k8s_aws_auth.errors import ConfigurationError, K8sAwsAuthError, STSError, TokenError

__all__ = [
    "BEARER_CHALLENGE",
    "Denial",
    "MissingDependencyError",
    "Verify",
    "authenticate",
    "bearer_token",
    "check_retry_after",
    "denial_for",
    "deny_malformed",
    "deny_missing",
    "verify_function",
]

logger = logging.getLogger("k8s_aws_auth.integrations")

#: The challenge of a request that carried no bearer credentials (RFC 6750 §3: no error code).
BEARER_CHALLENGE = "Bearer"

Verify = Callable[[str], Awaitable[Identity]]


class MissingDependencyError(ImportError):
    """An integration's framework is not installed; the message gives the ``pip`` command."""

    @classmethod
    def for_extra(cls, module: str, package: str, extra: str) -> MissingDependencyError:
        """The error for ``module`` needing ``package`` (installed by the ``extra`` extra)."""
        return cls(
            f"{module} needs {package}: pip install 'k8s-aws-auth[{extra}]'", name=package.lower()
        )


@attrs.frozen
class Denial:
    """An HTTP answer refusing a request: status, headers and a short, token-free detail."""

    status: int
    headers: dict[str, str]
    detail: str


def bearer_token(header: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <token>`` header.

    ``None`` for a missing header or another scheme (``Basic …``): the request is
    unauthenticated, not invalid. ``""`` for the ``Bearer`` scheme without exactly
    one credential (a malformed request).
    """
    if header is None:
        return None
    parts = header.split()
    if not parts or parts[0].lower() != "bearer":
        return None
    if len(parts) != 2:
        return ""  # the Bearer scheme with no credential, or several: invalid_request
    return parts[1]


def deny_missing() -> Denial:
    """No bearer credentials: ``401`` with the bare challenge."""
    return Denial(401, {"WWW-Authenticate": BEARER_CHALLENGE}, "Not authenticated")


def deny_malformed() -> Denial:
    """A ``Bearer`` header without exactly one credential: ``400 invalid_request`` (RFC 6750 §3.1)."""
    return Denial(
        400,
        {
            "WWW-Authenticate": 'Bearer error="invalid_request", '
            'error_description="the Bearer scheme takes exactly one credential"'
        },
        "Malformed Authorization header",
    )


def denial_for(error: K8sAwsAuthError, retry_after: int) -> Denial:
    """The answer to a failed verification (the reason code is the only detail sent)."""
    if isinstance(error, TokenError):
        challenge = f'Bearer error="invalid_token", error_description="{error.reason}"'
        return Denial(401, {"WWW-Authenticate": challenge}, "Invalid token")
    if isinstance(error, STSError):
        seconds = error.retry_after if error.retry_after is not None else retry_after
        return Denial(
            503, {"Retry-After": str(seconds)}, "Authentication is temporarily unavailable"
        )
    # A usage error (ConfigurationError, e.g. the wrong event loop): the operator's to fix.
    logger.error("token verification failed: %s (reason=%s)", error, error.reason)
    return Denial(500, {}, "Authentication is misconfigured")


def check_retry_after(value: object) -> int:
    """``retry_after`` as an int of seconds from 0 to 3600."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3600:
        raise ConfigurationError(
            "retry_after must be an int of seconds from 0 to 3600", reason="retry_after"
        )
    return value


def verify_function(verifier: object) -> Verify:
    """``await verify(token)`` for an ``AsyncTokenVerifier``, or a ``TokenVerifier`` run in a worker thread."""
    if isinstance(verifier, AsyncTokenVerifier):
        return verifier.verify
    if isinstance(verifier, TokenVerifier):
        sync_verify = verifier.verify

        async def verify(token: str) -> Identity:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(sync_verify, token)

        return verify
    raise ConfigurationError(
        "verifier must be an AsyncTokenVerifier (or a TokenVerifier, run in worker threads)",
        reason="verifier",
    )


async def authenticate(
    header: str | None, verify: Verify, retry_after: int
) -> Identity | Denial | None:
    """The outcome of one request: the identity, a denial, or ``None`` (no bearer credentials)."""
    token = bearer_token(header)
    if token is None:
        return None
    if not token:
        return deny_malformed()
    try:
        return await verify(token)
    except K8sAwsAuthError as error:
        return denial_for(error, retry_after)
