"""FastAPI: ``IAMBearer``, a dependency that returns the caller's [`Identity`][k8s_aws_auth.Identity].

Install with ``pip install 'k8s-aws-auth[fastapi]'``::

    iam = IAMBearer(verifier)

    @app.get("/whoami")
    async def whoami(identity: Identity = Depends(iam)) -> dict[str, str]:
        return {"arn": identity.arn}

Answers: no bearer credentials → ``401`` with ``WWW-Authenticate: Bearer``; a
denied token → ``401`` with ``WWW-Authenticate: Bearer error="invalid_token",
error_description="<reason code>"``; STS unavailable → ``503`` with
``Retry-After``. The OpenAPI schema shows an HTTP bearer security scheme.
"""

from __future__ import annotations

from typing import Any

from k8s_aws_auth._core.models import Identity

from ._http import (
    Denial,
    MissingDependencyError,
    authenticate,
    check_retry_after,
    deny_missing,
    verify_function,
)

try:
    from fastapi import HTTPException, Request
    from fastapi.security import HTTPBearer
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without FastAPI
    raise MissingDependencyError.for_extra(__name__, "FastAPI", "fastapi") from exc

__all__ = ["IAMBearer"]


class IAMBearer(HTTPBearer):
    """A FastAPI dependency: verify the request's bearer token, return the [`Identity`][k8s_aws_auth.Identity].

    Args:
        verifier: an [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] (or a
            [`TokenVerifier`][k8s_aws_auth.TokenVerifier], run in worker threads).
        retry_after: the ``Retry-After`` seconds of a ``503`` when STS gave no hint.
        scheme_name: the security scheme's name in the OpenAPI schema.
    """

    def __init__(
        self, verifier: Any, *, retry_after: int = 1, scheme_name: str | None = None
    ) -> None:
        super().__init__(
            bearerFormat="k8s-aws-v1", scheme_name=scheme_name or "IAMBearer", auto_error=False
        )
        self._verify = verify_function(verifier)
        self._retry_after = check_retry_after(retry_after)

    async def __call__(self, request: Request) -> Identity:  # type: ignore[override]
        """Verify the request's token; raise ``HTTPException`` (401, 400 or 503) otherwise."""
        outcome = await authenticate(
            request.headers.get("authorization"), self._verify, self._retry_after
        )
        if outcome is None:
            outcome = deny_missing()
        if isinstance(outcome, Denial):
            raise HTTPException(outcome.status, detail=outcome.detail, headers=outcome.headers)
        return outcome
