"""Region, STS endpoint mode, FIPS and dual-stack settings, resolved as the AWS CLI resolves them.

Environment first, then the profile: ``AWS_REGION``/``AWS_DEFAULT_REGION``
then ``region``; ``AWS_STS_REGIONAL_ENDPOINTS`` then ``sts_regional_endpoints``
(default ``regional``); ``AWS_USE_FIPS_ENDPOINT`` then ``use_fips_endpoint``;
``AWS_USE_DUALSTACK_ENDPOINT`` then ``use_dualstack_endpoint``. Booleans are
true only for ``true`` (any case), like botocore's ``ensure_boolean``. The
instance metadata region is used only when the caller allows it explicitly.
"""

from __future__ import annotations

import attrs

from k8s_aws_auth.errors import ConfigurationError

from ._base import ProviderContext

__all__ = ["ClientSettings", "resolve_settings"]

_ENDPOINT_MODES = ("regional", "legacy")


@attrs.frozen(kw_only=True)
class ClientSettings:
    """How to reach STS: the region (``None``: none configured) and the endpoint variant."""

    region: str | None = None
    sts_regional_endpoints: str = "regional"
    use_fips: bool = False
    use_dualstack: bool = False


def _lookup(ctx: ProviderContext, env_names: tuple[str, ...], key: str) -> str | None:
    for name in env_names:
        if name in ctx.environ:
            return ctx.environ[name]
    return ctx.shared_config().setting(ctx.settings_profile, key)


def _flag(ctx: ProviderContext, env_name: str, key: str) -> bool:
    value = _lookup(ctx, (env_name,), key)
    return value is not None and value.strip().lower() == "true"


def resolve_region(ctx: ProviderContext) -> str | None:
    """``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region`` (empty means unset)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = ctx.environ.get(name, "").strip()
        if value:
            return value
    configured = ctx.shared_config().setting(ctx.settings_profile, "region")
    return configured.strip() or None if configured is not None else None


def resolve_settings(ctx: ProviderContext) -> ClientSettings:
    """All four settings for the context's profile (reads the shared config only when needed)."""
    raw_mode = _lookup(ctx, ("AWS_STS_REGIONAL_ENDPOINTS",), "sts_regional_endpoints")
    mode = (raw_mode or "regional").strip().lower()
    if mode not in _ENDPOINT_MODES:
        raise ConfigurationError(
            "AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints must be 'regional' or 'legacy'",
            reason="endpoint-mode",
        )
    return ClientSettings(
        region=resolve_region(ctx),
        sts_regional_endpoints=mode,
        use_fips=_flag(ctx, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint"),
        use_dualstack=_flag(ctx, "AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint"),
    )
