"""The webhook's identity mapping: backends from the config, reloaded while serving.

Backends (``--backend-mode``, tried in order), each a
[`MappingLoader`][k8s_aws_auth.mapping.MappingLoader] of the mapping package:

* ``MountedFile`` — ``server.mapRoles``/``mapUsers``/``mapAccounts`` of the config
  file itself (upstream's default);
* ``DynamicFile`` — the JSON file at ``server.dynamicfilepath``;
* ``EKSConfigMap`` — an ``aws-auth`` ConfigMap mounted at
  ``server.awsAuthConfigMapFile`` (a directory of ``mapRoles``/``mapUsers``
  keys, or a manifest); without that key, ``kube-system/aws-auth`` watched on
  the Kubernetes API (``_kube_backends``);
* ``CRD`` — the ``IAMIdentityMapping`` objects, watched on the Kubernetes API.

The API is reached with ``--kubeconfig``/``--master`` (``server.kubeconfig``,
``server.master``), else in-cluster.

Every file is polled every ``reloadInterval`` seconds (the loader's thread). A changed file is
validated as a whole; a broken or vanished one keeps the last good mapping in
force (the loader logs it) and is counted for the metrics. A broken file at
start-up is a [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError]: the server does not start.

When an entry uses ``{{EC2PrivateDNSName}}`` the mapping asks EC2 through an
``EC2NameLookup`` (``k8s_aws_auth._ec2.lookup``) (see `IdentityMapping.amap_identity()`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from k8s_aws_auth._core.models import Identity
from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.mapping import (
    Backend,
    IdentityMapper,
    MappedUser,
    MappingLoader,
    MappingSet,
    parse_document,
)

from ._config import ServerConfig
from ._metrics import ServerMetrics

if TYPE_CHECKING:
    from k8s_aws_auth._ec2.lookup import EC2NameLookup

    from ._kube_backends import LiveBackend

__all__ = ["IdentityMapping", "load_identity_mapping"]

# The keys of the config file's ``server`` section that MountedFile reads.
_MOUNTED_KEYS = frozenset(
    {
        "maproles",
        "mapusers",
        "mapaccounts",
        "scrubbedaccounts",
        "reservedprefixconfig",
        "dynamicfileuseridstrict",
    }
)


class IdentityMapping:
    """The mapper the app calls, and the loaders behind its file backends."""

    def __init__(
        self,
        mapper: IdentityMapper,
        loaders: list[MappingLoader],
        *,
        reload_interval: float,
        outcomes: Counter[str] | None = None,
        ec2: EC2NameLookup | None = None,
        live: list[LiveBackend] | None = None,
    ) -> None:
        self.mapper = mapper
        #: the backends that follow the Kubernetes API (started by `start()`)
        self.live = live or []
        #: resolves ``{{EC2PrivateDNSName}}``; ``None``: such an entry is a denial
        self.ec2 = ec2
        self.loaders = loaders
        self.reload_interval = reload_interval
        #: load outcomes reported by the loaders' metric hook (``loaded``, ``error``, ...)
        self.outcomes: Counter[str] = outcomes if outcomes is not None else Counter()
        self._initial_loads = self.outcomes["loaded"]

    def map_identity(self, identity: Identity) -> MappedUser | None:
        """The mapped user for ``identity``, ``None`` if unmapped; ``MappingError`` to deny.

        The mapper's result goes to the app as it is, so its scrubbing (the
        config's ``scrubbedAccounts`` and those of the mapping file in force)
        decides the answer and the log line.
        """
        return self.mapper.map(identity)

    async def amap_identity(self, identity: Identity) -> MappedUser | None:
        """Like `map_identity()`, asking EC2 when the matching entry needs the DNS name.

        Raises ``EC2LookupError`` with ``retryable=True`` when EC2 could not be asked.
        """
        ec2_dns = self.ec2.resolve if self.ec2 is not None else None
        return await self.mapper.amap(identity, ec2_dns=ec2_dns)

    def mapping_sets(self) -> list[MappingSet | None]:
        """The mapping set each backend has in force now."""
        return [backend.mapping_set() for backend in self.mapper.backends]

    def healthy(self) -> bool:
        """Every file backend has a mapping in force; every live one synced once."""
        return all(loader.current is not None for loader in self.loaders) and all(
            backend.ready() for backend in self.live
        )

    def stats(self) -> dict[str, float]:
        """Counters for metrics: successful reloads and failed ones (broken or missing file)."""
        return {
            "reloads": self.outcomes["loaded"] - self._initial_loads,
            "reload_failures": self.outcomes["error"] + self.outcomes["missing"],
        }

    async def start(self) -> None:
        """Start polling the files (a daemon thread per file; the swap is atomic)."""
        for loader in self.loaders:
            loader.start_polling(self.reload_interval)
        for backend in self.live:
            await backend.start()

    async def stop(self) -> None:
        """Stop polling and watching."""
        for loader in self.loaders:
            await anyio.to_thread.run_sync(loader.stop_polling)
        for backend in self.live:
            await backend.stop()


def _setting(document: dict[str, Any], name: str) -> Any:
    return next((v for k, v in document.items() if k.lower() == name.lower()), None)


def _loader(path: Path, fmt: str, strict: bool | None, outcomes: Counter[str]) -> MappingLoader:
    loader = MappingLoader(
        path, format=fmt, user_id_strict=strict, metric=lambda outcome: outcomes.update([outcome])
    )
    result = loader.load()
    if not result.ok:
        raise ConfigurationError(
            result.error or f"mapping file {path} is broken", reason="mapping-file"
        )
    return loader


def _live_backend(mode: str, config: ServerConfig, metrics: ServerMetrics | None) -> LiveBackend:
    # Imported here: the Kubernetes client loads only for a server that needs it.
    from ._kube_backends import (
        ConfigMapBackend,
        IdentityMappingCRDBackend,
        kube_connection,
        register_metrics,
    )

    connection = kube_connection(config.kubeconfig, config.master)
    backend: LiveBackend
    if mode == "EKSConfigMap":
        backend = ConfigMapBackend(connection)
    else:
        backend = IdentityMappingCRDBackend(connection)
    if metrics is not None:
        register_metrics(backend, metrics)
    return backend


def load_identity_mapping(
    config: ServerConfig, *, metrics: ServerMetrics | None = None
) -> IdentityMapping:
    """Load every backend of ``config.backend_mode`` (a broken file stops the start).

    Raises:
        ConfigurationError: a backend's file is missing or invalid, or the
            Kubernetes API of a live backend cannot be configured.
    """
    document = dict(config.mapping_document)
    strict = _setting(document, "dynamicfileUserIDStrict")
    outcomes: Counter[str] = Counter()
    loaders: list[MappingLoader] = []
    backends: list[tuple[str, Any]] = []
    live: list[LiveBackend] = []
    for mode in config.backend_mode:
        if mode == "MountedFile":
            if config.config_path is not None:
                loader = _loader(config.config_path, "mounted-file", strict, outcomes)
                loaders.append(loader)
                backends.append((mode, loader))
            else:
                mounted = {k: v for k, v in document.items() if k.lower() in _MOUNTED_KEYS}
                backends.append(
                    (
                        mode,
                        parse_document({"server": mounted}, source="flags", format="mounted-file"),
                    )
                )
        elif mode == "DynamicFile":
            path = _setting(document, "dynamicfilepath")
            if not path:
                raise ConfigurationError(
                    "backend DynamicFile needs server.dynamicfilepath", reason="backend"
                )
            loader = _loader(Path(str(path)), "dynamic-file", strict, outcomes)
            loaders.append(loader)
            backends.append((mode, loader))
        elif mode == "EKSConfigMap" and _setting(document, "awsAuthConfigMapFile"):
            path = _setting(document, "awsAuthConfigMapFile")
            loader = _loader(Path(str(path)), "eks-configmap", None, outcomes)
            loaders.append(loader)
            backends.append((mode, loader))
        elif mode in ("EKSConfigMap", "CRD"):
            backend = _live_backend(mode, config, metrics)
            live.append(backend)
            backends.append((mode, backend))
        else:
            raise ConfigurationError(
                f"backend {mode} is not supported by this server (use MountedFile, DynamicFile, "
                "EKSConfigMap or CRD)",
                reason="backend",
            )
    # Reserved username prefixes are a server setting (upstream's reservedPrefixConfig).
    first = next((source for _, source in backends), None)
    current = first.current if isinstance(first, MappingLoader) else first
    if not isinstance(current, MappingSet):
        current = None  # a live backend: reserved prefixes are a file setting
    reserved = dict(current.reserved_prefixes) if current is not None else {}
    mapper = IdentityMapper(
        [
            Backend(name=name, source=source, reserved_prefixes=reserved.get(name, ()))
            for name, source in backends
        ],
        scrubbed_accounts=config.scrubbed_accounts,
    )
    mapping = IdentityMapping(
        mapper,
        loaders,
        reload_interval=config.mapping_reload_interval,
        outcomes=outcomes,
        live=live,
    )
    if metrics is not None:
        metrics.add_source("mapping", mapping.stats, documentation="identity mapping file reloads")
    return mapping
