"""The exception tree of k8s_aws_auth.

Every error the library raises on purpose is a [`K8sAwsAuthError`][k8s_aws_auth.errors.K8sAwsAuthError]. The
tree separates the two answers a verifier can give — *deny* and *could not
decide* — so a webhook never turns an outage into a cached denial::

    K8sAwsAuthError
    ├── TokenError                   deny: the token itself is not acceptable
    │   ├── MalformedTokenError      size, prefix, encoding, URL or query shape
    │   ├── UntrustedEndpointError   scheme, host, port, userinfo, path
    │   ├── RegionNotAllowedError    host region unknown, or scope region disagrees
    │   ├── ClusterIDNotSignedError  x-k8s-aws-id is not (exactly) what is signed
    │   ├── ExpiredTokenError        X-Amz-Date + 15 minutes is in the past
    │   ├── TokenNotYetValidError    X-Amz-Date is too far in the future
    │   └── AccessDeniedError        STS refused the signature (wrong cluster, tampered, revoked)
    ├── STSError                     could not decide: retry later
    │   ├── STSUnavailableError      network error, timeout, deadline exceeded
    │   └── STSResponseError         5xx, throttling, redirect, malformed or inconsistent answer
    │       └── STSThrottledError    STS said Throttling / TooManyRequests
    ├── CredentialsError             no AWS credentials could be found or fetched
    │   ├── NoCredentialsError       every provider of the chain was skipped
    │   └── CredentialProviderError  a configured provider failed
    └── ConfigurationError           a bad configuration value (also a ValueError)

Each class carries a short machine-readable ``reason`` code (class default,
overridden per instance for the precise check), suitable for metrics, logs and
TokenReview ``status.error``. Messages name the check and the parameter, never
the token, a signature, a session token or a secret key.
"""

from __future__ import annotations

# `typing` costs milliseconds on the exec plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AccessDeniedError",
    "ClusterIDNotSignedError",
    "ConfigurationError",
    "CredentialProviderError",
    "CredentialsError",
    "ExpiredTokenError",
    "K8sAwsAuthError",
    "MalformedTokenError",
    "NoCredentialsError",
    "RegionNotAllowedError",
    "STSError",
    "STSResponseError",
    "STSThrottledError",
    "STSUnavailableError",
    "TokenError",
    "TokenNotYetValidError",
    "UntrustedEndpointError",
]


class K8sAwsAuthError(Exception):
    """Base class of every error raised by k8s_aws_auth."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


# --- deny ---------------------------------------------------------------------------


class TokenError(K8sAwsAuthError):
    """The token is not acceptable: deny the request (never retry it)."""

    reason = "invalid-token"


class MalformedTokenError(TokenError):
    """The token's size, prefix, encoding, URL or query does not have the required form."""

    reason = "malformed"


class UntrustedEndpointError(TokenError):
    """The presigned URL does not point at an STS endpoint of the configured partition."""

    reason = "host"


class RegionNotAllowedError(TokenError):
    """The STS region is not allowed, or the credential scope names another region."""

    reason = "region"


class ClusterIDNotSignedError(TokenError):
    """``X-Amz-SignedHeaders`` is not exactly ``host;x-k8s-aws-id``: the token is not bound to a cluster."""

    reason = "signed-headers"


class ExpiredTokenError(TokenError):
    """The token's 15-minute lifetime (from ``X-Amz-Date``) is over."""

    reason = "expired"


class TokenNotYetValidError(TokenError):
    """``X-Amz-Date`` lies further in the future than the configured clock skew allows."""

    reason = "not-yet-valid"


class AccessDeniedError(TokenError):
    """STS refused the presigned request: a wrong cluster id, a tampered token or bad credentials.

    ``sts_code`` holds the STS error code (e.g. ``SignatureDoesNotMatch``) when one was given.
    """

    reason = "sts-denied"

    def __init__(
        self, message: str, *, reason: str | None = None, sts_code: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.sts_code = sts_code


# --- could not decide ------------------------------------------------------------------


class STSError(K8sAwsAuthError):
    """No decision could be reached (network, throttling, server error): retry later.

    ``retry_after`` is STS's own hint in seconds (its answer's ``Retry-After``), or
    ``None`` when it gave none (as it usually does): a service then answers with its
    configured default.
    """

    reason = "sts-error"
    retry_after: int | None = None


class STSUnavailableError(STSError):
    """STS could not be reached in time (connection error, timeout, deadline exceeded)."""

    reason = "sts-unavailable"


class STSResponseError(STSError):
    """STS (or whatever answered) gave a response that is not a usable answer.

    ``status_code`` is the HTTP status, ``sts_code`` the STS error code if one was parsed.
    """

    reason = "sts-bad-response"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status_code: int | None = None,
        sts_code: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.status_code = status_code
        self.sts_code = sts_code


class STSThrottledError(STSResponseError):
    """STS throttled the request (``Throttling``, ``TooManyRequests`` or HTTP 429)."""

    reason = "sts-throttled"


# --- credentials -------------------------------------------------------------------------


class CredentialsError(K8sAwsAuthError):
    """AWS credentials could not be found or fetched."""

    reason = "credentials"


class NoCredentialsError(CredentialsError):
    """Every provider of the credential chain was skipped.

    ``attempts`` lists ``(provider name, why it was skipped)`` pairs, in chain order.
    """

    reason = "no-credentials"

    def __init__(
        self,
        message: str = "no AWS credentials found",
        *,
        reason: str | None = None,
        attempts: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.attempts: tuple[tuple[str, str], ...] = tuple(attempts)
        if self.attempts:
            tried = "; ".join(f"{name}: {why}" for name, why in self.attempts)
            message = f"{message} (tried {tried})"
        super().__init__(message, reason=reason)


class CredentialProviderError(CredentialsError):
    """A configured credential provider failed; ``provider`` names it."""

    reason = "credential-provider"

    def __init__(self, message: str, *, provider: str, reason: str | None = None) -> None:
        super().__init__(f"{provider}: {message}", reason=reason)
        self.provider = provider


# --- configuration -----------------------------------------------------------------------


class ConfigurationError(K8sAwsAuthError, ValueError):
    """A configuration value is invalid (also a `ValueError`)."""

    reason = "configuration"
