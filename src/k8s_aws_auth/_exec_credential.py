"""The kubectl ExecCredential codec (client.authentication.k8s.io), pure."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import attrs

from ._models import Token
from .errors import ConfigurationError

__all__ = [
    "DEFAULT_EXEC_API_VERSION",
    "EXEC_API_VERSIONS",
    "ExecInfo",
    "format_exec_credential",
    "format_timestamp",
    "parse_exec_info",
]

DEFAULT_EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
EXEC_API_VERSIONS = frozenset(
    {
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
        "client.authentication.k8s.io/v1alpha1",
    }
)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision and a ``Z`` suffix, as kubectl expects."""
    if moment.utcoffset() is None:
        raise ConfigurationError("expiration must be a timezone-aware datetime", reason="clock")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_exec_credential(token: Token, *, api_version: str = DEFAULT_EXEC_API_VERSION) -> str:
    """The ExecCredential JSON a kubectl exec plugin prints for ``token``.

    Keys in the order awscli and aws-iam-authenticator print them: ``kind``,
    ``apiVersion``, ``spec``, ``status`` (``expirationTimestamp``, ``token``).
    """
    if api_version not in EXEC_API_VERSIONS:
        raise ConfigurationError(
            f"unsupported ExecCredential apiVersion; expected one of {sorted(EXEC_API_VERSIONS)}",
            reason="api-version",
        )
    if not isinstance(token, Token):
        raise ConfigurationError("token must be a Token value", reason="token")
    document = {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {
            "expirationTimestamp": format_timestamp(token.expiration),
            "token": token.value,
        },
    }
    return json.dumps(document)


@attrs.frozen(kw_only=True)
class ExecInfo:
    """What kubectl said in ``KUBERNETES_EXEC_INFO``.

    ``warning`` explains a fallback to the default (unparsable JSON, unknown
    version) so a CLI can print it on stderr, as awscli does.
    """

    api_version: str = DEFAULT_EXEC_API_VERSION
    interactive: bool = False
    warning: str | None = None


def parse_exec_info(value: str | None) -> ExecInfo:
    """Parse ``KUBERNETES_EXEC_INFO`` leniently: any problem gives the v1beta1 default."""
    if not value or not value.strip():
        return ExecInfo()
    try:
        document = json.loads(value)
    except ValueError:
        return ExecInfo(warning="KUBERNETES_EXEC_INFO is not valid JSON; using v1beta1")
    if not isinstance(document, dict):
        return ExecInfo(warning="KUBERNETES_EXEC_INFO is not a JSON object; using v1beta1")
    spec = document.get("spec")
    interactive = isinstance(spec, dict) and spec.get("interactive") is True
    api_version = document.get("apiVersion")
    if not api_version:
        return ExecInfo(interactive=interactive)
    if not isinstance(api_version, str) or api_version not in EXEC_API_VERSIONS:
        return ExecInfo(
            interactive=interactive,
            warning="KUBERNETES_EXEC_INFO names an unknown apiVersion; using v1beta1",
        )
    return ExecInfo(api_version=api_version, interactive=interactive)
