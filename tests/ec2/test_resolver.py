"""EC2 DescribeInstances lookups against a loopback EC2 endpoint that checks SigV4 (botocore oracle)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import anyio
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from k8s_aws_auth import Credentials, Identity
from k8s_aws_auth.mapping import (
    AsyncEC2Resolver,
    EC2LookupError,
    EC2Resolver,
    IdentityMapper,
    parse_mapping_text,
)

REGION = "eu-west-1"
CREDS = Credentials("AKIDEXAMPLEEXAMPLE12", "secretsecretsecretsecret", "session-token-xyz")
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
KNOWN = {
    f"i-{n:017x}": f"ip-10-0-{n // 256}-{n % 256}.{REGION}.compute.internal" for n in range(1, 60)
}


class FakeEC2:
    """A loopback EC2 query API: verifies SigV4 with botocore, answers DescribeInstances XML."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.bad_signatures = 0
        self.throttle_next = 0
        self.lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        length = int(handler.headers["Content-Length"])
        body = handler.rfile.read(length)
        if not self._signature_ok(handler, body):
            with self.lock:
                self.bad_signatures += 1
            return (
                401,
                b"<Response><Errors><Error><Code>AuthFailure</Code></Error></Errors></Response>",
            )
        params = parse_qsl(body.decode())
        assert ("Action", "DescribeInstances") in params
        assert ("Filter.1.Name", "instance-id") in params
        ids = [v for k, v in params if k.startswith("Filter.1.Value.")]
        with self.lock:
            self.requests.append(ids)
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return 503, (
                    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                    b"<Message>Request limit exceeded.</Message></Error></Errors></Response>"
                )
        items = "".join(
            f"<item><instanceId>{i}</instanceId><privateDnsName>{KNOWN[i]}</privateDnsName></item>"
            for i in ids
            if i in KNOWN
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId>"
            f"<instancesSet>{items}</instancesSet></item></reservationSet>"
            "</DescribeInstancesResponse>"
        )
        return 200, xml.encode()

    @staticmethod
    def _signature_ok(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        auth = handler.headers["Authorization"] or ""
        try:
            algorithm, rest = auth.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        except ValueError:
            return False
        scope = fields["Credential"].split("/")
        if algorithm != "AWS4-HMAC-SHA256" or scope[0] != CREDS.access_key_id:
            return False
        if scope[2:] != [REGION, "ec2", "aws4_request"]:
            return False
        signed = fields["SignedHeaders"].split(";")
        url = f"http://{handler.headers['Host']}{handler.path}"
        headers = {name: handler.headers[name] for name in signed if name != "host"}
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        request.context["timestamp"] = handler.headers["X-Amz-Date"]
        signer = SigV4Auth(
            BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key, CREDS.session_token),
            "ec2",
            REGION,
        )
        if signer.signed_headers(signer.headers_to_sign(request)) != fields["SignedHeaders"]:
            return False
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return bool(expected == fields["Signature"])


@pytest.fixture
def ec2() -> Iterator[tuple[FakeEC2, str]]:
    fake = FakeEC2()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, payload = fake.handle(self)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class FakeTime:
    """Injected monotonic clock and sleep: sleeping advances the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _resolver(endpoint: str, clock: FakeTime, **kwargs: Any) -> EC2Resolver:
    options: dict[str, Any] = {
        "credentials": CREDS,
        "endpoint_url": endpoint,
        "clock": lambda: NOW,
        "monotonic": clock.monotonic,
        "sleep": clock.sleep,
        "batch_window": 0,
        **kwargs,
    }
    return EC2Resolver(REGION, **options)


def test_resolve_signs_with_sigv4_and_parses_the_answer(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    instance = "i-00000000000000001"
    with _resolver(endpoint, FakeTime()) as resolver:
        assert resolver.resolve(instance) == KNOWN[instance]
    assert fake.bad_signatures == 0
    assert fake.requests == [[instance]]


def test_wrong_secret_is_refused_by_the_oracle(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    wrong = Credentials(CREDS.access_key_id, "not-the-secret", CREDS.session_token)
    with (
        _resolver(endpoint, FakeTime(), credentials=wrong) as resolver,
        pytest.raises(EC2LookupError, match="HTTP 401 AuthFailure") as caught,
    ):
        resolver.resolve("i-00000000000000001")
    assert not caught.value.retryable
    assert fake.bad_signatures == 1


def test_batching_and_the_rate_limit(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    clock = FakeTime()
    ids = sorted(KNOWN)[:9]
    with _resolver(endpoint, clock, max_batch=3, qps=2.0, burst=1) as resolver:
        found = resolver.resolve_many(ids)
    assert found == {i: KNOWN[i] for i in ids}
    assert fake.requests == [ids[0:3], ids[3:6], ids[6:9]]
    # one token at once, then one every 1/qps seconds
    assert clock.sleeps == [0.5, 0.5]


def test_burst_allows_back_to_back_calls(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    clock = FakeTime()
    with _resolver(endpoint, clock, max_batch=1, qps=1.0, burst=3) as resolver:
        resolver.resolve_many(sorted(KNOWN)[:5])
    assert len(fake.requests) == 5
    assert clock.sleeps == [1.0, 1.0]


def test_cache_ttl_and_size_bound(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    clock = FakeTime()
    a, b, c = sorted(KNOWN)[:3]
    with _resolver(endpoint, clock, cache_ttl=60, cache_size=2, qps=1000, burst=100) as resolver:
        resolver.resolve(a)
        resolver.resolve(a)
        assert len(fake.requests) == 1  # cached
        clock.now += 61
        resolver.resolve(a)
        assert len(fake.requests) == 2  # expired
        resolver.resolve(b)
        resolver.resolve(c)  # evicts a (least recently used)
        resolver.resolve(c)
        assert len(fake.requests) == 4
        resolver.resolve(a)
        assert len(fake.requests) == 5


def test_unknown_instance_is_negatively_cached(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    clock = FakeTime()
    unknown = "i-0fffffffffffffff0"
    with _resolver(endpoint, clock, negative_ttl=30) as resolver:
        for _ in range(3):
            with pytest.raises(EC2LookupError, match="knows no instance"):
                resolver.resolve(unknown)
        assert len(fake.requests) == 1
        clock.now += 31
        with pytest.raises(EC2LookupError):
            resolver.resolve(unknown)
        assert len(fake.requests) == 2


def test_throttling_is_retried_with_backoff(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    fake.throttle_next = 2
    with _resolver(endpoint, FakeTime(), backoff=0.001) as resolver:
        assert resolver.resolve("i-00000000000000002") == KNOWN["i-00000000000000002"]
    assert len(fake.requests) == 3


def test_persistent_throttling_is_a_retryable_error(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    fake.throttle_next = 100
    with (
        _resolver(endpoint, FakeTime(), backoff=0.001, max_retries=2) as resolver,
        pytest.raises(EC2LookupError, match="RequestLimitExceeded") as caught,
    ):
        resolver.resolve("i-00000000000000002")
    assert caught.value.retryable
    assert len(fake.requests) == 3


def test_credentials_provider_is_called_per_request(ec2: tuple[FakeEC2, str]) -> None:
    _, endpoint = ec2
    calls: list[int] = []

    def provider() -> Credentials:
        calls.append(1)
        return CREDS

    with _resolver(
        endpoint, FakeTime(), credentials=provider, max_batch=1, qps=100, burst=10
    ) as resolver:
        resolver.resolve_many(sorted(KNOWN)[:3])
    assert len(calls) == 3


def test_only_instance_ids_are_looked_up(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    with _resolver(endpoint, FakeTime()) as resolver:
        for session in ("alice", "i-xyz", "i-0123", "I-01234567", "i-01234567\n"):
            with pytest.raises(EC2LookupError):
                resolver.resolve(session)
    assert fake.requests == []


def test_mapper_with_resolver_end_to_end(ec2: tuple[FakeEC2, str]) -> None:
    _, endpoint = ec2
    mapping = parse_mapping_text(
        "roles:\n  - arn: arn:aws:iam::111122223333:role/Node\n"
        "    username: system:node:{{EC2PrivateDNSName}}\n    groups: [system:nodes]\n"
    )
    instance = "i-00000000000000007"
    who = Identity(
        arn=f"arn:aws:sts::111122223333:assumed-role/Node/{instance}",
        canonical_arn="arn:aws:iam::111122223333:role/Node",
        account_id="111122223333",
        user_id="AROANODE",
        session_name=instance,
        access_key_id="ASIAEXAMPLEEXAMPLE1",
        sts_endpoint="sts.eu-west-1.amazonaws.com",
        partition="aws",
        principal_type="assumed-role",
    )
    with _resolver(endpoint, FakeTime()) as resolver:
        user = IdentityMapper([mapping], ec2_dns=resolver.resolve).map(who)
    assert user is not None
    assert user.username == f"system:node:{KNOWN[instance]}"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_async_concurrent_lookups_are_coalesced_into_batches(
    ec2: tuple[FakeEC2, str],
) -> None:
    fake, endpoint = ec2
    ids = sorted(KNOWN)[:10]
    results: dict[str, str] = {}
    resolver = AsyncEC2Resolver(
        REGION,
        credentials=lambda: CREDS,
        endpoint_url=endpoint,
        clock=lambda: NOW,
        batch_window=0.01,
        max_batch=4,
        qps=1000,
        burst=10,
    )
    async with resolver:

        async def one(instance_id: str) -> None:
            results[instance_id] = await resolver.resolve(instance_id)

        async with anyio.create_task_group() as group:
            for instance_id in ids:
                group.start_soon(one, instance_id)
    assert results == {i: KNOWN[i] for i in ids}
    assert sorted(len(batch) for batch in fake.requests) == [2, 4, 4]
    assert sorted(i for batch in fake.requests for i in batch) == ids
    assert fake.bad_signatures == 0


@pytest.mark.anyio
async def test_async_rate_limit_uses_the_injected_sleep(ec2: tuple[FakeEC2, str]) -> None:
    fake, endpoint = ec2
    clock = FakeTime()

    async def sleep(seconds: float) -> None:
        clock.sleep(seconds)

    resolver = AsyncEC2Resolver(
        REGION,
        credentials=CREDS,
        endpoint_url=endpoint,
        clock=lambda: NOW,
        monotonic=clock.monotonic,
        sleep=sleep,
        batch_window=0,
        max_batch=2,
        qps=4.0,
        burst=1,
    )
    async with resolver:
        found = await resolver.resolve_many(sorted(KNOWN)[:6])
    assert len(found) == 6
    assert len(fake.requests) == 3
    assert clock.sleeps == [0.25, 0.25]


def test_a_waiter_gives_up_with_a_retryable_error(ec2: tuple[FakeEC2, str]) -> None:
    _, endpoint = ec2
    instance = "i-00000000000000003"
    leader_waiting, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        leader_waiting.set()
        assert release.wait(10)

    led: list[str] = []
    # As in the async twin below: a 2 s wait for the waiter, 1 s for the leader's call.
    with _resolver(
        endpoint, FakeTime(), sleep=sleep, batch_window=0.01, deadline=1.0, max_retries=0
    ) as resolver:
        leader = threading.Thread(target=lambda: led.append(resolver.resolve(instance)))
        leader.start()
        try:
            assert leader_waiting.wait(10)
            with pytest.raises(EC2LookupError) as caught:
                resolver.resolve(instance)
        finally:
            release.set()
            leader.join(10)
    assert caught.value.reason == "ec2-timeout"
    assert caught.value.retryable
    assert led == [KNOWN[instance]]


@pytest.mark.anyio
async def test_async_waiter_gives_up_with_a_retryable_error(ec2: tuple[FakeEC2, str]) -> None:
    _, endpoint = ec2
    instance = "i-00000000000000004"
    leader_waiting, release = anyio.Event(), anyio.Event()

    async def sleep(seconds: float) -> None:
        leader_waiting.set()
        await release.wait()

    led: list[str] = []
    resolver = AsyncEC2Resolver(
        REGION,
        credentials=CREDS,
        endpoint_url=endpoint,
        clock=lambda: NOW,
        sleep=sleep,
        batch_window=0.01,
        # The waiter gives up after deadline * (max_retries + 2) = 2 s; the leader's own
        # loopback call then gets 1 s: the waiter's wait and the leader's call share the
        # one real-time budget, and the call must succeed on a loaded 2-core machine with
        # two timeshift runs and xdist workers beside it (0.05 s and then 0.25 s did not).
        deadline=1.0,
        max_retries=0,
    )

    async def lead() -> None:
        led.append(await resolver.resolve(instance))

    async with resolver, anyio.create_task_group() as group:
        group.start_soon(lead)
        await leader_waiting.wait()
        try:
            with pytest.raises(EC2LookupError) as caught:
                await resolver.resolve(instance)
        finally:
            release.set()
    assert caught.value.reason == "ec2-timeout"
    assert caught.value.retryable
    assert led == [KNOWN[instance]]
