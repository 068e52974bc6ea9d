"""Where the credential calls go: STS (AssumeRole*), the SSO portal and SSO OIDC (token refresh).

Configured endpoints follow the AWS SDKs' "service-specific endpoints" rules:
``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``, then the profile's
``services`` section (``<service> =`` block with ``endpoint_url``), then the
profile's ``endpoint_url``; ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` /
``ignore_configured_endpoint_urls = true`` turns them all off. They never
change the host a token is signed for: that is always a real STS host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from k8s_aws_auth._core.partitions import regional_host, sts_host_for

from ._base import ProviderContext, provider_error
from ._region import ClientSettings, configured_flag

__all__ = [
    "ServiceEndpoint",
    "configured_endpoint_url",
    "sso_endpoint",
    "sso_oidc_endpoint",
    "sts_endpoint",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@attrs.frozen(kw_only=True)
class ServiceEndpoint:
    """A base URL (no trailing slash), the ``Host`` header to send and sign, and the signing region."""

    url: str
    host: str
    region: str
    configured: bool = False
    """True when the URL came from ``AWS_ENDPOINT_URL*``/profile settings."""


def configured_endpoint_url(ctx: ProviderContext, service: str) -> str | None:
    """The configured endpoint URL for ``service`` (``sts``, ``sso``, ``sso_oidc``), or ``None``.

    ``service`` is the SDKs' service id with spaces as underscores: the variable
    is ``AWS_ENDPOINT_URL_<SERVICE>`` (``AWS_ENDPOINT_URL_SSO_OIDC``) and the key
    in the ``services`` section is the lower-case form (``sso_oidc``).
    """
    if configured_flag(
        ctx, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "ignore_configured_endpoint_urls"
    ):
        return None
    for name in (f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ENDPOINT_URL"):
        value = ctx.environ.get(name)
        if value:
            return value
    config = ctx.shared_config()
    profile = config.profile(ctx.settings_profile)
    services_name = profile.get("services")
    if isinstance(services_name, str):
        block = config.services.get(services_name)
        if block is None:
            raise provider_error(
                "shared-config",
                f"profile {ctx.settings_profile!r} names services section {services_name!r}, "
                "which does not exist",
                "bad-config",
            )
        nested = block.get(service)
        if isinstance(nested, dict) and nested.get("endpoint_url"):
            return nested["endpoint_url"]
    global_url = profile.get("endpoint_url")
    return global_url if isinstance(global_url, str) and global_url else None


def parse_endpoint_url(url: str, region: str, provider: str) -> ServiceEndpoint:
    """Check a configured endpoint URL (http or https, a host, no credentials/query/fragment)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts = None
    if parts is None:
        raise provider_error(
            provider, "the configured endpoint URL is not a URL", "bad-endpoint-url"
        )
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise provider_error(
            provider,
            "the configured endpoint URL must be http:// or https:// with a host",
            "bad-endpoint-url",
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise provider_error(
            provider,
            "the configured endpoint URL may not carry user info, a query or a fragment",
            "bad-endpoint-url",
        )
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return ServiceEndpoint(
        url=f"{parts.scheme}://{host}{path}", host=host, region=region, configured=True
    )


def sts_endpoint(ctx: ProviderContext, settings: ClientSettings, provider: str) -> ServiceEndpoint:
    """Where AssumeRole and AssumeRoleWithWebIdentity go, and the region they are signed for.

    Without a configured URL this is the host ``aws eks get-token`` would sign a token for
    with the same settings (regional by default; the global host when no region is set).
    """
    custom = configured_endpoint_url(ctx, "sts")
    if custom is not None:
        return parse_endpoint_url(custom, settings.region or "us-east-1", provider)
    from k8s_aws_auth.errors import ConfigurationError

    try:
        host, signing_region = sts_host_for(
            settings.region,
            sts_regional_endpoints=settings.sts_regional_endpoints,
            use_fips=settings.use_fips,
            use_dualstack=settings.use_dualstack,
        )
    except ConfigurationError as exc:
        raise provider_error(provider, f"no STS endpoint: {exc.message}", "bad-region") from None
    return ServiceEndpoint(url=f"https://{host}", host=host, region=signing_region)


def _regional_endpoint(
    ctx: ProviderContext, service: str, label: str, region: str, provider: str
) -> ServiceEndpoint:
    custom = configured_endpoint_url(ctx, service)
    if custom is not None:
        return parse_endpoint_url(custom, region, provider)
    host = regional_host(label, region)
    return ServiceEndpoint(url=f"https://{host}", host=host, region=region)


def sso_endpoint(ctx: ProviderContext, sso_region: str, provider: str) -> ServiceEndpoint:
    """The SSO portal for ``sso_region`` (``portal.sso.<region>.<dns suffix>``) or the configured URL."""
    return _regional_endpoint(ctx, "sso", "portal.sso", sso_region, provider)


def sso_oidc_endpoint(ctx: ProviderContext, sso_region: str, provider: str) -> ServiceEndpoint:
    """SSO OIDC for ``sso_region`` (``oidc.<region>.<dns suffix>``) or the configured URL."""
    return _regional_endpoint(ctx, "sso_oidc", "oidc", sso_region, provider)
