"""Hostile clients against the real ``serve`` process, mapping reloads while serving, mTLS, shutdown."""

from __future__ import annotations

import contextlib
import json
import pathlib
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trustme
import yaml

from k8s_aws_auth.testing import FakeSTS
from tests.support.ports import free_port
from tests.support.server import (
    CLUSTER_ID,
    ServerProcess,
    review,
    run_cli,
    start_webhook,
    webhook_client,
    write_config,
)

# One worker runs this module (xdist loadgroup): its module fixture starts the webhook once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server-hostile")]

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


class Running:
    """A serve process with its config file, state dir, FakeSTS and a client."""

    def __init__(
        self,
        root: pathlib.Path,
        sts: FakeSTS,
        server: ServerProcess,
        client: httpx.Client,
        url: str,
    ) -> None:
        self.root = root
        self.sts = sts
        self.server = server
        self.client = client
        self.url = url
        self.alice = sts.create_principal(ALICE, seed="hostile-alice")

    @property
    def config(self) -> pathlib.Path:
        return self.root / "config.yaml"

    @property
    def ca_file(self) -> pathlib.Path:
        return self.root / "state" / "ca.pem"

    def token(self) -> str:
        return self.sts.make_token(self.alice, cluster_id=CLUSTER_ID)

    def post(self, document: object) -> httpx.Response:
        return self.client.post(self.url, json=document)

    def username(self) -> str:
        response = self.post(review(self.token()))
        assert response.status_code == 200, response.text
        status = response.json()["status"]
        assert status["authenticated"] is True, status
        return str(status["user"]["username"])

    def metric(self, name: str) -> float:
        text = self.client.get(self.url.replace("/authenticate", "/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def wait_for_metric(self, name: str, value: float, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metric(name) >= value:
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} never reached {value}:\n{self.server.log_text()[-3000:]}")


FAILURES = "k8s_aws_auth_mapping_reload_failures_total"
RELOADS = "k8s_aws_auth_mapping_reloads_total"


def _mapping(username: str) -> dict[str, Any]:
    return {
        "mapUsers": [{"userARN": ALICE, "username": username, "groups": ["devs"]}],
        "reloadInterval": "100ms",
        "headerTimeout": "1s",
        "bodyTimeout": "1s",
    }


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One serve process for the module (FakeSTS served from this process)."""
    root = tmp_path_factory.mktemp("hostile")
    sts = FakeSTS()
    with sts.serve() as sts_url:
        server = start_webhook(root, _mapping("alice"), sts_url)
        try:
            client, url = webhook_client(root / "state" / "kubeconfig.yaml", timeout=30.0)
            with client:
                yield Running(root, sts, server, client, url)
        finally:
            server.close()


def _tls_socket(running: Running) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(running.ca_file))
    raw = socket.create_connection(("127.0.0.1", running.server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def _still_serving(running: Running) -> None:
    assert running.client.get(running.url.replace("/authenticate", "/healthz")).text == "ok\n"
    assert running.username() in ("alice", "alice-v2")
    assert running.server.process.poll() is None


def test_the_init_certificates_pass_the_strict_x509_checks_of_python_3_13(
    running: Running,
) -> None:
    # Python 3.13's default context adds VERIFY_X509_STRICT (RFC 5280: an authority key
    # identifier, a critical basicConstraints on the CA, ...) and VERIFY_X509_PARTIAL_CHAIN;
    # set them on every Python, so a Python client of the webhook on 3.13 is tested on all.
    context = ssl.create_default_context(cafile=str(running.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    raw = socket.create_connection(("127.0.0.1", running.server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"ok\n")


def test_oversized_body_is_413(running: Running) -> None:
    response = running.client.post(running.url, content=b"{" + b" " * (1 << 20) + b"}")
    assert response.status_code == 413
    _still_serving(running)


def test_huge_token_is_413_or_400_never_a_review(running: Running) -> None:
    huge = running.post(review("k8s-aws-v1." + "A" * (1 << 20)))
    assert huge.status_code == 413
    large = running.post(review("k8s-aws-v1." + "A" * 20_000))
    assert large.status_code == 400
    assert "AAAA" not in large.text
    _still_serving(running)


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"null",
        b"\x00\x01\x02",
        b"[" * 50_000,
        json.dumps({"apiVersion": "v1", "kind": "TokenReview", "spec": {"token": "t"}}).encode(),
    ],
)
def test_malformed_and_wrong_version_are_400(running: Running, body: bytes) -> None:
    response = running.client.post(running.url, content=body)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    _still_serving(running)


def test_wrong_method_is_405(running: Running) -> None:
    response = running.client.get(running.url)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_garbage_instead_of_tls_and_http_does_not_hurt(running: Running) -> None:
    with socket.create_connection(("127.0.0.1", running.server.port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)))
        raw.settimeout(10)
        with contextlib.suppress(OSError):
            raw.recv(100)
    with _tls_socket(running) as tls:
        tls.sendall(b"\x00garbage that is not HTTP\r\n\r\n")
        reply = tls.recv(200)
        assert reply.startswith(b"HTTP/1.1 400")
    _still_serving(running)


def test_slow_clients_do_not_block_others_and_are_cut_off(running: Running) -> None:
    # Twenty clients trickle headers, five send a body that never completes.
    trickling = [_tls_socket(running) for _ in range(20)]
    stalled = [_tls_socket(running) for _ in range(5)]
    try:
        for sock in trickling:
            sock.sendall(b"POST /authenticate HTTP/1.1\r\nHost: localhost\r\n")
        for sock in stalled:
            sock.sendall(
                b"POST /authenticate HTTP/1.1\r\nHost: localhost\r\n"
                b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"apiVer'
            )
        # Meanwhile everyone else is served.
        for _ in range(3):
            _still_serving(running)
        # The stalled bodies get 408 once bodyTimeout passes...
        for sock in stalled:
            sock.settimeout(20)
            assert sock.recv(100).startswith(b"HTTP/1.1 408")
        # ... and header tricklers are disconnected.
        for sock in trickling:
            sock.settimeout(20)
            with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                assert sock.recv(100) == b""
    finally:
        for sock in trickling + stalled:
            sock.close()
    _still_serving(running)


def test_broken_mapping_file_keeps_the_last_good_mapping(running: Running) -> None:
    assert running.username() == "alice"
    good = running.config.read_text()
    failures = running.metric(FAILURES)
    reloads = running.metric(RELOADS)
    # YAML that does not parse, then YAML whose entry is invalid, then a vanished file.
    running.config.write_text("clusterID: x\nserver: [unclosed\n")
    running.wait_for_metric(FAILURES, failures + 1)
    assert running.username() == "alice"
    running.config.write_text(
        yaml.safe_dump(
            {
                "clusterID": CLUSTER_ID,
                "server": {"mapUsers": [{"userARN": "not-an-arn", "username": "x"}]},
            }
        )
    )
    running.wait_for_metric(FAILURES, failures + 2)
    assert running.username() == "alice"
    running.config.unlink()
    running.wait_for_metric(FAILURES, failures + 3)
    assert running.username() == "alice"
    assert running.server.process.poll() is None
    logged = running.server.log_text()
    assert "keeping the last good mapping" in logged
    # A good file takes effect.
    write_config(running.config, CLUSTER_ID, _mapping("alice-v2"))
    running.wait_for_metric(RELOADS, reloads + 1)
    assert running.username() == "alice-v2"
    running.config.write_text(good)
    running.wait_for_metric(RELOADS, reloads + 2)
    assert running.username() == "alice"


def test_client_certificates_are_required_when_configured(tmp_path: pathlib.Path) -> None:
    apiserver_ca = trustme.CA()
    client_cert = apiserver_ca.issue_cert("kube-apiserver")
    ca_file, cert_file, key_file = (
        tmp_path / n for n in ("client-ca.pem", "client.pem", "client-key.pem")
    )
    apiserver_ca.cert_pem.write_to_path(str(ca_file))
    client_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    client_cert.private_key_pem.write_to_path(str(key_file))
    config = write_config(
        tmp_path / "config.yaml",
        CLUSTER_ID,
        {"mapUsers": [{"userARN": ALICE, "username": "alice"}]},
    )
    port = free_port()
    state = tmp_path / "state"
    init = run_cli(
        "init",
        "-c",
        str(config),
        "--state-dir",
        str(state),
        "--port",
        str(port),
        "--client-certificate",
        str(cert_file),
        "--client-key",
        str(key_file),
    )
    assert init.returncode == 0, init.stderr
    sts = FakeSTS()
    alice = sts.create_principal(ALICE, seed="mtls-alice")
    with sts.serve() as sts_url:
        server = ServerProcess(
            [
                "-c",
                str(config),
                "--state-dir",
                str(state),
                "--port",
                str(port),
                "--sts-endpoint-url",
                sts_url,
                "--client-ca-file",
                str(ca_file),
            ]
        )
        try:
            server.wait_serving()
            client, url = webhook_client(state / "kubeconfig.yaml", timeout=30.0)
            with client:
                response = client.post(
                    url, json=review(sts.make_token(alice, cluster_id=CLUSTER_ID))
                )
                assert response.json()["status"]["user"]["username"] == "alice"
            anonymous = httpx.Client(
                verify=ssl.create_default_context(cafile=str(state / "ca.pem"))
            )
            with anonymous, pytest.raises(httpx.TransportError):
                anonymous.post(url, json=review("k8s-aws-v1.x"))
        finally:
            server.close()


def test_sigterm_drains_and_exits_zero(tmp_path: pathlib.Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        CLUSTER_ID,
        {"mapUsers": [{"userARN": ALICE, "username": "alice"}]},
    )
    sts = FakeSTS()
    alice = sts.create_principal(ALICE, seed="term-alice")
    port = free_port()
    with sts.serve() as sts_url:
        server = ServerProcess(
            [
                "-c",
                str(config),
                "--state-dir",
                str(tmp_path / "state"),
                "--port",
                str(port),
                "--sts-endpoint-url",
                sts_url,
            ]
        )
        try:
            server.wait_serving()
            # serve wrote the pair and a kubeconfig itself (no init ran).
            client, url = webhook_client(tmp_path / "state" / "kubeconfig.yaml", timeout=30.0)
            with client:
                # A review in flight while SIGTERM arrives still gets its answer.
                sts.delay_next(1.0)
                import threading

                answers: list[httpx.Response] = []
                worker = threading.Thread(
                    target=lambda: answers.append(
                        client.post(url, json=review(sts.make_token(alice, cluster_id=CLUSTER_ID)))
                    )
                )
                worker.start()
                time.sleep(0.3)
                server.process.send_signal(signal.SIGTERM)
                worker.join(timeout=30)
            assert answers
            assert answers[0].json()["status"]["user"]["username"] == "alice"
            assert server.process.wait(timeout=30) == 0
            messages = [r.get("message") for r in server.logs()]
            assert "stopped" in messages
        finally:
            server.close()


def test_a_broken_config_stops_the_start_with_a_message(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"clusterID": CLUSTER_ID, "server": {"mapUsers": [{"userARN": "nope"}], "prot": 1}}
        )
    )
    result = run_cli(
        "serve", "-c", str(config), "--state-dir", str(tmp_path / "state"), "--port", "0"
    )
    assert result.returncode == 1
    assert "unknown key server.prot" in result.stderr
