"""A loopback HTTPS stand-in of kube-apiserver that authenticates bearer tokens with ``TokenVerifier``.

Just enough for clients: ``/version``, ``/api`` and ``/api/v1/namespaces`` behind
bearer-token authentication (a 401 ``Status`` otherwise), with the identities and
denials it saw kept for the test. Used by the kubectl end-to-end tests and the
official Kubernetes client's integration test.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
from collections.abc import Iterator

import trustme

from k8s_aws_auth import TokenVerifier
from k8s_aws_auth.errors import K8sAwsAuthError

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-k8s-aws-auth-e2e",
    "platform": "linux/amd64",
}
API_VERSIONS = {
    "kind": "APIVersions",
    "versions": ["v1"],
    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
}
UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


NAMESPACES = {
    "kind": "NamespaceList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "1"},
    "items": [{"metadata": {"name": "default"}, "status": {"phase": "Active"}}],
}


class APIServer(http.server.ThreadingHTTPServer):
    """Just enough of kube-apiserver: bearer-token authentication and three read-only paths."""

    daemon_threads = True

    def __init__(self, verifier: TokenVerifier) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.verifier = verifier
        self.identities: list[str] = []
        self.tokens: list[str] = []
        self.denials: list[str] = []
        self.reasons: list[str] = []

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: APIServer

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
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme != "Bearer":
                raise PermissionError("no bearer token")
            identity = self.server.verifier.verify(token)
        except (K8sAwsAuthError, PermissionError) as exc:
            self.server.denials.append(type(exc).__name__)
            self.server.reasons.append(str(exc))
            self._send(401, UNAUTHORIZED)
            return
        self.server.identities.append(identity.arn)
        self.server.tokens.append(token)
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._send(200, VERSION)
        elif path == "/api":
            self._send(200, API_VERSIONS)
        elif path == "/api/v1/namespaces":
            self._send(200, NAMESPACES)
        else:
            self._send(404, {"kind": "Status", "code": 404, "status": "Failure"})


@contextlib.contextmanager
def https_api_server(ca: trustme.CA, verifier: TokenVerifier) -> Iterator[APIServer]:
    """Serve an [`APIServer`] over HTTPS (a ``127.0.0.1`` certificate from ``ca``) in a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = APIServer(verifier)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
