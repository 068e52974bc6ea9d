"""``KubeObject``: one Kubernetes object as the API sent it, with its identity pulled out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["KubeObject", "object_from_document"]


@attrs.frozen
class KubeObject:
    """A Kubernetes object.

    Attributes:
        name: ``metadata.name``.
        namespace: ``metadata.namespace`` (``None`` for cluster-scoped objects).
        resource_version: ``metadata.resourceVersion``: an opaque string, only
            ever compared for equality.
        uid: ``metadata.uid`` (``None`` when the server left it out).
        body: The whole object as JSON data (``data``, ``spec``, ``status``...).
            Shared, not copied: treat it as read-only.
    """

    name: str
    namespace: str | None
    resource_version: str
    uid: str | None = None
    body: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def key(self) -> tuple[str | None, str]:
        """``(namespace, name)``: what identifies the object in its collection."""
        return (self.namespace, self.name)


def object_from_document(document: object) -> KubeObject:
    """Read a JSON object (a list item or a watch event's ``object``) as a ``KubeObject``.

    Raises:
        ValueError: ``document`` is not an object with ``metadata.name`` and
            ``metadata.resourceVersion`` strings. The message names the missing
            field, never the content.
    """
    if not isinstance(document, dict):
        raise ValueError("the object is not a JSON object")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise ValueError("the object has no metadata")
    name, version = metadata.get("name"), metadata.get("resourceVersion")
    if not isinstance(name, str) or not name:
        raise ValueError("the object has no metadata.name")
    if not isinstance(version, str) or not version:
        raise ValueError("the object has no metadata.resourceVersion")
    namespace, uid = metadata.get("namespace"), metadata.get("uid")
    return KubeObject(
        name=name,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        resource_version=version,
        uid=uid if isinstance(uid, str) else None,
        body=document,
    )
