"""The serving certificate rotates under load: no failed review, new handshakes get the new pair.

A real ``serve`` process answers two clients that never stop reviewing — one
keep-alive connection, and a new connection per review — while the pair in
its state directory is replaced: once by replacing the two files (what
``init --renew`` does), once by a Kubernetes Secret volume's atomic ``..data``
symlink swap. The next pair comes from ``init --renew`` (same CA, so the
clients' trust and the webhook kubeconfig stay valid). The clients see the
served certificate themselves (``getpeercert``), so "new handshakes present
the new certificate" is checked from the client side.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import pathlib
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from k8s_aws_auth.testing import FakeSTS
from tests.support.ports import free_port
from tests.support.server import CLUSTER_ID, ServerProcess, review, run_cli, write_config

pytestmark = pytest.mark.slow

ALICE = "arn:aws:iam::111122223333:user/alice"
#: Generous: the machine may be loaded; the clients stop as soon as they saw the new pair.
DEADLINE = 90.0


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _file_fingerprint(path: pathlib.Path) -> str:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return _fingerprint(certificate.public_bytes(Encoding.DER))


class Reviewer(threading.Thread):
    """Reviews until stopped; records each answer's certificate fingerprint and any failure."""

    def __init__(self, port: int, ca_file: pathlib.Path, body: bytes, *, keep_alive: bool) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.body = body
        self.keep_alive = keep_alive
        self.stop = threading.Event()
        self.seen: list[str] = []
        self.failures: list[str] = []
        self.connections = 0

    def _connect(self) -> http.client.HTTPSConnection:
        self.connections += 1
        return http.client.HTTPSConnection("localhost", self.port, context=self.context, timeout=30)

    def run(self) -> None:
        connection = self._connect()
        while not self.stop.is_set():
            try:
                connection.request(
                    "POST", "/authenticate", self.body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200 or not answer["status"].get("authenticated"):
                    self.failures.append(f"{response.status}: {answer}")
                assert isinstance(connection.sock, ssl.SSLSocket)
                der = connection.sock.getpeercert(binary_form=True)
                assert der is not None
                self.seen.append(_fingerprint(der))
            except Exception as exc:  # every failure is what the test is about
                self.failures.append(repr(exc))
                connection.close()
                connection = self._connect()
                continue
            if not self.keep_alive:
                connection.close()
                connection = self._connect()
        connection.close()


def _secret_layout(state: pathlib.Path, source: pathlib.Path, version: str) -> None:
    """What the kubelet makes of a Secret volume: ``..<ts>/`` files, ``..data`` → it, links to ``..data``."""
    target = state / f"..{version}"
    target.mkdir()
    for name in ("cert.pem", "key.pem", "ca.pem"):
        shutil.copy2(source / name, target / name)
    link = state / "..data_tmp"
    link.symlink_to(target.name)
    os.replace(link, state / "..data")  # the atomic swap


@pytest.fixture
def pairs(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, int]:
    """``v1`` from ``init``, ``v2`` from ``init --renew`` of a copy (same CA), and the port."""
    port = free_port()
    config = write_config(tmp_path / "config.yaml", CLUSTER_ID, {})
    v1 = tmp_path / "v1"
    assert (
        run_cli("init", "-c", str(config), "--state-dir", str(v1), "--port", str(port)).returncode
        == 0
    )
    v2 = tmp_path / "v2"
    shutil.copytree(v1, v2)
    renew = run_cli(
        "init", "-c", str(config), "--state-dir", str(v2), "--port", str(port), "--renew"
    )
    assert renew.returncode == 0, renew.stderr
    assert (v1 / "ca.pem").read_bytes() == (v2 / "ca.pem").read_bytes()
    assert (v1 / "cert.pem").read_bytes() != (v2 / "cert.pem").read_bytes()
    # the kubeconfig (CA data) is unchanged by the renewal
    assert (v1 / "kubeconfig.yaml").read_bytes() == (v2 / "kubeconfig.yaml").read_bytes()
    return v1, v2, port


@pytest.fixture(scope="module")
def sts() -> Iterator[tuple[FakeSTS, str]]:
    fake = FakeSTS()
    with fake.serve() as url:
        yield fake, url


def _rotate_under_load(
    tmp_path: pathlib.Path,
    sts: tuple[FakeSTS, str],
    pairs: tuple[pathlib.Path, pathlib.Path, int],
    prepare: Callable[[pathlib.Path, pathlib.Path], None],
    replace: Callable[[pathlib.Path, pathlib.Path], None],
) -> None:
    fake, url = sts
    v1, v2, port = pairs
    state = tmp_path / "state"
    state.mkdir()
    prepare(state, v1)
    config = write_config(
        tmp_path / "serve.yaml",
        CLUSTER_ID,
        {
            "port": port,
            "stsEndpointURL": url,
            "healthPort": 0,
            "certReloadInterval": "100ms",
            "mapUsers": [{"userARN": ALICE, "username": "alice"}],
        },
    )
    token = fake.make_token(fake.create_principal(ALICE, seed="rotation"), cluster_id=CLUSTER_ID)
    body = json.dumps(review(token)).encode()
    server = ServerProcess(["-c", str(config), "--state-dir", str(state)])
    old, new = _file_fingerprint(v1 / "cert.pem"), _file_fingerprint(v2 / "cert.pem")
    reviewers = [Reviewer(port, v1 / "ca.pem", body, keep_alive=k) for k in (True, False)]
    try:
        server.wait_serving()
        for reviewer in reviewers:
            reviewer.start()
        deadline = time.monotonic() + DEADLINE
        while not all(len(r.seen) >= 5 for r in reviewers):
            assert time.monotonic() < deadline, server.log_text()[-3000:]
            time.sleep(0.05)
        replace(state, v2)
        fresh = reviewers[1]
        while fresh.seen[-5:] != [new] * 5:
            assert time.monotonic() < deadline, server.log_text()[-3000:]
            time.sleep(0.05)
        keep_alive_count = len(reviewers[0].seen)
        while len(reviewers[0].seen) < keep_alive_count + 5:
            assert time.monotonic() < deadline, server.log_text()[-3000:]
            time.sleep(0.05)
    finally:
        for reviewer in reviewers:
            reviewer.stop.set()
        for reviewer in reviewers:
            reviewer.join(timeout=60)
        log = server.log_text()
        server.close()
    for reviewer in reviewers:
        assert reviewer.failures == [], log[-3000:]
    keep_alive, fresh = reviewers
    # the keep-alive connection was never dropped: one connection, the old certificate throughout
    assert keep_alive.connections == 1
    assert set(keep_alive.seen) == {old}
    # new connections: the old certificate first, then only the new one
    first_new = fresh.seen.index(new)
    assert first_new > 0
    assert set(fresh.seen[:first_new]) == {old}
    assert set(fresh.seen[first_new:]) == {new}
    assert "loaded a new serving certificate" in log


def _copy_pair(state: pathlib.Path, source: pathlib.Path) -> None:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        shutil.copy2(source / name, state / name)


def _replace_files(state: pathlib.Path, source: pathlib.Path) -> None:
    # as init --renew writes them: the key first, then the certificate, each atomically
    for name in ("key.pem", "cert.pem"):
        temporary = state / f".{name}.tmp"
        shutil.copy2(source / name, temporary)
        os.replace(temporary, state / name)


def _secret_v1(state: pathlib.Path, source: pathlib.Path) -> None:
    _secret_layout(state, source, "2026_01_01_v1")
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (state / name).symlink_to(f"..data/{name}")


def _secret_v2(state: pathlib.Path, source: pathlib.Path) -> None:
    _secret_layout(state, source, "2026_06_01_v2")


def test_replacing_the_files_rotates_without_a_failed_review(
    tmp_path: pathlib.Path,
    sts: tuple[FakeSTS, str],
    pairs: tuple[pathlib.Path, pathlib.Path, int],
) -> None:
    _rotate_under_load(tmp_path, sts, pairs, _copy_pair, _replace_files)


def test_a_secret_volume_symlink_swap_rotates_without_a_failed_review(
    tmp_path: pathlib.Path,
    sts: tuple[FakeSTS, str],
    pairs: tuple[pathlib.Path, pathlib.Path, int],
) -> None:
    _rotate_under_load(tmp_path, sts, pairs, _secret_v1, _secret_v2)
