"""TokenReviewApp driven in-process through httpx.ASGITransport, with the real verifier and FakeSTS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import pytest

from k8s_aws_auth import AsyncTokenVerifier, Identity, VerifierConfig
from k8s_aws_auth.errors import K8sAwsAuthError
from k8s_aws_auth.mapping._errors import EC2LookupError, MappingError
from k8s_aws_auth.mapping._formats import parse_document
from k8s_aws_auth.mapping._mapper import IdentityMapper
from k8s_aws_auth.server import MappedUser, ServerMetrics, TokenReviewApp
from k8s_aws_auth.server._mapping import IdentityMapping
from k8s_aws_auth.server._observe import ObservingTransport
from k8s_aws_auth.testing import FakeSTS
from k8s_aws_auth.testing._values import Principal

CLUSTER = "app-cluster"
ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
SCRUBBED_ACCOUNT = "444455556666"
ROOTISH = f"arn:aws:iam::{SCRUBBED_ACCOUNT}:user/ops"
V1 = "authentication.k8s.io/v1"
V1BETA1 = "authentication.k8s.io/v1beta1"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every test on asyncio and on trio."""
    return str(request.param)


class World:
    """FakeSTS with three principals, a verifier on it, a mapping and metrics."""

    def __init__(self) -> None:
        self.sts = FakeSTS()
        self.alice = self.sts.create_principal(ALICE, seed="app-alice")
        self.bob = self.sts.create_principal(BOB, seed="app-bob")
        self.ops = self.sts.create_principal(ROOTISH, seed="app-ops")
        self.metrics = ServerMetrics()
        config = VerifierConfig(CLUSTER)
        self.client = httpx.AsyncClient(
            transport=ObservingTransport(
                self.sts,
                config.hosts,
                lambda status, region, throttled: self.metrics.record_sts(
                    status, region, throttled=throttled
                ),
            )
        )
        self.verifier = AsyncTokenVerifier(config, client=self.client)
        mapping_set = parse_document(
            {
                "server": {
                    "mapUsers": [
                        {"userARN": ALICE, "username": "alice", "groups": ["devs"]},
                        {"userARN": ROOTISH, "username": "ops", "groups": ["ops"]},
                    ],
                    "scrubbedAccounts": [SCRUBBED_ACCOUNT],
                }
            },
            format="mounted-file",
        )
        self.mapping = IdentityMapping(
            IdentityMapper([mapping_set], scrubbed_accounts=[SCRUBBED_ACCOUNT]),
            [],
            reload_interval=1,
        )

    def token(self, principal: Principal, cluster: str = CLUSTER) -> str:
        return self.sts.make_token(principal, cluster_id=cluster)

    def app(self, **kwargs: Any) -> TokenReviewApp:
        kwargs.setdefault("metrics_endpoint", self.metrics.render)
        kwargs.setdefault("on_result", self.metrics.record)
        kwargs.setdefault("scrubbed_accounts", [SCRUBBED_ACCOUNT])
        return TokenReviewApp(self.verifier, self.mapping.map_identity, **kwargs)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    """A fresh :class:`World`, its clients closed afterwards."""
    world = World()
    yield world
    await world.verifier.aclose()
    await world.client.aclose()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://webhook")


def _review(token: str, api_version: str = V1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "TokenReview", "spec": {"token": token, **spec}}


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
async def test_mapped_identity_is_authenticated(world: World, api_version: str) -> None:
    async with _client(world.app()) as client:
        response = await client.post(
            "/authenticate", json=_review(world.token(world.alice), api_version)
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    document = response.json()
    assert document["apiVersion"] == api_version
    assert document["kind"] == "TokenReview"
    assert document["status"]["authenticated"] is True
    user = document["status"]["user"]
    assert user["username"] == "alice"
    assert user["groups"] == ["devs"]
    assert user["uid"] == f"aws-iam-authenticator:{ACCOUNT}:{world.alice.user_id}"
    assert user["extra"] == {
        "arn": [ALICE],
        "canonicalArn": [ALICE],
        "sessionName": [""],
        "accessKeyId": [world.alice.credentials.access_key_id],
        "principalId": [world.alice.user_id],
        "sigs.k8s.io/aws-iam-authenticator/principalId": [world.alice.user_id],
    }


async def test_scrubbed_account_gets_the_administrative_uid_and_no_extra(world: World) -> None:
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.ops)))
    user = response.json()["status"]["user"]
    assert user == {
        "username": "ops",
        "uid": "aws-iam-authenticator:administrative:ops",
        "groups": ["ops"],
    }


async def test_unmapped_identity_is_denied(world: World) -> None:
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.bob)))
    assert response.status_code == 200
    assert response.json()["status"] == {"authenticated": False, "error": "identity is not mapped"}
    assert "retry-after" not in response.headers


async def test_token_for_another_cluster_is_denied_by_sts(world: World) -> None:
    async with _client(world.app()) as client:
        response = await client.post(
            "/authenticate", json=_review(world.token(world.alice, "other"))
        )
    assert response.status_code == 200
    assert response.json()["status"] == {
        "authenticated": False,
        "error": "token rejected: sts-denied",
    }


async def test_a_bad_token_is_denied_and_never_echoed(world: World) -> None:
    token = "k8s-aws-v1.not-base64-at-all!!secret-looking"
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", json=_review(token))
    assert response.status_code == 200
    assert response.json()["status"]["authenticated"] is False
    assert "secret-looking" not in response.text
    assert world.sts.count() == 0


async def test_sts_outage_is_500_with_retry_after(world: World) -> None:
    world.sts.fail_next(10, status=503)
    async with _client(world.app(retry_after=3)) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.alice)))
    assert response.status_code == 500
    assert response.headers["retry-after"] == "3"
    status = response.json()["status"]
    assert status["authenticated"] is False
    assert status["error"].startswith("temporary failure")


async def test_sts_throttling_is_429_with_retry_after(world: World) -> None:
    world.sts.throttle_next(10)
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.alice)))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["status"]["authenticated"] is False


async def test_sts_that_hangs_up_is_500(world: World) -> None:
    world.sts.drop_next(10)
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.alice)))
    assert response.status_code == 500
    assert response.json()["status"]["authenticated"] is False


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{nope", 400, "not valid JSON"),
        (b"", 400, "expected a request body"),
        (
            json.dumps(
                {"apiVersion": "v1", "kind": "TokenReview", "spec": {"token": "t"}}
            ).encode(),
            400,
            "apiVersion",
        ),
        (
            json.dumps(
                {
                    "apiVersion": V1,
                    "kind": "TokenReview",
                    "spec": {"token": "k8s-aws-v1." + "A" * 17000},
                }
            ).encode(),
            400,
            "longer than",
        ),
        (b"{" + b"x" * 70_000 + b"}", 413, "larger than"),
    ],
)
async def test_malformed_requests_get_4xx_text(
    world: World, body: bytes, status: int, words: str
) -> None:
    async with _client(world.app()) as client:
        response = await client.post("/authenticate", content=body)
    assert response.status_code == status
    assert words in response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "Traceback" not in response.text


async def test_a_streamed_body_over_the_limit_is_413(world: World) -> None:
    # No Content-Length: the limit is enforced while reading, chunk by chunk.
    app = world.app(max_body_bytes=8192)
    received: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/authenticate", "headers": []}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(received) == 9  # stopped reading as soon as the limit was passed


async def test_a_body_that_never_finishes_is_408(world: World) -> None:
    app = world.app(body_timeout=0.05)
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            await anyio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/authenticate", "headers": []}
    await app(scope, receive, send)
    assert sent[0]["status"] == 408


async def test_a_cancellation_while_reading_the_body_is_not_a_408(world: World) -> None:
    # Shutdown cancels a review waiting for its body: that must stay a cancellation
    # (on asyncio the body timeout is a timer cancelling the task; it must not swallow it).
    app = world.app(body_timeout=3600)
    sent: list[MutableMapping[str, Any]] = []
    waiting = anyio.Event()

    async def receive() -> dict[str, Any]:
        waiting.set()
        await anyio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/authenticate", "headers": []}
    cancelled = False
    async with anyio.create_task_group() as group:

        async def review() -> None:
            nonlocal cancelled
            try:
                await app(scope, receive, send)
            except anyio.get_cancelled_exc_class():
                cancelled = True
                raise

        group.start_soon(review)
        await waiting.wait()
        group.cancel_scope.cancel()
    assert cancelled
    assert sent == []


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/authenticate", 405, "POST"),
        ("PUT", "/authenticate", 405, "POST"),
        ("POST", "/healthz", 405, "GET, HEAD"),
        ("GET", "/nope", 404, None),
        ("GET", "/authenticate/", 404, None),
    ],
)
async def test_routing(
    world: World, method: str, path: str, status: int, allow: str | None
) -> None:
    async with _client(world.app()) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("allow") == allow


async def test_health_and_readiness(world: World) -> None:
    ready = [False]
    async with _client(world.app(ready=lambda: ready[0])) as client:
        assert (await client.get("/healthz")).text == "ok\n"
        assert (await client.get("/readyz")).status_code == 503
        ready[0] = True
        assert (await client.get("/readyz")).status_code == 200
        head = await client.head("/healthz")
        assert head.status_code == 200
        assert head.content == b""


@pytest.mark.parametrize(
    ("request_audiences", "status"),
    [
        (None, {"authenticated": True}),
        (
            ["https://kubernetes.default.svc", "other"],
            {"authenticated": True, "audiences": ["https://kubernetes.default.svc"]},
        ),
        (["someone-else"], {"authenticated": False, "error": "token audiences not accepted"}),
    ],
)
async def test_audiences(
    world: World, request_audiences: list[str] | None, status: dict[str, Any]
) -> None:
    spec: dict[str, Any] = {} if request_audiences is None else {"audiences": request_audiences}
    app = world.app(audiences=["https://kubernetes.default.svc"])
    async with _client(app) as client:
        response = await client.post(
            "/authenticate", json=_review(world.token(world.alice), **spec)
        )
    got = response.json()["status"]
    got.pop("user", None)
    assert got == status


async def test_audiences_are_ignored_when_not_configured(world: World) -> None:
    async with _client(world.app()) as client:
        response = await client.post(
            "/authenticate", json=_review(world.token(world.alice), audiences=["anything"])
        )
    status = response.json()["status"]
    assert status["authenticated"] is True
    assert "audiences" not in status


def _mapper_raising(error: Exception) -> Callable[[Identity], MappedUser | None]:
    def map_identity(identity: Identity) -> MappedUser | None:
        raise error

    return map_identity


@pytest.mark.parametrize(
    ("error", "status", "authenticated"),
    [
        (MappingError("bad session name", reason="template"), 200, False),
        (EC2LookupError("EC2 unreachable", retryable=True), 500, False),
        (EC2LookupError("no such instance"), 200, False),
        (RuntimeError("bug"), 500, None),
    ],
)
async def test_mapper_errors(
    world: World, error: Exception, status: int, authenticated: bool | None
) -> None:
    app = TokenReviewApp(world.verifier, _mapper_raising(error))
    async with _client(app) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.alice)))
    assert response.status_code == status
    if authenticated is None:
        assert response.text == "internal error\n"
    else:
        assert response.json()["status"]["authenticated"] is authenticated


async def test_a_plain_mapped_user_gets_upstream_uid_and_extra(world: World) -> None:
    app = TokenReviewApp(world.verifier, lambda identity: MappedUser(username="x", groups=("g",)))
    async with _client(app) as client:
        response = await client.post("/authenticate", json=_review(world.token(world.alice)))
    user = response.json()["status"]["user"]
    assert user["uid"] == f"aws-iam-authenticator:{ACCOUNT}:{world.alice.user_id}"
    assert user["extra"]["arn"] == [ALICE]


class _BrokenVerifier:
    async def verify(self, token: str) -> Identity:
        raise K8sAwsAuthError("something odd", reason="odd")


async def test_an_unexpected_library_error_is_retryable_not_a_denial() -> None:
    app = TokenReviewApp(_BrokenVerifier(), lambda identity: None)
    async with _client(app) as client:
        response = await client.post("/authenticate", json=_review("k8s-aws-v1.x"))
    assert response.status_code == 500
    assert response.json()["status"]["authenticated"] is False


async def test_metrics_count_results_sts_answers_and_cache(world: World) -> None:
    world.verifier = AsyncTokenVerifier(VerifierConfig(CLUSTER, cache_size=10), client=world.client)
    world.metrics.watch_verifier(lambda: world.verifier.stats)
    token = world.token(world.alice)
    async with _client(world.app()) as client:
        await client.post("/authenticate", json=_review(token))
        await client.post("/authenticate", json=_review(token))
        await client.post("/authenticate", json=_review(world.token(world.bob)))
        await client.post("/authenticate", content=b"{")
        world.sts.throttle_next(10)
        await client.post("/authenticate", json=_review(world.token(world.ops)))
        text = (await client.get("/metrics")).text
    await world.verifier.aclose()
    lines = set(text.splitlines())
    assert 'aws_iam_authenticator_authenticate_latency_seconds_count{result="success"} 2.0' in lines
    assert (
        'aws_iam_authenticator_authenticate_latency_seconds_count{result="uknown_user"} 1.0'
        in lines
    )
    assert (
        'aws_iam_authenticator_authenticate_latency_seconds_count{result="malformed_request"} 1.0'
        in lines
    )
    assert (
        'aws_iam_authenticator_authenticate_latency_seconds_count{result="sts_throttling"} 1.0'
        in lines
    )
    assert (
        'aws_iam_authenticator_sts_responses_total{ResponseCode="200",StsRegion="us-west-2"} 2.0'
        in lines
    )
    # one throttled verification = the first try and two retries
    assert 'aws_iam_authenticator_sts_throttling_total{StsRegion="us-west-2"} 3.0' in lines
    assert "k8s_aws_auth_verifier_cache_hits_total 1.0" in lines
    assert 'k8s_aws_auth_token_reviews_total{code="429",result="sts_throttling"} 1.0' in lines


async def test_lifespan_runs_the_hooks_in_order() -> None:
    calls: list[str] = []

    async def hook(name: str) -> None:
        calls.append(name)

    app = TokenReviewApp(
        _BrokenVerifier(),
        lambda identity: None,
        on_startup=[lambda: hook("start")],
        on_shutdown=[lambda: hook("stop")],
    )
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert calls == ["start", "stop"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_a_mount_prefix_in_root_path_is_honoured(world: World) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/webhook/healthz",
        "root_path": "/webhook",
        "headers": [],
    }
    await world.app()(scope, receive, send)
    assert sent[0]["status"] == 200


#: upstream's families (pkg/metrics/metrics.go): name → Prometheus type.
UPSTREAM_FAMILIES = {
    "aws_iam_authenticator_authenticate_latency_seconds": "histogram",
    "aws_iam_authenticator_configmap_watch_failures_total": "counter",
    "aws_iam_authenticator_dynamicfile_failures_total": "counter",
    "aws_iam_authenticator_sts_connection_failures_total": "counter",
    "aws_iam_authenticator_sts_responses_total": "counter",
    "aws_iam_authenticator_sts_throttling_total": "counter",
    "aws_iam_authenticator_ec2_describe_instances_calls_total": "counter",
    "aws_iam_authenticator_dynamic_e2e_latency_seconds": "histogram",
    "aws_iam_authenticator_dynamic_file_enabled": "gauge",
    "aws_iam_authenticator_dynamic_file_only": "gauge",
}


def test_every_upstream_metric_family_is_exported_with_its_labels() -> None:
    metrics = ServerMetrics()
    metrics.record_sts(200, "global")
    metrics.record_sts(400, "us-west-2", throttled=True)
    metrics.record_sts(None, "us-west-2")
    text = metrics.render()[0].decode()
    types = {
        line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE")
    }
    for name, kind in UPSTREAM_FAMILIES.items():
        assert types.get(name) == kind, name
    lines = set(text.splitlines())
    assert "aws_iam_authenticator_configmap_watch_failures_total 0.0" in lines
    assert "aws_iam_authenticator_ec2_describe_instances_calls_total 0.0" in lines
    assert (
        'aws_iam_authenticator_sts_responses_total{ResponseCode="400",StsRegion="us-west-2"} 1.0'
        in lines
    )
    assert 'aws_iam_authenticator_sts_connection_failures_total{StsRegion="us-west-2"} 1.0' in lines
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
