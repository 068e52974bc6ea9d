"""Static keys written in the shared files: the ``credentials`` file and the ``config`` file."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import CredentialFlow, ProviderContext, Skip, provider_error
from ._shared_files import Value, section_keys

__all__ = ["ConfigFileProvider", "SharedCredentialsProvider", "static_keys"]


def static_keys(section: Mapping[str, Value], provider: str, where: str) -> Credentials | None:
    """``aws_access_key_id``/``aws_secret_access_key`` (+ session token) of a section, or ``None``.

    A key id without a secret is an error, as in the AWS CLI.
    """
    keys = section_keys(section)
    if keys is None:
        return None
    access_key_id, secret, token = keys
    if not secret:
        raise provider_error(
            provider,
            f"{where} has aws_access_key_id but no aws_secret_access_key",
            "partial-credentials",
        )
    return Credentials(access_key_id, secret, token)


@attrs.frozen(kw_only=True)
class SharedCredentialsProvider:
    """Static keys in the ``credentials`` file (``AWS_SHARED_CREDENTIALS_FILE``, ``~/.aws/credentials``).

    ``profile=None`` means the context's profile (``AWS_PROFILE`` or ``default``).
    """

    profile: str | None = None
    name: str = attrs.field(default="shared-credentials-file", init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Look the profile up in the credentials file; no network."""
        yield from ()
        config = ctx.shared_config()
        profile = self.profile or ctx.profile_name
        section = config.credentials_profiles.get(profile)
        if section is None:
            return Skip(f"no [{profile}] section in {config.credentials_path}")
        found = static_keys(section, self.name, f"[{profile}] in {config.credentials_path}")
        return found if found is not None else Skip(f"[{profile}] has no aws_access_key_id")


@attrs.frozen(kw_only=True)
class ConfigFileProvider:
    """Static keys in the ``config`` file's profile section (``AWS_CONFIG_FILE``, ``~/.aws/config``)."""

    profile: str | None = None
    name: str = attrs.field(default="config-file", init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Look the profile up in the config file; no network."""
        yield from ()
        config = ctx.shared_config()
        profile = self.profile or ctx.profile_name
        section = config.config_profiles.get(profile)
        if section is None:
            return Skip(f"no profile {profile!r} in {config.config_path}")
        found = static_keys(section, self.name, f"profile {profile!r} in {config.config_path}")
        return found if found is not None else Skip(f"profile {profile!r} has no aws_access_key_id")
