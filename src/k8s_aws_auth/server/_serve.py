"""``k8s-aws-auth serve``: the webhook under uvicorn, over TLS.

One process: uvicorn (httptools or h11, on uvloop or asyncio: see `resolve_stack`)
on a socket bound here (so ``--port 0`` works and the real port is logged), TLS
from the state directory, optional client-certificate authentication of
kube-apiserver, structured JSON logs, Prometheus metrics and graceful shutdown on
SIGTERM/SIGINT (in-flight reviews finish, then the verifier and the mapping
reloader close). ``serve --workers N`` runs N of these on one socket
(``_workers.py``).

uvicorn runs the app, the lifespan and the shutdown; connections are accepted by
our own `Listener` (connection limit, TLS handshake timeout, calm at the
file-descriptor limit) and every phase of a connection is bounded by the
`ConnectionGuard` mixed into uvicorn's protocol (see those modules). A second,
plain-HTTP `Listener` serves upstream's health port (``_health``), and a
`CertificateReloader` swaps a changed certificate pair into the TLS listener
for new handshakes (``_cert_reload``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs
import httpx
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from k8s_aws_auth import AsyncTokenVerifier
from k8s_aws_auth._ec2.usage import uses_ec2_dns_name
from k8s_aws_auth._runtime.clock import utc_now
from k8s_aws_auth.errors import ConfigurationError

from ._app import MapIdentity, TokenReviewApp
from ._cert_reload import CertificateReloader, ServingCertificate, read_certificate
from ._certs import (
    KUBECONFIG_FILE,
    CertificateFiles,
    ensure_certificates,
    webhook_kubeconfig,
    write_file,
    write_if_changed,
)
from ._collector import settle_collector
from ._config import ServerConfig, ignored_key_reason
from ._connection_guard import (
    ConnectionGuard,
    ConnectionLimits,
    ConnectionStats,
    close_after_errors,
    guarded_protocol,
)
from ._health import HEALTH_CONNECTIONS, answer_plain_http
from ._listener import REPORT_INTERVAL, Listener, default_max_connections, open_file_limit
from ._logging import configure_logging
from ._mapping import IdentityMapping, load_identity_mapping
from ._metrics import ServerMetrics
from ._observe import ObservingTransport
from ._pem import check_pair
from ._stack import Stack, resolve_stack, run_on
from ._worker_metrics import SNAPSHOT_INTERVAL, merged_render, write_snapshot

if TYPE_CHECKING:
    from k8s_aws_auth._ec2.lookup import EC2NameLookup

__all__ = ["ServerParts", "build_server", "run_server", "serve"]

_log = logging.getLogger("k8s_aws_auth.server")


def _bind(address: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose protocol
    # says TCP (accepted sockets inherit it); without it every answer waits ~40 ms
    # for the client's delayed ACK. The connection guard sets it too, as a backstop.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _tighten(context: ssl.SSLContext, config: ServerConfig) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(config.client_ca_file))
    return context


def _ssl_context_factory(
    config: ServerConfig,
) -> Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    def factory(_: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return _tighten(default(), config)

    return factory


def server_ssl_context(
    uv_config: uvicorn.Config, config: ServerConfig, cert_path: str, key_path: str
) -> ssl.SSLContext:
    """The context of the start-up for another pair of files (a certificate reload)."""
    # uvicorn's create_ssl_context, except that an encrypted key fails instead of
    # making OpenSSL prompt for a password
    context = ssl.SSLContext(uv_config.ssl_version)
    check_pair(context, cert_path, key_path)
    context.verify_mode = ssl.VerifyMode(uv_config.ssl_cert_reqs)
    if uv_config.ssl_ca_certs:
        context.load_verify_locations(uv_config.ssl_ca_certs)
    if uv_config.ssl_ciphers:
        context.set_ciphers(uv_config.ssl_ciphers)
    return _tighten(context, config)


@attrs.define
class ServerParts:
    """What [`build_server()`][k8s_aws_auth.server.build_server] assembled (tests and embedders may reach in)."""

    config: ServerConfig
    app: TokenReviewApp
    verifier: AsyncTokenVerifier
    mapping: IdentityMapping
    metrics: ServerMetrics
    certificates: CertificateFiles
    ec2: EC2NameLookup | None = None
    """``{{EC2PrivateDNSName}}`` lookups, when a mapping needs them."""
    connections: ConnectionStats = attrs.field(factory=ConnectionStats)
    """Client connection counters (``k8s_aws_auth_connections_*`` metrics)."""
    serving_certificate: ServingCertificate | None = None
    """The certificate in use (reloads replace it); ``/readyz`` is 503 once it expired."""
    ready: bool = False


def build_server(
    config: ServerConfig,
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerParts:
    """Certificates, verifier, mapping, metrics and the app for ``config`` (no sockets yet).

    ``environ`` (default: a copy of ``os.environ``) is where the EC2 lookups find
    the region, ``AWS_ENDPOINT_URL_EC2`` and the server's AWS credentials. They
    are built when a loaded mapping uses ``{{EC2PrivateDNSName}}`` or
    ``ec2DescribeInstancesRoleARN``/``ec2EndpointURL`` is set; their credentials
    are fetched at start-up ([`serve()`][k8s_aws_auth.server.serve], or the ASGI lifespan startup).

    Raises:
        ConfigurationError: an invalid setting, certificate or mapping; EC2
            lookups needed but no region.
    """
    now = now or utc_now()
    verifier_config = config.verifier_config()
    certificates = ensure_certificates(
        config.state_dir,
        hostname=config.hostname,
        address=config.address,
        lifetime=timedelta(seconds=config.cert_lifetime),
        now=now,
    )
    _write_webhook_kubeconfig(config, certificates)
    _report_settings(config)
    if certificates.not_after - now < timedelta(seconds=config.cert_expiry_warning):
        _log.warning(
            "the serving certificate expires soon: renew it (init --renew, cert-manager)",
            extra={"fields": {"not_after": certificates.not_after.isoformat()}},
        )
    serving = ServingCertificate(
        not_after=certificates.not_after,
        serial=read_certificate(certificates.cert_path).serial,
    )
    metrics = ServerMetrics()
    mapping = load_identity_mapping(config, metrics=metrics)
    ec2: EC2NameLookup | None = None
    if uses_ec2_dns_name(mapping.mapping_sets()) or config.ec2_role_arn or config.ec2_endpoint_url:
        # Imported only here: the lookup brings the credential chain (~3 MiB).
        from k8s_aws_auth._ec2.lookup import build_ec2_lookup

        ec2 = build_ec2_lookup(config, environ=dict(os.environ) if environ is None else environ)
        mapping.ec2 = ec2
        metrics.watch_ec2(ec2.stats)
    client = httpx.AsyncClient(
        transport=ObservingTransport(
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=config.sts_max_connections,
                    max_keepalive_connections=config.sts_max_connections,
                ),
                trust_env=False,
            ),
            verifier_config.hosts,
            lambda status, region, throttled: metrics.record_sts(
                status, region, throttled=throttled
            ),
        ),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
    )
    verifier = AsyncTokenVerifier(verifier_config, client=client)
    metrics.watch_verifier(lambda: verifier.stats)
    metrics.add_source(
        "serving_certificate", serving.counters, documentation="serving certificate reloads"
    )
    metrics.add_source(
        "serving_certificate",
        lambda: serving.gauges(utc_now()),
        documentation="serving certificate notAfter and seconds left",
        kind="gauge",
    )
    parts_holder: list[ServerParts] = []

    async def startup() -> None:
        if ec2 is not None:
            await ec2.start()
        await mapping.start()
        parts_holder[0].ready = True

    async def shutdown() -> None:
        parts_holder[0].ready = False
        await mapping.stop()
        await verifier.aclose()
        await client.aclose()
        if ec2 is not None:
            await ec2.aclose()

    map_identity: MapIdentity = mapping.amap_identity
    app = TokenReviewApp(
        verifier,
        map_identity,
        max_token_size=config.max_token_size,
        max_body_bytes=config.max_body_bytes,
        body_timeout=config.body_timeout,
        audiences=config.audiences,
        scrubbed_accounts=config.scrubbed_accounts,
        retry_after=config.retry_after,
        ready=lambda: parts_holder[0].ready and mapping.healthy() and serving.not_after > utc_now(),
        metrics_endpoint=metrics.render,
        on_result=metrics.record,
        on_startup=[startup],
        on_shutdown=[shutdown],
    )
    parts = ServerParts(
        config=config,
        app=app,
        verifier=verifier,
        mapping=mapping,
        metrics=metrics,
        certificates=certificates,
        ec2=ec2,
        serving_certificate=serving,
    )
    metrics.add_source(
        "connections", parts.connections.counters, documentation="client connections"
    )
    metrics.add_source(
        "connections", parts.connections.gauges, documentation="client connections", kind="gauge"
    )
    parts_holder.append(parts)
    return parts


def _write_webhook_kubeconfig(config: ServerConfig, certificates: CertificateFiles) -> None:
    """Write the kubeconfig kube-apiserver reads, as ``--generate-kubeconfig`` says.

    An explicit path is rewritten (atomically) whenever its content would change,
    like upstream's at every start, and a failure stops the start-up: the operator
    asked for that file. The default, ``kubeconfig.yaml`` in the state directory,
    is only written when missing (``init --client-certificate`` may have edited
    it), and a read-only state directory (a Secret) only logs that it was not.
    """
    if config.kubeconfig_pregenerated:
        return
    text = webhook_kubeconfig(
        hostname=config.hostname, port=config.port, ca_pem=certificates.ca_pem
    ).encode("utf-8")
    if config.generate_kubeconfig is not None:
        path = config.generate_kubeconfig
        try:
            if write_if_changed(path, text, 0o644):
                _log.info(
                    "wrote the webhook kubeconfig", extra={"fields": {"kubeconfigPath": str(path)}}
                )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the webhook kubeconfig {path}: {exc.strerror}; fix the "
                "volume, or pass --kubeconfig-pregenerated=true when init wrote it",
                reason="kubeconfig",
            ) from None
        return
    path = config.state_dir / KUBECONFIG_FILE
    if path.exists():
        return
    try:
        write_file(path, text, 0o644)
    except OSError as exc:
        _log.warning(
            "the webhook kubeconfig was not written (the state directory is read-only?)",
            extra={"fields": {"kubeconfigPath": str(path), "error": exc.strerror}},
        )


def _report_settings(config: ServerConfig) -> None:
    """Log the feature gates and every config key that has no effect, with the reason."""
    if config.feature_gates:
        _log.info("feature gates", extra={"fields": {"feature_gates": dict(config.feature_gates)}})
    for key in config.ignored_keys:
        _log.warning(
            "config key ignored", extra={"fields": {"key": key, "reason": ignored_key_reason(key)}}
        )


def connection_limits(config: ServerConfig, open_files: int | None = None) -> ConnectionLimits:
    """The connection bounds of ``config``; an unset ``max_connections`` follows ``open_files``."""
    max_connections = config.max_connections
    if max_connections is None:
        max_connections = default_max_connections(open_files)
    return ConnectionLimits(
        tls_handshake_timeout=config.tls_handshake_timeout,
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        idle_timeout=config.idle_timeout,
        max_connections=max_connections,
    )


def uvicorn_config(
    config: ServerConfig,
    app: Any,
    certificates: CertificateFiles,
    *,
    limits: ConnectionLimits | None = None,
    stats: ConnectionStats | None = None,
    stack: Stack | None = None,
) -> uvicorn.Config:
    """The uvicorn settings the server uses (shared with the benchmark's trivial app)."""
    limits = limits or connection_limits(config, open_file_limit())
    stack = stack or resolve_stack(config.http, config.loop)
    return uvicorn.Config(
        close_after_errors(answer_plain_http(app)),
        host=config.address,
        port=config.port,
        http=guarded_protocol(stack.protocol_class, limits, stats or ConnectionStats()),
        # Used by uvicorn's own run() (the benchmark's trivial app); serve() brings its loop.
        loop=stack.loop,
        ws="none",
        lifespan="on",
        ssl_certfile=str(certificates.cert_path),
        ssl_keyfile=str(certificates.key_path),
        ssl_context_factory=_ssl_context_factory(config),
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        # The guard closes idle connections at idle_timeout; uvicorn's own timer
        # (whole seconds) is only a backstop.
        timeout_keep_alive=math.ceil(limits.idle_timeout),
        timeout_graceful_shutdown=int(config.shutdown_timeout),
        h11_max_incomplete_event_size=16 * 1024,
    )


class WebhookServer(uvicorn.Server):
    """uvicorn's server (lifespan, signals, graceful shutdown) over our own `Listener`.

    Built from a `ServerConfig` and any ASGI app, so the benchmark's trivial app
    runs under exactly the settings of ``serve``.
    """

    def __init__(
        self,
        config: ServerConfig,
        app: Any,
        certificates: CertificateFiles,
        *,
        stats: ConnectionStats | None = None,
        stack: Stack | None = None,
    ) -> None:
        self.limits = connection_limits(config, open_file_limit())
        self.connection_stats = stats or ConnectionStats()
        self.stack = stack or resolve_stack(config.http, config.loop)
        super().__init__(
            uvicorn_config(
                config,
                app,
                certificates,
                limits=self.limits,
                stats=self.connection_stats,
                stack=self.stack,
            )
        )

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """Serve new TLS handshakes with ``context`` (a reloaded certificate pair)."""
        for listener in self.servers:
            if isinstance(listener, Listener) and listener.ssl_context is not None:
                listener.ssl_context = context

    health_socket: socket.socket | None = None
    """Bound by the caller for the plain-HTTP health port (``ok`` on any path), or ``None``."""

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Run the lifespan startup, then accept on ``sockets`` (bound by the caller)."""
        if not sockets:
            raise RuntimeError("WebhookServer accepts on the sockets given to serve(sockets=...)")
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        protocol_class = config.http_protocol_class

        def create_protocol(on_lost: Callable[[], None]) -> asyncio.Protocol:
            protocol = cast(
                "ConnectionGuard",
                protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                ),
            )
            protocol.on_lost = on_lost
            return protocol

        listeners = [
            Listener(
                sock,
                create_protocol,
                ssl_context=config.ssl,
                limits=self.limits,
                stats=self.connection_stats,
                backlog=config.backlog,
            )
            for sock in sockets
        ]
        if self.health_socket is not None:
            listeners.append(
                Listener(
                    self.health_socket,
                    create_protocol,
                    ssl_context=None,
                    limits=attrs.evolve(self.limits, max_connections=HEALTH_CONNECTIONS),
                    stats=ConnectionStats(),
                    backlog=config.backlog,
                )
            )
        for listener in listeners:
            listener.start()
        # uvicorn's shutdown only calls close() and wait_closed() on its servers.
        self.servers = listeners  # type: ignore[assignment]
        self.started = True


async def serve(
    config: ServerConfig,
    *,
    on_listening: Callable[[str, int], Awaitable[None] | None] | None = None,
    stack: Stack | None = None,
) -> None:
    """Build everything for ``config`` and serve until SIGTERM/SIGINT.

    ``stack`` (default: resolved from ``config.http``) picks the HTTP parser; the
    event loop is the running one (``k8s-aws-auth serve`` starts the one
    ``config.loop`` names).
    """
    await _serve(config, on_listening=on_listening, stack=stack)


async def _serve(
    config: ServerConfig,
    *,
    on_listening: Callable[[str, int], Awaitable[None] | None] | None = None,
    stack: Stack | None = None,
    sock: socket.socket | None = None,
    worker: int | None = None,
    metrics_dir: Path | None = None,
    health_sock: socket.socket | None = None,
) -> None:
    """`serve`, also as one worker of ``serve --workers N``.

    A worker gets the supervisor's sockets: ``sock`` for the webhook and
    ``health_sock`` for the health port (``None``: off or not bound), so every
    worker answers probes and none of them fights the others for the port.
    """
    stack = stack or resolve_stack(config.http, "asyncio")
    parts = build_server(config)
    if parts.ec2 is not None:
        # Before listening: missing credentials are a start-up error naming the fix.
        await parts.ec2.start()
    sock = sock or _bind(config.address, config.port)
    host, port = sock.getsockname()[:2]
    snapshots: asyncio.Task[None] | None = None
    if metrics_dir is not None:
        parts.app.metrics_endpoint = merged_render(parts.metrics.registry, metrics_dir)
        snapshots = asyncio.get_running_loop().create_task(
            _write_snapshots(parts.metrics, metrics_dir)
        )
    server = WebhookServer(
        config, parts.app, parts.certificates, stats=parts.connections, stack=stack
    )
    health = health_sock if worker is not None else _bind_health_port(config)
    server.health_socket = health
    _warn_about_descriptors(server.limits, config)
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(LoopErrorReporter())
    task = loop.create_task(server.serve(sockets=[sock]))
    watcher: asyncio.Task[None] | None = None
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            _log.info(
                "serving",
                extra={
                    "fields": {
                        "address": host,
                        "port": port,
                        "cluster_id": config.cluster_id,
                        "partition": config.partition,
                        "backend_mode": list(config.backend_mode),
                        "sts_endpoint_url": config.sts_endpoint_url,
                        "client_certificates": config.client_ca_file is not None,
                        "cache_size": config.cache_size if config.cache_ttl > 0 else 0,
                        "max_connections": server.limits.max_connections,
                        "http": stack.http,
                        "loop": "uvloop"
                        if type(loop).__module__.startswith("uvloop")
                        else "asyncio",
                        "ignored_config_keys": list(config.ignored_keys),
                        "health_port": None if health is None else health.getsockname()[1],
                        **({} if worker is None else {"worker": worker, "pid": os.getpid()}),
                    }
                },
            )
            watcher = _watch_certificate(config, parts, server)
            if on_listening is not None:
                result = on_listening(host, port)
                if result is not None:
                    await result
        await task
    finally:
        if watcher is not None:
            watcher.cancel()
        sock.close()
        if health is not None:
            health.close()
        loop.set_exception_handler(previous_handler)
        if snapshots is not None and metrics_dir is not None:
            snapshots.cancel()
            write_snapshot(parts.metrics.registry, metrics_dir)  # the drained reviews too
    if not server.started:
        raise RuntimeError("the server did not start (see the log above)")


def _watch_certificate(
    config: ServerConfig, parts: ServerParts, server: WebhookServer
) -> asyncio.Task[None] | None:
    """Start reloading ``cert.pem``/``key.pem`` on change (``certReloadInterval``; 0: never)."""
    if config.cert_reload_interval <= 0 or parts.serving_certificate is None:
        return None
    uv_config = server.config
    reloader = CertificateReloader(
        parts.certificates.cert_path,
        parts.certificates.key_path,
        build_context=lambda cert, key: server_ssl_context(uv_config, config, cert, key),
        swap=server.use_ssl_context,
        state=parts.serving_certificate,
        clock=utc_now,
        interval=config.cert_reload_interval,
        warn_before=timedelta(seconds=config.cert_expiry_warning),
    )
    return asyncio.get_running_loop().create_task(reloader.run())


def _bind_health_port(config: ServerConfig) -> socket.socket | None:
    """The health port's socket; ``None`` when off, or (logged) when it cannot be bound.

    Like upstream, a health port that cannot be bound does not stop the webhook:
    probes on it fail, which says so loudly enough.
    """
    if config.health_port == 0:
        return None
    try:
        sock = _bind(config.health_address, config.health_port)
    except OSError as exc:
        _health_port_unavailable(config, exc)
        return None
    try:
        # Listen now: with SO_REUSEADDR a second server binds a port another one
        # has bound too, and only listen() finds the clash; the listener's own
        # listen() later just sets the backlog.
        sock.listen()
    except OSError as exc:
        sock.close()
        _health_port_unavailable(config, exc)
        return None
    return sock


def _health_port_unavailable(config: ServerConfig, exc: OSError) -> None:
    """Log that the health port cannot be used (the webhook serves anyway)."""
    _log.error(
        "the health port could not be bound",
        extra={
            "fields": {
                "address": config.health_address,
                "port": config.health_port,
                "error": exc.strerror,
            }
        },
    )


async def _write_snapshots(metrics: ServerMetrics, directory: Path) -> None:
    while True:
        try:
            write_snapshot(metrics.registry, directory)
        except OSError as exc:  # a full disk must not stop the worker
            _log.warning("cannot write a metrics snapshot", extra={"fields": {"error": str(exc)}})
        await asyncio.sleep(SNAPSHOT_INTERVAL)


class LoopErrorReporter:
    """The event loop's exception handler while serving: one line per kind and interval.

    asyncio reports what it cannot hand to anyone (a callback that raised, a
    transport's unexpected error) with a traceback per occurrence; if a client
    could trigger one per connection, a flood would write megabytes of them.
    Here each kind (asyncio's message) is logged at most once per
    `REPORT_INTERVAL` seconds, with its traceback, and the repeats in between
    are counted in the next line.
    """

    def __init__(self, interval: float = REPORT_INTERVAL) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._repeats: dict[str, int] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Log ``context`` unless its kind was logged less than an interval ago."""
        message = str(context.get("message") or "event loop error")
        now = loop.time()
        if now - self._last.get(message, -self._interval) < self._interval:
            self._repeats[message] = self._repeats.get(message, 0) + 1
            return
        self._last[message] = now
        error = context.get("exception")
        _log.error(
            message,
            exc_info=error if isinstance(error, BaseException) else None,
            extra={"fields": {"repeats_since_last_line": self._repeats.pop(message, 0)}},
        )


def _warn_about_descriptors(limits: ConnectionLimits, config: ServerConfig) -> None:
    files = open_file_limit()
    if files is not None and limits.max_connections + config.sts_max_connections >= files:
        # Still safe (the listener pauses when accept() runs out), but reviews that need
        # a new STS connection would fail while it does.
        _log.warning(
            "maxConnections and stsMaxConnections together reach the open-file limit",
            extra={
                "fields": {
                    "max_connections": limits.max_connections,
                    "sts_max_connections": config.sts_max_connections,
                    "open_file_limit": files,
                }
            },
        )


class _Terminated(Exception):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def run_server(config: ServerConfig) -> int:
    """Configure logging and run [`serve()`][k8s_aws_auth.server.serve] in a fresh event loop; the exit code.

    SIGTERM (what Kubernetes sends) drains in-flight reviews and exits 0. uvicorn
    handles the signal itself, then re-raises it once shut down; the handler
    installed here turns that re-raise into a clean exit.
    """
    configure_logging(config.log_level, log_format=config.log_format)
    stack = resolve_stack(config.http, config.loop)
    _run_until_terminated(stack, serve(config, stack=stack, on_listening=_serving))
    _log.info("stopped")
    return 0


def run_worker(
    config: ServerConfig,
    sock: socket.socket,
    *,
    slot: int,
    metrics_dir: Path,
    ready: Callable[[], None],
    health_sock: socket.socket | None = None,
) -> None:
    """One worker of ``serve --workers N`` (in its own process): serve on ``sock``."""
    stack = resolve_stack(config.http, config.loop)

    def listening(host: str, port: int) -> None:
        # Ready first: the supervisor treats a worker that dies before this as a
        # start-up failure, and settling the collector takes a while on a big heap.
        ready()
        _serving(host, port)

    main = _serve(
        config,
        on_listening=listening,
        stack=stack,
        sock=sock,
        worker=slot,
        metrics_dir=metrics_dir,
        health_sock=health_sock,
    )
    _run_until_terminated(stack, main)


def _serving(host: str, port: int) -> None:
    """Once the process serves: its start-up objects out of the collector's walks."""
    _log.debug("collector settled", extra={"fields": {"frozen_objects": settle_collector()}})


def _run_until_terminated(stack: Stack, main: Coroutine[Any, Any, None]) -> None:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run_on(stack.loop_factory, main)
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
