"""The AWS SDKs' default credential chain: every provider, in their documented order."""

from __future__ import annotations

from ._assume_role import AssumeRoleProvider
from ._chain import CredentialChain
from ._container import ContainerProvider
from ._env import EnvProvider
from ._imds import IMDSProvider
from ._process import ProcessProvider
from ._sso import SSOProvider
from ._static_keys import ConfigFileProvider, SharedCredentialsProvider
from ._web_identity import WebIdentityProvider

__all__ = ["default_chain"]


def default_chain(*, imds_timeout: float | None = None) -> CredentialChain:
    """The AWS SDKs' default chain, in their documented order.

    1. environment variables; 2. the profile's ``role_arn`` (AssumeRole);
    3. web identity (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``, or the
    profile's ``web_identity_token_file``); 4. SSO; 5. static keys in the
    credentials file; 6. ``credential_process``; 7. static keys in the config
    file; 8. the container endpoint (ECS, EKS Pod Identity); 9. EC2 IMDSv2.
    The profile is the resolver's (``AWS_PROFILE``, else ``default``).
    ``imds_timeout`` overrides the IMDS connect/read timeout (default 1 s).
    """
    return CredentialChain(
        (
            EnvProvider(),
            AssumeRoleProvider(),
            WebIdentityProvider(),
            SSOProvider(),
            SharedCredentialsProvider(),
            ProcessProvider(),
            ConfigFileProvider(),
            ContainerProvider(),
            IMDSProvider(timeout=imds_timeout),
        )
    )
