"""k8s_aws_auth: generate and verify Kubernetes AWS IAM (``k8s-aws-v1.``) tokens.

The core is pure (no clock, environment or network); the verifier shells add
the STS call over httpx, in sync and async flavours.
"""

from __future__ import annotations

from ._arn import canonicalize_arn
from ._config import VerifierConfig
from ._exec_credential import format_exec_credential, parse_exec_info
from ._generate import agenerate_token, generate_token
from ._models import Credentials, Identity, Token, ValidatedToken
from ._token import decode_token, encode_token, presign_token
from ._validate import validate_token
from ._version import __version__
from .errors import K8sAwsAuthError

__all__ = [
    "Credentials",
    "Identity",
    "K8sAwsAuthError",
    "Token",
    "ValidatedToken",
    "VerifierConfig",
    "__version__",
    "agenerate_token",
    "canonicalize_arn",
    "decode_token",
    "encode_token",
    "format_exec_credential",
    "generate_token",
    "parse_exec_info",
    "presign_token",
    "validate_token",
]
