"""Every credential source a profile can name, as one provider (what ``--profile`` resolves)."""

from __future__ import annotations

import attrs

from k8s_aws_auth._core.models import Credentials

from ._assume_role import AssumeRoleProvider, source_profile_providers
from ._base import CredentialFlow, CredentialProvider, ProviderContext, Skip
from ._chain import CredentialChain

__all__ = ["ProfileProvider"]


@attrs.frozen(kw_only=True)
class ProfileProvider:
    """Every source a profile can name, in the AWS CLI's order.

    ``role_arn`` (AssumeRole via ``source_profile``/``credential_source``), then
    ``web_identity_token_file``, SSO (``sso_session``/``sso_*``), static keys in
    the credentials file, ``credential_process``, static keys in the config file.
    This is what a ``source_profile`` resolves through.
    """

    profile: str | None = None
    name: str = attrs.field(default="profile", init=False)

    def providers(self) -> tuple[CredentialProvider, ...]:
        """The member providers, in order."""
        return (AssumeRoleProvider(profile=self.profile), *source_profile_providers(self.profile))

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Try each member; the first that answers wins."""
        return (yield from CredentialChain(self.providers()).flow(ctx))
