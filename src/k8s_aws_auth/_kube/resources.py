"""What to read from the Kubernetes API: resource kinds and watch targets (plain values).

Described by our own frozen values so that the server and the CLI can name
what they watch or edit without importing lightkube; ``lightkube_resource``
turns a kind into lightkube's class, importing lightkube on first use.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "AWS_AUTH",
    "CONFIG_MAP",
    "IAM_IDENTITY_MAPPING",
    "IAM_IDENTITY_MAPPINGS",
    "ResourceKind",
    "WatchTarget",
    "lightkube_resource",
]


@attrs.frozen
class ResourceKind:
    """A Kubernetes resource type.

    Attributes:
        group: The API group (``""`` for the core group).
        version: The API version within the group.
        kind: The object kind (``ConfigMap``).
        plural: The resource name in URLs (``configmaps``).
        namespaced: Whether objects live in namespaces.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``apiVersion`` of the objects: ``v1`` or ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_plural(self) -> str:
        """``plural.group`` (``iamidentitymappings.iamauthenticator.k8s.aws``), as in API messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


#: Core v1 ConfigMaps.
CONFIG_MAP = ResourceKind(
    group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True
)

#: aws-iam-authenticator's cluster-scoped custom resource (kops' ``backendMode: CRD``).
IAM_IDENTITY_MAPPING = ResourceKind(
    group="iamauthenticator.k8s.aws",
    version="v1alpha1",
    kind="IAMIdentityMapping",
    plural="iamidentitymappings",
    namespaced=False,
)


@attrs.frozen
class WatchTarget:
    """The objects one list-then-watch follows.

    Attributes:
        kind: Their resource type.
        namespace: The namespace of a namespaced kind (``None`` for a cluster-scoped one).
        name: Follow only the object of this name (sent as the field selector
            ``metadata.name=<name>``, so a missing object lists as empty rather
            than failing), or ``None`` for the whole collection.
    """

    kind: ResourceKind
    namespace: str | None = None
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind.namespaced != (self.namespace is not None):
            needs = "needs a namespace" if self.kind.namespaced else "is cluster-scoped"
            raise ValueError(f"{self.kind.kind} {needs}")

    @property
    def field_selector(self) -> dict[str, Any] | None:
        """The field selector of the list and watch requests."""
        return None if self.name is None else {"metadata.name": self.name}

    def describe(self) -> str:
        """``kube-system/configmaps/aws-auth`` or ``iamidentitymappings.iamauthenticator.k8s.aws`` (for logs)."""
        parts = [self.namespace] if self.namespace else []
        parts.append(self.kind.qualified_plural)
        if self.name:
            parts.append(self.name)
        return "/".join(parts)


#: The EKS ``kube-system/aws-auth`` ConfigMap.
AWS_AUTH = WatchTarget(kind=CONFIG_MAP, namespace="kube-system", name="aws-auth")

#: Every IAMIdentityMapping object.
IAM_IDENTITY_MAPPINGS = WatchTarget(kind=IAM_IDENTITY_MAPPING)


def lightkube_resource(kind: ResourceKind) -> Any:
    """lightkube's resource class for ``kind`` (imports lightkube).

    The core kinds are lightkube's typed classes; custom resources get a generic
    class (registered once per process by lightkube, so repeated calls return the
    same class).
    """
    if kind == CONFIG_MAP:
        from lightkube.resources.core_v1 import ConfigMap

        return ConfigMap
    from lightkube.generic_resource import create_global_resource, create_namespaced_resource

    create = create_namespaced_resource if kind.namespaced else create_global_resource
    return create(kind.group, kind.version, kind.kind, kind.plural)
