"""k8s_aws_auth: generate and verify Kubernetes AWS IAM (``k8s-aws-v1.``) tokens.

The core is pure (no clock, environment or network); the verifier shells add
the STS call over httpx, in sync and async flavours.
"""

from __future__ import annotations

from ._core.lazy import lazy_exports
from ._core.version import __version__
from .errors import K8sAwsAuthError

# Not `from typing import TYPE_CHECKING`: typing costs milliseconds at start-up
# (the exec plugin's import path runs this file); mypy treats this name as True.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ._core.arn import canonicalize_arn
    from ._core.config import VerifierConfig
    from ._core.exec_credential import format_exec_credential, parse_exec_info
    from ._core.models import Credentials, Identity, Token, ValidatedToken
    from ._core.token import decode_token, encode_token, presign_token
    from ._core.validate import validate_token
    from ._generate import agenerate_token, generate_token
    from ._token_auth import TokenAuth
    from ._token_source import AsyncTokenSource, TokenSource
    from ._verifier import (
        AsyncTokenVerifier,
        TokenVerifier,
        VerifierStats,
        averify_token,
        verify_token,
    )
    from .credentials import AsyncCredentialResolver, CredentialResolver, default_chain

# Every public name loads on first use: the verifier shells need httpx (tens of
# milliseconds to import) and the value types attrs (about 20 ms), while the
# `k8s-aws-auth token` process, which kubectl starts for every command, must
# import as little as possible (`import k8s_aws_auth.cli` runs this file).
# Add new public names here (and under TYPE_CHECKING above), not as eager imports.
_LAZY = {
    "canonicalize_arn": "._core.arn",
    "VerifierConfig": "._core.config",
    "format_exec_credential": "._core.exec_credential",
    "parse_exec_info": "._core.exec_credential",
    "agenerate_token": "._generate",
    "generate_token": "._generate",
    "TokenAuth": "._token_auth",
    "AsyncTokenSource": "._token_source",
    "TokenSource": "._token_source",
    "Credentials": "._core.models",
    "Identity": "._core.models",
    "Token": "._core.models",
    "ValidatedToken": "._core.models",
    "decode_token": "._core.token",
    "encode_token": "._core.token",
    "presign_token": "._core.token",
    "validate_token": "._core.validate",
    "AsyncTokenVerifier": "._verifier",
    "TokenVerifier": "._verifier",
    "VerifierStats": "._verifier",
    "averify_token": "._verifier",
    "verify_token": "._verifier",
    "AsyncCredentialResolver": ".credentials",
    "CredentialResolver": ".credentials",
    "default_chain": ".credentials",
}


__all__ = [
    "AsyncCredentialResolver",
    "AsyncTokenSource",
    "AsyncTokenVerifier",
    "CredentialResolver",
    "Credentials",
    "Identity",
    "K8sAwsAuthError",
    "Token",
    "TokenAuth",
    "TokenSource",
    "TokenVerifier",
    "ValidatedToken",
    "VerifierConfig",
    "VerifierStats",
    "__version__",
    "agenerate_token",
    "averify_token",
    "canonicalize_arn",
    "decode_token",
    "default_chain",
    "encode_token",
    "format_exec_credential",
    "generate_token",
    "parse_exec_info",
    "presign_token",
    "validate_token",
    "verify_token",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
