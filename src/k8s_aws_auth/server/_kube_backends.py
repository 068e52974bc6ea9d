"""The mapping backends that read the Kubernetes API: ``EKSConfigMap`` (live) and ``CRD``.

Each is a [`MappingSource`][k8s_aws_auth.mapping.MappingSource] fed by a
list-then-watch (``k8s_aws_auth._kube.ListWatch``: resourceVersion, bookmarks,
``410 Gone`` → relist, jittered backoff, bounded events), so every replica of
the webhook follows the same objects and they agree without sharing state.

``EKSConfigMap`` follows ``kube-system/aws-auth``. Its ``data`` goes through the
same parser and validation as a mounted aws-auth file (``eks-configmap``
format), as a whole: an invalid edit, or the deletion of the ConfigMap, keeps
the last good mapping in force (logged, counted). Upstream saves whatever part
parsed, and wipes every mapping when the ConfigMap is deleted; both lock people
out of a cluster. When the first sync finds no aws-auth, nothing is mapped (as
upstream) and the backend is ready.

``CRD`` follows every ``IAMIdentityMapping`` (``iamauthenticator.k8s.aws/v1alpha1``,
``spec.arn``, ``spec.username``, ``spec.groups``). Objects are independent: an
invalid one is skipped (its last good version, if any, stays), the others map.
Each object's ``status.canonicalARN`` (its ARN canonicalised and lower-cased,
upstream's value) is written through the ``/status`` subresource when it
differs; upstream writes it on every event, even when unchanged.

Readiness (``ready()``) is false until a first list succeeded and a mapping is
in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from k8s_aws_auth._core.arn import parse_arn
from k8s_aws_auth._kube import (
    AWS_AUTH,
    CONFIG_MAP,
    IAM_IDENTITY_MAPPING,
    IAM_IDENTITY_MAPPINGS,
    Connection,
    KubeAPIError,
    KubeObject,
    KubeSettings,
    ListWatch,
    WatchEvent,
    WatchTarget,
    async_client,
    awrite_status,
    list_objects,
    read_object,
    resolve_connection,
    sync_client,
)
from k8s_aws_auth.errors import K8sAwsAuthError
from k8s_aws_auth.mapping import MappingFileError, MappingSet, parse_document

if TYPE_CHECKING:
    from lightkube import AsyncClient

    from ._metrics import ServerMetrics

__all__ = [
    "ConfigMapBackend",
    "IdentityMappingCRDBackend",
    "LiveBackend",
    "canonical_status_arn",
    "crd_mapping_set",
    "kube_connection",
    "read_mapping_once",
    "register_metrics",
]

_log = logging.getLogger("k8s_aws_auth.server")


def kube_connection(kubeconfig: str | os.PathLike[str] | None, master: str | None) -> Connection:
    """Where the live backends read: ``--kubeconfig``/``--master``, else in-cluster.

    Raises:
        ConfigurationError: the kubeconfig or the in-cluster environment is unusable.
    """
    path = None if kubeconfig is None else os.fspath(kubeconfig)
    return resolve_connection(KubeSettings(kubeconfig=path, master=master))


class LiveBackend:
    """A mapping source following the Kubernetes API (one ``ListWatch`` task).

    Subclasses turn the watched objects into a ``MappingSet`` (``_apply``).
    """

    #: ``--backend-mode`` name.
    name = ""
    #: What is followed.
    target: WatchTarget

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._current: MappingSet | None = None
        self._client: AsyncClient | None = None
        self._watch: ListWatch | None = None
        self._task: asyncio.Task[Any] | None = None
        self._counts: dict[str, int] = {"applied": 0, "rejected": 0, "deleted": 0}

    @property
    def current(self) -> MappingSet | None:
        """The mapping in force (``None`` before the first good sync)."""
        return self._current

    def ready(self) -> bool:
        """A list succeeded and a mapping is in force."""
        return self._watch is not None and self._watch.health().synced and self._current is not None

    def stats(self) -> dict[str, float]:
        """Counters for the metrics: the watch's and the backend's own."""
        values: dict[str, float] = {f"mapping_{k}": v for k, v in self._counts.items()}
        if self._watch is not None:
            values.update(attrs.asdict(self._watch.counters()))
        return values

    def watch_failures(self) -> int:
        """Watch and list failures (upstream's ``configmap_watch_failures_total``)."""
        if self._watch is None:
            return 0
        counters = self._watch.counters()
        return counters.watch_failures + counters.list_failures

    def _count(self, name: str) -> None:
        self._counts[name] += 1

    async def start(self) -> None:
        """Start following the API (in the running event loop)."""
        self._client = async_client(self.connection)
        self._watch = ListWatch(self._client, self.target, self._apply)
        self._task = asyncio.get_running_loop().create_task(self._watch.run())

    async def stop(self) -> None:
        """Stop the watch and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.close()

    async def _apply(self, event: WatchEvent) -> None:
        """Turn the objects after ``event`` into the mapping in force (the watch's consumer)."""
        raise NotImplementedError


class ConfigMapBackend(LiveBackend):
    """``EKSConfigMap`` on the live API: ``kube-system/aws-auth``, all or nothing."""

    name = "EKSConfigMap"
    target = AWS_AUTH

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._applied_version: str | None = None

    async def _apply(self, event: WatchEvent) -> None:
        found = event.objects.get((AWS_AUTH.namespace, AWS_AUTH.name or ""))
        if found is None:
            if self._current is None:
                # Never had one: nothing is mapped (upstream's start without aws-auth).
                self._current = MappingSet(format="eks-configmap", source="kube-system/aws-auth")
                _log.warning("the aws-auth ConfigMap does not exist: nothing is mapped by it")
            elif event.type in ("DELETED", "SYNCED") and self._applied_version is not None:
                self._count("deleted")
                self._applied_version = None
                _log.error(
                    "the aws-auth ConfigMap was deleted: the last good mapping stays in force",
                    extra={"fields": {"backend": self.name}},
                )
            return
        if found.resource_version == self._applied_version:
            return  # a relist of the same object: nothing to parse again
        source = f"kube-system/aws-auth (resourceVersion {found.resource_version})"
        document = {"kind": "ConfigMap", "data": found.body.get("data")}
        try:
            # In a thread: a 5,000-entry aws-auth takes most of a second to validate,
            # and reviews keep being answered (with the last good mapping) meanwhile.
            mapping_set = await asyncio.to_thread(
                parse_document, document, source=source, format="eks-configmap"
            )
        except MappingFileError as exc:
            self._count("rejected")
            self._applied_version = found.resource_version
            _log.error(
                "the aws-auth ConfigMap is invalid: the last good mapping stays in force",
                extra={"fields": {"backend": self.name, "problems": str(exc)}},
            )
            return
        self._current, self._applied_version = mapping_set, found.resource_version
        self._count("applied")
        _log.info(
            "aws-auth ConfigMap applied",
            extra={
                "fields": {
                    "backend": self.name,
                    "resource_version": found.resource_version,
                    "entries": len(mapping_set),
                }
            },
        )


def _crd_entry(obj: KubeObject) -> tuple[str, dict[str, Any]]:
    """``("roles"|"users", native entry)`` of one IAMIdentityMapping; ``ValueError`` if invalid."""
    spec = obj.body.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec is missing")
    arn, username = spec.get("arn"), spec.get("username")
    if not isinstance(arn, str) or not arn:
        raise ValueError("spec.arn is required")
    if not isinstance(username, str) or not username:
        raise ValueError("spec.username is required")
    groups = spec.get("groups") or []
    canonical = parse_arn(arn.strip()).canonical_arn
    kind = "roles" if ":role/" in canonical else "users"
    return kind, {"arn": canonical, "username": username, "groups": groups}


def crd_mapping_set(entries: Mapping[str, tuple[str, dict[str, Any]]]) -> MappingSet:
    """A ``MappingSet`` of IAMIdentityMapping entries (by object name, in name order)."""
    document: dict[str, list[dict[str, Any]]] = {"roles": [], "users": []}
    for name in sorted(entries):
        kind, entry = entries[name]
        document[kind].append(entry)
    return parse_document(document, source="iamidentitymappings", format="native")


def canonical_status_arn(arn: str) -> str:
    """``status.canonicalARN`` as upstream writes it: the canonical ARN, lower-cased."""
    return parse_arn(arn.strip().lower()).canonical_arn


class IdentityMappingCRDBackend(LiveBackend):
    """``CRD``: every IAMIdentityMapping object, each validated on its own; status written back."""

    name = "CRD"
    target = IAM_IDENTITY_MAPPINGS

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._counts.update(status_writes=0, status_failures=0)
        # object name → (resourceVersion parsed, its entry)
        self._entries: dict[str, tuple[str, tuple[str, dict[str, Any]]]] = {}

    def _entry(self, obj: KubeObject) -> tuple[str, dict[str, Any]] | None:
        kept = self._entries.get(obj.name)
        if kept is not None and kept[0] == obj.resource_version:
            return kept[1]
        try:
            entry = _crd_entry(obj)
            parse_document({entry[0]: [entry[1]]}, source=obj.name, format="native")
        except (ValueError, MappingFileError) as exc:
            self._count("rejected")
            _log.error(
                "an IAMIdentityMapping is invalid: its last good version (if any) stays",
                extra={"fields": {"backend": self.name, "object": obj.name, "problems": str(exc)}},
            )
            return kept[1] if kept is not None else None
        self._entries[obj.name] = (obj.resource_version, entry)
        return entry

    async def _apply(self, event: WatchEvent) -> None:
        live = {key[1]: obj for key, obj in event.objects.items()}
        for gone in set(self._entries) - set(live):
            del self._entries[gone]
            self._count("deleted")
        entries: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, obj in live.items():
            entry = self._entry(obj)
            if entry is not None:
                entries[name] = entry
        try:
            self._current = await asyncio.to_thread(crd_mapping_set, entries)
        except MappingFileError as exc:  # entries valid alone but not together
            self._count("rejected")
            _log.error(
                "the IAMIdentityMappings do not compile together: the last good mapping stays",
                extra={"fields": {"backend": self.name, "problems": str(exc)}},
            )
            return
        self._count("applied")
        changed = [event.object] if event.object is not None else list(live.values())
        for obj in changed:
            if event.type != "DELETED" and obj.name in live:
                await self._write_status(obj)

    async def _write_status(self, obj: KubeObject) -> None:
        spec = obj.body.get("spec")
        arn = spec.get("arn") if isinstance(spec, dict) else None
        if not isinstance(arn, str) or not arn or self._client is None:
            return
        try:
            wanted = canonical_status_arn(arn)
        except ValueError:
            return
        status = obj.body.get("status")
        if isinstance(status, dict) and status.get("canonicalARN") == wanted:
            return
        try:
            await awrite_status(
                self._client,
                IAM_IDENTITY_MAPPING,
                obj.name,
                {**(status if isinstance(status, dict) else {}), "canonicalARN": wanted},
                resource_version=obj.resource_version,
            )
        except K8sAwsAuthError as exc:
            # A conflict means a newer version is on its way: its event writes again.
            self._count("status_failures")
            _log.warning(
                "could not write an IAMIdentityMapping's status",
                extra={"fields": {"object": obj.name, "reason": exc.reason}},
            )
            return
        self._count("status_writes")


def read_mapping_once(connection: Connection, mode: str) -> MappingSet:
    """What backend ``mode`` (``EKSConfigMap`` or ``CRD``) maps now: one read, no watch.

    For ``mapping explain``. Invalid IAMIdentityMappings are left out, as the
    server leaves them out.

    Raises:
        KubeAPIError: the API refused or failed.
        MappingFileError: aws-auth is invalid.
    """
    client = sync_client(connection)
    if mode == "EKSConfigMap":
        namespace, name = AWS_AUTH.namespace, AWS_AUTH.name or ""
        try:
            found = read_object(client, CONFIG_MAP, name, namespace=namespace)
        except KubeAPIError as exc:
            if exc.status_code != 404:
                raise
            return MappingSet(format="eks-configmap", source="kube-system/aws-auth")
        return parse_document(
            {"kind": "ConfigMap", "data": found.body.get("data")},
            source=f"kube-system/aws-auth (resourceVersion {found.resource_version})",
            format="eks-configmap",
        )
    entries: dict[str, tuple[str, dict[str, Any]]] = {}
    for obj in list_objects(client, IAM_IDENTITY_MAPPING):
        with contextlib.suppress(ValueError):
            entries[obj.name] = _crd_entry(obj)
    return crd_mapping_set(entries)


def register_metrics(backend: LiveBackend, metrics: ServerMetrics) -> None:
    """Expose ``backend``'s counters: ``k8s_aws_auth_kube_<backend>_*`` (and upstream's name)."""
    prefix = "kube_configmap" if isinstance(backend, ConfigMapBackend) else "kube_crd"
    metrics.add_source(prefix, backend.stats, documentation=f"{backend.name} backend")
    if isinstance(backend, ConfigMapBackend):
        metrics.watch_configmap(backend.watch_failures)
