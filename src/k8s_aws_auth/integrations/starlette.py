"""Starlette: ``IAMAuthBackend``, an ``AuthenticationBackend`` for ``k8s-aws-v1.`` bearer tokens.

Install with ``pip install 'k8s-aws-auth[starlette]'``. Use it with Starlette's
``AuthenticationMiddleware`` and this module's
[`on_auth_error()`][k8s_aws_auth.integrations.starlette.on_auth_error], which
turns a refusal into ``401``/``503`` with the right headers (Starlette's default
answers every ``AuthenticationError`` with a plain ``400``)::

    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware

    middleware = [
        Middleware(
            AuthenticationMiddleware,
            backend=IAMAuthBackend(verifier),
            on_error=on_auth_error,
        )
    ]

A request without bearer credentials passes as unauthenticated
(``request.user.is_authenticated`` is false; guard routes with ``@requires``);
a verified one has ``request.user`` an [`IAMUser`][k8s_aws_auth.integrations.starlette.IAMUser]
(or what ``map_identity`` returns) and the scope ``authenticated``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8s_aws_auth._core.models import Identity

from ._http import Denial, MissingDependencyError, authenticate, check_retry_after, verify_function

try:
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        BaseUser,
    )
    from starlette.requests import HTTPConnection
    from starlette.responses import JSONResponse, Response
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Starlette
    raise MissingDependencyError.for_extra(__name__, "Starlette", "starlette") from exc

__all__ = ["IAMAuthBackend", "IAMAuthenticationError", "IAMUser", "on_auth_error"]


class IAMUser(BaseUser):
    """The request's user: the IAM identity STS confirmed.

    ``identity`` (Starlette's id of the user) is the canonical ARN (an assumed
    role's session becomes its role ARN); ``display_name`` is the ARN STS answered.
    """

    def __init__(self, iam: Identity) -> None:
        self.iam = iam
        """The full [`Identity`][k8s_aws_auth.Identity]."""

    @property
    def is_authenticated(self) -> bool:
        """Always true."""
        return True

    @property
    def display_name(self) -> str:
        """The ARN STS answered."""
        return self.iam.arn

    @property
    def identity(self) -> str:
        """The canonical ARN."""
        return self.iam.canonical_arn


class IAMAuthenticationError(AuthenticationError):
    """A refused request, with the answer [`on_auth_error()`][k8s_aws_auth.integrations.starlette.on_auth_error] sends."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.detail)
        self.denial = denial


class IAMAuthBackend(AuthenticationBackend):
    """Authenticate ``Authorization: Bearer k8s-aws-v1.…`` with a verifier.

    Args:
        verifier: an [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] (or a
            [`TokenVerifier`][k8s_aws_auth.TokenVerifier], run in worker threads).
        map_identity: ``Identity -> BaseUser`` for your own user type (default
            [`IAMUser`][k8s_aws_auth.integrations.starlette.IAMUser]).
        scopes: the credentials' scopes of a verified request.
        retry_after: the ``Retry-After`` seconds of a ``503`` when STS gave no hint.
    """

    def __init__(
        self,
        verifier: Any,
        *,
        map_identity: Callable[[Identity], BaseUser] | None = None,
        scopes: tuple[str, ...] = ("authenticated",),
        retry_after: int = 1,
    ) -> None:
        self._verify = verify_function(verifier)
        mapper: object = map_identity  # checked: a wrong value would fail every request
        if mapper is not None and not callable(mapper):
            from k8s_aws_auth.errors import ConfigurationError

            raise ConfigurationError("map_identity must be callable", reason="map_identity")
        self._map = map_identity or IAMUser
        self._scopes = list(scopes)
        self._retry_after = check_retry_after(retry_after)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """``None`` without bearer credentials; raises ``IAMAuthenticationError`` on refusal."""
        outcome = await authenticate(
            conn.headers.get("authorization"), self._verify, self._retry_after
        )
        if outcome is None:
            return None
        if isinstance(outcome, Denial):
            raise IAMAuthenticationError(outcome)
        return AuthCredentials(self._scopes), self._map(outcome)


def on_auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    """``AuthenticationMiddleware(on_error=…)``: the refusal's status and headers, a JSON detail."""
    if isinstance(exc, IAMAuthenticationError):
        denial = exc.denial
        return JSONResponse({"detail": denial.detail}, denial.status, headers=denial.headers)
    return JSONResponse({"detail": "Authentication failed"}, 400)
