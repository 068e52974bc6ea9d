"""Helpers for the webhook server tests: the real ``serve`` process, kube-apiserver and EC2 stand-ins."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import pathlib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import httpx
import trustme
import yaml

from tests.support.ports import free_port

CLUSTER_ID = "e2e-webhook"
TOKEN_REVIEW_V1 = "authentication.k8s.io/v1"


def review(token: str, api_version: str = TOKEN_REVIEW_V1, **spec: Any) -> dict[str, Any]:
    """A TokenReview request document."""
    return {"apiVersion": api_version, "kind": "TokenReview", "spec": {"token": token, **spec}}


def write_config(path: pathlib.Path, cluster_id: str, server: dict[str, Any]) -> pathlib.Path:
    """Write an upstream-style config file and return its path."""
    path.write_text(yaml.safe_dump({"clusterID": cluster_id, "server": server}))
    return path


def run_cli(
    *args: str, cwd: pathlib.Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m k8s_aws_auth ARGS`` (``env`` added to ours); the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


class ServerProcess:
    """``k8s-aws-auth serve`` as a child process; JSON log lines collected from stderr."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: pathlib.Path | None = None,
        env: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        # The child appends to a file of its own opening (O_APPEND, its own offset); the
        # tests read it through another. One shared descriptor would share its offset:
        # a read's seek(0) could send the child's next line over the first ones.
        descriptor, self._log_path = tempfile.mkstemp(prefix="serve-", suffix=".log")
        os.close(descriptor)
        # `command` runs instead of `python -m k8s_aws_auth serve` (a wrapper, another name).
        prefix = [sys.executable, "-m", "k8s_aws_auth", "serve"] if command is None else command
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=cwd,
                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                preexec_fn=preexec_fn,  # noqa: PLW1509 - only sets resource limits of the child
            )
        self.port = 0

    def log_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        with open(self._log_path, encoding="utf-8", errors="replace") as log:
            return log.read()

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
                code = self.process.returncode
                raise AssertionError(f"serve exited early (exit {code}):\n{self.log_text()}")
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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._log_path)


def start_webhook(
    root: pathlib.Path,
    server_settings: dict[str, Any],
    sts_url: str,
    *,
    flags: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """``init`` then ``serve`` with ``root/config.yaml`` and ``root/state``, STS at ``sts_url``.

    Returns the process once it logged "serving"; the caller closes it.
    """
    config = write_config(root / "config.yaml", CLUSTER_ID, server_settings)
    port = free_port()
    state = str(root / "state")
    init = run_cli("init", "-c", str(config), "--state-dir", state, "--port", str(port))
    assert init.returncode == 0, init.stderr
    argv = ["-c", str(config), "--state-dir", state, "--port", str(port)]
    server = ServerProcess(
        [*argv, "--sts-endpoint-url", sts_url, *flags], preexec_fn=preexec_fn, env=env
    )
    try:
        server.wait_serving()
    except BaseException:
        server.close()
        raise
    return server


def live_backends_webhook(
    root: pathlib.Path, api_kubeconfig: pathlib.Path, sts_url: str, *flags: str
) -> tuple[ServerProcess, pathlib.Path]:
    """``init``, then ``serve --backend-mode EKSConfigMap,CRD`` reading the API of ``api_kubeconfig``.

    The review cache is off, so every review sees the mapping in force. Returns
    the process (not yet waited for: the caller calls ``wait_serving()`` and
    closes it) and the webhook kubeconfig ``init`` wrote.
    """
    config = write_config(
        root / "config.yaml", CLUSTER_ID, {"backendMode": ["EKSConfigMap", "CRD"]}
    )
    port, state = free_port(), root / "state"
    init = run_cli("init", "-c", str(config), "--state-dir", str(state), "--port", str(port))
    assert init.returncode == 0, init.stderr
    server = ServerProcess(
        [
            "-c", str(config), "--state-dir", str(state), "--port", str(port),
            "--sts-endpoint-url", sts_url, "--cache-ttl", "0",
            "--kubeconfig", str(api_kubeconfig), *flags,
        ]
    )  # fmt: skip
    return server, state / "kubeconfig.yaml"


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
def serving(server: http.server.HTTPServer) -> Iterator[None]:
    """Serve ``server`` from a thread until the block ends, then close it."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def stand_in(ca: trustme.CA, webhook_kubeconfig: pathlib.Path) -> Iterator[APIServerStandIn]:
    """A running :class:`APIServerStandIn`."""
    server = APIServerStandIn(ca, webhook_kubeconfig)
    try:
        with serving(server):
            yield server
    finally:
        server.client.close()


# --- an EC2 stand-in ------------------------------------------------------------------------


def _ec2_error(code: str) -> bytes:
    return (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{code}</Message></Error>"
        "</Errors><RequestID>req</RequestID></Response>"
    ).encode()


class EC2StandIn(http.server.ThreadingHTTPServer):
    """A loopback EC2 query API: checks SigV4 with botocore's ``SigV4Auth``, answers DescribeInstances.

    ``credentials`` maps the access key ids it accepts to ``(secret, session token)``;
    ``instances`` maps instance ids to private DNS names. ``requests`` records the
    instance ids of every well-signed DescribeInstances call (throttled ones too),
    ``refused`` counts requests refused for their signature or scope.
    """

    daemon_threads = True

    def __init__(self, region: str) -> None:
        super().__init__(("127.0.0.1", 0), _EC2Handler)
        self.region = region
        self.credentials: dict[str, tuple[str, str | None]] = {}
        self.instances: dict[str, str] = {}
        self.requests: list[list[str]] = []
        self.access_keys: list[str] = []
        self.refused = 0
        self.throttle_next = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def accept(self, access_key_id: str, secret: str, session_token: str | None = None) -> None:
        """Let these credentials call DescribeInstances."""
        with self.lock:
            self.credentials[access_key_id] = (secret, session_token)

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> tuple[int, bytes]:
        """Check one request and say what to answer."""
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        access_key = self._signed_by(handler, body)
        if access_key is None:
            with self.lock:
                self.refused += 1
            return 401, _ec2_error("AuthFailure")
        params = parse_qsl(body.decode("ascii"), strict_parsing=True)
        if ("Action", "DescribeInstances") not in params or (
            "Filter.1.Name",
            "instance-id",
        ) not in params:
            return 400, _ec2_error("InvalidParameterValue")
        ids = [value for key, value in params if key.startswith("Filter.1.Value.")]
        with self.lock:
            self.requests.append(ids)
            self.access_keys.append(access_key)
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return 503, _ec2_error("RequestLimitExceeded")
            known = {i: self.instances[i] for i in ids if i in self.instances}
        items = "".join(
            "<item><instanceId>"
            f"{instance}</instanceId><privateDnsName>{dns}</privateDnsName>"
            "<instanceState><code>16</code><name>running</name></instanceState></item>"
            for instance, dns in known.items()
        )
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>req</requestId><reservationSet>"
            + (
                f"<item><reservationId>r-1</reservationId><instancesSet>{items}</instancesSet></item>"
                if items
                else ""
            )
            + "</reservationSet></DescribeInstancesResponse>"
        )
        return 200, document.encode()

    def _signed_by(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> str | None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as BotoCredentials

        authorization = handler.headers.get("Authorization", "")
        algorithm, _, rest = authorization.partition(" ")
        try:
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            key_id, date, region, service, terminal = fields["Credential"].split("/")
            signed_headers = fields["SignedHeaders"]
        except (KeyError, ValueError):
            return None
        with self.lock:
            known = self.credentials.get(key_id)
        if algorithm != "AWS4-HMAC-SHA256" or known is None:
            return None
        if (region, service, terminal) != (self.region, "ec2", "aws4_request"):
            return None
        secret, session_token = known
        if handler.headers.get("X-Amz-Security-Token") != session_token:
            return None
        amz_date = handler.headers.get("X-Amz-Date", "")
        if not amz_date.startswith(date):
            return None
        names = signed_headers.split(";")
        headers = {name: handler.headers.get(name, "") for name in names if name != "host"}
        request = AWSRequest(
            method="POST",
            url=f"http://{handler.headers['Host']}{handler.path}",
            data=body,
            headers=headers,
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(BotoCredentials(key_id, secret, session_token), "ec2", region)
        if signer.signed_headers(signer.headers_to_sign(request)) != signed_headers:
            return None
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return key_id if expected == fields.get("Signature") else None


class _EC2Handler(http.server.BaseHTTPRequestHandler):
    server: EC2StandIn

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        status, payload = self.server.answer(self)
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def ec2_stand_in(region: str) -> Iterator[EC2StandIn]:
    """A running :class:`EC2StandIn`."""
    server = EC2StandIn(region)
    with serving(server):
        yield server
