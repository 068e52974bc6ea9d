"""Helpers for the webhook server tests: the real ``serve`` process and a kube-apiserver stand-in."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import trustme
import yaml

CLUSTER_ID = "e2e-webhook"
TOKEN_REVIEW_V1 = "authentication.k8s.io/v1"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def review(token: str, api_version: str = TOKEN_REVIEW_V1, **spec: Any) -> dict[str, Any]:
    """A TokenReview request document."""
    return {"apiVersion": api_version, "kind": "TokenReview", "spec": {"token": token, **spec}}


def write_config(path: pathlib.Path, cluster_id: str, server: dict[str, Any]) -> pathlib.Path:
    """Write an upstream-style config file and return its path."""
    path.write_text(yaml.safe_dump({"clusterID": cluster_id, "server": server}))
    return path


def run_cli(*args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m k8s_aws_auth ARGS`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


class ServerProcess:
    """``k8s-aws-auth serve`` as a child process; JSON log lines collected from stderr."""

    def __init__(self, argv: Sequence[str], *, cwd: pathlib.Path | None = None) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "k8s_aws_auth", "serve", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = 0

    def log_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read()

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log records so far (non-JSON lines are kept as ``{"raw": line}``)."""
        records = []
        for line in self.log_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"raw": line})
        return records

    def wait_serving(self, timeout: float = 30.0) -> int:
        """Wait for the "serving" log line; return the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.logs():
                if record.get("message") == "serving":
                    self.port = int(record["port"])
                    return self.port
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log_text()}")
            time.sleep(0.05)
        raise AssertionError(f"serve did not start:\n{self.log_text()}")

    def stop(self) -> int:
        """SIGTERM, wait for the graceful exit; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def close(self) -> None:
        """Stop the process and drop its log file."""
        self.stop()
        self._stderr.close()


@contextlib.contextmanager
def running_server(
    argv: Sequence[str], *, cwd: pathlib.Path | None = None
) -> Iterator[ServerProcess]:
    """A started ``serve`` process, stopped on exit."""
    server = ServerProcess(argv, cwd=cwd)
    try:
        server.wait_serving()
        yield server
    finally:
        server.close()


def webhook_client(kubeconfig: pathlib.Path, **kwargs: Any) -> tuple[httpx.Client, str]:
    """An httpx client trusting the CA of the webhook kubeconfig, and the webhook URL."""
    document = yaml.safe_load(kubeconfig.read_text())
    cluster = document["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
    context = ssl.create_default_context(cadata=ca_pem)
    user = document["users"][0]["user"]
    if "client-certificate" in user:
        context.load_cert_chain(user["client-certificate"], user["client-key"])
    return httpx.Client(verify=context, **kwargs), str(cluster["server"])


# --- a kube-apiserver stand-in ----------------------------------------------------------------

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-webhook-e2e",
    "platform": "linux/amd64",
}


class APIServerStandIn(http.server.ThreadingHTTPServer):
    """Bearer token → TokenReview POSTed to the webhook (kubeconfig from ``init``) → 200 or 401.

    ``/whoami`` echoes the user the webhook returned; every webhook answer is
    recorded in ``reviews`` as ``(status, body)``.
    """

    daemon_threads = True

    def __init__(self, ca: trustme.CA, webhook_kubeconfig: pathlib.Path) -> None:
        super().__init__(("127.0.0.1", 0), _StandInHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.client, self.webhook_url = webhook_client(webhook_kubeconfig, timeout=30.0)
        self.reviews: list[tuple[int, dict[str, Any] | None]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self.server_address[1]}"

    def token_review(self, token: str) -> tuple[int, dict[str, Any] | None]:
        """What the webhook says about ``token``."""
        response = self.client.post(self.webhook_url, json=review(token))
        try:
            body = response.json()
        except ValueError:
            body = None
        with self._lock:
            self.reviews.append((response.status_code, body))
        return response.status_code, body


class _StandInHandler(http.server.BaseHTTPRequestHandler):
    server: APIServerStandIn

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            self._send(401, UNAUTHORIZED)
            return
        status, body = self.server.token_review(token)
        # Like kube-apiserver: anything but an authenticated 200 is a 401 for the client.
        if status != 200 or not body or not body["status"].get("authenticated"):
            self._send(401, UNAUTHORIZED)
            return
        user = body["status"]["user"]
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._send(200, VERSION)
        elif path == "/whoami":
            self._send(200, {"username": user["username"], "groups": user.get("groups", [])})
        else:
            self._send(404, {"kind": "Status", "code": 404, "status": "Failure"})


@contextlib.contextmanager
def stand_in(ca: trustme.CA, webhook_kubeconfig: pathlib.Path) -> Iterator[APIServerStandIn]:
    """A running :class:`APIServerStandIn`."""
    server = APIServerStandIn(ca, webhook_kubeconfig)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.client.close()
        thread.join(timeout=10)
