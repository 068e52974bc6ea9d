"""Edit an object with optimistic concurrency, and write a custom resource's status.

``edit_object``/``aedit_object``: GET the object, let a pure function compute
the new body from a copy of it, PUT it with the ``metadata.resourceVersion``
that was read — so a write that raced ours makes the server answer ``409
Conflict`` instead of losing either — and on a conflict start over from a fresh
GET, a bounded number of times with a jittered backoff (upstream's
``retry.RetryOnConflict``). One generator holds that logic; the two functions
drive it with lightkube's sync ``Client`` (the CLI) and ``AsyncClient`` (the
server).

``write_status``/``awrite_status``: the ``/status`` subresource of a custom
resource (``IAMIdentityMapping``), by PUT with a resourceVersion precondition,
or by JSON merge patch without one (custom resources refuse strategic merge).
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from k8s_aws_auth._core.redact import detached

from .backoff import Backoff
from .connect import client_secrets
from .errors import KubeAPIError, api_error, status_of
from .objects import KubeObject, object_from_document
from .resources import ResourceKind, lightkube_resource

if TYPE_CHECKING:
    from lightkube import AsyncClient, Client

__all__ = [
    "EditPolicy",
    "EditResult",
    "aedit_object",
    "awrite_status",
    "edit_object",
    "list_objects",
    "read_object",
    "write_status",
]

#: ``modify(body)``: the new body from a copy of the current one (``None`` when
#: the object does not exist), or ``None`` to leave the object as it is.
Modify = Callable[[dict[str, Any] | None], dict[str, Any] | None]


@attrs.frozen
class EditPolicy:
    """How hard an edit tries.

    Attributes:
        attempts: GET-modify-PUT rounds before a conflict is given up (upstream: 5).
        backoff: The delay before each new round.
        create_missing: Create the object (POST) when it does not exist, with
            the body ``modify(None)`` returns; else a missing object is an error.
        dry_run: Compute the new body but write nothing.
    """

    attempts: int = 5
    backoff: Backoff = attrs.field(factory=lambda: Backoff(initial=0.05, cap=1.0))
    create_missing: bool = False
    dry_run: bool = False


@attrs.frozen
class EditResult:
    """What an edit did.

    Attributes:
        before: The object as last read (``None``: it did not exist).
        after: The object as written (for a dry run, as it would be; its
            resourceVersion is then the one read); ``None`` when ``modify``
            asked for no change.
        attempts: Rounds used (1 without a conflict).
    """

    before: KubeObject | None
    after: KubeObject | None
    attempts: int

    @property
    def changed(self) -> bool:
        """Whether the object was (or, in a dry run, would be) written."""
        return self.after is not None


@attrs.frozen
class _Get:
    pass


@attrs.frozen
class _Write:
    body: dict[str, Any]
    create: bool


@attrs.frozen
class _Sleep:
    seconds: float


_Step = _Get | _Write | _Sleep


class _Conflict(Exception):
    """The write lost a race (409): read again."""


def _what(kind: ResourceKind, namespace: str | None, name: str) -> str:
    return f"{kind.qualified_plural} {namespace + '/' if namespace else ''}{name}"


def _edit_flow(
    kind: ResourceKind,
    name: str,
    namespace: str | None,
    modify: Modify,
    policy: EditPolicy,
    draw: Callable[[], float],
) -> Generator[_Step, Any, EditResult]:
    """The edit as steps: GET → (modify) → PUT/POST, again after a conflict."""
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1:
            yield _Sleep(policy.backoff.delay(attempt - 1, draw()))
        current: dict[str, Any] | None = yield _Get()
        if current is None and not policy.create_missing:
            raise KubeAPIError(
                f"{_what(kind, namespace, name)} does not exist",
                reason="kube-not-found",
                status_code=404,
                kube_reason="NotFound",
            )
        before = None if current is None else object_from_document(current)
        proposed = modify(copy.deepcopy(current))
        if proposed is None:
            return EditResult(before=before, after=None, attempts=attempt)
        body = dict(proposed)
        metadata = dict(body.get("metadata") or {})
        metadata["name"] = name
        if namespace is not None:
            metadata["namespace"] = namespace
        if before is None:
            metadata.pop("resourceVersion", None)
        else:
            # The precondition: the version this body was computed from, whatever modify did.
            metadata["resourceVersion"] = before.resource_version
        body.update(apiVersion=kind.api_version, kind=kind.kind, metadata=metadata)
        if policy.dry_run:
            if before is None:
                metadata["resourceVersion"] = ""
            return EditResult(before=before, after=_as_object(body, before), attempts=attempt)
        try:
            written = yield _Write(body, create=before is None)
        except _Conflict:
            continue
        return EditResult(before=before, after=object_from_document(written), attempts=attempt)
    raise KubeAPIError(
        f"{_what(kind, namespace, name)} kept changing: gave up after {policy.attempts} conflicts",
        reason="kube-conflict",
        status_code=409,
        kube_reason="Conflict",
    )


def _as_object(body: dict[str, Any], before: KubeObject | None) -> KubeObject:
    metadata = body["metadata"]
    return KubeObject(
        name=metadata["name"],
        namespace=metadata.get("namespace"),
        resource_version=metadata.get("resourceVersion") or "",
        uid=None if before is None else before.uid,
        body=body,
    )


def _conflict_or_raise(exc: Exception, what: str, secrets: tuple[str, ...]) -> _Conflict:
    code, _, _ = status_of(exc)
    # 409 on PUT: a stale resourceVersion; on POST: someone created it first.
    if code == 409:
        return _Conflict()
    raise api_error(exc, what, secrets) from detached(exc, secrets)


def read_object(
    client: Client, kind: ResourceKind, name: str, *, namespace: str | None = None
) -> KubeObject:
    """GET one object with lightkube's sync ``Client``.

    Raises:
        KubeAPIError: the object is missing (``kube-not-found``) or the request failed.
    """
    try:
        found = client.get(lightkube_resource(kind), name, namespace=namespace)
    except Exception as exc:
        secrets = client_secrets(client)
        raise api_error(exc, _what(kind, namespace, name), secrets) from detached(exc, secrets)
    return object_from_document(found.to_dict())


def list_objects(
    client: Client, kind: ResourceKind, *, namespace: str | None = None
) -> list[KubeObject]:
    """LIST every object of ``kind`` (one consistent read, paged) with the sync ``Client``.

    Raises:
        KubeAPIError: the request failed.
    """
    what = kind.qualified_plural if namespace is None else f"{kind.qualified_plural} in {namespace}"
    try:
        found = [
            object_from_document(item.to_dict())
            for item in client.list(lightkube_resource(kind), namespace=namespace, chunk_size=500)
        ]
    except Exception as exc:
        secrets = client_secrets(client)
        raise api_error(exc, what, secrets) from detached(exc, secrets)
    return found


def edit_object(
    client: Client,
    kind: ResourceKind,
    name: str,
    modify: Modify,
    *,
    namespace: str | None = None,
    policy: EditPolicy | None = None,
    sleep: Callable[[float], object] = time.sleep,
    draw: Callable[[], float] = random.random,
) -> EditResult:
    """Edit one object with lightkube's sync ``Client``; see the module docstring.

    Raises:
        KubeAPIError: the object is missing (``kube-not-found``), the conflicts
            outlasted ``policy.attempts`` (``kube-conflict``), or a request failed.
    """
    policy = policy or EditPolicy()
    resource = lightkube_resource(kind)
    what = _what(kind, namespace, name)
    flow = _edit_flow(kind, name, namespace, modify, policy, draw)
    reply: Any = None
    failure: Exception | None = None
    while True:
        try:
            step = flow.throw(failure) if failure is not None else flow.send(reply)
        except StopIteration as done:
            result: EditResult = done.value
            return result
        reply, failure = None, None
        if isinstance(step, _Sleep):
            sleep(step.seconds)
            continue
        try:
            if isinstance(step, _Get):
                try:
                    reply = client.get(resource, name, namespace=namespace).to_dict()
                except Exception as exc:
                    if status_of(exc)[0] != 404:
                        raise
                    reply = None
            elif step.create:
                reply = client.create(resource.from_dict(step.body)).to_dict()
            else:
                reply = client.replace(resource.from_dict(step.body)).to_dict()
        except Exception as exc:
            failure = _conflict_or_raise(exc, what, client_secrets(client))


async def aedit_object(
    client: AsyncClient,
    kind: ResourceKind,
    name: str,
    modify: Modify,
    *,
    namespace: str | None = None,
    policy: EditPolicy | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    draw: Callable[[], float] = random.random,
) -> EditResult:
    """``edit_object`` with lightkube's ``AsyncClient``."""
    policy = policy or EditPolicy()
    resource = lightkube_resource(kind)
    what = _what(kind, namespace, name)
    flow = _edit_flow(kind, name, namespace, modify, policy, draw)
    reply: Any = None
    failure: Exception | None = None
    while True:
        try:
            step = flow.throw(failure) if failure is not None else flow.send(reply)
        except StopIteration as done:
            result: EditResult = done.value
            return result
        reply, failure = None, None
        if isinstance(step, _Sleep):
            await sleep(step.seconds)
            continue
        try:
            if isinstance(step, _Get):
                try:
                    reply = (await client.get(resource, name, namespace=namespace)).to_dict()
                except Exception as exc:
                    if status_of(exc)[0] != 404:
                        raise
                    reply = None
            elif step.create:
                created = await client.create(resource.from_dict(step.body))
                reply = created.to_dict()
            else:
                replaced = await client.replace(resource.from_dict(step.body))
                reply = replaced.to_dict()
        except Exception as exc:
            failure = _conflict_or_raise(exc, what, client_secrets(client))


def _status_request(
    kind: ResourceKind, name: str, status: Mapping[str, Any], resource_version: str | None
) -> tuple[Any, dict[str, Any]]:
    if kind.namespaced:
        raise ValueError("status writes are for cluster-scoped custom resources here")
    resource = lightkube_resource(kind)
    metadata: dict[str, Any] = {"name": name}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    body = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": metadata,
        "status": dict(status),
    }
    return resource, body


def write_status(
    client: Client,
    kind: ResourceKind,
    name: str,
    status: Mapping[str, Any],
    *,
    resource_version: str | None = None,
) -> KubeObject:
    """Set ``status`` of a custom resource through ``/status``; the object as written.

    With ``resource_version``, a PUT that fails with ``kube-conflict`` if the
    object changed since; without, a JSON merge patch of ``{"status": ...}``.

    Raises:
        KubeAPIError: the request failed.
    """
    from lightkube.types import PatchType

    resource, body = _status_request(kind, name, status, resource_version)
    try:
        if resource_version is None:
            written = client.patch(
                resource.Status, name, {"status": body["status"]}, patch_type=PatchType.MERGE
            )
        else:
            written = client.replace(resource.Status(body), name)
    except Exception as exc:
        secrets = client_secrets(client)
        raise api_error(exc, _what(kind, None, name) + "/status", secrets) from detached(
            exc, secrets
        )
    return object_from_document(written.to_dict())


async def awrite_status(
    client: AsyncClient,
    kind: ResourceKind,
    name: str,
    status: Mapping[str, Any],
    *,
    resource_version: str | None = None,
) -> KubeObject:
    """``write_status`` with lightkube's ``AsyncClient``."""
    from lightkube.types import PatchType

    resource, body = _status_request(kind, name, status, resource_version)
    try:
        if resource_version is None:
            written = await client.patch(
                resource.Status, name, {"status": body["status"]}, patch_type=PatchType.MERGE
            )
        else:
            written = await client.replace(resource.Status(body), name)
    except Exception as exc:
        secrets = client_secrets(client)
        raise api_error(exc, _what(kind, None, name) + "/status", secrets) from detached(
            exc, secrets
        )
    return object_from_document(written.to_dict())
