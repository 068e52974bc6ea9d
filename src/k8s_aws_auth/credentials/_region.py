"""Region, STS endpoint mode, FIPS and dual-stack settings, resolved as the AWS CLI resolves them.

Environment first, then the profile: ``AWS_REGION``/``AWS_DEFAULT_REGION``
then ``region``; ``AWS_STS_REGIONAL_ENDPOINTS`` then ``sts_regional_endpoints``
(default ``regional``); ``AWS_USE_FIPS_ENDPOINT`` then ``use_fips_endpoint``;
``AWS_USE_DUALSTACK_ENDPOINT`` then ``use_dualstack_endpoint``. Booleans are
true only for ``true`` (any case), like botocore's ``ensure_boolean``. The
instance metadata region is used only when the caller allows it explicitly.

These are the only copies of those rules: the resolver and its providers pass
their [`ProviderContext`][k8s_aws_auth.credentials.ProviderContext], the exec plugin a
`SharedFiles` (this module imports
neither attrs nor typing, so the plugin reads the settings without the chain).
"""

from __future__ import annotations

from k8s_aws_auth._core.frozen import Frozen
from k8s_aws_auth.errors import ConfigurationError

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    from ._shared_files import SharedConfig

    class SettingsSource(Protocol):
        """What the settings are read from: a provider context or the plugin's shared files."""

        @property
        def environ(self) -> Mapping[str, str]:
            """The injected environment."""

        @property
        def settings_profile(self) -> str:
            """The profile whose settings apply."""

        def shared_config(self) -> SharedConfig:
            """The parsed shared files (read only when a setting is not in the environment)."""


__all__ = [
    "REGION_ENV",
    "ClientSettings",
    "configured_flag",
    "configured_value",
    "resolve_region",
    "resolve_settings",
]

_ENDPOINT_MODES = ("regional", "legacy")

#: The region variables, in the SDKs' (and AWS CLI v2's) order.
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


class ClientSettings(Frozen):
    """How to reach STS: the region (``None``: none configured) and the endpoint variant."""

    __slots__ = (  # noqa: RUF023 - the field order, shown by repr
        "region",
        "sts_regional_endpoints",
        "use_fips",
        "use_dualstack",
    )
    region: str | None
    sts_regional_endpoints: str
    use_fips: bool
    use_dualstack: bool

    def __init__(
        self,
        *,
        region: str | None = None,
        sts_regional_endpoints: str = "regional",
        use_fips: bool = False,
        use_dualstack: bool = False,
    ) -> None:
        self._init(
            region=region,
            sts_regional_endpoints=sts_regional_endpoints,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
        )


def configured_value(source: SettingsSource, env_name: str, key: str) -> str | None:
    """``env_name`` if the environment sets it (even empty), else the profile's ``key``, else ``None``."""
    if env_name in source.environ:
        return source.environ[env_name]
    return source.shared_config().setting(source.settings_profile, key)


def configured_flag(source: SettingsSource, env_name: str, key: str) -> bool:
    """`configured_value()` read as a boolean: true only for ``true`` (any case, spaces ignored)."""
    value = configured_value(source, env_name, key)
    return value is not None and value.strip().lower() == "true"


def resolve_region(source: SettingsSource, env_names: tuple[str, ...] = REGION_ENV) -> str | None:
    """The first non-empty of ``env_names``, then the profile's ``region`` (empty means unset).

    ``env_names`` is `REGION_ENV` for the library; ``k8s-aws-auth get-token``
    passes awscli v1's order (``AWS_DEFAULT_REGION`` first), see ``docs/cli.md``.
    """
    for name in env_names:
        value = source.environ.get(name, "").strip()
        if value:
            return value
    configured = source.shared_config().setting(source.settings_profile, "region")
    return configured.strip() or None if configured is not None else None


def _endpoint_mode(source: SettingsSource) -> str:
    raw_mode = configured_value(source, "AWS_STS_REGIONAL_ENDPOINTS", "sts_regional_endpoints")
    mode = (raw_mode or "regional").strip().lower()
    if mode not in _ENDPOINT_MODES:
        raise ConfigurationError(
            "AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints must be 'regional' or 'legacy'",
            reason="endpoint-mode",
        )
    return mode


def resolve_settings(
    source: SettingsSource,
    *,
    region_env: tuple[str, ...] = REGION_ENV,
    region: str | None = None,
    sts_regional_endpoints: str | None = None,
) -> ClientSettings:
    """All four settings for the source's profile (reads the shared files only when needed).

    ``region`` and ``sts_regional_endpoints``, when given (command-line flags),
    win over the environment and the profile, whose values are then not read.
    """
    return ClientSettings(
        region=region or resolve_region(source, region_env),
        sts_regional_endpoints=sts_regional_endpoints or _endpoint_mode(source),
        use_fips=configured_flag(source, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint"),
        use_dualstack=configured_flag(
            source, "AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint"
        ),
    )
