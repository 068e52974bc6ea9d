"""A loopback HTTPS stand-in for the Kubernetes API: ConfigMaps and the IAMIdentityMapping CRD.

It speaks the wire protocol a real kube-apiserver speaks for these objects
(see /work/notes/research-k8s-client.md §2): lists with ``resourceVersion``
and ``limit``/``continue``; single GETs (404 ``NotFound`` Status); watches as
chunked streams of ``{"type": ..., "object": ...}`` lines from a
resourceVersion (or synthetic ADDED events without one), with BOOKMARKs when
asked for and an ``ERROR`` event with a 410 ``Expired`` Status for a
resourceVersion older than the kept history; PUT with a ``409 Conflict``
Status for a stale ``metadata.resourceVersion`` (422 for a custom resource
without one); POST (409 ``AlreadyExists``); DELETE; the ``/status``
subresource of the custom resource; JSON merge patch (strategic merge on a
custom resource: 415). Every answer that is a Status is sent with
``Content-Type: application/json`` exactly; bearer tokens are checked (401
``Unauthorized`` Status).

Test controls: edit or delete objects from the test side, cut open watches
mid-event, answer the next watch with 410 (as an ERROR event or as the HTTP
status), write garbage or oversized lines into open watches, send bookmarks,
compact the history, run a concurrent write before the next PUT, and every
request recorded (method, path, query, token).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import http.server
import json
import os
import pathlib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import trustme

__all__ = [
    "CONFIGMAPS",
    "IAM_GROUP",
    "IAM_MAPPINGS",
    "KubeAPIStandIn",
    "SeenRequest",
    "kube_api",
    "write_exec_kubeconfig",
    "write_token_kubeconfig",
]

CONFIGMAPS = "configmaps"
IAM_MAPPINGS = "iamidentitymappings"
IAM_GROUP = "iamauthenticator.k8s.aws"
IAM_API_VERSION = f"{IAM_GROUP}/v1alpha1"
_CR_PREFIX = f"/apis/{IAM_GROUP}/v1alpha1/{IAM_MAPPINGS}"


def status_body(
    code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A ``meta/v1`` Status failure, shaped as apimachinery's ``errors`` package builds it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = dict(details)
    body["code"] = code
    return body


UNAUTHORIZED = status_body(401, "Unauthorized", "Unauthorized")


def _qualified(plural: str) -> str:
    return plural if plural == CONFIGMAPS else f"{plural}.{IAM_GROUP}"


def _details(plural: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if plural != CONFIGMAPS:
        details["group"] = IAM_GROUP
    details["kind"] = plural
    return details


def conflict_body(plural: str, name: str) -> dict[str, Any]:
    """The 409 a stale update gets (apimachinery ``NewConflict`` + the registry's message)."""
    return status_body(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {_qualified(plural)} {json.dumps(name)}: the object "
        "has been modified; please apply your changes to the latest version and try again",
        _details(plural, name),
    )


def not_found_body(plural: str, name: str) -> dict[str, Any]:
    """The 404 of a missing object."""
    return status_body(
        404,
        "NotFound",
        f"{_qualified(plural)} {json.dumps(name)} not found",
        _details(plural, name),
    )


def expired_body(requested: int, oldest: int) -> dict[str, Any]:
    """The Status of a watch from a compacted resourceVersion (the watch cache's message)."""
    return status_body(410, "Expired", f"too old resource version: {requested} ({oldest})")


@attrs.frozen
class SeenRequest:
    """One request the stand-in answered."""

    method: str
    path: str
    query: dict[str, str]
    token: str | None
    content_type: str | None = None
    #: The HTTP status (0 while the answer is still being sent: an open watch).
    status: int = 0

    @property
    def is_watch(self) -> bool:
        """Whether it was a watch request."""
        return self.query.get("watch", "").lower() in ("1", "true")


@attrs.define
class _Event:
    version: int
    type: str
    plural: str
    namespace: str | None
    obj: dict[str, Any]


class _WatchSession:
    """One open watch stream: the controls the test queued for it."""

    def __init__(self, plural: str, bookmarks: bool, request_index: int) -> None:
        self.request_index = request_index
        self.plural = plural
        self.bookmarks = bookmarks
        self.controls: list[tuple[str, bytes]] = []


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class KubeAPIStandIn(http.server.ThreadingHTTPServer):
    """The stand-in server; see the module docstring. Use ``kube_api()`` to run it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ca: trustme.CA, *, tokens: set[str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.ca = ca
        #: Bearer tokens accepted (a test may change the set at any time).
        self.tokens: set[str] = set(tokens if tokens is not None else {"stand-in-token"})
        #: Accept any token with this prefix too (``k8s-aws-v1.``: our own plugin's tokens).
        self.token_prefix: str | None = None
        #: A hostile server: append the caller's bearer token to every Status message.
        self.echo_token = False
        self.requests: list[SeenRequest] = []
        self.lock = threading.Condition()
        self._objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._history: list[_Event] = []
        self._version = 100
        self._compacted_through = 100  # watches from below this get 410
        self._sessions: list[_WatchSession] = []
        self._next_watch: tuple[int, bool] | None = None
        self._before_put: list[Callable[[], object]] = []
        self._snapshots: dict[str, list[dict[str, Any]]] = {}
        self._closing = False

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port on 127.0.0.1."""
        port: int = self.server_address[1]
        return port

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self.port}"

    def ca_pem(self) -> bytes:
        """The CA certificate (PEM) that verifies the server."""
        return self.ca.cert_pem.bytes()

    def in_cluster(self, folder: pathlib.Path, token: str = "stand-in-token") -> dict[str, str]:
        """Lay out a service-account folder (``token``, ``ca.crt``, ``namespace``); the env vars."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(token)
        (folder / "ca.crt").write_bytes(self.ca_pem())
        (folder / "namespace").write_text("kube-system")
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}

    # -- test-side edits -----------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        with self.lock:
            return self._version

    def _record(self, kind: str, plural: str, namespace: str | None, obj: dict[str, Any]) -> None:
        self._history.append(_Event(self._version, kind, plural, namespace, copy.deepcopy(obj)))
        self.lock.notify_all()

    def _store(
        self, plural: str, namespace: str | None, obj: dict[str, Any], *, created: bool
    ) -> dict[str, Any]:
        """Write ``obj`` as the new state (the lock is held): a new resourceVersion, an event."""
        self._version += 1
        metadata = obj.setdefault("metadata", {})
        key = (plural, namespace, metadata["name"])
        old = self._objects.get(key)
        metadata["resourceVersion"] = str(self._version)
        metadata["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
        metadata["creationTimestamp"] = (
            old["metadata"]["creationTimestamp"] if old else "2024-01-01T00:00:00Z"
        )
        if namespace is not None:
            metadata["namespace"] = namespace
        if plural == CONFIGMAPS:
            obj["apiVersion"], obj["kind"] = "v1", "ConfigMap"
        else:
            obj["apiVersion"], obj["kind"] = IAM_API_VERSION, "IAMIdentityMapping"
        self._objects[key] = obj
        self._record("ADDED" if created or old is None else "MODIFIED", plural, namespace, obj)
        return copy.deepcopy(obj)

    def set_configmap(
        self, name: str, data: Mapping[str, str], namespace: str = "kube-system"
    ) -> dict[str, Any]:
        """Create or replace a ConfigMap's ``data`` (an ADDED or MODIFIED event)."""
        with self.lock:
            old = self._objects.get((CONFIGMAPS, namespace, name))
            obj: dict[str, Any] = copy.deepcopy(old) if old else {"metadata": {"name": name}}
            obj["data"] = dict(data)
            return self._store(CONFIGMAPS, namespace, obj, created=old is None)

    def set_mapping(
        self, name: str, arn: str, username: str, groups: list[str] | None = None
    ) -> dict[str, Any]:
        """Create or replace an IAMIdentityMapping's spec."""
        with self.lock:
            old = self._objects.get((IAM_MAPPINGS, None, name))
            obj: dict[str, Any] = copy.deepcopy(old) if old else {"metadata": {"name": name}}
            obj["spec"] = {"arn": arn, "username": username, "groups": list(groups or [])}
            return self._store(IAM_MAPPINGS, None, obj, created=old is None)

    def delete(self, plural: str, name: str, namespace: str | None = None) -> None:
        """Delete an object (a DELETED event carrying its last state at a new resourceVersion)."""
        with self.lock:
            self._delete_locked(plural, namespace, name)

    def _sorted(self) -> list[tuple[tuple[str, str | None, str], dict[str, Any]]]:
        """The objects in a stable order: by namespace, then name (the lock is held)."""
        return sorted(self._objects.items(), key=lambda item: (item[0][1] or "", item[0][2]))

    def _delete_locked(self, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects.pop((plural, namespace, name))
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        self._record("DELETED", plural, namespace, obj)
        return obj

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The stored object (a copy), or ``None``."""
        with self.lock:
            found = self._objects.get((plural, namespace, name))
            return copy.deepcopy(found) if found else None

    # -- test-side controls ---------------------------------------------------------------------

    def compact(self) -> None:
        """Forget the history: a watch from any resourceVersion seen so far gets 410."""
        with self.lock:
            self._version += 1
            self._compacted_through = self._version
            self._history.clear()
            self._snapshots.clear()

    def fail_next_watch(self, *, as_event: bool = True) -> None:
        """Answer the next watch request with 410: an ERROR event (HTTP 200) or the HTTP status."""
        with self.lock:
            self._next_watch = (410, as_event)

    def _control(self, action: str, data: bytes = b"") -> None:
        with self.lock:
            for session in self._sessions:
                session.controls.append((action, data))
            self.lock.notify_all()

    def cut_watches(self) -> None:
        """Break every open watch mid-event (half a chunk, then the connection closes)."""
        self._control("cut")

    def end_watches(self) -> None:
        """End every open watch cleanly (the terminating chunk, as at ``timeoutSeconds``)."""
        self._control("end")

    def inject_line(self, line: bytes) -> None:
        """Write ``line`` (plus a newline) into every open watch, as one chunk."""
        self._control("line", line)

    def bookmark(self) -> None:
        """Send a BOOKMARK at the current resourceVersion to every open watch that asked for them."""
        self._control("bookmark")

    def before_next_put(self, action: Callable[[KubeAPIStandIn], object]) -> None:
        """Run ``action(self)`` when the next PUT arrives, before it is checked (a concurrent writer)."""
        with self.lock:
            self._before_put.append(lambda: action(self))

    def open_watches(self) -> int:
        """How many watch streams are open now."""
        with self.lock:
            return len(self._sessions)

    def open_streams(self, plural: str) -> set[int]:
        """The request indexes of the watch streams of ``plural`` open now."""
        with self.lock:
            return {s.request_index for s in self._sessions if s.plural == plural}

    def watching(self, count: int) -> bool:
        """Whether the ``count``-th watch request (1-based) is the latest one and is open.

        (A stream the client dropped stays counted in ``open_watches`` until the
        stand-in next writes to it; this looks at the newest stream only.)
        """
        with self.lock:
            indexes = [i for i, request in enumerate(self.requests) if request.is_watch]
            if len(indexes) != count:
                return False
            return any(session.request_index == indexes[-1] for session in self._sessions)

    def seen(self, predicate: Callable[[SeenRequest], bool] = lambda _: True) -> list[SeenRequest]:
        """The requests so far that satisfy ``predicate``."""
        with self.lock:
            return [request for request in self.requests if predicate(request)]

    def watches(self) -> list[SeenRequest]:
        """The watch requests so far."""
        return self.seen(lambda request: request.is_watch)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the stand-in did not reach the expected state in time")
            time.sleep(0.01)

    def shutdown(self) -> None:
        """Stop serving; open watches end."""
        with self.lock:
            self._closing = True
            self.lock.notify_all()
        super().shutdown()

    # -- request side (called by the handler) -------------------------------------------------

    def authorized(self, token: str | None) -> bool:
        """Whether ``token`` is accepted."""
        if token is None:
            return False
        if token in self.tokens:
            return True
        return self.token_prefix is not None and token.startswith(self.token_prefix)


def _route(path: str) -> tuple[str, str | None, str | None, bool] | None:
    """``(plural, namespace, name, status)`` of a path we serve, or ``None``."""
    parts = [part for part in path.split("/") if part]
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) in (5, 6) and parts[4] == CONFIGMAPS:
        return CONFIGMAPS, parts[3], parts[5] if len(parts) == 6 else None, False
    if path.startswith(_CR_PREFIX):
        rest = [part for part in path[len(_CR_PREFIX) :].split("/") if part]
        if len(rest) <= 2 and (len(rest) < 2 or rest[1] == "status"):
            return IAM_MAPPINGS, None, rest[0] if rest else None, len(rest) == 2
    return None


def _selected(obj: Mapping[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        field, _, value = term.replace("==", "=").partition("=")
        if field == "metadata.name" and obj["metadata"]["name"] != value:
            return False
        if field == "metadata.namespace" and obj["metadata"].get("namespace") != value:
            return False
    return True


class _Handler(http.server.BaseHTTPRequestHandler):
    server: KubeAPIStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    # -- plumbing -------------------------------------------------------------------------------

    def _send(self, status: int, document: object) -> None:
        if (
            self.server.echo_token
            and isinstance(document, dict)
            and document.get("kind") == "Status"
        ):
            document = {
                **document,
                "message": f"{document.get('message')} (you sent {self._token})",
            }
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 401:
            self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._status = status

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        seen_token = token if scheme.lower() == "bearer" and token else None
        self._token = seen_token
        self._status = 0
        seen = SeenRequest(
            method=method,
            path=split.path,
            query=query,
            token=seen_token,
            content_type=self.headers.get("Content-Type"),
        )
        # Recorded when it arrives (a test can see a watch that is still open), with
        # its status filled in when the answer is complete.
        with self.server.lock:
            index = self._index = len(self.server.requests)
            self.server.requests.append(seen)
        try:
            self._handle(method, split.path, query, seen_token)
        finally:
            with self.server.lock:
                self.server.requests[index] = attrs.evolve(seen, status=self._status)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- the API ----------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, query: dict[str, str], token: str | None) -> None:
        server = self.server
        if not server.authorized(token):
            self._body()
            self._send(401, UNAUTHORIZED)
            return
        route = _route(path)
        if route is None:
            self._body()
            self._send(
                404,
                status_body(404, "NotFound", "the server could not find the requested resource"),
            )
            return
        plural, namespace, name, status = route
        if method == "GET" and name is None:
            if query.get("watch", "").lower() in ("1", "true"):
                self._watch(plural, namespace, query)
            else:
                self._list(plural, namespace, query)
        elif method == "GET":
            assert name is not None
            with server.lock:
                found = server._objects.get((plural, namespace, name))
                found = copy.deepcopy(found) if found else None
            self._send(200, found) if found else self._send(404, not_found_body(plural, name))
        elif method == "POST" and name is None:
            self._create(plural, namespace, self._body())
        elif method == "PUT" and name is not None:
            self._update(plural, namespace, name, self._body(), status=status)
        elif method == "PATCH" and name is not None:
            self._patch(plural, namespace, name, status)
        elif method == "DELETE" and name is not None:
            self._body()
            with server.lock:
                if (plural, namespace, name) not in server._objects:
                    self._send(404, not_found_body(plural, name))
                    return
                gone = server._delete_locked(plural, namespace, name)
            details = {**_details(plural, name), "uid": gone["metadata"]["uid"]}
            self._send(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                },
            )
        else:
            self._body()
            self._send(
                405,
                status_body(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                ),
            )

    def _list(self, plural: str, namespace: str | None, query: dict[str, str]) -> None:
        server = self.server
        token = query.get("continue")
        with server.lock:
            if token:
                snapshot_id, _, offset_text = (
                    base64.urlsafe_b64decode(token.encode()).decode().partition(":")
                )
                items = server._snapshots.get(snapshot_id)
                if items is None:
                    self._send(
                        410,
                        status_body(
                            410,
                            "Expired",
                            "The provided continue parameter is too old to display a consistent "
                            "list result. You can start a new list without the continue parameter.",
                        ),
                    )
                    return
                version = snapshot_id.split("-")[0]
                offset = int(offset_text)
            else:
                items = [
                    copy.deepcopy(obj)
                    for (kind, space, _), obj in server._sorted()
                    if kind == plural
                    and (namespace is None or space == namespace)
                    and _selected(obj, query.get("fieldSelector"))
                ]
                version = str(server._version)
                snapshot_id = f"{version}-{uuid.uuid4().hex[:8]}"
                offset = 0
            limit = int(query.get("limit") or 0)
            end = offset + limit if limit else len(items)
            page = items[offset:end]
            more = end < len(items)
            if more:
                server._snapshots[snapshot_id] = items
        if plural == CONFIGMAPS:  # built-in lists leave kind/apiVersion out of their items
            for item in page:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        metadata: dict[str, Any] = {"resourceVersion": version}
        if more:
            metadata["continue"] = base64.urlsafe_b64encode(
                f"{snapshot_id}:{end}".encode()
            ).decode()
            metadata["remainingItemCount"] = len(items) - end
        kind = "ConfigMapList" if plural == CONFIGMAPS else "IAMIdentityMappingList"
        api_version = "v1" if plural == CONFIGMAPS else IAM_API_VERSION
        self._send(
            200, {"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": page}
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event_line(self, event_type: str, obj: Mapping[str, Any]) -> bytes:
        return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"

    def _watch(self, plural: str, namespace: str | None, query: dict[str, str]) -> None:
        server = self.server
        selector = query.get("fieldSelector")
        bookmarks = query.get("allowWatchBookmarks") == "true"
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        requested = query.get("resourceVersion")
        pending: list[bytes] = []
        with server.lock:
            forced, server._next_watch = server._next_watch, None
            if forced is not None and not forced[1]:
                self._send(410, status_body(410, "Gone", "too old resource version"))
                return
            if forced is not None or (
                requested not in (None, "", "0") and int(requested or 0) < server._compacted_through
            ):
                pending.append(
                    self._event_line(
                        "ERROR", expired_body(int(requested or 0), server._compacted_through)
                    )
                )
                cursor, expired = server._version, True
            else:
                expired = False
                if requested in (None, "", "0"):
                    cursor = server._version
                    for (kind, space, _), obj in server._sorted():
                        if (
                            kind == plural
                            and (namespace is None or space == namespace)
                            and _selected(obj, selector)
                        ):
                            pending.append(self._event_line("ADDED", obj))
                else:
                    cursor = int(requested or 0)
            session = _WatchSession(plural, bookmarks, self._index)
            server._sessions.append(session)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._status = 200
        cut = False
        try:
            for line in pending:
                self._chunk(line)
            if expired:
                return
            while True:
                with server.lock:
                    events = [
                        event
                        for event in server._history
                        if event.version > cursor
                        and event.plural == plural
                        and (namespace is None or event.namespace == namespace)
                        and _selected(event.obj, selector)
                    ]
                    if server._history:
                        cursor = max(cursor, server._history[-1].version)
                    controls, session.controls = session.controls, []
                    if not events and not controls:
                        if server._closing or time.monotonic() >= deadline:
                            return
                        server.lock.wait(0.05)
                        continue
                    current = server._version
                for event in events:
                    self._chunk(self._event_line(event.type, event.obj))
                for action, data in controls:
                    if action == "line":
                        self._chunk(data + b"\n")
                    elif action == "bookmark" and bookmarks:
                        kind = "ConfigMap" if plural == CONFIGMAPS else "IAMIdentityMapping"
                        api_version = "v1" if plural == CONFIGMAPS else IAM_API_VERSION
                        obj = {
                            "kind": kind,
                            "apiVersion": api_version,
                            "metadata": {"resourceVersion": str(current)},
                        }
                        self._chunk(self._event_line("BOOKMARK", obj))
                    elif action == "end":
                        return
                    elif action == "cut":
                        cut = True
                        line = self._event_line("MODIFIED", {"metadata": {"name": "half"}})
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line[: len(line) // 2])
                        self.wfile.flush()
                        return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            cut = True
        finally:
            with server.lock:
                server._sessions.remove(session)
            if cut:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
            else:
                with contextlib.suppress(OSError):
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()

    def _check_body(self, plural: str, body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            return None
        name = body["metadata"].get("name")
        return name if isinstance(name, str) and name else None

    def _create(self, plural: str, namespace: str | None, body: Any) -> None:
        server = self.server
        name = self._check_body(plural, body)
        if name is None:
            self._send(422, status_body(422, "Invalid", "metadata.name: Required value"))
            return
        with server.lock:
            if (plural, namespace, name) in server._objects:
                self._send(
                    409,
                    status_body(
                        409,
                        "AlreadyExists",
                        f"{_qualified(plural)} {json.dumps(name)} already exists",
                        _details(plural, name),
                    ),
                )
                return
            body["metadata"].pop("resourceVersion", None)
            stored = server._store(plural, namespace, body, created=True)
        self._send(201, stored)

    def _update(
        self, plural: str, namespace: str | None, name: str, body: Any, *, status: bool
    ) -> None:
        server = self.server
        with server.lock:
            hooks, server._before_put = server._before_put, []
        for hook in hooks:
            hook()
        if self._check_body(plural, body) != name:
            self._send(
                400,
                status_body(
                    400, "BadRequest", "the name of the object does not match the name on the URL"
                ),
            )
            return
        with server.lock:
            current = server._objects.get((plural, namespace, name))
            if current is None:
                self._send(404, not_found_body(plural, name))
                return
            sent = body["metadata"].get("resourceVersion")
            if not sent and plural != CONFIGMAPS:
                self._send(
                    422,
                    status_body(
                        422,
                        "Invalid",
                        f"{IAM_MAPPINGS}.{IAM_GROUP} {json.dumps(name)} is invalid: "
                        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                        _details(plural, name),
                    ),
                )
                return
            if sent and sent != current["metadata"]["resourceVersion"]:
                self._send(409, conflict_body(plural, name))
                return
            updated = copy.deepcopy(current)
            if status:
                updated["status"] = copy.deepcopy(body.get("status") or {})
            else:
                kept_status = current.get("status")
                updated = {key: value for key, value in body.items() if key != "status"}
                if kept_status is not None and plural != CONFIGMAPS:
                    updated["status"] = kept_status
            updated["metadata"] = {**current["metadata"], **body["metadata"]}
            stored = server._store(plural, namespace, updated, created=False)
        self._send(200, stored)

    def _patch(self, plural: str, namespace: str | None, name: str, status: bool) -> None:
        server = self.server
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        patch = self._body()
        if content_type == "application/strategic-merge-patch+json" and plural != CONFIGMAPS:
            self._send(
                415,
                status_body(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ),
            )
            return
        if content_type not in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ):
            self._send(
                415,
                status_body(415, "UnsupportedMediaType", "the stand-in applies merge patches only"),
            )
            return
        with server.lock:
            current = server._objects.get((plural, namespace, name))
            if current is None:
                self._send(404, not_found_body(plural, name))
                return
            sent = ((patch or {}).get("metadata") or {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                self._send(409, conflict_body(plural, name))
                return
            merged = merge_patch(current, patch)
            if status:  # only .status changes through /status
                updated = copy.deepcopy(current)
                updated["status"] = merged.get("status")
            else:
                updated = merged
                if plural != CONFIGMAPS:
                    updated["status"] = copy.deepcopy(current.get("status"))
                    if updated["status"] is None:
                        updated.pop("status")
            updated["metadata"] = {**current["metadata"]}
            stored = server._store(plural, namespace, updated, created=False)
        self._send(200, stored)


@contextlib.contextmanager
def kube_api(ca: trustme.CA, *, tokens: set[str] | None = None) -> Iterator[KubeAPIStandIn]:
    """A running ``KubeAPIStandIn`` (served from a thread), stopped on exit."""
    server = KubeAPIStandIn(ca, tokens=tokens)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _kubeconfig_text(
    server: KubeAPIStandIn, user: dict[str, Any], *, namespace: str = "kube-system"
) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "stand-in",
                "cluster": {
                    "server": server.url,
                    "certificate-authority-data": base64.b64encode(server.ca_pem()).decode(),
                },
            }
        ],
        "contexts": [
            {
                "name": "stand-in",
                "context": {"cluster": "stand-in", "user": "stand-in", "namespace": namespace},
            }
        ],
        "current-context": "stand-in",
        "users": [{"name": "stand-in", "user": user}],
    }
    return json.dumps(document, indent=1)  # JSON is YAML


def write_token_kubeconfig(
    path: pathlib.Path, server: KubeAPIStandIn, token: str = "stand-in-token"
) -> pathlib.Path:
    """A kubeconfig for the stand-in with a static token user."""
    path.write_text(_kubeconfig_text(server, {"token": token}))
    return path


def write_exec_kubeconfig(
    path: pathlib.Path,
    server: KubeAPIStandIn,
    command: str,
    args: list[str],
    *,
    api_version: str = "client.authentication.k8s.io/v1",
    env: Mapping[str, str] | None = None,
    provide_cluster_info: bool = False,
) -> pathlib.Path:
    """A kubeconfig for the stand-in whose user runs an exec plugin."""
    entry: dict[str, Any] = {"apiVersion": api_version, "command": command, "args": args}
    entry["env"] = [{"name": key, "value": value} for key, value in (env or {}).items()] or None
    if api_version.endswith("/v1"):
        entry["interactiveMode"] = "IfAvailable"
    entry["provideClusterInfo"] = provide_cluster_info
    path.write_text(_kubeconfig_text(server, {"exec": entry}))
    return path


def environ_with(extra: Mapping[str, str]) -> dict[str, str]:
    """``os.environ`` plus ``extra`` (for an ``environ=`` argument)."""
    return {**os.environ, **extra}
