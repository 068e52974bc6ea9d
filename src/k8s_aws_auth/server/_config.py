"""The webhook's configuration: one YAML file with upstream's keys, plus ours.

Keys are matched case-insensitively, like aws-iam-authenticator's config
loader, so an upstream file works unchanged::

    clusterID: my-cluster
    server:
      partition: aws
      port: 21362
      stateDir: /var/k8s-aws-auth
      backendMode: [MountedFile]
      mapRoles:
        - roleARN: arn:aws:iam::111122223333:role/Admin
          username: admin:{{SessionName}}
          groups: [system:masters]
      # ours
      stsEndpointURL: https://sts.us-east-1.amazonaws.com   # VPC endpoint, emulator
      cacheTTL: 60s

Precedence: command-line flag > file > default. Every upstream key is honoured
or, when this server cannot honour it yet (``dynamicBackendModePath``), accepted
and reported in [`ServerConfig.ignored_keys`][k8s_aws_auth.server.ServerConfig.ignored_keys] with the reason
(`serve` logs each at start-up); any other key is an error naming it, so a typo
never silently turns a setting off. The mapping keys
(``mapRoles``, ``mapUsers``, ``mapAccounts``, ``dynamicfilepath``...) are kept in
[`ServerConfig.mapping_document`][k8s_aws_auth.server.ServerConfig.mapping_document] for the identity mapper.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import yaml

from k8s_aws_auth._core.config import DEFAULT_MAX_TOKEN_SIZE, VerifierConfig
from k8s_aws_auth.errors import ConfigurationError

from ._stack import HTTP_CHOICES, LOOP_CHOICES

__all__ = [
    "DEFAULT_HEALTH_PORT",
    "DEFAULT_PORT",
    "ServerConfig",
    "ignored_key_reason",
    "load_server_config",
    "parse_bool",
    "parse_duration",
]

DEFAULT_PORT = 21362
_MAX_CONFIG_BYTES = 4 * 1024 * 1024

# server.<key> (lower-cased) → ServerConfig attribute.
_SERVER_KEYS = {
    "partition": "partition",
    "port": "port",
    "hostname": "hostname",
    "address": "address",
    "statedir": "state_dir",
    "backendmode": "backend_mode",
    "scrubbedaccounts": "scrubbed_accounts",
    "generatekubeconfig": "generate_kubeconfig",
    "kubeconfigpregenerated": "kubeconfig_pregenerated",
    "kubeconfig": "kubeconfig",
    "master": "master",
    # ours
    "healthport": "health_port",
    "healthaddress": "health_address",
    "logformat": "log_format",
    "certreloadinterval": "cert_reload_interval",
    "certexpirywarning": "cert_expiry_warning",
    "stsendpointurl": "sts_endpoint_url",
    "extraregions": "extra_regions",
    "maxtokensize": "max_token_size",
    "maxbodybytes": "max_body_bytes",
    "bodytimeout": "body_timeout",
    "cachesize": "cache_size",
    "cachettl": "cache_ttl",
    "connecttimeout": "connect_timeout",
    "readtimeout": "read_timeout",
    "deadline": "deadline",
    "maxretries": "max_retries",
    "maxconnections": "max_connections",
    "stsmaxconnections": "sts_max_connections",
    "tlshandshaketimeout": "tls_handshake_timeout",
    "headertimeout": "header_timeout",
    "idletimeout": "idle_timeout",
    "retryafter": "retry_after",
    "audiences": "audiences",
    "clientcafile": "client_ca_file",
    "certlifetime": "cert_lifetime",
    "loglevel": "log_level",
    "reloadinterval": "mapping_reload_interval",
    "shutdowntimeout": "shutdown_timeout",
    "http": "http",
    "loop": "loop",
    "workers": "workers",
    # {{EC2PrivateDNSName}}: upstream's four keys, then ours
    "ec2describeinstancesrolearn": "ec2_role_arn",
    "sourcearn": "source_arn",
    "ec2describeinstancesqps": "ec2_qps",
    "ec2describeinstancesburst": "ec2_burst",
    "region": "region",
    "ec2endpointurl": "ec2_endpoint_url",
    "ec2cachettl": "ec2_cache_ttl",
    "ec2negativecachettl": "ec2_negative_cache_ttl",
    "ec2cachesize": "ec2_cache_size",
}
# Read by the identity mapper, not by the server itself.
MAPPING_KEYS = frozenset(
    {
        "maproles",
        "mapusers",
        "mapaccounts",
        "reservedprefixconfig",
        "dynamicfilepath",
        "dynamicfileuseridstrict",
        "awsauthconfigmapfile",
    }
)
#: Upstream keys this server accepts but cannot honour yet (lower-cased) → why.
IGNORED_UPSTREAM_KEYS = {
    "dynamicbackendmodepath": (
        "switching backend modes at run time from a file is not implemented; "
        "the modes of --backend-mode/backendMode apply"
    ),
}
#: Top-level upstream keys read elsewhere: ``log-verbosity`` is a flag/environment
#: setting upstream too (read before the file); gates come from ``--feature-gates``.
_IGNORED_TOP_KEYS = {
    "log-verbosity": "upstream reads it before the file too: use -v/--log-verbosity",
    "feature-gates": "upstream never reads it from the file: use --feature-gates",
    "featuregates": "use --feature-gates",
}
LOG_FORMATS = ("json", "text")
#: logrus level names (``-v/--log-verbosity``) → ours.
LOG_LEVELS = {
    "panic": "critical",
    "fatal": "critical",
    "error": "error",
    "warn": "warning",
    "warning": "warning",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
}
DEFAULT_HEALTH_PORT = 21363
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(d|h|ms|m|s))+", re.ASCII)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)", re.ASCII)
_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,4}", re.ASCII)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MAX_DURATION = timedelta(days=999_999_999).total_seconds()
BACKEND_MODES = ("MountedFile", "DynamicFile", "EKSConfigMap", "CRD")
_BACKEND_ALIASES = {"File": "MountedFile", "ConfigMap": "EKSConfigMap"}


def parse_duration(value: object, name: str) -> float:
    """Seconds from a number or a Go-style duration string (``90s``, ``2m``, ``1h30m``, ``500ms``, ``365d``)."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a duration like 30s", reason=name)
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and _NUMBER.fullmatch(value.strip())
    ):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float
            seconds = float("inf")
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip()):
        seconds = sum(
            float(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(value)
        )
    else:
        raise ConfigurationError(f"{name} must be a duration like 30s", reason=name)
    if seconds < 0:
        raise ConfigurationError(f"{name} must not be negative", reason=name)
    # Durations become timedeltas (cache TTLs, certificate lifetimes): keep them
    # within what one can hold (a long digit string parses to inf).
    if not seconds <= _MAX_DURATION:
        raise ConfigurationError(
            f"{name} must be at most {int(_MAX_DURATION // 86400)} days", reason=name
        )
    return seconds


def _backend_modes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        items = [str(item) for item in value]
    else:
        raise ConfigurationError("backendMode must be a list of backend names", reason="backend")
    modes: list[str] = []
    for item in items:
        mode = _BACKEND_ALIASES.get(item, item)
        if mode not in BACKEND_MODES:
            raise ConfigurationError(
                f"unknown backend mode {item!r}; expected some of {', '.join(BACKEND_MODES)}",
                reason="backend",
            )
        if mode in modes:
            raise ConfigurationError(f"backend mode {mode} is listed twice", reason="backend")
        modes.append(mode)
    if not modes:
        raise ConfigurationError("at least one backend mode is required", reason="backend")
    return tuple(modes)


def _strings(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{name} must be a list of strings", reason=name)
    return tuple(str(item) for item in value)


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an integer in {low}..{high}", reason=name)
    return value


def _seconds(value: object, name: str) -> float:
    seconds = parse_duration(value, name)
    if seconds == 0:
        raise ConfigurationError(f"{name} must be positive", reason=name)
    return seconds


def _optional_path(value: object) -> Path | None:
    return None if value in (None, "") else Path(str(value))


def _optional_audiences(value: object) -> tuple[str, ...] | None:
    return None if value is None else _strings(value, "audiences")


def _accounts(value: object) -> frozenset[str]:
    accounts = frozenset(_strings(value, "scrubbedAccounts"))
    for account in accounts:
        if not re.fullmatch(r"[0-9]{12}", account):
            raise ConfigurationError(
                f"scrubbedAccounts entries must be 12-digit account ids, not {account!r}",
                reason="scrubbedAccounts",
            )
    return accounts


def _optional_text(value: object) -> str | None:
    return None if value in (None, "") else str(value).strip()


def _region(value: object) -> str | None:
    region = _optional_text(value)
    if region is not None and not _REGION.fullmatch(region):
        raise ConfigurationError(
            "region must be an AWS region name such as us-east-1", reason="region"
        )
    return region


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], object]:
    def coerce(value: object) -> str:
        text = str(value).lower()
        if text not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}", reason=name)
        return text

    return coerce


def _log_level(value: object) -> str:
    level = str(value).lower()
    if level not in LOG_LEVELS:
        raise ConfigurationError(
            f"invalid log level {str(value)!r}; valid values are: panic, fatal, error, "
            "warning, info, debug, trace",
            reason="logLevel",
        )
    return LOG_LEVELS[level]


def _log_format(value: object) -> str:
    text = str(value).lower()
    if text not in LOG_FORMATS:
        raise ConfigurationError("log format must be text or json", reason="logFormat")
    return text


def parse_bool(value: object, name: str) -> bool:
    """``true``/``false`` (any case, also ``1``/``0``, ``t``/``f``), like Go's ``strconv.ParseBool``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true"):
        return True
    if text in ("0", "f", "false"):
        return False
    raise ConfigurationError(f"{name} must be true or false", reason=name)


def _master(value: object) -> str | None:
    text = _optional_text(value)
    if text is not None and not re.fullmatch(r"https?://[^\s/?#]+(?:/[^\s?#]*)?", text):
        raise ConfigurationError(
            "master must be the http(s) URL of the Kubernetes API server", reason="master"
        )
    return text


def _existing_file(value: object) -> Path | None:
    path = _optional_path(value)
    if path is not None and not path.is_file():
        raise ConfigurationError(f"kubeconfig {path} is not a readable file", reason="kubeconfig")
    return path


#: attribute → coercion of a file or flag value (names in messages are the file keys).
_COERCE: dict[str, Callable[[Any], object]] = {
    "cluster_id": str,
    "partition": str,
    "address": str,
    "hostname": str,
    "port": lambda v: _int(v, "port", 0, 65535),
    "state_dir": lambda v: Path(str(v)),
    "backend_mode": _backend_modes,
    "scrubbed_accounts": _accounts,
    "sts_endpoint_url": lambda v: None if v in (None, "") else str(v),
    "extra_regions": lambda v: _strings(v, "extraRegions"),
    "max_token_size": lambda v: _int(v, "maxTokenSize", 256, 1 << 20),
    "max_body_bytes": lambda v: _int(v, "maxBodyBytes", 1024, 16 << 20),
    "body_timeout": lambda v: _seconds(v, "bodyTimeout"),
    "cache_size": lambda v: _int(v, "cacheSize", 0, 10_000_000),
    "cache_ttl": lambda v: parse_duration(v, "cacheTTL"),
    "connect_timeout": lambda v: _seconds(v, "connectTimeout"),
    "read_timeout": lambda v: _seconds(v, "readTimeout"),
    "deadline": lambda v: _seconds(v, "deadline"),
    "max_retries": lambda v: _int(v, "maxRetries", 0, 10),
    "max_connections": lambda v: _int(v, "maxConnections", 1, 1_000_000),
    "sts_max_connections": lambda v: _int(v, "stsMaxConnections", 1, 10_000),
    "tls_handshake_timeout": lambda v: _seconds(v, "tlsHandshakeTimeout"),
    "header_timeout": lambda v: _seconds(v, "headerTimeout"),
    "idle_timeout": lambda v: _seconds(v, "idleTimeout"),
    "retry_after": lambda v: _int(v, "retryAfter", 0, 3600),
    "audiences": _optional_audiences,
    "client_ca_file": _optional_path,
    "cert_lifetime": lambda v: _seconds(v, "certLifetime"),
    "log_level": _log_level,
    "log_format": _log_format,
    "feature_gates": lambda v: {str(k): bool(flag) for k, flag in dict(v).items()},
    "generate_kubeconfig": _optional_path,
    "kubeconfig_pregenerated": lambda v: parse_bool(v, "kubeconfigPregenerated"),
    "kubeconfig": _existing_file,
    "master": _master,
    "health_port": lambda v: _int(v, "healthPort", 0, 65535),
    "health_address": str,
    "cert_reload_interval": lambda v: parse_duration(v, "certReloadInterval"),
    "cert_expiry_warning": lambda v: parse_duration(v, "certExpiryWarning"),
    "mapping_reload_interval": lambda v: _seconds(v, "reloadInterval"),
    "shutdown_timeout": lambda v: _seconds(v, "shutdownTimeout"),
    "http": _choice("http", HTTP_CHOICES),
    "loop": _choice("loop", LOOP_CHOICES),
    "workers": lambda v: _int(v, "workers", 1, 256),
    "ec2_role_arn": _optional_text,
    "source_arn": _optional_text,
    "ec2_qps": lambda v: _int(v, "ec2DescribeInstancesQps", 1, 10_000),
    "ec2_burst": lambda v: _int(v, "ec2DescribeInstancesBurst", 1, 10_000),
    "region": _region,
    "ec2_endpoint_url": _optional_text,
    "ec2_cache_ttl": lambda v: _seconds(v, "ec2CacheTTL"),
    "ec2_negative_cache_ttl": lambda v: parse_duration(v, "ec2NegativeCacheTTL"),
    "ec2_cache_size": lambda v: _int(v, "ec2CacheSize", 1, 10_000_000),
}


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Everything ``k8s-aws-auth serve`` and ``init`` need (see the module docstring).

    Build it with [`load_server_config()`][k8s_aws_auth.server.load_server_config], which coerces and checks file and
    flag values; durations are in seconds.
    """

    cluster_id: str
    partition: str = "aws"
    address: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    hostname: str = "localhost"
    state_dir: Path = Path()
    backend_mode: tuple[str, ...] = ("MountedFile",)
    scrubbed_accounts: frozenset[str] = frozenset()
    sts_endpoint_url: str | None = None
    """Send STS calls here (VPC endpoint, emulator); tokens are still checked for real STS hosts."""
    extra_regions: tuple[str, ...] = ()
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE
    max_body_bytes: int = 64 * 1024
    tls_handshake_timeout: float = 5.0
    """Seconds a new connection gets for its TLS handshake (and a closing one for its TLS close)."""
    header_timeout: float = 10.0
    """Seconds a request head may take, from the connection's start or the request's first byte."""
    body_timeout: float = 10.0
    """Seconds a request body may take once its head arrived (slower: 408, connection closed)."""
    idle_timeout: float = 30.0
    """Seconds a keep-alive connection may wait for its next request."""
    max_connections: int | None = None
    """Client connections served at once (more wait in the listen backlog); ``None``: 1024, or
    half the process's open-file limit when that is lower (resolved by `serve`)."""
    cache_size: int = 10_000
    cache_ttl: float = 60.0
    """Seconds a positive verification is reused (0 turns the cache off)."""
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    deadline: float = 10.0
    max_retries: int = 2
    sts_max_connections: int = 100
    """Size of the connection pool to STS."""
    retry_after: int = 1
    audiences: tuple[str, ...] | None = None
    client_ca_file: Path | None = None
    """When set, clients (kube-apiserver) must present a certificate signed by this CA."""
    cert_lifetime: float = 365 * 86400.0
    log_level: str = "info"
    """Python level name (``-v/--log-verbosity`` takes logrus's names and maps them)."""
    log_format: str = "json"
    """``json`` (one object per line) or ``text`` (logrus's ``key=value`` lines)."""
    feature_gates: Mapping[str, bool] = attrs.field(factory=dict)
    """Upstream's ``--feature-gates`` (logged at start-up; ``init`` honours
    ``ConfiguredInitDirectories``)."""
    generate_kubeconfig: Path | None = None
    """Where ``serve`` writes the webhook kubeconfig (upstream's ``--generate-kubeconfig``);
    ``None``: ``kubeconfig.yaml`` in the state directory, best effort (a read-only
    state directory only logs that it was not written)."""
    kubeconfig_pregenerated: bool = False
    """Write no webhook kubeconfig (``init`` made it)."""
    kubeconfig: Path | None = None
    """kubeconfig of the Kubernetes API client (``EKSConfigMap``/``CRD`` backends)."""
    master: str | None = None
    """URL of the Kubernetes API server, overriding the kubeconfig's."""
    health_port: int = DEFAULT_HEALTH_PORT
    """Plain-HTTP health port answering ``ok`` on any path (upstream's 21363); 0 turns it off."""
    # Every interface, as upstream: kubelet probes reach the pod's IP, not loopback.
    health_address: str = "0.0.0.0"  # noqa: S104
    """Address of the health port (upstream: every interface)."""
    cert_reload_interval: float = 10.0
    """Seconds between checks of ``cert.pem``/``key.pem`` for a new pair (0: never reload)."""
    cert_expiry_warning: float = 30 * 86400.0
    """Warn (log, ``/readyz`` stays ready) this long before the serving certificate expires."""
    mapping_reload_interval: float = 5.0
    shutdown_timeout: float = 10.0
    http: str = "auto"
    """HTTP/1.1 parser: ``h11``, ``httptools``, or ``auto`` (httptools when installed)."""
    loop: str = "auto"
    """Event loop: ``asyncio``, ``uvloop``, or ``auto`` (uvloop when installed)."""
    workers: int = 1
    """Worker processes of the ``serve`` command sharing its socket, each with its own cache
    (the [`serve()`][k8s_aws_auth.server.serve] coroutine is always one process)."""
    region: str | None = None
    """The server's AWS region (EC2 lookups); ``None``: ``AWS_REGION``/the profile's."""
    ec2_role_arn: str | None = None
    """Role assumed for ``ec2:DescribeInstances`` (upstream's ``ec2DescribeInstancesRoleARN``)."""
    source_arn: str | None = None
    """Sent as ``x-amz-source-arn``/``x-amz-source-account`` with that AssumeRole."""
    ec2_qps: int = 15
    ec2_burst: int = 5
    ec2_endpoint_url: str | None = None
    """DescribeInstances goes here (VPC endpoint, stand-in); else ``AWS_ENDPOINT_URL_EC2``."""
    ec2_cache_ttl: float = 3600.0
    ec2_negative_cache_ttl: float = 10.0
    """Seconds an unknown instance id stays unknown (0: not cached)."""
    ec2_cache_size: int = 10_000
    config_path: Path | None = None
    mapping_document: Mapping[str, Any] = attrs.field(factory=dict)
    """The mapping keys of ``server`` (``mapRoles``, ``mapUsers``...) as written."""
    ignored_keys: tuple[str, ...] = ()

    def verifier_config(self) -> VerifierConfig:
        """The [`VerifierConfig`][k8s_aws_auth.VerifierConfig] these settings describe (validates them)."""
        return VerifierConfig(
            self.cluster_id,
            partition=self.partition,
            sts_endpoint_url=self.sts_endpoint_url,
            max_token_size=self.max_token_size,
            extra_regions=frozenset(self.extra_regions),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            deadline=self.deadline,
            max_retries=self.max_retries,
            max_connections=self.sts_max_connections,
            cache_size=self.cache_size if self.cache_ttl > 0 else 0,
            cache_ttl=timedelta(seconds=self.cache_ttl) if self.cache_ttl > 0 else None,
        )


def ignored_key_reason(key: str) -> str:
    """Why ``key`` (as reported in ``ignored_keys``) has no effect here."""
    lowered = key.lower()
    bare = lowered.removeprefix("server.")
    return IGNORED_UPSTREAM_KEYS.get(bare) or _IGNORED_TOP_KEYS.get(lowered, "not used")


def _lower_keys(document: Mapping[Any, Any], where: str) -> dict[str, tuple[str, Any]]:
    keys: dict[str, tuple[str, Any]] = {}
    for key, value in document.items():
        if not isinstance(key, str):
            raise ConfigurationError(f"{where}: keys must be strings", reason="config")
        lowered = key.lower()
        if lowered in keys:
            raise ConfigurationError(
                f"{where}: {key!r} and {keys[lowered][0]!r} are the same key", reason="config"
            )
        keys[lowered] = (key, value)
    return keys


def read_config_file(path: Path) -> Mapping[str, Any]:
    """The YAML document of ``path`` (a mapping; empty file → empty mapping)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read config file {path}: {exc.strerror}", reason="config"
        ) from None
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigurationError(f"config file {path} is larger than 4 MiB", reason="config")
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"config file {path} is not valid YAML: {exc}", reason="config"
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigurationError(f"config file {path} must hold a YAML mapping", reason="config")
    return document


def load_server_config(
    path: Path | None = None, overrides: Mapping[str, object] | None = None
) -> ServerConfig:
    """Read the YAML file at ``path`` (if any) and apply ``overrides`` (flag values).

    ``overrides`` uses [`ServerConfig`][k8s_aws_auth.server.ServerConfig] attribute names; ``None`` values are
    skipped, so unset flags fall through to the file and then to the defaults.

    Raises:
        ConfigurationError: unreadable file, invalid YAML, an unknown key, a bad
            value, or no cluster id at all.
    """
    values: dict[str, Any] = {}
    mapping_document: dict[str, Any] = {}
    ignored: list[str] = []
    if path is not None:
        top = _lower_keys(read_config_file(path), str(path))
        for lowered, (key, value) in top.items():
            if lowered == "clusterid":
                values["cluster_id"] = value
            elif lowered == "server":
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise ConfigurationError(f"{path}: server must be a mapping", reason="config")
                for sub, (original, sub_value) in _lower_keys(value, f"{path}: server").items():
                    if sub in _SERVER_KEYS:
                        values[_SERVER_KEYS[sub]] = sub_value
                    elif sub in MAPPING_KEYS:
                        mapping_document[original] = sub_value
                    elif sub in IGNORED_UPSTREAM_KEYS:
                        ignored.append(f"server.{original}")
                    else:
                        raise ConfigurationError(
                            f"{path}: unknown key server.{original}", reason="config"
                        )
            elif lowered in _IGNORED_TOP_KEYS:
                ignored.append(key)
            else:
                raise ConfigurationError(f"{path}: unknown key {key}", reason="config")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    if "cluster_id" not in values or values["cluster_id"] in (None, ""):
        raise ConfigurationError(
            "a cluster id is required (-i/--cluster-id or clusterID in the config file)",
            reason="cluster-id",
        )
    if "scrubbed_accounts" in values:
        mapping_document["scrubbedAccounts"] = values["scrubbed_accounts"]
    for name in list(values):
        if name not in _COERCE:
            raise ConfigurationError(f"unknown setting {name!r}", reason="config")
        values[name] = _COERCE[name](values[name])
    try:
        config = ServerConfig(
            **values,
            config_path=path,
            mapping_document=mapping_document,
            ignored_keys=tuple(ignored),
        )
    except TypeError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}", reason="config") from None
    config.verifier_config()  # validate cluster id, partition, endpoint URL, regions now
    return config
