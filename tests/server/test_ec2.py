"""``{{EC2PrivateDNSName}}`` in the webhook: node tokens mapped through a loopback EC2 stand-in.

The server is built by ``build_server`` from a real config file and driven over
ASGI (lifespan hooks included); STS is FakeSTS behind a loopback proxy that
also remembers the credentials its AssumeRole answers mint, so the EC2 stand-in
(SigV4 checked with botocore) can accept them. One test runs the real
``k8s-aws-auth serve`` process and posts TokenReviews over TLS.
"""

from __future__ import annotations

import contextlib
import http.server
import pathlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server import build_server, load_server_config
from k8s_aws_auth.server._serve import ServerParts
from k8s_aws_auth.testing import FakeSTS
from tests.support.ports import free_port
from tests.support.server import (
    CLUSTER_ID,
    EC2StandIn,
    ServerProcess,
    ec2_stand_in,
    review,
    serving,
    webhook_client,
    write_config,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/NodeInstanceRole"
DESCRIBE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/EC2Describer"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:user/webhook-operator"
SOURCE_ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER_ID}"
NODE = "i-0123456789abcdef0"
NODE_DNS = "ip-10-0-0-1.ec2.internal"
NODE_GROUPS = ["system:bootstrappers", "system:nodes"]
SERVER_KEY = ("AKIASERVEREXAMPLE001", "server-secret-key-for-describe-instances")
NODE_MAPPING = [
    {
        "rolearn": NODE_ROLE,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": NODE_GROUPS,
    }
]


@pytest.fixture
def anyio_backend() -> str:
    """The server runs on asyncio (uvicorn); the ASGI tests do too."""
    return "asyncio"


class STSProxy(http.server.ThreadingHTTPServer):
    """Loopback HTTP in front of a FakeSTS transport; keeps every AssumeRole answer body."""

    daemon_threads = True

    def __init__(self, sts: FakeSTS) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.sts = sts
        self.assume_role_answers: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def minted(self) -> list[tuple[str, str, str]]:
        """``(access key id, secret, session token)`` of every AssumeRole answer so far."""
        found = []
        for body in self.assume_role_answers:
            text = body.decode()
            key, secret, session = (
                re.search(f"<{name}>([^<]+)</{name}>", text)
                for name in ("AccessKeyId", "SecretAccessKey", "SessionToken")
            )
            if key and secret and session:
                found.append((key.group(1), secret.group(1), session.group(1)))
        return found


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: STSProxy

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = httpx.Request(
            self.command,
            f"http://{self.headers['Host']}{self.path}",
            headers=list(self.headers.items()),
            content=body,
        )
        response = self.server.sts.handle_request(request)
        payload = response.read()
        if self.command == "POST" and b"Action=AssumeRole&" in body and response.status_code == 200:
            self.server.assume_role_answers.append(payload)
        self.send_response(response.status_code)
        for name in ("Content-Type",):
            if name in response.headers:
                self.send_header(name, response.headers[name])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _forward
    do_POST = _forward


@contextlib.contextmanager
def sts_proxy(sts: FakeSTS) -> Iterator[STSProxy]:
    server = STSProxy(sts)
    with serving(server):
        yield server


class World:
    """FakeSTS (behind a proxy), the EC2 stand-in with one node, and a config directory."""

    def __init__(self, root: pathlib.Path, sts: FakeSTS, proxy: STSProxy, ec2: EC2StandIn):
        self.root = root
        self.sts = sts
        self.proxy = proxy
        self.ec2 = ec2
        ec2.instances[NODE] = NODE_DNS
        ec2.accept(*SERVER_KEY)
        self.environ = {
            "AWS_ACCESS_KEY_ID": SERVER_KEY[0],
            "AWS_SECRET_ACCESS_KEY": SERVER_KEY[1],
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_EC2": ec2.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
        }

    def node_token(self, instance_id: str = NODE) -> str:
        node = self.sts.create_principal(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/NodeInstanceRole/{instance_id}",
            seed=f"node-{instance_id}",
        )
        return self.sts.make_token(node, cluster_id=CLUSTER_ID)

    def config(self, **server: Any) -> pathlib.Path:
        settings = {
            "stateDir": str(self.root / "state"),
            "stsEndpointURL": self.proxy.url,
            "mapRoles": NODE_MAPPING,
            **server,
        }
        return write_config(self.root / "config.yaml", CLUSTER_ID, settings)

    def build(self, **server: Any) -> ServerParts:
        return build_server(load_server_config(self.config(**server)), environ=self.environ)


@pytest.fixture
def world(tmp_path: pathlib.Path) -> Iterator[World]:
    sts = FakeSTS()
    with sts_proxy(sts) as proxy, ec2_stand_in(REGION) as ec2:
        yield World(tmp_path, sts, proxy, ec2)


@contextlib.asynccontextmanager
async def started(parts: ServerParts) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan startup, yield an ASGI client, run shutdown."""
    for hook in parts.app.on_startup:
        await hook()
    try:
        transport = httpx.ASGITransport(app=parts.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            yield client
    finally:
        for hook in parts.app.on_shutdown:
            await hook()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


# --- mapping a node ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_node_token_maps_to_its_private_dns_name(world: World) -> None:
    parts = world.build()
    assert parts.ec2 is not None
    async with started(parts) as client:
        response = await client.post("/authenticate", json=review(world.node_token()))
        again = await client.post("/authenticate", json=review(world.node_token()))
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200, response.text
    status = response.json()["status"]
    assert status["authenticated"] is True
    assert status["user"]["username"] == f"system:node:{NODE_DNS}"
    assert status["user"]["groups"] == NODE_GROUPS
    assert status["user"]["extra"]["sessionName"] == [NODE]
    assert again.json()["status"]["user"]["username"] == f"system:node:{NODE_DNS}"
    # One signed call, with the server's own key; the second review hit the cache.
    assert world.ec2.requests == [[NODE]]
    assert world.ec2.access_keys == [SERVER_KEY[0]]
    assert world.ec2.refused == 0
    assert _metric(metrics, "aws_iam_authenticator_ec2_describe_instances_calls_total") == 1
    assert _metric(metrics, "k8s_aws_auth_ec2_cache_hits_total") == 1
    assert _metric(metrics, "k8s_aws_auth_ec2_cache_misses_total") == 1


@pytest.mark.anyio
async def test_unknown_instance_is_a_denial(world: World) -> None:
    parts = world.build()
    async with started(parts) as client:
        response = await client.post(
            "/authenticate", json=review(world.node_token("i-0fedcba9876543210"))
        )
    assert response.status_code == 200
    status = response.json()["status"]
    assert status["authenticated"] is False
    assert status["error"] == "identity not mapped: ec2-no-dns-name"
    assert world.ec2.requests == [["i-0fedcba9876543210"]]


@pytest.mark.anyio
async def test_ec2_throttling_is_retryable_and_never_cached(world: World) -> None:
    parts = world.build()
    world.ec2.throttle_next = 100
    async with started(parts) as client:
        token = world.node_token()
        throttled = await client.post("/authenticate", json=review(token))
        world.ec2.throttle_next = 0
        recovered = await client.post("/authenticate", json=review(token))
    assert throttled.status_code == 500
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["status"]["authenticated"] is False
    assert throttled.json()["status"]["error"] == "temporary failure: ec2-unavailable"
    # The resolver retried (1 + 3 retries), then gave up; the failure was not cached.
    assert len(world.ec2.requests) == 5
    assert recovered.status_code == 200
    assert recovered.json()["status"]["user"]["username"] == f"system:node:{NODE_DNS}"


@pytest.mark.anyio
async def test_unreachable_ec2_is_retryable(world: World) -> None:
    port = free_port()  # nothing listens there
    parts = world.build(ec2EndpointURL=f"http://127.0.0.1:{port}")
    assert parts.ec2 is not None
    assert parts.ec2.endpoint_url == f"http://127.0.0.1:{port}"  # the key beats the env
    async with started(parts) as client:
        response = await client.post("/authenticate", json=review(world.node_token()))
    assert response.status_code == 500
    assert "retry-after" in response.headers
    assert response.json()["status"]["error"] == "temporary failure: ec2-unavailable"


@pytest.mark.anyio
async def test_concurrent_node_reviews_are_batched(world: World) -> None:
    instances = [f"i-{n:017x}" for n in range(1, 13)]
    for n, instance in enumerate(instances, 1):
        world.ec2.instances[instance] = f"ip-10-0-1-{n}.ec2.internal"
    tokens = {instance: world.node_token(instance) for instance in instances}
    parts = world.build()
    names: dict[str, str] = {}
    async with started(parts) as client:

        async def one(instance: str) -> None:
            response = await client.post("/authenticate", json=review(tokens[instance]))
            names[instance] = response.json()["status"]["user"]["username"]

        async with anyio.create_task_group() as group:
            for instance in instances:
                group.start_soon(one, instance)
    assert names == {i: f"system:node:{world.ec2.instances[i]}" for i in instances}
    asked = [i for batch in world.ec2.requests for i in batch]
    assert sorted(asked) == instances  # each id asked exactly once
    assert len(world.ec2.requests) < len(instances)  # several ids per call


@pytest.mark.anyio
async def test_rate_limit_holds_back_calls_beyond_the_burst(world: World) -> None:
    first, second = "i-00000000000000001", "i-00000000000000002"
    world.ec2.instances[first] = "ip-10-0-2-1.ec2.internal"
    world.ec2.instances[second] = "ip-10-0-2-2.ec2.internal"
    parts = world.build(ec2DescribeInstancesQps=1, ec2DescribeInstancesBurst=1)
    async with started(parts) as client:
        ok = await client.post("/authenticate", json=review(world.node_token(first)))
        assert ok.json()["status"]["authenticated"] is True
        token = world.node_token(second)
        # The bucket is empty for about a second: the second call must wait for it.
        with anyio.move_on_after(0.3):
            await client.post("/authenticate", json=review(token))
        assert world.ec2.requests == [[first]]
        later = await client.post("/authenticate", json=review(token))
    assert later.json()["status"]["user"]["username"] == "system:node:ip-10-0-2-2.ec2.internal"
    assert world.ec2.requests == [[first], [second]]


# --- credentials --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_describe_role_is_assumed_with_source_headers(world: World) -> None:
    operator = world.sts.create_principal(OPERATOR, seed="operator")
    world.sts.register_role(DESCRIBE_ROLE, trusted=[OPERATOR])
    world.environ.update(
        AWS_ACCESS_KEY_ID=operator.credentials.access_key_id,
        AWS_SECRET_ACCESS_KEY=operator.credentials.secret_access_key,
        AWS_ENDPOINT_URL_STS=world.proxy.url,
    )
    parts = world.build(ec2DescribeInstancesRoleARN=DESCRIBE_ROLE, sourceARN=SOURCE_ARN)
    assert parts.ec2 is not None
    await parts.ec2.start()
    minted = world.proxy.minted()
    assert len(minted) == 1
    world.ec2.accept(*minted[0])
    async with started(parts) as client:
        response = await client.post("/authenticate", json=review(world.node_token()))
    assert response.json()["status"]["user"]["username"] == f"system:node:{NODE_DNS}"
    # EC2 was called with the role's credentials, not the operator's.
    assert world.ec2.access_keys == [minted[0][0]]
    [assume] = [r for r in world.sts.requests if r.action == "AssumeRole"]
    assert assume.status == 200  # FakeSTS checked the signature over every signed header
    headers = {name.lower(): value for name, value in assume.headers}
    assert headers["x-amz-source-arn"] == SOURCE_ARN
    assert headers["x-amz-source-account"] == ACCOUNT
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"x-amz-source-account", "x-amz-source-arn"} <= set(signed)
    assert f"RoleArn={DESCRIBE_ROLE.replace(':', '%3A').replace('/', '%2F')}" in (
        assume.body.decode()
    )


@pytest.mark.anyio
async def test_no_credentials_at_startup_is_a_clear_error(world: World) -> None:
    del world.environ["AWS_ACCESS_KEY_ID"], world.environ["AWS_SECRET_ACCESS_KEY"]
    parts = world.build()
    assert parts.ec2 is not None
    with pytest.raises(ConfigurationError, match=r"ec2:DescribeInstances.*no AWS credentials"):
        await parts.ec2.start()
    assert world.ec2.requests == []


def test_no_region_is_a_startup_error(world: World) -> None:
    del world.environ["AWS_REGION"]
    with pytest.raises(ConfigurationError, match=r"server\.region"):
        world.build()
    parts = world.build(region="eu-west-1")
    assert parts.ec2 is not None
    assert parts.ec2.region == "eu-west-1"


def test_region_of_another_partition_is_refused(world: World) -> None:
    with pytest.raises(ConfigurationError, match="partition aws-cn"):
        world.build(region="cn-north-1")


def test_bad_source_arn_is_refused(world: World) -> None:
    with pytest.raises(ConfigurationError, match="sourceARN"):
        world.build(ec2DescribeInstancesRoleARN=DESCRIBE_ROLE, sourceARN="my-cluster")


def test_broken_services_section_is_a_startup_configuration_error(world: World) -> None:
    # The profile names a services section the config file lacks: the EC2 endpoint cannot
    # be read, which stops the server with a ConfigurationError, not a credentials error.
    del world.environ["AWS_ENDPOINT_URL_EC2"]
    (world.root / "no-aws-config").write_text("[default]\nservices = missing\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"EC2 endpoint URL: .*'missing'") as raised:
        world.build(region=REGION)
    assert raised.value.reason == "ec2-endpoint"


def test_bad_ec2_endpoint_url_is_a_startup_configuration_error(world: World) -> None:
    with pytest.raises(ConfigurationError, match=r"EC2 endpoint URL: .*http:// or https://"):
        world.build(ec2EndpointURL="ftp://ec2.example")


def test_no_ec2_lookups_without_the_placeholder(world: World) -> None:
    parts = world.build(
        mapRoles=[{"rolearn": NODE_ROLE, "username": "node:{{SessionName}}", "groups": []}]
    )
    assert parts.ec2 is None


def test_ec2_settings_load_from_file_and_flags(world: World) -> None:
    path = world.config(
        ec2DescribeInstancesQps=20,
        ec2DescribeInstancesBurst=7,
        ec2CacheTTL="30m",
        ec2NegativeCacheTTL="0",
        ec2CacheSize=50,
        region="us-west-2",
    )
    config = load_server_config(path, {"ec2_qps": 3})
    assert (config.ec2_qps, config.ec2_burst) == (3, 7)
    assert (config.ec2_cache_ttl, config.ec2_negative_cache_ttl, config.ec2_cache_size) == (
        1800.0,
        0.0,
        50,
    )
    assert config.region == "us-west-2"
    defaults = load_server_config(world.config())
    assert (defaults.ec2_qps, defaults.ec2_burst) == (15, 5)
    with pytest.raises(ConfigurationError, match="ec2DescribeInstancesQps"):
        load_server_config(world.config(ec2DescribeInstancesQps=0))
    with pytest.raises(ConfigurationError, match="region"):
        load_server_config(world.config(region="not a region"))


# --- the real process ---------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_process_maps_a_node_over_tls(world: World) -> None:
    port = free_port()
    config = world.config(ec2EndpointURL=world.ec2.url)
    state = world.root / "state"
    environ = {k: v for k, v in world.environ.items() if k != "AWS_ENDPOINT_URL_EC2"}
    argv = ["-c", str(config), "--state-dir", str(state), "--port", str(port)]
    argv += ["--region", REGION, "--ec2-describeInstances-qps", "20"]
    argv += ["--ec2-describe-instances-burst", "9"]
    server = ServerProcess(argv, env=environ)
    try:
        server.wait_serving()
        client, url = webhook_client(state / "kubeconfig.yaml", timeout=30.0)
        with client:
            node = client.post(url, json=review(world.node_token()))
            world.ec2.throttle_next = 100
            other = client.post(url, json=review(world.node_token("i-00000000000000abc")))
            metrics = client.get(url.replace("/authenticate", "/metrics")).text
    finally:
        assert server.stop() == 0
        logs = server.log_text()
        records = server.logs()
        server.close()
    assert node.status_code == 200, logs
    user = node.json()["status"]["user"]
    assert user["username"] == f"system:node:{NODE_DNS}"
    assert user["groups"] == NODE_GROUPS
    assert other.status_code == 500
    assert other.headers["retry-after"] == "1"
    assert _metric(metrics, "aws_iam_authenticator_ec2_describe_instances_calls_total") == 2
    assert world.ec2.refused == 0
    [enabled] = [r for r in records if r.get("message", "").startswith("EC2 lookups")]
    assert enabled["region"] == REGION
    assert enabled["ec2_endpoint_url"] == world.ec2.url
    assert (enabled["ec2_qps"], enabled["ec2_burst"]) == (20, 9)
    assert SERVER_KEY[1] not in logs


@pytest.mark.slow
def test_serve_without_credentials_fails_to_start(world: World) -> None:
    config = world.config()
    environ = {
        k: v for k, v in world.environ.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))
    }
    server = ServerProcess(
        ["-c", str(config), "--state-dir", str(world.root / "state"), "--port", "0"],
        env=environ,
    )
    try:
        code = server.process.wait(timeout=60)
        logs = server.log_text()
    finally:
        server.close()
    assert code != 0
    assert "needs AWS credentials for ec2:DescribeInstances" in logs
    assert "Traceback" not in logs
