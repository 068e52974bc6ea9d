"""Integration options that the service tests leave at their defaults: map_identity, trio, the async hook."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from k8s_aws_auth import AsyncTokenSource, AsyncTokenVerifier, Identity, TokenAuth, VerifierConfig
from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.integrations.starlette import IAMAuthBackend, on_auth_error
from k8s_aws_auth.testing import FakeSTS, TokenFactory

CLUSTER = "options-cluster"


def test_map_identity_makes_the_request_s_user() -> None:
    fake = FakeSTS()
    tokens = TokenFactory(fake, cluster_id=CLUSTER)
    verifier = AsyncTokenVerifier(VerifierConfig(CLUSTER), client=httpx.AsyncClient(transport=fake))

    def to_user(identity: Identity) -> SimpleUser:
        return SimpleUser(f"iam:{identity.account_id}")

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.user.display_name} {request.auth.scopes}")

    backend = IAMAuthBackend(verifier, map_identity=to_user, scopes=("iam", "read"))
    app = Starlette(
        routes=[Route("/", whoami)],
        middleware=[Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error)],
    )

    async def main() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            answer = await client.get("/", headers={"Authorization": f"Bearer {tokens.valid()}"})
        return answer.text

    assert anyio.run(main) == "iam:111122223333 ['iam', 'read']"


def test_token_auth_on_an_async_client_under_trio() -> None:
    fake = FakeSTS()
    alice = fake.create_principal("arn:aws:iam::111122223333:user/alice")
    source = AsyncTokenSource(CLUSTER, credentials=alice.credentials, region="us-west-2")
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200)

    async def main() -> int:
        transport = httpx.MockTransport(server)
        async with httpx.AsyncClient(transport=transport, auth=TokenAuth(source)) as client:
            return (await client.get("http://svc/")).status_code

    assert anyio.run(main, backend="trio") == 200
    assert len(seen) == 2  # the 401 and its one retry


def test_the_async_kubernetes_hook_awaits_the_async_source() -> None:
    pytest.importorskip("kubernetes")  # a test-only dependency (the test extra has it)
    from kubernetes.client import Configuration

    from k8s_aws_auth.integrations.kubernetes import install_token_refresh

    fake = FakeSTS()
    alice = fake.create_principal("arn:aws:iam::111122223333:user/alice")
    source = AsyncTokenSource(CLUSTER, credentials=alice.credentials, region="us-west-2")
    configuration = Configuration(host="https://127.0.0.1:6443")
    with pytest.raises(ConfigurationError, match=r"await source\.token"):
        install_token_refresh(configuration, source)

    async def main() -> str:
        first = await source.token()
        install_token_refresh(configuration, source)
        assert configuration.api_key["authorization"] == f"Bearer {first.value}"
        source.invalidate()
        await configuration.refresh_api_key_hook(configuration)  # what kubernetes.aio does
        return str(configuration.api_key["BearerToken"])

    refreshed = anyio.run(main)
    assert refreshed.startswith("Bearer k8s-aws-v1.")
