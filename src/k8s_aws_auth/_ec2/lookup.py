"""``{{EC2PrivateDNSName}}`` in the webhook: DescribeInstances with the server's own AWS credentials.

The node-role entry every aws-auth ConfigMap has
(``username: system:node:{{EC2PrivateDNSName}}``) needs the private DNS name
of the instance whose role session (named after the instance id) signed the
token. `EC2NameLookup` asks EC2 for it with
[`AsyncEC2Resolver`][k8s_aws_auth.mapping.AsyncEC2Resolver] (batched, rate-limited by
``ec2DescribeInstancesQps``/``Burst``, cached), signing with credentials from
the default chain, refreshed before they expire, or with those of
``ec2DescribeInstancesRoleARN`` assumed from them. Like upstream, ``sourceARN``
adds the ``x-amz-source-account``/``x-amz-source-arn`` headers (signed) to that
AssumeRole call, so the role's trust policy can guard against a confused deputy.

Failures: "EC2 could not be asked" (throttling, 5xx, network, no credentials
right now) is a retryable [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] (the app answers 500 +
``Retry-After``, never a cached denial); "EC2 knows no such instance" is a
denial. Missing credentials or region at start-up stop the server.

The server composes it: `build_ec2_lookup()` takes the server's config as
any value with the `LookupConfig` attributes, so this package never
imports ``k8s_aws_auth.server``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol
from urllib.parse import quote, urlencode

import attrs
import httpx

from k8s_aws_auth._core.effects import HttpRequest
from k8s_aws_auth._core.instants import utc
from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth._core.partitions import partition_for_region
from k8s_aws_auth._core.sigv4 import sign_post
from k8s_aws_auth._runtime.clock import utc_now
from k8s_aws_auth.credentials import (
    AsyncCredentialResolver,
    CredentialProvider,
    ProviderContext,
    Skip,
    default_chain,
)
from k8s_aws_auth.credentials.internal import (
    CredentialFlow,
    configured_endpoint_url,
    http,
    parse_credentials_response,
    parse_endpoint_url,
    read_text_file,
    resolve_settings,
    sts_endpoint,
)
from k8s_aws_auth.errors import ConfigurationError, CredentialsError

from .describe import default_ec2_endpoint
from .resolver import AsyncEC2Resolver
from .usage import uses_ec2_dns_name

__all__ = [
    "DescribeRoleProvider",
    "EC2NameLookup",
    "LookupConfig",
    "ServerCredentials",
    "build_ec2_lookup",
    "uses_ec2_dns_name",
]

_log = logging.getLogger("k8s_aws_auth.server")

_ROLE_PROVIDER = "ec2-describe-instances-role"
#: Upstream assumes the describe role for 60 minutes.
_ROLE_DURATION = 3600
_MAX_STS_BODY = 64 * 1024


def _source_headers(source_arn: str) -> dict[str, str]:
    """``x-amz-source-account``/``x-amz-source-arn`` for ``sourceARN`` (any service's ARN)."""
    parts = source_arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or not parts[1]
        or not parts[2]
        or not (len(parts[4]) == 12 and parts[4].isascii() and parts[4].isdigit())
        or not parts[5]
        or any(ord(c) < 0x21 or ord(c) > 0x7E for c in source_arn)
    ):
        raise ConfigurationError(
            "sourceARN must be an ARN with a 12-digit account, e.g. "
            "arn:aws:eks:us-east-1:111122223333:cluster/my-cluster",
            reason="sourceARN",
        )
    return {"x-amz-source-account": parts[4], "x-amz-source-arn": source_arn}


@attrs.frozen(kw_only=True)
class DescribeRoleProvider:
    """AssumeRole of ``ec2DescribeInstancesRoleARN`` with the credentials ``source`` finds.

    ``source_headers`` (from ``sourceARN``) are signed and sent with the call.
    The STS endpoint is the regional one of ``region`` unless
    ``AWS_ENDPOINT_URL_STS`` (or the other configured-endpoint settings) says otherwise.
    """

    role_arn: str
    region: str
    source: CredentialProvider
    source_headers: Mapping[str, str] = attrs.field(factory=dict)
    duration_seconds: int = _ROLE_DURATION
    timeout: float = 10.0
    name: str = attrs.field(default=_ROLE_PROVIDER, init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Find the source credentials, then assume the role with them."""
        base = yield from self.source.flow(ctx)
        if isinstance(base, Skip):
            return base
        endpoint = sts_endpoint(ctx, resolve_settings(ctx, region=self.region), self.name)
        now = utc(ctx.clock(), "the clock's time").replace(microsecond=0)
        form = [
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role_arn),
            ("RoleSessionName", f"k8s-aws-auth-{int(now.timestamp())}"),
            ("DurationSeconds", str(self.duration_seconds)),
        ]
        body = urlencode(form, quote_via=quote, safe="-_.~").encode("ascii")
        signed = sign_post(
            credentials=base,
            host=endpoint.host,
            region=endpoint.region,
            service="sts",
            now=now,
            body=body,
            extra_headers=self.source_headers,
        )
        request = HttpRequest(
            method="POST",
            url=endpoint.url + "/",
            headers=(
                ("Host", endpoint.host.encode("ascii")),
                *((name, value.encode("utf-8")) for name, value in signed.items()),
            ),
            body=body,
            connect_timeout=3.0,
            read_timeout=self.timeout,
            max_body=_MAX_STS_BODY,
        )
        outcome = yield from http(request)
        return parse_credentials_response(
            outcome, action="AssumeRole", provider=self.name, host=endpoint.host
        )


class ServerCredentials:
    """The server's own AWS credentials: fetched at start, refreshed before they expire.

    `current()` is the synchronous source [`AsyncEC2Resolver`][k8s_aws_auth.mapping.AsyncEC2Resolver] calls per
    request; `refresh()` (async) runs the chain when the credentials near expiry.
    """

    def __init__(
        self,
        resolver: AsyncCredentialResolver,
        *,
        role_arn: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.resolver = resolver
        self.role_arn = role_arn
        self._clock = clock
        self._current: Credentials | None = None

    def current(self) -> Credentials:
        """The credentials to sign the next call with; ``CredentialsError`` when none are valid."""
        current = self._current
        if current is None or (
            current.expiration is not None and current.expiration <= self._clock()
        ):
            raise CredentialsError("no valid AWS credentials for ec2:DescribeInstances right now")
        return current

    async def start(self) -> None:
        """Get credentials once; a clear [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError] when there are none."""
        try:
            self._current = await self.resolver.resolve()
        except CredentialsError as exc:
            role = f" (to assume {self.role_arn})" if self.role_arn else ""
            raise ConfigurationError(
                "a mapping uses {{EC2PrivateDNSName}}, which needs AWS credentials for "
                f"ec2:DescribeInstances{role}, but none could be had: {exc.message}",
                reason="ec2-credentials",
            ) from None

    async def refresh(self) -> None:
        """Refresh if due (a no-op while fresh); on failure keep what we have and log it."""
        try:
            self._current = await self.resolver.resolve()
        except CredentialsError as exc:
            # A cached name needs no credentials, and a call made without valid
            # ones fails as retryable (current() raises), never as a denial.
            _log.warning(
                "could not refresh the AWS credentials for EC2 lookups",
                extra={"fields": {"reason": exc.reason, "error": exc.message}},
            )


class EC2NameLookup:
    """Instance id → private DNS name for the mapper.

    Pass `resolve()` as ``ec2_dns`` to [`IdentityMapper.amap()`][k8s_aws_auth.mapping.IdentityMapper.amap].
    """

    def __init__(
        self,
        resolver: AsyncEC2Resolver,
        credentials: ServerCredentials,
        *,
        region: str,
        endpoint_url: str,
        qps: float | None = None,
        burst: int | None = None,
    ) -> None:
        self.resolver = resolver
        self.credentials = credentials
        self.region = region
        self.endpoint_url = endpoint_url
        self.qps = qps
        self.burst = burst
        self.started = False

    async def start(self) -> None:
        """Fetch the credentials (idempotent); [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError] when there are none."""
        if self.started:
            return
        await self.credentials.start()
        self.started = True
        _log.info(
            "EC2 lookups for {{EC2PrivateDNSName}} enabled",
            extra={
                "fields": {
                    "region": self.region,
                    "ec2_endpoint_url": self.endpoint_url,
                    "ec2_role_arn": self.credentials.role_arn,
                    "ec2_qps": self.qps,
                    "ec2_burst": self.burst,
                }
            },
        )

    async def resolve(self, instance_id: str) -> str:
        """The private DNS name of ``instance_id`` (raises [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError])."""
        await self.credentials.refresh()
        return await self.resolver.resolve(instance_id)

    def stats(self) -> dict[str, float]:
        """Counters for metrics: DescribeInstances calls, cache hits and misses."""
        return {
            "describe_instances_calls": self.resolver.calls,
            "cache_hits": self.resolver.cache_hits,
            "cache_misses": self.resolver.cache_misses,
        }

    async def aclose(self) -> None:
        """Close the EC2 client."""
        await self.resolver.aclose()


class LookupConfig(Protocol):
    """The settings `build_ec2_lookup()` reads (the server's ``ServerConfig`` has them)."""

    @property
    def region(self) -> str | None:
        """The instances' region (``None``: the environment's or the profile's)."""

    @property
    def partition(self) -> str:
        """The partition the region must be in."""

    @property
    def ec2_endpoint_url(self) -> str | None:
        """EC2's base URL (``None``: the configured endpoint settings, else the regional one)."""

    @property
    def ec2_role_arn(self) -> str | None:
        """A role to assume for the calls (``ec2DescribeInstancesRoleARN``)."""

    @property
    def source_arn(self) -> str | None:
        """``sourceARN``, signed into that AssumeRole call."""

    @property
    def ec2_qps(self) -> int:
        """DescribeInstances calls per second."""

    @property
    def ec2_burst(self) -> int:
        """Calls allowed at once above the rate."""

    @property
    def ec2_cache_ttl(self) -> float:
        """Seconds a found name is kept."""

    @property
    def ec2_negative_cache_ttl(self) -> float:
        """Seconds an unknown instance is remembered."""

    @property
    def ec2_cache_size(self) -> int:
        """Names kept at most."""

    @property
    def deadline(self) -> float:
        """Seconds one DescribeInstances call may take, retries included."""


def _ec2_endpoint(config: LookupConfig, ctx: ProviderContext, region: str) -> str:
    try:
        url = config.ec2_endpoint_url or configured_endpoint_url(ctx, "ec2")
        if url is None:
            return default_ec2_endpoint(region)
        return parse_endpoint_url(url, region, "ec2EndpointURL").url
    except CredentialsError as exc:
        raise ConfigurationError(
            f"EC2 endpoint URL: {exc.message}", reason="ec2-endpoint"
        ) from None


def build_ec2_lookup(
    config: LookupConfig,
    *,
    environ: Mapping[str, str],
    clock: Callable[[], datetime] = utc_now,
    ec2_client: httpx.AsyncClient | None = None,
    credentials_client: httpx.AsyncClient | None = None,
) -> EC2NameLookup:
    """The lookup ``config`` describes (region, endpoint, role, rate limit, cache).

    Raises:
        ConfigurationError: no region, a region of another partition, a bad
            endpoint URL or ``sourceARN``.
    """
    ctx = ProviderContext(environ=environ, read_file=read_text_file, clock=clock)
    try:
        region = config.region or resolve_settings(ctx).region
    except (ConfigurationError, CredentialsError) as exc:
        raise ConfigurationError(
            f"cannot read the AWS region: {exc.message}", reason="region"
        ) from None
    if not region:
        raise ConfigurationError(
            "a mapping uses {{EC2PrivateDNSName}}, which needs the region of the instances: "
            "set server.region (--region) or AWS_REGION",
            reason="region",
        )
    partition = partition_for_region(region).name
    if partition != config.partition:
        raise ConfigurationError(
            f"region {region} is in partition {partition}, not {config.partition}",
            reason="region",
        )
    endpoint_url = _ec2_endpoint(config, ctx, region)
    chain: CredentialProvider | None = None
    if config.ec2_role_arn:
        headers = _source_headers(config.source_arn) if config.source_arn else {}
        chain = DescribeRoleProvider(
            role_arn=config.ec2_role_arn,
            region=region,
            source=default_chain(),
            source_headers=headers,
        )
    elif config.source_arn:
        _log.warning(
            "sourceARN is set but ec2DescribeInstancesRoleARN is not: sourceARN only applies "
            "to that AssumeRole call and is ignored"
        )
    credentials = ServerCredentials(
        AsyncCredentialResolver(
            chain, client=credentials_client, environ=environ, clock=clock, mfa_input=None
        ),
        role_arn=config.ec2_role_arn,
        clock=clock,
    )
    resolver = AsyncEC2Resolver(
        region,
        credentials=credentials.current,
        endpoint_url=endpoint_url,
        client=ec2_client,
        qps=float(config.ec2_qps),
        burst=config.ec2_burst,
        cache_ttl=config.ec2_cache_ttl,
        negative_ttl=config.ec2_negative_cache_ttl,
        cache_size=config.ec2_cache_size,
        deadline=config.deadline,
        clock=clock,
    )
    return EC2NameLookup(
        resolver,
        credentials,
        region=region,
        endpoint_url=endpoint_url,
        qps=config.ec2_qps,
        burst=config.ec2_burst,
    )
