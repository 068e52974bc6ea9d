"""The kubectl ExecCredential codec (client.authentication.k8s.io), pure.

The exec plugin formats its output and parses ``KUBERNETES_EXEC_INFO`` through
this module at start-up, so it imports json and time only: ``Token`` values
(attrs) and datetimes are handled by the public wrappers, which receive them
already loaded.
"""

from __future__ import annotations

import json
import time

from k8s_aws_auth.errors import ConfigurationError

from .frozen import Frozen

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from .models import Token

__all__ = [
    "DEFAULT_EXEC_API_VERSION",
    "EXEC_API_VERSIONS",
    "ExecInfo",
    "exec_credential_document",
    "format_exec_credential",
    "format_timestamp",
    "format_timestamp_at",
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


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision and a ``Z`` suffix, as kubectl expects."""
    from .instants import utc

    return utc(moment, "expiration").strftime(_TIMESTAMP_FORMAT)


def format_timestamp_at(epoch_seconds: int) -> str:
    """`format_timestamp()` of a Unix time (whole seconds), without datetime."""
    return time.strftime(_TIMESTAMP_FORMAT, time.gmtime(epoch_seconds))


def _check_api_version(api_version: str) -> None:
    if api_version not in EXEC_API_VERSIONS:
        raise ConfigurationError(
            f"unsupported ExecCredential apiVersion; expected one of {sorted(EXEC_API_VERSIONS)}",
            reason="api-version",
        )


def exec_credential_document(
    token: str, expiration_timestamp: str, *, api_version: str = DEFAULT_EXEC_API_VERSION
) -> dict[str, object]:
    """The ExecCredential object for a token value and its RFC 3339 expiration.

    Keys in the order awscli and aws-iam-authenticator print them: ``kind``,
    ``apiVersion``, ``spec``, ``status`` (``expirationTimestamp``, ``token``).
    """
    _check_api_version(api_version)
    return {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"expirationTimestamp": expiration_timestamp, "token": token},
    }


def format_exec_credential(token: Token, *, api_version: str = DEFAULT_EXEC_API_VERSION) -> str:
    """The ExecCredential JSON a kubectl exec plugin prints for ``token``.

    Keys in the order awscli and aws-iam-authenticator print them: ``kind``,
    ``apiVersion``, ``spec``, ``status`` (``expirationTimestamp``, ``token``).
    """
    from .models import Token

    _check_api_version(api_version)
    if not isinstance(token, Token):
        raise ConfigurationError("token must be a Token value", reason="token")
    document = exec_credential_document(
        token.value, format_timestamp(token.expiration), api_version=api_version
    )
    return json.dumps(document)


class ExecInfo(Frozen):
    """What kubectl said in ``KUBERNETES_EXEC_INFO``.

    ``warning`` explains a fallback to the default (unparsable JSON, unknown
    version) so a CLI can print it on stderr, as awscli does. A plain frozen
    value, not attrs: the exec plugin reads it at start-up.
    """

    __slots__ = ("api_version", "interactive", "warning")
    api_version: str
    interactive: bool
    warning: str | None

    def __init__(
        self,
        *,
        api_version: str = DEFAULT_EXEC_API_VERSION,
        interactive: bool = False,
        warning: str | None = None,
    ) -> None:
        self._init(api_version=api_version, interactive=interactive, warning=warning)


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
