"""Reading mapping files: detect the format, parse it (pure but for reading the path).

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
Unknown entry fields are errors everywhere (each entry is read by
``_entry_parser``; the text becomes data in ``_yaml``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from k8s_aws_auth.errors import ConfigurationError

from ._entry_parser import Collector, Entries, account_id, entry_fields
from ._errors import MappingFileError, Problem
from ._model import MappingSet
from ._yaml import load_document, load_yaml

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


# --- the four formats ------------------------------------------------------------------------


def _parse_mounted_file(
    document: dict[str, Any], entries: Entries, out: Collector, settings: dict[str, Any]
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
                account = account_id(item, "account", f"{where}[{position}]", out)
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


def _reserved_prefixes(value: Any, where: str, out: Collector) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    if not isinstance(value, list):
        out.error(where, "must be a list of {backendMode, usernamePrefixReserveList}")
        return result
    for position, item in enumerate(value):
        spot = f"{where}[{position}]"
        fields = entry_fields(
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


def _eks_value(value: Any, where: str, out: Collector) -> Any:
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


def _parse_eks_data(data: Any, where: str, entries: Entries, out: Collector) -> None:
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


def _parse_eks(document: Any, filename: str | None, entries: Entries, out: Collector) -> None:
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


def _parse_dynamic_file(document: dict[str, Any], entries: Entries, out: Collector) -> None:
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
    document: dict[str, Any], entries: Entries, out: Collector, settings: dict[str, Any]
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
    """Build a validated [`MappingSet`][k8s_aws_auth.mapping.MappingSet] from an already parsed document.

    ``format`` is one of [`FORMATS`][k8s_aws_auth.mapping.FORMATS] or ``auto``; ``user_id_strict``
    overrides what the file says (upstream's ``dynamicfileUserIDStrict``).
    Raises [`MappingFileError`][k8s_aws_auth.mapping.MappingFileError] listing every problem.
    """
    if format == "auto":
        try:
            format = detect_format(document, filename=filename)
        except ValueError as exc:
            raise MappingFileError(source, [Problem("", str(exc))]) from None
    elif format not in FORMATS:
        raise ConfigurationError(f"unknown mapping format {format!r} (one of {', '.join(FORMATS)})")
    out = Collector()
    entries = Entries()
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
    """Parse mapping file text (YAML or JSON) of any supported format; see [`parse_document()`][k8s_aws_auth.mapping.parse_document]."""
    if not text.strip():
        raise MappingFileError(source, [Problem("", "the file is empty")])
    document = load_document(text, source)
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
    [`MappingFileError`][k8s_aws_auth.mapping.MappingFileError] for everything wrong with its content.
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
