"""The FastAPI and Starlette services the integration tests run under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from k8s_aws_auth import AsyncTokenVerifier, Identity
from k8s_aws_auth.integrations.fastapi import IAMBearer
from k8s_aws_auth.integrations.starlette import IAMAuthBackend, IAMUser, on_auth_error


def fastapi_app(verifier: AsyncTokenVerifier, *, retry_after: int = 1) -> FastAPI:
    """``GET /whoami`` answers the caller's ARN; the verifier is closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with verifier:
            yield

    app = FastAPI(lifespan=lifespan)
    iam = IAMBearer(verifier, retry_after=retry_after)

    @app.get("/whoami")
    async def whoami(identity: Identity = Depends(iam)) -> dict[str, str]:  # noqa: B008
        return {"arn": identity.arn}

    return app


def starlette_app(verifier: AsyncTokenVerifier, *, retry_after: int = 1) -> Starlette:
    """The same service in plain Starlette, with ``IAMAuthBackend``."""

    @requires("authenticated", status_code=401)
    async def whoami(request: Request) -> JSONResponse:
        user: Any = request.user
        assert isinstance(user, IAMUser)
        return JSONResponse({"arn": user.iam.arn, "display_name": user.display_name})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with verifier:
            yield

    backend = IAMAuthBackend(verifier, retry_after=retry_after)
    middleware = [Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error)]
    return Starlette(routes=[Route("/whoami", whoami)], middleware=middleware, lifespan=lifespan)
