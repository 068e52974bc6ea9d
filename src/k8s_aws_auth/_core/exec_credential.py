"""The kubectl ExecCredential codec (client.authentication.k8s.io), pure.

The exec plugin formats its output and parses ``KUBERNETES_EXEC_INFO`` through
this module at start-up, so it imports time only: ``Token`` values (attrs) and
datetimes are handled by the public wrappers, which receive them already loaded,
and json (which imports ``re``) only for what the exact forms below do not cover:
the documents kubectl sends, and ExecCredentials of plain ASCII strings, are read
and written by string operations that give json's results.
"""

from __future__ import annotations

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
    "exec_credential_json",
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
    return exec_credential_json(
        token.value, format_timestamp(token.expiration), api_version=api_version
    )


#: Characters json.dumps writes as themselves inside a string: enough for tokens
#: (base64url after their prefix) and RFC 3339 timestamps.
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/+=")


def exec_credential_json(
    token: str,
    expiration_timestamp: str,
    *,
    api_version: str = DEFAULT_EXEC_API_VERSION,
    indent: int | None = None,
) -> str:
    """`exec_credential_document()` as ``json.dumps(document, indent=indent)`` writes it.

    Written without json when every string is plain ASCII that JSON writes
    unescaped (always, for a token and timestamp this library made).
    """
    document = exec_credential_document(token, expiration_timestamp, api_version=api_version)
    if indent not in (None, 4) or not _PLAIN.issuperset(token + expiration_timestamp):
        import json

        return json.dumps(document, indent=indent)
    if indent is None:
        return (
            f'{{"kind": "ExecCredential", "apiVersion": "{api_version}", "spec": {{}}, '
            f'"status": {{"expirationTimestamp": "{expiration_timestamp}", "token": "{token}"}}}}'
        )
    return (
        f'{{\n    "kind": "ExecCredential",\n    "apiVersion": "{api_version}",\n'
        f'    "spec": {{}},\n    "status": {{\n'
        f'        "expirationTimestamp": "{expiration_timestamp}",\n'
        f'        "token": "{token}"\n    }}\n}}'
    )


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


#: The documents kubectl (client-go) sends without ``provideClusterInfo``, as sent.
_KUBECTL_EXEC_INFO = {
    (
        '{"kind":"ExecCredential","apiVersion":"%s","spec":{"interactive":%s}}'  # noqa: UP031
        % (api_version, "true" if interactive else "false")
    ): (api_version, interactive)
    for api_version in sorted(EXEC_API_VERSIONS)
    for interactive in (False, True)
}


def parse_exec_info(value: str | None) -> ExecInfo:
    """Parse ``KUBERNETES_EXEC_INFO`` leniently: any problem gives the v1beta1 default."""
    if not value or not value.strip():
        return ExecInfo()
    known = _KUBECTL_EXEC_INFO.get(value.strip(" \t\n\r"))  # JSON's whitespace
    if known is not None:
        return ExecInfo(api_version=known[0], interactive=known[1])
    import json

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
