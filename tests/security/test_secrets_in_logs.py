"""No log record of any logger and no error chain holds a token or a secret (issue 10, item 2).

Verification (owned and borrowed clients; sync, asyncio, trio), generation and
the webhook run over real loopback servers while :func:`every_record` captures
every record of every logger at every level. Planted secrets (the token, its
presigned URL and query, signature, credential scope, session token, secret key,
a web identity token) must appear nowhere: not in a formatted record, its
arguments or exception, nor in the ``str``/``repr``/``args``/attributes of any
exception in the chain of an error we raise. A hostile STS stand-in echoes the
request line as its status line, our headers in a broken header line, or our
headers and target in a well-formed answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import uvicorn

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    Identity,
    VerifierConfig,
    _verifier,
    agenerate_token,
    decode_token,
    generate_token,
    presign_token,
)
from k8s_aws_auth.errors import (
    AccessDeniedError,
    CredentialsError,
    K8sAwsAuthError,
    STSError,
    STSResponseError,
    STSThrottledError,
    STSUnavailableError,
)
from k8s_aws_auth.server import MappedUser, TokenReviewApp
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.credentials import unused_port
from tests.support.leak_harness import (
    CANARY,
    EchoServer,
    Planted,
    chain_texts,
    echoing,
    every_record,
)
from tests.support.ports import free_port
from tests.support.server import (
    ServerProcess,
    review,
    run_cli,
    webhook_client,
    write_config,
)
from tests.support.verifier_harness import KINDS, verify_all

CLUSTER = "leak-cluster"
ACCOUNT = "111122223333"
CALLER_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/leaky"
SECRET_KEY = f"{CANARY}SecretAccessKey0123456789abcdefghij"
SESSION_TOKEN = f"{CANARY}SessionToken+/0123456789abcdefghijklmnopqrstuv=="
CALLER = Credentials("ASIALEAKCANARY000001", SECRET_KEY, SESSION_TOKEN)
START = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
#: ``client_options`` for verify_all: none (the verifier owns its client), or a default client.
BORROW: dict[str, dict[str, Any] | None] = {"owned": None, "borrowed": {}}


def token_secrets(token: str) -> Planted:
    """The token and every part of it that replays it, plus the signer's secrets."""
    url = decode_token(token)
    query = url.partition("?")[2]
    params = dict(parse_qsl(query))
    return Planted(
        {
            "token": token,
            "token body": token.removeprefix("k8s-aws-v1."),
            "presigned URL": url,
            "presigned query": query,
            "signature": params["X-Amz-Signature"],
            "X-Amz-Credential": params["X-Amz-Credential"],
            "session token": SESSION_TOKEN,
            "secret key": SECRET_KEY,
        }
    )


def _texts(result: object) -> list[str]:
    return chain_texts(result) if isinstance(result, BaseException) else [repr(result)]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    fake = FakeSTS(clock=clock)
    fake.register(CALLER, CALLER_ARN)
    return fake


@pytest.fixture
def token(clock: FixedClock) -> str:
    return presign_token(CALLER, cluster_id=CLUSTER, now=clock(), region="us-west-2").value


@contextlib.contextmanager
def basic_config_info(stream: io.StringIO) -> Iterator[None]:
    """What ``logging.basicConfig(level=logging.INFO)`` sets up, undone afterwards."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client", BORROW)
@pytest.mark.parametrize("kind", KINDS)
def test_info_logging_as_basic_config_sets_it_up_shows_no_token(
    kind: str, client: str, fake: FakeSTS, clock: FixedClock, token: str
) -> None:
    """The report: ``basicConfig(level=INFO)`` made httpx log the presigned query."""
    stream = io.StringIO()
    with basic_config_info(stream), fake.serve() as url:
        config = VerifierConfig(CLUSTER, sts_endpoint_url=url)
        result = verify_all(kind, config, [token], client_options=BORROW[client], clock=clock).only
    assert isinstance(result, Identity), result
    assert result.arn == CALLER_ARN
    logged = stream.getvalue()
    assert "INFO:httpx:HTTP Request: GET http://127.0.0.1:" in logged  # the line is still there
    assert '?[redacted] "HTTP/1.1 200 OK"' in logged
    token_secrets(token).assert_absent([logged])


OUTCOMES = {
    "success": (None, Identity),
    "deny": (None, AccessDeniedError),
    "throttled": ("throttle", STSThrottledError),
    "server-error": ("fail", STSResponseError),
    "dropped": ("drop", STSUnavailableError),
    "unreachable": ("unreachable", STSUnavailableError),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("client", BORROW)
@pytest.mark.parametrize("kind", KINDS)
def test_no_record_or_error_of_a_verification_holds_a_secret(
    kind: str, client: str, outcome: str, fake: FakeSTS, clock: FixedClock
) -> None:
    fault, expected = OUTCOMES[outcome]
    cluster = "another-cluster" if outcome == "deny" else CLUSTER
    token = presign_token(CALLER, cluster_id=cluster, now=clock(), region="us-west-2").value
    if fault == "throttle":
        fake.throttle_next(5)
    elif fault == "fail":
        fake.fail_next(5)
    elif fault == "drop":
        fake.drop_next(5)
    with every_record() as captured, fake.serve() as served:
        url = f"http://127.0.0.1:{unused_port()}" if fault == "unreachable" else served
        config = VerifierConfig(CLUSTER, sts_endpoint_url=url, max_retries=1)
        result = verify_all(kind, config, [token], client_options=BORROW[client], clock=clock).only
    assert isinstance(result, expected), repr(result)
    assert any(name.startswith("httpcore.") for name in captured.loggers())  # DEBUG was on
    if fault not in ("drop", "unreachable"):
        assert any(m.startswith("HTTP Request: GET") for m in captured.messages("httpx"))
    token_secrets(token).assert_absent(captured.texts + _texts(result), f" ({outcome})")


@pytest.mark.parametrize(
    ("mode", "status"),
    [("status-line", 0), ("broken-header", 0), ("echo", 200), ("echo", 403), ("echo", 500)],
)
@pytest.mark.parametrize("client", BORROW)
@pytest.mark.parametrize("kind", KINDS)
def test_an_sts_that_echoes_the_request_cannot_make_us_quote_it(
    kind: str, client: str, mode: str, status: int, clock: FixedClock, token: str
) -> None:
    server = EchoServer(mode=mode, status=status)
    with every_record() as captured, echoing(server):
        config = VerifierConfig(CLUSTER, sts_endpoint_url=server.base_url, max_retries=0)
        result = verify_all(kind, config, [token], client_options=BORROW[client], clock=clock).only
    assert isinstance(result, STSError), repr(result)  # could not decide: never a denial
    assert server.requests, "the stand-in was never asked"
    if mode == "status-line":
        # h11 quoted the echoed request line; the chained copy keeps the class, not the secret.
        assert isinstance(result, STSUnavailableError)
        cause = result.__cause__
        assert isinstance(cause, httpx.RemoteProtocolError)
        assert "illegal status line" in str(cause)
        assert "[redacted]" in str(cause)
        assert cause.__cause__ is None
        assert cause.__context__ is None
    if mode == "echo":
        # httpcore's DEBUG trace of the response head had the query as reason phrase.
        heads = [m for m in captured.messages("httpcore.http11") if "receive_response_headers" in m]
        assert any("[redacted]" in m for m in heads), heads
    token_secrets(token).assert_absent(captured.texts + _texts(result), f" ({mode} {status})")


@pytest.mark.parametrize("kind", KINDS)
def test_a_bug_that_quotes_the_token_is_chained_scrubbed(
    kind: str, fake: FakeSTS, clock: FixedClock, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_flow(*args: object, **kwargs: object) -> object:
        raise RuntimeError(f"flow bug while holding {token}")

    monkeypatch.setattr(_verifier, "sts_flow", broken_flow)
    with every_record() as captured:
        result = verify_all(
            kind, VerifierConfig(CLUSTER), [token], transport=fake, clock=clock
        ).only
    assert isinstance(result, STSError)
    assert result.reason == "internal"
    cause = result.__cause__
    assert isinstance(cause, RuntimeError)  # the class survives, for debugging
    assert str(cause) == "flow bug while holding [redacted]"
    assert cause.__traceback__ is not None  # and so does the traceback of the bug
    assert result.__context__ is None
    token_secrets(token).assert_absent(captured.texts + _texts(result))


# --- generation -----------------------------------------------------------------------------------

WEB_IDENTITY_TOKEN = f"{CANARY}-web-identity-token-0123456789abcdefghijklmnopqrstuvwxyz"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/LeakRole"


def _web_identity_env(tmp_path: Path, sts_url: str) -> dict[str, str]:
    token_file = tmp_path / "web-identity-token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    return {
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ROLE_ARN": ROLE,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_REGION": "us-west-2",
    }


def _generated_secrets(token: str) -> Planted:
    """The generated token, its parts and the session token of the minted credentials."""
    url = decode_token(token)
    params = dict(parse_qsl(url.partition("?")[2]))
    return Planted(
        {
            "token": token,
            "presigned query": url.partition("?")[2],
            "signature": params["X-Amz-Signature"],
            "minted session token": params["X-Amz-Security-Token"],
            "web identity token": WEB_IDENTITY_TOKEN,
        }
    )


@pytest.mark.parametrize("kind", KINDS)
def test_generation_through_web_identity_logs_no_secret(kind: str, tmp_path: Path) -> None:
    fake = FakeSTS()
    fake.register_role(ROLE)
    fake.register_web_identity(ROLE, WEB_IDENTITY_TOKEN)
    with every_record() as captured, fake.serve() as url:
        environ = _web_identity_env(tmp_path, url)
        if kind == "sync":
            generated = generate_token(CLUSTER, environ=environ)
        else:
            generated = anyio.run(lambda: agenerate_token(CLUSTER, environ=environ), backend=kind)
    assert fake.count("AssumeRoleWithWebIdentity") == 1
    assert any(m.startswith("HTTP Request: POST") for m in captured.messages("httpx"))
    _generated_secrets(generated.value).assert_absent([*captured.texts, repr(generated)])


@pytest.mark.parametrize("mode", ["status-line", "broken-header", "echo"])
@pytest.mark.parametrize("kind", KINDS)
def test_generation_against_an_echoing_sts_fails_without_quoting(
    kind: str, mode: str, tmp_path: Path
) -> None:
    server = EchoServer(mode=mode)
    with every_record() as captured, echoing(server):
        environ = _web_identity_env(tmp_path, server.base_url)
        try:
            if kind == "sync":
                generate_token(CLUSTER, environ=environ)
            else:
                anyio.run(lambda: agenerate_token(CLUSTER, environ=environ), backend=kind)
        except CredentialsError as exc:
            error: K8sAwsAuthError = exc
        else:
            raise AssertionError("an echo is not credentials")
    assert server.requests
    if mode == "echo":
        heads = [m for m in captured.messages("httpcore.http11") if "receive_response_headers" in m]
        assert any("X-Echo-Body" in m and "[redacted]" in m for m in heads), heads
    planted = Planted({"web identity token": WEB_IDENTITY_TOKEN})
    planted.assert_absent(captured.texts + chain_texts(error), f" ({mode})")


# --- the webhook ----------------------------------------------------------------------------------


@contextlib.contextmanager
def uvicorn_serving(app: TokenReviewApp) -> Iterator[str]:
    """``app`` under a real uvicorn (h11, access log on, TRACE level) on a loopback port."""
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, access_log=True, log_level="trace", lifespan="off", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _raw_request(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_webhook_under_uvicorn_logs_no_token(
    fake: FakeSTS, clock: FixedClock, token: str
) -> None:
    denied = presign_token(CALLER, cluster_id="another", now=clock(), region="us-west-2").value
    planted = token_secrets(token).plus(**{"denied token": denied})
    sts_client = httpx.AsyncClient(transport=fake)  # in-memory: usable from uvicorn's loop
    with every_record() as captured:
        verifier = AsyncTokenVerifier(
            VerifierConfig(CLUSTER, max_retries=0), client=sts_client, clock=clock
        )
        bug: list[str] = []

        def map_identity(identity: Identity) -> MappedUser:
            if bug:  # a bug that quotes the token: the app logs it with its traceback
                raise RuntimeError(f"mapper bug near {bug[0]}")
            return MappedUser(username="leaky", groups=("devs",))

        app = TokenReviewApp(verifier, map_identity, max_body_bytes=8192)
        with uvicorn_serving(app) as url, httpx.Client(base_url=url) as client:
            ok = client.post("/authenticate", json=review(token))
            bug.append(token)
            crashed = client.post("/authenticate", json=review(token))
            bug.clear()
            no = client.post("/authenticate", json=review(denied))
            fake.fail_next(1)
            outage = client.post("/authenticate", json=review(token))  # no cache: STS again
            broken = client.post("/authenticate", content=b'{"spec": {"token": "' + token.encode())
            huge = client.post("/authenticate", content=json.dumps(review(token + " " * 9000)))
            in_query = client.get("/authenticate", params={"token": token})
            in_header = client.get("/healthz", headers={"Authorization": f"Bearer {token}"})
            garbage = _raw_request(
                url, f"GET /?token={token} HTTP/1.1 trailing junk\r\n\r\n".encode()
            )
    anyio.run(sts_client.aclose)
    assert ok.json()["status"]["authenticated"] is True
    assert no.json()["status"].get("authenticated") is not True
    assert outage.status_code == 500
    assert crashed.status_code == 500
    [unhandled] = [r for r in captured.records if r.getMessage().startswith("unhandled error")]
    assert unhandled.exc_info is None  # the guard swapped the leaking exception for its text
    assert unhandled.exc_text is not None
    assert "RuntimeError: mapper bug near [redacted]" in unhandled.exc_text
    assert (broken.status_code, huge.status_code, in_query.status_code) == (400, 413, 405)
    assert in_header.status_code == 200
    assert garbage.startswith(b"HTTP/1.1 400")
    access = captured.messages("uvicorn.access")
    assert any("token=[redacted]" in line for line in access), access  # the guard rewrote it
    assert "access granted" in captured.messages("k8s_aws_auth.server")
    assert any("Started scope=" in m for m in captured.messages("uvicorn.asgi"))  # TRACE was on
    planted.assert_absent(captured.texts)


@pytest.mark.slow
def test_the_serve_process_json_logs_hold_no_token(tmp_path: Path) -> None:
    """``k8s-aws-auth serve --log-level debug``: every line it writes, for every kind of answer."""
    fake = FakeSTS()
    fake.register(CALLER, CALLER_ARN)
    config = write_config(
        tmp_path / "config.yaml",
        CLUSTER,
        {"mapUsers": [{"userARN": CALLER_ARN, "username": "leaky", "groups": ["devs"]}]},
    )
    port = free_port()
    state = tmp_path / "state"
    init = run_cli("init", "-c", str(config), "--state-dir", str(state), "--port", str(port))
    assert init.returncode == 0, init.stderr
    now = datetime.now(timezone.utc)
    token = presign_token(CALLER, cluster_id=CLUSTER, now=now, region="us-west-2").value
    denied = presign_token(CALLER, cluster_id="another", now=now, region="us-west-2").value
    # Signed a second later: another token, so the server's cache cannot answer it.
    fresh = presign_token(
        CALLER, cluster_id=CLUSTER, now=now + timedelta(seconds=1), region="us-west-2"
    ).value
    with fake.serve() as sts_url:
        server = ServerProcess(
            [
                *("-c", str(config), "--state-dir", str(state), "--port", str(port)),
                *("--sts-endpoint-url", sts_url, "--log-level", "debug"),
            ]
        )
        try:
            server.wait_serving()
            client, url = webhook_client(state / "kubeconfig.yaml", timeout=30.0)
            with client:
                assert client.post(url, json=review(token)).json()["status"]["authenticated"]
                client.post(url, json=review(denied))
                fake.fail_next(5)
                assert client.post(url, json=review(fresh)).status_code == 500
                broken = b'{"spec": {"token": "' + token.encode()
                assert client.post(url, content=broken).status_code == 400
                assert client.get(url, params={"token": token}).status_code == 405
            server.stop()
            logged = server.log_text()
        finally:
            server.close()
    assert '"access granted"' in logged
    assert '"access not granted"' in logged
    planted = token_secrets(token).plus(**{"denied token": denied, "fresh token": fresh})
    planted.assert_absent([logged])
