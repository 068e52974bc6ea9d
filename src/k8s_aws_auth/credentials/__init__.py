"""AWS credentials and region, found where the AWS CLI and SDKs find them (without botocore).

Providers are frozen config objects whose flows run under the sync and the
async resolver alike; [`default_chain()`][k8s_aws_auth.default_chain] tries them in the SDKs' order.
See ``docs/credentials.md``.
"""

from __future__ import annotations

from k8s_aws_auth._core.lazy import lazy_exports

# Not `from typing import TYPE_CHECKING`: the exec plugin imports the shared-files and
# region modules of this package at start-up, where typing costs milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ._assume_role import AssumeRoleProvider
    from ._base import CredentialProvider, ProviderContext, Skip
    from ._chain import CredentialChain, StaticProvider
    from ._container import ContainerProvider
    from ._default_chain import default_chain
    from ._env import EnvProvider
    from ._imds import IMDSProvider
    from ._process import ProcessProvider
    from ._profile import ProfileProvider
    from ._region import ClientSettings
    from ._resolver import AsyncCredentialResolver, CredentialResolver
    from ._sso import SSOProvider
    from ._static_keys import ConfigFileProvider, SharedCredentialsProvider
    from ._web_identity import WebIdentityProvider

# Names load on first use: resolving credentials from the environment must not
# pay for the network providers (k8s-aws-auth token runs for every kubectl call).
_LAZY = {
    "AssumeRoleProvider": "._assume_role",
    "CredentialProvider": "._base",
    "ProviderContext": "._base",
    "Skip": "._base",
    "CredentialChain": "._chain",
    "StaticProvider": "._chain",
    "default_chain": "._default_chain",
    "ContainerProvider": "._container",
    "EnvProvider": "._env",
    "IMDSProvider": "._imds",
    "ProcessProvider": "._process",
    "ConfigFileProvider": "._static_keys",
    "ProfileProvider": "._profile",
    "SharedCredentialsProvider": "._static_keys",
    "ClientSettings": "._region",
    "AsyncCredentialResolver": "._resolver",
    "CredentialResolver": "._resolver",
    "SSOProvider": "._sso",
    "WebIdentityProvider": "._web_identity",
}


__all__ = [
    "AssumeRoleProvider",
    "AsyncCredentialResolver",
    "ClientSettings",
    "ConfigFileProvider",
    "ContainerProvider",
    "CredentialChain",
    "CredentialProvider",
    "CredentialResolver",
    "EnvProvider",
    "IMDSProvider",
    "ProcessProvider",
    "ProfileProvider",
    "ProviderContext",
    "SSOProvider",
    "SharedCredentialsProvider",
    "Skip",
    "StaticProvider",
    "WebIdentityProvider",
    "default_chain",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
