"""Which Kubernetes API to talk to, as whom: in-cluster, a kubeconfig, ``--master``; and the clients.

``resolve_connection`` follows upstream's flags (client-go's
``BuildConfigFromFlags``): with ``--kubeconfig`` and/or ``--master`` the
kubeconfig's current (or chosen) context, its server replaced by ``--master``;
``--master`` alone is that URL with no credentials (``kubectl proxy``); with
neither, the in-cluster service account (``KUBERNETES_SERVICE_HOST``/``PORT``,
``token``, ``ca.crt`` and ``namespace`` of the service-account folder). A CLI
may also fall back to ``$KUBECONFIG`` (its first file: lists are not merged)
and ``~/.kube/config``, as kubectl does.

The kubeconfig is read here rather than by lightkube 0.22, whose loader drops
the exec fields (``interactiveMode``, ``provideClusterInfo``) and keeps
private keys in temporary files; lightkube gets a bare server entry and our
transport (``AsyncKubeTransport``/``KubeTransport``) does TLS and
authentication. ``async_client``/``sync_client`` import lightkube on first use.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from k8s_aws_auth.errors import ConfigurationError

from .credentials import (
    CredentialSource,
    ExecPlugin,
    NoCredentials,
    StaticToken,
    TokenFile,
    cluster_info,
    exec_spec_from_kubeconfig,
)
from .tls import TLSFiles, ssl_context
from .transport import AsyncKubeTransport, KubeTransport, TransportSettings

if TYPE_CHECKING:
    from lightkube import AsyncClient, Client

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "Connection",
    "KubeSettings",
    "async_client",
    "client_secrets",
    "resolve_connection",
    "sync_client",
]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024
_EXEC_EXTENSION = "client.authentication.k8s.io/exec"


@attrs.frozen
class KubeSettings:
    """How to reach the Kubernetes API (the command-line and config-file flags).

    Attributes:
        kubeconfig: ``--kubeconfig``: a kubeconfig file.
        master: ``--master`` / ``--master-url``: the API server URL, overriding the kubeconfig's.
        context: The kubeconfig context (default: its ``current-context``).
        service_account_dir: Where the in-cluster token, CA and namespace are.
        default_kubeconfig: With neither flag and no in-cluster environment, use
            ``$KUBECONFIG`` or ``~/.kube/config`` (kubectl's behaviour; for the CLI).
        proxy: An HTTP(S) proxy URL. Environment proxies are never used; a
            kubeconfig's ``proxy-url`` is.
        connect_timeout: Seconds to connect (TCP and TLS).
        request_timeout: Seconds for any other phase of a request (read, write, pool).
        watch_read_timeout: Seconds a watch stream may stay silent.
        token_refresh: Seconds after which a token file is read again.
        max_response_bytes: The largest response body accepted.
        max_event_bytes: The largest watch event accepted.
        field_manager: ``fieldManager`` of our writes.
    """

    kubeconfig: str | None = None
    master: str | None = None
    context: str | None = None
    service_account_dir: str = SERVICE_ACCOUNT_DIR
    default_kubeconfig: bool = False
    proxy: str | None = None
    connect_timeout: float = 5.0
    request_timeout: float = 10.0
    watch_read_timeout: float = 360.0
    token_refresh: float = 60.0
    max_response_bytes: int = 32 * 1024 * 1024
    max_event_bytes: int = 4 * 1024 * 1024
    field_manager: str = "k8s-aws-auth"


@attrs.frozen
class Connection:
    """A resolved API endpoint and identity.

    Attributes:
        server: The API server URL.
        namespace: The default namespace (the service account's, or the context's).
        origin: Where it came from, for logs: ``in-cluster``, ``kubeconfig <path>``, ``master``.
        tls: The TLS context checking the server.
        credentials: The bearer token source.
        proxy: The proxy URL, if one is configured.
        tls_server_name: The certificate name to expect, if not the URL's host.
        settings: The settings it was resolved from (timeouts and bounds).
    """

    server: str
    namespace: str
    origin: str
    tls: ssl.SSLContext = attrs.field(repr=False, eq=False)
    credentials: CredentialSource = attrs.field(repr=False, eq=False)
    proxy: str | None = None
    tls_server_name: str | None = None
    settings: KubeSettings = attrs.field(factory=KubeSettings, repr=False)

    def transport_settings(self) -> TransportSettings:
        """The transport's bounds."""
        return TransportSettings(
            max_response_bytes=self.settings.max_response_bytes,
            max_event_bytes=self.settings.max_event_bytes,
            watch_read_timeout=self.settings.watch_read_timeout,
            tls_server_name=self.tls_server_name,
        )


def _check_server(server: str, credentials: CredentialSource) -> str:
    server = server.strip().rstrip("/")
    if server.startswith("https://"):
        return server
    if server.startswith("http://") and isinstance(credentials, NoCredentials):
        return server  # kubectl proxy: no credential ever crosses the wire
    raise ConfigurationError(
        "the Kubernetes API server must be an https:// URL (http:// only without credentials)",
        reason="kube-server",
    )


def _in_cluster(settings: KubeSettings, environ: Mapping[str, str]) -> Connection:
    host = environ.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = environ.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        raise ConfigurationError(
            "not running in a cluster (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset): "
            "pass --kubeconfig or --master",
            reason="kube-in-cluster",
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    folder = settings.service_account_dir
    credentials = TokenFile(os.path.join(folder, "token"), refresh_after=settings.token_refresh)
    credentials.bearer()  # fail at start-up, not at the first request
    try:
        with open(os.path.join(folder, "namespace"), encoding="utf-8") as file:
            namespace = file.read(256).strip() or "default"
    except OSError:
        namespace = "default"
    return Connection(
        server=_check_server(f"https://{host}:{port}", credentials),
        namespace=namespace,
        origin="in-cluster",
        tls=ssl_context(TLSFiles(ca_file=os.path.join(folder, "ca.crt"))),
        credentials=credentials,
        proxy=settings.proxy,
        settings=settings,
    )


def _named(document: Mapping[str, Any], section: str, name: str, path: str) -> dict[str, Any]:
    entries = document.get(section) or []
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(section[:-1])
                if isinstance(body, dict):
                    return body
    raise ConfigurationError(
        f"kubeconfig {path}: no {section[:-1]} named {name!r}", reason="kubeconfig"
    )


def _decoded(value: object, field: str, path: str) -> bytes | None:
    if value in (None, ""):
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"kubeconfig {path}: {field} is not base64", reason="kubeconfig"
        ) from None


def _read_kubeconfig(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(os.path.expanduser(path), "rb") as file:
            data = file.read(_MAX_KUBECONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read kubeconfig {path}: {exc.strerror or type(exc).__name__}",
            reason="kubeconfig",
        ) from None
    if len(data) > _MAX_KUBECONFIG_BYTES:
        raise ConfigurationError(f"kubeconfig {path} is too large", reason="kubeconfig")
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError:
        raise ConfigurationError(f"kubeconfig {path} is not YAML", reason="kubeconfig") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"kubeconfig {path} is not a mapping", reason="kubeconfig")
    return document


def _user_credentials(
    user: Mapping[str, Any],
    base_dir: str,
    path: str,
    settings: KubeSettings,
    info: dict[str, object],
) -> CredentialSource:
    def local(name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(base_dir, name)

    if user.get("auth-provider"):
        raise ConfigurationError(
            f"kubeconfig {path}: auth-provider users are not supported (use an exec plugin)",
            reason="kubeconfig",
        )
    if user.get("username") or user.get("password"):
        raise ConfigurationError(
            f"kubeconfig {path}: basic authentication is not supported", reason="kubeconfig"
        )
    if isinstance(user.get("exec"), dict):
        return ExecPlugin(
            exec_spec_from_kubeconfig(user["exec"], base_dir=base_dir, cluster_info=info)
        )
    if user.get("tokenFile"):
        source = TokenFile(local(str(user["tokenFile"])), refresh_after=settings.token_refresh)
        source.bearer()
        return source
    if user.get("token"):
        return StaticToken(str(user["token"]).strip())
    return NoCredentials()


def _from_kubeconfig(settings: KubeSettings, path: str) -> Connection:
    document = _read_kubeconfig(path)
    base_dir = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    context_name = settings.context or document.get("current-context")
    if not context_name:
        raise ConfigurationError(
            f"kubeconfig {path} has no current-context (choose a context)", reason="kubeconfig"
        )
    context = _named(document, "contexts", str(context_name), path)
    cluster = _named(document, "clusters", str(context.get("cluster") or ""), path)
    user = _named(document, "users", str(context["user"]), path) if context.get("user") else {}

    def local(name: object) -> str | None:
        if not name:
            return None
        text = os.path.expanduser(str(name))
        return text if os.path.isabs(text) else os.path.join(base_dir, text)

    server = settings.master or str(cluster.get("server") or "")
    ca_pem = _decoded(cluster.get("certificate-authority-data"), "certificate-authority-data", path)
    insecure = cluster.get("insecure-skip-tls-verify") is True
    extension = None
    for item in cluster.get("extensions") or []:
        if isinstance(item, dict) and item.get("name") == _EXEC_EXTENSION:
            extension = item.get("extension")
    credentials = _user_credentials(
        user, base_dir, path, settings, cluster_info(server, ca_pem, insecure, extension)
    )
    files = TLSFiles(
        ca_file=local(cluster.get("certificate-authority")),
        ca_pem=ca_pem,
        insecure=insecure,
        cert_file=local(user.get("client-certificate")),
        key_file=local(user.get("client-key")),
        cert_pem=_decoded(user.get("client-certificate-data"), "client-certificate-data", path),
        key_pem=_decoded(user.get("client-key-data"), "client-key-data", path),
    )
    proxy = settings.proxy or (str(cluster["proxy-url"]) if cluster.get("proxy-url") else None)
    name = cluster.get("tls-server-name")
    return Connection(
        server=_check_server(server, credentials),
        namespace=str(context.get("namespace") or "default"),
        origin=f"kubeconfig {path}",
        tls=ssl_context(files),
        credentials=credentials,
        proxy=proxy,
        tls_server_name=str(name) if name else None,
        settings=settings,
    )


def resolve_connection(
    settings: KubeSettings, *, environ: Mapping[str, str] | None = None
) -> Connection:
    """The API endpoint and identity ``settings`` name (reads files; ``environ`` default: ``os.environ``).

    Raises:
        ConfigurationError: the kubeconfig, the service account or the TLS
            material is missing or invalid (``reason`` says which).
    """
    environ = os.environ if environ is None else environ
    if settings.kubeconfig:
        return _from_kubeconfig(settings, settings.kubeconfig)
    if settings.master:
        credentials = NoCredentials()
        return Connection(
            server=_check_server(settings.master, credentials),
            namespace="default",
            origin="master",
            tls=ssl_context(TLSFiles()),
            credentials=credentials,
            proxy=settings.proxy,
            settings=settings,
        )
    if environ.get("KUBERNETES_SERVICE_HOST") or not settings.default_kubeconfig:
        return _in_cluster(settings, environ)
    listed = [item for item in environ.get("KUBECONFIG", "").split(os.pathsep) if item]
    return _from_kubeconfig(settings, listed[0] if listed else "~/.kube/config")


def _lightkube_config(connection: Connection) -> Any:
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.config.models import Cluster, User

    # No credentials and no TLS material for lightkube: the transport has both.
    return KubeConfig.from_one(
        cluster=Cluster(server=connection.server), user=User(), namespace=connection.namespace
    ).get()


def _timeout(settings: KubeSettings) -> Any:
    import httpx

    return httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout)


def async_client(connection: Connection) -> AsyncClient:
    """A lightkube ``AsyncClient`` over ``connection`` (no redirects, no environment proxies)."""
    from lightkube import AsyncClient

    transport = AsyncKubeTransport(
        connection.tls,
        connection.credentials,
        connection.transport_settings(),
        proxy=connection.proxy,
    )
    return AsyncClient(
        config=_lightkube_config(connection),
        timeout=_timeout(connection.settings),
        field_manager=connection.settings.field_manager,
        trust_env=False,
        transport=transport,
    )


def sync_client(connection: Connection) -> Client:
    """A lightkube ``Client`` over ``connection`` (for the CLI); see ``async_client``."""
    from lightkube import Client

    transport = KubeTransport(
        connection.tls,
        connection.credentials,
        connection.transport_settings(),
        proxy=connection.proxy,
    )
    return Client(
        config=_lightkube_config(connection),
        timeout=_timeout(connection.settings),
        field_manager=connection.settings.field_manager,
        trust_env=False,
        transport=transport,
    )


def client_secrets(client: object) -> tuple[str, ...]:
    """The spellings of the tokens a client from ``async_client``/``sync_client`` has sent.

    For scrubbing error messages; reaches the transport these functions installed
    (through lightkube's and httpx's private attributes: one place to change).
    """
    transport = getattr(
        getattr(getattr(client, "_client", None), "_client", None), "_transport", None
    )
    if isinstance(transport, AsyncKubeTransport | KubeTransport):
        return transport.credentials.secrets()
    return ()
