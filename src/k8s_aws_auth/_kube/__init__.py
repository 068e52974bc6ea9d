"""The Kubernetes API access of the server backends and of the ``add``/``remove``/``list`` CLI.

Internal to k8s_aws_auth (not public API): siblings import from this module
only, never from its submodules. Nothing is imported until a name is used,
and lightkube (170-270 ms to import) only when a client is built or a watch
or an edit starts.

Connecting::

    settings = KubeSettings(kubeconfig=args.kubeconfig, master=args.master)
    connection = resolve_connection(settings)     # in-cluster, kubeconfig or --master
    client = async_client(connection)             # lightkube AsyncClient (sync_client: Client)

Following an object or a collection (see ``ListWatch`` for the contract)::

    watch = ListWatch(client, AWS_AUTH, on_event)     # on_event(WatchEvent)
    task = asyncio.create_task(watch.run())
    watch.health().synced                             # readiness
    watch.counters().watch_failures                   # metrics

Editing with optimistic concurrency, and custom-resource status::

    edit_object(client, CONFIG_MAP, "aws-auth", modify, namespace="kube-system")
    await awrite_status(client, IAM_IDENTITY_MAPPING, name, {"canonicalARN": arn})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from k8s_aws_auth._core.lazy import lazy_exports

if TYPE_CHECKING:
    from .backoff import Backoff
    from .connect import (
        SERVICE_ACCOUNT_DIR,
        Connection,
        KubeSettings,
        async_client,
        client_secrets,
        resolve_connection,
        sync_client,
    )
    from .credentials import (
        CredentialSource,
        ExecPlugin,
        ExecSpec,
        NoCredentials,
        StaticToken,
        TokenFile,
        parse_exec_credential,
    )
    from .edit import (
        EditPolicy,
        EditResult,
        aedit_object,
        awrite_status,
        edit_object,
        list_objects,
        read_object,
        write_status,
    )
    from .errors import KubeAPIError
    from .health import WatchCounters, WatchHealth
    from .objects import KubeObject, object_from_document
    from .resources import (
        AWS_AUTH,
        CONFIG_MAP,
        IAM_IDENTITY_MAPPING,
        IAM_IDENTITY_MAPPINGS,
        ResourceKind,
        WatchTarget,
        lightkube_resource,
    )
    from .transport import TransportSettings
    from .watch import Consumer, EventType, ListWatch, WatchEvent, WatchSettings

__all__ = [
    "AWS_AUTH",
    "CONFIG_MAP",
    "IAM_IDENTITY_MAPPING",
    "IAM_IDENTITY_MAPPINGS",
    "SERVICE_ACCOUNT_DIR",
    "Backoff",
    "Connection",
    "Consumer",
    "CredentialSource",
    "EditPolicy",
    "EditResult",
    "EventType",
    "ExecPlugin",
    "ExecSpec",
    "KubeAPIError",
    "KubeObject",
    "KubeSettings",
    "ListWatch",
    "NoCredentials",
    "ResourceKind",
    "StaticToken",
    "TokenFile",
    "TransportSettings",
    "WatchCounters",
    "WatchEvent",
    "WatchHealth",
    "WatchSettings",
    "WatchTarget",
    "aedit_object",
    "async_client",
    "awrite_status",
    "client_secrets",
    "edit_object",
    "lightkube_resource",
    "object_from_document",
    "list_objects",
    "parse_exec_credential",
    "read_object",
    "resolve_connection",
    "sync_client",
    "write_status",
]

_WHERE = {
    "Backoff": ".backoff",
    "SERVICE_ACCOUNT_DIR": ".connect",
    "Connection": ".connect",
    "KubeSettings": ".connect",
    "async_client": ".connect",
    "client_secrets": ".connect",
    "resolve_connection": ".connect",
    "sync_client": ".connect",
    "CredentialSource": ".credentials",
    "ExecPlugin": ".credentials",
    "ExecSpec": ".credentials",
    "NoCredentials": ".credentials",
    "StaticToken": ".credentials",
    "TokenFile": ".credentials",
    "parse_exec_credential": ".credentials",
    "EditPolicy": ".edit",
    "EditResult": ".edit",
    "aedit_object": ".edit",
    "awrite_status": ".edit",
    "edit_object": ".edit",
    "read_object": ".edit",
    "list_objects": ".edit",
    "write_status": ".edit",
    "KubeAPIError": ".errors",
    "WatchCounters": ".health",
    "WatchHealth": ".health",
    "KubeObject": ".objects",
    "object_from_document": ".objects",
    "AWS_AUTH": ".resources",
    "CONFIG_MAP": ".resources",
    "IAM_IDENTITY_MAPPING": ".resources",
    "IAM_IDENTITY_MAPPINGS": ".resources",
    "ResourceKind": ".resources",
    "WatchTarget": ".resources",
    "lightkube_resource": ".resources",
    "TransportSettings": ".transport",
    "Consumer": ".watch",
    "EventType": ".watch",
    "ListWatch": ".watch",
    "WatchEvent": ".watch",
    "WatchSettings": ".watch",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _WHERE, __all__)
