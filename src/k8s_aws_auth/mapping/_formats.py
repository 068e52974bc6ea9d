"""Reading mapping files: detect the format, parse it, validate every entry (pure but for I/O helpers).

Four formats are understood (see ``docs/mapping.md``):

``mounted-file``
    aws-iam-authenticator's server config file: ``server.mapRoles``,
    ``server.mapUsers``, ``server.mapAccounts`` (plus ``scrubbedAccounts``,
    ``reservedPrefixConfig``, ``dynamicfileUserIDStrict``).
``eks-configmap``
    The EKS ``kube-system/aws-auth`` ConfigMap: a manifest, its ``data``
    mapping, a directory where it is mounted as a volume, or one mounted key
    file. ``data.mapRoles`` etc. are YAML strings; data keys are
    case-sensitive, entry keys are not.
``dynamic-file``
    upstream's DynamicFile JSON (what EKS access entries feed).
``native``
    our own schema: ``roles``, ``users``, ``accounts``, exact field names.

Upstream formats read entry fields case-insensitively, as upstream does.
Unknown entry fields are errors everywhere: a typo such as ``grups`` silently
dropping ``system:masters`` is worse than a refused reload.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from k8s_aws_auth.errors import ConfigurationError

from ._entries import AccountMapping, RoleMapping, SSORole, UserMapping
from ._errors import MappingFileError, Problem
from ._model import MappingSet

__all__ = [
    "FORMATS",
    "MAX_FILE_BYTES",
    "UPSTREAM_BACKEND_MODES",
    "detect_format",
    "load_yaml",
    "parse_document",
    "parse_mapping_path",
    "parse_mapping_text",
]

FORMATS = ("mounted-file", "eks-configmap", "dynamic-file", "native")
#: Our format names → aws-iam-authenticator ``--backend-mode`` names.
UPSTREAM_BACKEND_MODES = {
    "mounted-file": "MountedFile",
    "eks-configmap": "EKSConfigMap",
    "dynamic-file": "DynamicFile",
    "native": "native",
}
#: Mapping files larger than this are refused (aws-auth itself is capped at 1 MiB by etcd).
MAX_FILE_BYTES = 16 * 1024 * 1024

_EKS_KEYS = ("mapRoles", "mapUsers", "mapAccounts")
_EMPTY_VALUES = frozenset({"", "``", '""', "''"})
_PERMISSION_SET = re.compile(r"[\w+=,.@-]{1,32}", re.ASCII)
_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
_INSTALL_HINT = "reading mapping files needs PyYAML: pip install 'k8s-aws-auth[server]'"


@cache
def _loader_class() -> type[Any]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - exercised only without the server extra
        raise ConfigurationError(_INSTALL_HINT) from None
    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _StrictSafeLoader(base):  # type: ignore[misc]
        """The safe loader, refusing duplicate mapping keys (PyYAML keeps the last silently)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    return _StrictSafeLoader


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML with PyYAML's safe loader (duplicate keys refused).

    Raises :class:`MappingFileError` for a syntax error (with line and column)
    and :class:`ConfigurationError` with an install hint when PyYAML is missing.
    """
    loader = _loader_class()
    import yaml

    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise MappingFileError(
            source, [Problem("", f"YAML error: {_one_line(str(exc))}")]
        ) from None
    except RecursionError:
        raise MappingFileError(source, [Problem("", "YAML is nested too deeply")]) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _no_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _load_document(text: str, source: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_pairs)
        except (ValueError, RecursionError):
            pass  # YAML flow style, or broken: let the YAML parser give the precise error
    return load_yaml(text, source)


# --- detection -------------------------------------------------------------------------------


def _ci_get(document: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    lowered = name.lower()
    for key, value in document.items():
        if isinstance(key, str) and key.lower() == lowered:
            return key, value
    return None


def detect_format(document: Any, *, filename: str | None = None) -> str:
    """Name the format of a parsed mapping document, or raise ``ValueError`` saying why not."""
    base = os.path.basename(filename) if filename else ""
    if base in _EKS_KEYS and (isinstance(document, list) or document is None):
        return "eks-configmap"
    if not isinstance(document, dict):
        raise ValueError("a mapping file must hold a mapping (YAML object) at the top level")
    if document.get("kind") == "ConfigMap" or ("apiVersion" in document and "data" in document):
        return "eks-configmap"
    if _ci_get(document, "server") is not None:
        return "mounted-file"
    found = [_ci_get(document, key) for key in _EKS_KEYS]
    present = [item for item in found if item is not None]
    if present:
        if all(isinstance(value, str) for _, value in present):
            return "eks-configmap"
        return "dynamic-file"
    if any(key in document for key in ("roles", "users", "accounts", "version")):
        return "native"
    raise ValueError(
        "unrecognised mapping file: expected an aws-iam-authenticator config (server.mapRoles), "
        "an aws-auth ConfigMap (data.mapRoles), a DynamicFile (mapRoles list) or a native "
        "file (roles/users/accounts)"
    )


# --- entries ----------------------------------------------------------------------------------


class _Collector:
    """Accumulates problems and warnings while entries are read."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(Problem(where, message))


def _fields(
    raw: Any,
    allowed: tuple[str, ...],
    where: str,
    out: _Collector,
    *,
    case_insensitive: bool,
) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        out.error(where, "entry must be a mapping")
        return None
    by_key = {(name.lower() if case_insensitive else name): name for name in allowed}
    fields: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        lookup = key.lower() if case_insensitive and isinstance(key, str) else key
        name = by_key.get(lookup) if isinstance(lookup, str) else None
        if name is None:
            out.error(where, f"unknown field {key!r} (allowed: {', '.join(allowed)})")
            ok = False
        elif name in fields:
            out.error(where, f"field {name!r} given twice (field names are case-insensitive)")
            ok = False
        else:
            fields[name] = value
    return fields if ok else None


def _string(value: Any, what: str, where: str, out: _Collector) -> str | None:
    if isinstance(value, str):
        return value
    out.error(where, f"{what} must be a string")
    return None


def _groups(value: Any, where: str, out: _Collector) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list):
        out.error(where, "groups must be a list of strings")
        return None
    if not all(isinstance(group, str) for group in value):
        out.error(where, "groups must be a list of strings")
        return None
    return tuple(value)


def _account(value: Any, what: str, where: str, out: _Collector) -> str | None:
    # YAML reads an unquoted 111122223333 as an int; accept it when it has 12 digits
    # (a leading zero would have been lost, so those must be quoted).
    if isinstance(value, int) and not isinstance(value, bool) and 10**11 <= value < 10**12:
        return str(value)
    if isinstance(value, str) and _ACCOUNT.fullmatch(value):
        return value
    out.error(where, f"{what} must be a 12-digit account id, quoted in YAML")
    return None


_SSO_FIELDS = ("permissionSetName", "accountID", "partition")


def _sso(value: Any, where: str, out: _Collector, *, case_insensitive: bool) -> SSORole | None:
    fields = _fields(value, _SSO_FIELDS, f"{where}.sso", out, case_insensitive=case_insensitive)
    if fields is None:
        return None
    name = fields.get("permissionSetName")
    if not isinstance(name, str) or not _PERMISSION_SET.fullmatch(name):
        out.error(f"{where}.sso", "permissionSetName must match [A-Za-z0-9_+=,.@-]{1,32}")
        return None
    account = _account(fields.get("accountID"), "accountID", f"{where}.sso", out)
    if account is None:
        return None
    partition = fields.get("partition") or "aws"
    from k8s_aws_auth._core.partitions import PARTITIONS

    if partition not in PARTITIONS:
        out.error(f"{where}.sso", f"partition {partition!r} is not a known AWS partition")
        return None
    return SSORole(permission_set_name=name, account_id=account, partition=partition)


def _role(raw: Any, where: str, index: int, out: _Collector, *, native: bool) -> RoleMapping | None:
    arn_field = "arn" if native else "rolearn"
    uid_field = "userID" if native else "userid"
    allowed = (arn_field, "sso", "username", "groups", uid_field)
    fields = _fields(raw, allowed, where, out, case_insensitive=not native)
    if fields is None:
        return None
    sso: SSORole | None = None
    if (arn_field in fields) == ("sso" in fields):
        out.error(where, f"give exactly one of {arn_field!r} and 'sso'")
        return None
    if "sso" in fields:
        sso = _sso(fields["sso"], where, out, case_insensitive=not native)
        if sso is None:
            return None
        arn = f"arn:{sso.partition}:iam::{sso.account_id}:role/AWSReservedSSO_{sso.permission_set_name}_*"
    else:
        arn_value = _string(fields[arn_field], arn_field, where, out)
        if arn_value is None:
            return None
        arn = arn_value.strip()
    entry: RoleMapping | None = _entry_common(
        RoleMapping, fields, where, index, out, arn=arn, sso=sso, uid=uid_field
    )
    return entry


def _user(raw: Any, where: str, index: int, out: _Collector, *, native: bool) -> UserMapping | None:
    arn_field = "arn" if native else "userarn"
    uid_field = "userID" if native else "userid"
    allowed = (arn_field, "username", "groups", uid_field)
    fields = _fields(raw, allowed, where, out, case_insensitive=not native)
    if fields is None:
        return None
    if arn_field not in fields:
        out.error(where, f"{arn_field!r} is required")
        return None
    arn = _string(fields[arn_field], arn_field, where, out)
    if arn is None:
        return None
    entry: UserMapping | None = _entry_common(
        UserMapping, fields, where, index, out, arn=arn.strip(), uid=uid_field
    )
    return entry


def _entry_common(
    cls: Callable[..., Any],
    fields: dict[str, Any],
    where: str,
    index: int,
    out: _Collector,
    *,
    arn: str,
    uid: str,
    **extra: Any,
) -> Any:
    if "username" not in fields:
        out.error(where, "'username' is required")
        return None
    username = _string(fields["username"], "username", where, out)
    groups = _groups(fields.get("groups"), where, out)
    user_id = fields.get(uid)
    if user_id is not None and not isinstance(user_id, str):
        out.error(where, f"{uid} must be a string")
        return None
    if username is None or groups is None:
        return None
    return cls(
        arn=arn,
        username=username,
        groups=groups,
        user_id=user_id or None,
        location=where,
        index=index,
        **extra,
    )


class _Entries:
    """Role, user and account entries in file order."""

    def __init__(self) -> None:
        self.roles: list[RoleMapping] = []
        self.users: list[UserMapping] = []
        self.accounts: list[AccountMapping] = []

    def add_roles(self, raw: Any, where: str, out: _Collector, *, native: bool) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of role entries")
            return
        for position, item in enumerate(raw):
            entry = _role(item, f"{where}[{position}]", len(self.roles), out, native=native)
            if entry is not None:
                self.roles.append(entry)

    def add_users(self, raw: Any, where: str, out: _Collector, *, native: bool) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of user entries")
            return
        for position, item in enumerate(raw):
            entry = _user(item, f"{where}[{position}]", len(self.users), out, native=native)
            if entry is not None:
                self.users.append(entry)

    def add_accounts(self, raw: Any, where: str, out: _Collector) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of account ids")
            return
        for position, item in enumerate(raw):
            account = _account(item, "account", f"{where}[{position}]", out)
            if account is not None:
                self.accounts.append(
                    AccountMapping(
                        account_id=account,
                        location=f"{where}[{position}]",
                        index=len(self.accounts),
                    )
                )


# --- the four formats ------------------------------------------------------------------------


def _parse_mounted_file(
    document: dict[str, Any], entries: _Entries, out: _Collector, settings: dict[str, Any]
) -> None:
    found = _ci_get(document, "server")
    assert found is not None
    key, server = found
    if server is None:
        server = {}
    if not isinstance(server, dict):
        out.error(key, "must be a mapping")
        return
    seen: set[str] = set()
    for name, value in server.items():
        lowered = str(name).lower()
        where = f"{key}.{name}"
        if lowered in seen:
            out.error(where, "given twice (config keys are case-insensitive)")
            continue
        seen.add(lowered)
        if lowered == "maproles":
            entries.add_roles(value, where, out, native=False)
        elif lowered == "mapusers":
            entries.add_users(value, where, out, native=False)
        elif lowered == "mapaccounts":
            entries.add_accounts(value, where, out)
        elif lowered == "scrubbedaccounts":
            accounts = []
            for position, item in enumerate(value or []):
                account = _account(item, "account", f"{where}[{position}]", out)
                if account is not None:
                    accounts.append(account)
            settings["scrubbed_accounts"] = frozenset(accounts)
        elif lowered == "reservedprefixconfig":
            settings["reserved_prefixes"] = _reserved_prefixes(value, where, out)
        elif lowered == "dynamicfileuseridstrict":
            if not isinstance(value, bool):
                out.error(where, "must be true or false")
            else:
                settings["user_id_strict"] = value
        elif lowered.startswith("map"):
            out.error(where, "unknown mapping key (expected mapRoles, mapUsers or mapAccounts)")
        # Other server settings (upstream's and ours) are the server config's to check:
        # `k8s-aws-auth serve` refuses unknown keys when it loads the same file.


def _reserved_prefixes(value: Any, where: str, out: _Collector) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    if not isinstance(value, list):
        out.error(where, "must be a list of {backendMode, usernamePrefixReserveList}")
        return result
    for position, item in enumerate(value):
        spot = f"{where}[{position}]"
        fields = _fields(
            item, ("backendMode", "usernamePrefixReserveList"), spot, out, case_insensitive=True
        )
        if fields is None:
            continue
        mode = fields.get("backendMode")
        prefixes = fields.get("usernamePrefixReserveList") or []
        if not isinstance(mode, str) or not isinstance(prefixes, list):
            out.error(spot, "backendMode must be a string and usernamePrefixReserveList a list")
            continue
        if not all(isinstance(p, str) for p in prefixes):
            out.error(spot, "usernamePrefixReserveList must hold strings")
            continue
        result[mode] = tuple(p for p in prefixes if p)
    return result


def _eks_value(value: Any, where: str, out: _Collector) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        out.error(where, "must be a YAML string (ConfigMap data values are strings)")
        return None
    if value.strip() in _EMPTY_VALUES:
        return None
    try:
        return load_yaml(value, where)
    except MappingFileError as exc:
        for problem in exc.problems:
            out.error(where, problem.message)
        return None


def _parse_eks_data(data: Any, where: str, entries: _Entries, out: _Collector) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        out.error(where or "data", "must be a mapping of strings")
        return
    for name, value in data.items():
        spot = f"{where}.{name}" if where else str(name)
        if name == "mapRoles":
            entries.add_roles(_eks_value(value, spot, out), spot, out, native=False)
        elif name == "mapUsers":
            entries.add_users(_eks_value(value, spot, out), spot, out, native=False)
        elif name == "mapAccounts":
            entries.add_accounts(_eks_value(value, spot, out), spot, out)
        elif isinstance(name, str) and name.lower() in {k.lower() for k in _EKS_KEYS}:
            proper = next(k for k in _EKS_KEYS if k.lower() == name.lower())
            out.error(
                spot,
                f"data keys are case-sensitive: aws-iam-authenticator ignores {name!r}; write {proper!r}",
            )
        else:
            out.warn(spot, "not a mapping key (ignored)")


def _parse_eks(document: Any, filename: str | None, entries: _Entries, out: _Collector) -> None:
    base = os.path.basename(filename) if filename else ""
    if base in _EKS_KEYS and (isinstance(document, list) or document is None):
        # One key of a ConfigMap mounted as a volume: the file holds the YAML list itself.
        if base == "mapRoles":
            entries.add_roles(document, base, out, native=False)
        elif base == "mapUsers":
            entries.add_users(document, base, out, native=False)
        else:
            entries.add_accounts(document, base, out)
        return
    if document.get("kind") == "ConfigMap" or "data" in document:
        kind = document.get("kind")
        if kind not in (None, "ConfigMap"):
            out.error("kind", f"expected a ConfigMap, not {kind!r}")
            return
        _parse_eks_data(document.get("data"), "data", entries, out)
        return
    _parse_eks_data(document, "", entries, out)


def _parse_dynamic_file(document: dict[str, Any], entries: _Entries, out: _Collector) -> None:
    seen: set[str] = set()
    for name, value in document.items():
        lowered = str(name).lower()
        if lowered in seen:
            out.error(str(name), "given twice (DynamicFile keys are case-insensitive)")
            continue
        seen.add(lowered)
        if lowered == "maproles":
            entries.add_roles(value, str(name), out, native=False)
        elif lowered == "mapusers":
            entries.add_users(value, str(name), out, native=False)
        elif lowered == "mapaccounts":
            entries.add_accounts(value, str(name), out)
        elif lowered in ("lastupdateddatetime", "version"):
            continue
        else:
            out.error(str(name), "unknown DynamicFile key")


_NATIVE_KEYS = ("version", "roles", "users", "accounts", "userIDStrict")


def _parse_native(
    document: dict[str, Any], entries: _Entries, out: _Collector, settings: dict[str, Any]
) -> None:
    for name in document:
        if name not in _NATIVE_KEYS:
            out.error(str(name), f"unknown key (allowed: {', '.join(_NATIVE_KEYS)})")
    version = document.get("version", 1)
    if version != 1:
        out.error("version", "only version 1 is understood")
    entries.add_roles(document.get("roles"), "roles", out, native=True)
    entries.add_users(document.get("users"), "users", out, native=True)
    entries.add_accounts(document.get("accounts"), "accounts", out)
    strict = document.get("userIDStrict", False)
    if not isinstance(strict, bool):
        out.error("userIDStrict", "must be true or false")
    else:
        settings["user_id_strict"] = strict


def parse_document(
    document: Any,
    *,
    source: str = "<memory>",
    format: str = "auto",
    filename: str | None = None,
    user_id_strict: bool | None = None,
) -> MappingSet:
    """Build a validated :class:`MappingSet` from an already parsed document.

    ``format`` is one of :data:`FORMATS` or ``auto``; ``user_id_strict``
    overrides what the file says (upstream's ``dynamicfileUserIDStrict``).
    Raises :class:`MappingFileError` listing every problem.
    """
    if format == "auto":
        try:
            format = detect_format(document, filename=filename)
        except ValueError as exc:
            raise MappingFileError(source, [Problem("", str(exc))]) from None
    elif format not in FORMATS:
        raise ConfigurationError(f"unknown mapping format {format!r} (one of {', '.join(FORMATS)})")
    out = _Collector()
    entries = _Entries()
    settings: dict[str, Any] = {}
    if format == "eks-configmap":
        if not isinstance(document, (dict, list)) and document is not None:
            out.error("", "an aws-auth ConfigMap must be a mapping")
        else:
            _parse_eks(document if document is not None else {}, filename, entries, out)
    elif not isinstance(document, dict):
        out.error("", "the top level must be a mapping")
    elif format == "mounted-file":
        _parse_mounted_file(document, entries, out, settings)
    elif format == "dynamic-file":
        _parse_dynamic_file(document, entries, out)
    else:
        _parse_native(document, entries, out, settings)
    if user_id_strict is not None:
        settings["user_id_strict"] = user_id_strict
    problems = list(out.problems)
    try:
        mapping_set = MappingSet(
            roles=tuple(entries.roles),
            users=tuple(entries.users),
            accounts=tuple(entries.accounts),
            format=format,
            source=source,
            warnings=tuple(out.warnings),
            **settings,
        )
    except MappingFileError as exc:
        problems.extend(exc.problems)
        raise MappingFileError(source, problems) from None
    if problems:
        raise MappingFileError(source, problems)
    return mapping_set


def parse_mapping_text(
    text: str,
    *,
    source: str = "<memory>",
    format: str = "auto",
    filename: str | None = None,
    user_id_strict: bool | None = None,
) -> MappingSet:
    """Parse mapping file text (YAML or JSON) of any supported format; see :func:`parse_document`."""
    if not text.strip():
        raise MappingFileError(source, [Problem("", "the file is empty")])
    document = _load_document(text, source)
    return parse_document(
        document, source=source, format=format, filename=filename, user_id_strict=user_id_strict
    )


def _read_text(path: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise MappingFileError(path, [Problem("", f"file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MappingFileError(path, [Problem("", "file is not UTF-8 text")]) from None


def parse_mapping_path(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    user_id_strict: bool | None = None,
) -> MappingSet:
    """Read and parse a mapping file, or a directory where an aws-auth ConfigMap is mounted.

    Raises ``FileNotFoundError`` when the path does not exist and
    :class:`MappingFileError` for everything wrong with its content.
    """
    name = os.fspath(path)
    if os.path.isdir(name):
        data: dict[str, Any] = {}
        for key in _EKS_KEYS:
            candidate = os.path.join(name, key)
            if os.path.isfile(candidate):
                data[key] = _read_text(candidate)
        if not data:
            raise MappingFileError(
                name, [Problem("", "directory holds none of mapRoles, mapUsers, mapAccounts")]
            )
        if format not in ("auto", "eks-configmap"):
            raise ConfigurationError("a directory can only be read as a mounted aws-auth ConfigMap")
        return parse_document(
            data, source=name, format="eks-configmap", user_id_strict=user_id_strict
        )
    text = _read_text(name)
    return parse_mapping_text(
        text, source=name, format=format, filename=name, user_id_strict=user_id_strict
    )
