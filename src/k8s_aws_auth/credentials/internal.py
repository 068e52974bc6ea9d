"""What k8s_aws_auth's own packages use of the credentials package (not public API).

The CLI's exec plugin, ``generate_token`` and the EC2 lookups build on the
provider machinery (flows, the STS calls, the endpoint and region rules, the
shared files) without reaching into this package's private modules: this is
the one module they import besides ``k8s_aws_auth.credentials``. It is no API
for users: names here may change in any release.

Names load on first use, like the package's: the exec plugin's start-up path
takes ``resolve_settings``, ``SharedFiles`` and ``environment_keys`` from here
without importing attrs or the providers.
"""

from __future__ import annotations

from k8s_aws_auth._core.lazy import lazy_exports

# Not `from typing import TYPE_CHECKING`: the exec plugin imports this module at start-up.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ._base import CredentialFlow, http, provider_error
    from ._endpoints import (
        ServiceEndpoint,
        configured_endpoint_url,
        parse_endpoint_url,
        sts_endpoint,
    )
    from ._env_keys import EXPIRATION_ENV, environment_keys
    from ._explicit_role import ExplicitRoleProvider, check_role_arn
    from ._region import resolve_settings
    from ._shared_files import (
        SharedConfig,
        SharedFiles,
        expand_path,
        profile_from_environ,
        profile_static_keys,
        read_text_file,
    )
    from ._sts_calls import (
        AssumeRoleParams,
        assume_role_request,
        parse_credentials_response,
        valid_session_name,
    )

_PACKAGE = "k8s_aws_auth.credentials."
_LAZY = {
    "CredentialFlow": _PACKAGE + "_base",
    "http": _PACKAGE + "_base",
    "provider_error": _PACKAGE + "_base",
    "ServiceEndpoint": _PACKAGE + "_endpoints",
    "configured_endpoint_url": _PACKAGE + "_endpoints",
    "parse_endpoint_url": _PACKAGE + "_endpoints",
    "sts_endpoint": _PACKAGE + "_endpoints",
    "ExplicitRoleProvider": _PACKAGE + "_explicit_role",
    "check_role_arn": _PACKAGE + "_explicit_role",
    "EXPIRATION_ENV": _PACKAGE + "_env_keys",
    "environment_keys": _PACKAGE + "_env_keys",
    "resolve_settings": _PACKAGE + "_region",
    "SharedConfig": _PACKAGE + "_shared_files",
    "SharedFiles": _PACKAGE + "_shared_files",
    "expand_path": _PACKAGE + "_shared_files",
    "profile_from_environ": _PACKAGE + "_shared_files",
    "profile_static_keys": _PACKAGE + "_shared_files",
    "read_text_file": _PACKAGE + "_shared_files",
    "AssumeRoleParams": _PACKAGE + "_sts_calls",
    "assume_role_request": _PACKAGE + "_sts_calls",
    "parse_credentials_response": _PACKAGE + "_sts_calls",
    "valid_session_name": _PACKAGE + "_sts_calls",
}

__all__ = [
    "EXPIRATION_ENV",
    "AssumeRoleParams",
    "CredentialFlow",
    "ExplicitRoleProvider",
    "ServiceEndpoint",
    "SharedConfig",
    "SharedFiles",
    "assume_role_request",
    "check_role_arn",
    "configured_endpoint_url",
    "environment_keys",
    "expand_path",
    "http",
    "parse_credentials_response",
    "parse_endpoint_url",
    "profile_from_environ",
    "profile_static_keys",
    "provider_error",
    "read_text_file",
    "resolve_settings",
    "sts_endpoint",
    "valid_session_name",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
