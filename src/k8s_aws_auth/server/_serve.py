"""``k8s-aws-auth serve``: the webhook under uvicorn, over TLS.

One process: uvicorn (h11) on a socket bound here (so ``--port 0`` works and the
real port is logged), TLS from the state directory, optional client-certificate
authentication of kube-apiserver, structured JSON logs, Prometheus metrics and
graceful shutdown on SIGTERM/SIGINT (in-flight reviews finish, then the verifier
and the mapping reloader close).

uvicorn has no timeout for request headers; :func:`_protocol_class` adds one:
a connection that has not sent a complete request within ``body_timeout``
seconds of connecting is closed, so trickling clients cannot hold sockets forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from k8s_aws_auth._verifier import AsyncTokenVerifier

from ._app import MapIdentity, TokenReviewApp
from ._certs import (
    KUBECONFIG_FILE,
    CertificateFiles,
    ensure_certificates,
    webhook_kubeconfig,
    write_file,
)
from ._config import ServerConfig
from ._ec2 import EC2NameLookup, build_ec2_lookup, uses_ec2_dns_name
from ._logging import configure_logging
from ._mapping import IdentityMapping, load_identity_mapping
from ._metrics import ServerMetrics
from ._observe import ObservingTransport

__all__ = ["ServerParts", "build_server", "run_server", "serve"]

_log = logging.getLogger("k8s_aws_auth.server")


def _protocol_class(header_timeout: float) -> type[H11Protocol]:
    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            # No request arrived in time on a fresh connection: a trickling client.
            if getattr(self, "cycle", None) is None and not self.transport.is_closing():
                _log.warning("closing a connection that sent no request in time")
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _bind(address: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _ssl_context_factory(
    config: ServerConfig,
) -> Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    def factory(_: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        context = default()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if config.client_ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(config.client_ca_file))
        return context

    return factory


@attrs.define
class ServerParts:
    """What :func:`build_server` assembled (tests and embedders may reach in)."""

    config: ServerConfig
    app: TokenReviewApp
    verifier: AsyncTokenVerifier
    mapping: IdentityMapping
    metrics: ServerMetrics
    certificates: CertificateFiles
    ec2: EC2NameLookup | None = None
    """``{{EC2PrivateDNSName}}`` lookups, when a mapping needs them."""
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
    are fetched at start-up (:func:`serve`, or the ASGI lifespan startup).

    Raises:
        ConfigurationError: an invalid setting, certificate or mapping; EC2
            lookups needed but no region.
    """
    now = now or datetime.now(timezone.utc)
    verifier_config = config.verifier_config()
    certificates = ensure_certificates(
        config.state_dir,
        hostname=config.hostname,
        address=config.address,
        lifetime=timedelta(seconds=config.cert_lifetime),
        now=now,
    )
    kubeconfig_path = config.state_dir / KUBECONFIG_FILE
    if not kubeconfig_path.exists():
        text = webhook_kubeconfig(
            hostname=config.hostname, port=config.port, ca_pem=certificates.ca_pem
        )
        write_file(kubeconfig_path, text.encode("utf-8"), 0o644)
    if certificates.not_after - now < timedelta(days=30):
        _log.warning(
            "the serving certificate expires soon",
            extra={"fields": {"not_after": certificates.not_after.isoformat()}},
        )
    metrics = ServerMetrics()
    mapping = load_identity_mapping(config, metrics=metrics)
    ec2: EC2NameLookup | None = None
    if uses_ec2_dns_name(mapping.mapping_sets()) or config.ec2_role_arn or config.ec2_endpoint_url:
        ec2 = build_ec2_lookup(config, environ=dict(os.environ) if environ is None else environ)
        mapping.ec2 = ec2
        metrics.watch_ec2(ec2.stats)
    client = httpx.AsyncClient(
        transport=ObservingTransport(
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=config.max_connections,
                    max_keepalive_connections=config.max_connections,
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
    expiry = certificates.not_after.timestamp()
    metrics.add_source(
        "serving_certificate",
        lambda: {"expiry_timestamp_seconds": expiry},
        documentation="serving certificate",
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
        ready=lambda: parts_holder[0].ready and mapping.healthy(),
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
    )
    parts_holder.append(parts)
    return parts


def uvicorn_config(
    config: ServerConfig, app: Any, certificates: CertificateFiles
) -> uvicorn.Config:
    """The uvicorn settings the server uses (shared with the benchmark's trivial app)."""
    return uvicorn.Config(
        app,
        host=config.address,
        port=config.port,
        http=_protocol_class(config.body_timeout),
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
        timeout_keep_alive=30,
        timeout_graceful_shutdown=int(config.shutdown_timeout),
        h11_max_incomplete_event_size=16 * 1024,
    )


async def serve(
    config: ServerConfig,
    *,
    on_listening: Callable[[str, int], Awaitable[None] | None] | None = None,
) -> None:
    """Build everything for ``config`` and serve until SIGTERM/SIGINT."""
    parts = build_server(config)
    if parts.ec2 is not None:
        # Before listening: missing credentials are a start-up error naming the fix.
        await parts.ec2.start()
    sock = _bind(config.address, config.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(config, parts.app, parts.certificates))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
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
                        "ignored_config_keys": list(config.ignored_keys),
                    }
                },
            )
            if on_listening is not None:
                result = on_listening(host, port)
                if result is not None:
                    await result
        await task
    finally:
        sock.close()
    if not server.started:
        raise RuntimeError("the server did not start (see the log above)")


class _Terminated(Exception):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def run_server(config: ServerConfig) -> int:
    """Configure logging and run :func:`serve` in a fresh event loop; the exit code.

    SIGTERM (what Kubernetes sends) drains in-flight reviews and exits 0. uvicorn
    handles the signal itself, then re-raises it once shut down; the handler
    installed here turns that re-raise into a clean exit.
    """
    configure_logging(config.log_level)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        asyncio.run(serve(config))
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    _log.info("stopped")
    return 0
