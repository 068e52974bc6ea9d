"""Verifier configuration (frozen attrs); re-exports the cluster-id normalisation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

import attrs

from k8s_aws_auth.errors import ConfigurationError

from .cluster_id import MAX_CLUSTER_ID_LENGTH, normalize_cluster_id
from .partitions import PARTITIONS, allowed_hosts, is_region_name, partition_for_region

__all__ = [
    "DEFAULT_MAX_TOKEN_SIZE",
    "MAX_CLUSTER_ID_LENGTH",
    "VerifierConfig",
    "normalize_cluster_id",
]

#: STS accepts request URIs up to about 16 KiB; upstream's 4096 rejects real
#: tokens with large session tokens (aws-iam-authenticator #1106).
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024

_ENDPOINT_URL = re.compile(
    r"(?P<scheme>https?)://(?P<authority>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*)",
    re.ASCII,
)


def _partition(value: object) -> str:
    if not isinstance(value, str) or value not in PARTITIONS:
        shown = repr(value) if isinstance(value, str) else f"of type {type(value).__name__}"
        raise ConfigurationError(
            f"unknown partition {shown}; expected one of {', '.join(PARTITIONS)}",
            reason="partition",
        )
    return value


def _regions(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    regions = frozenset(value)
    for region in regions:
        if not isinstance(region, str) or not is_region_name(region):
            raise ConfigurationError(
                "extra_regions entries must be AWS region names like 'xx-west-9'", reason="region"
            )
    return regions


def _endpoint_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError("sts_endpoint_url must be a string", reason="endpoint-url")
    match = _ENDPOINT_URL.fullmatch(value)
    if match is None:
        raise ConfigurationError(
            "sts_endpoint_url must be http(s)://HOST[:PORT][/PATH] without query, fragment or userinfo",
            reason="endpoint-url",
        )
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise ConfigurationError("sts_endpoint_url port is out of range", reason="endpoint-url")
    return value.rstrip("/")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ConfigurationError(f"{attribute.name} must be positive", reason=attribute.name)


def _non_negative_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(
            f"{attribute.name} must be a non-negative integer", reason=attribute.name
        )


def _skew(_: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if not isinstance(value, timedelta) or not timedelta(0) <= value <= timedelta(minutes=15):
        raise ConfigurationError(
            "max_future_skew must be a timedelta between 0 and 15 minutes", reason=attribute.name
        )


def _token_size(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 256 <= value <= 1 << 20:
        raise ConfigurationError(
            "max_token_size must be an integer between 256 and 1048576", reason=attribute.name
        )


@attrs.frozen
class VerifierConfig:
    """Everything a verifier checks tokens against.

    Only ``cluster_id`` is required. The host allowlist is derived from
    ``partition`` and ``extra_regions``; FIPS, dual-stack and (in ``aws``) the
    global STS host are accepted unless switched off. The network settings are
    used by [`TokenVerifier`][k8s_aws_auth.TokenVerifier] and [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier].
    """

    cluster_id: str = attrs.field(converter=normalize_cluster_id)
    partition: str = attrs.field(default="aws", converter=_partition, kw_only=True)
    sts_endpoint_url: str | None = attrs.field(default=None, converter=_endpoint_url, kw_only=True)
    """Send every STS call to this base URL (emulator, VPC endpoint); the token's
    host is still validated and sent as ``Host``."""
    max_token_size: int = attrs.field(
        default=DEFAULT_MAX_TOKEN_SIZE, validator=_token_size, kw_only=True
    )
    max_future_skew: timedelta = attrs.field(
        default=timedelta(minutes=5), validator=_skew, kw_only=True
    )
    extra_regions: frozenset[str] = attrs.field(
        default=frozenset(), converter=_regions, kw_only=True
    )
    allow_global_endpoint: bool = attrs.field(default=True, kw_only=True)
    allow_fips_endpoints: bool = attrs.field(default=True, kw_only=True)
    allow_dualstack_endpoints: bool = attrs.field(default=True, kw_only=True)
    connect_timeout: float = attrs.field(default=2.0, validator=_positive, kw_only=True)
    read_timeout: float = attrs.field(default=5.0, validator=_positive, kw_only=True)
    deadline: float = attrs.field(default=10.0, validator=_positive, kw_only=True)
    """Total seconds for one verification, retries and backoff included."""
    max_retries: int = attrs.field(default=2, validator=_non_negative_int, kw_only=True)
    max_response_bytes: int = attrs.field(
        default=64 * 1024, validator=_non_negative_int, kw_only=True
    )
    cache_size: int = attrs.field(default=0, validator=_non_negative_int, kw_only=True)
    """Positive-result cache entries (0 turns the cache off)."""
    cache_ttl: timedelta | None = attrs.field(default=None, kw_only=True)
    """Upper bound on a cached result's age; never beyond the token's own expiry."""
    max_connections: int = attrs.field(default=100, validator=_non_negative_int, kw_only=True)

    hosts: Mapping[str, str] = attrs.field(init=False, repr=False, eq=False)
    """Accepted STS hosts mapped to their signing region (derived)."""

    @hosts.default
    def _derive_hosts(self) -> Mapping[str, str]:
        for region in self.extra_regions:
            home = partition_for_region(region)
            # A region that plainly belongs to another partition would admit that
            # partition's STS host (e.g. GovCloud's for a commercial verifier).
            if home.name != self.partition and (
                region in home.regions or re.fullmatch(home.region_regex, region, re.ASCII)
            ):
                raise ConfigurationError(
                    f"extra_regions entry belongs to partition {home.name}, not {self.partition}",
                    reason="region",
                )
        hosts = allowed_hosts(self.partition, self.extra_regions)
        return {
            host: region
            for host, region in hosts.items()
            if (self.allow_global_endpoint or "." + region + "." in host)
            and (self.allow_fips_endpoints or not host.startswith("sts-fips."))
            and (self.allow_dualstack_endpoints or not _is_dualstack(host, self.partition))
        }


def _is_dualstack(host: str, partition: str) -> bool:
    suffix = PARTITIONS[partition].dualstack_suffix
    return suffix is not None and host.endswith("." + suffix)
