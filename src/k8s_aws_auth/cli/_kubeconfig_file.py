"""Merge a generated kubeconfig into a kubeconfig file, as ``aws eks update-kubeconfig`` does.

The cluster, user and context entries replace the file's entries of the same
name (others are kept, in order), ``current-context`` is set to the new context,
and the file is replaced atomically with mode 0600 (created, with its directory,
when missing). The default file is the first path of ``KUBECONFIG``, else
``~/.kube/config``. A file that is not a kubeconfig (not a mapping, or an entry
list that is not a list) is refused and left untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from k8s_aws_auth.errors import ConfigurationError

__all__ = ["default_kubeconfig_path", "merge_kubeconfig"]

_SECTIONS = ("clusters", "users", "contexts")


def default_kubeconfig_path(environ: Mapping[str, str]) -> str:
    """The first path of ``KUBECONFIG``, else ``~/.kube/config`` (awscli's choice for a new entry)."""
    for path in environ.get("KUBECONFIG", "").split(os.pathsep):
        if path:
            return os.path.expanduser(path)
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".kube", "config")


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with the server and test extras
        raise ConfigurationError(
            "merging into a kubeconfig file needs PyYAML: pip install 'k8s-aws-auth[server]'",
            reason="usage",
        ) from None
    return yaml


def _load(path: str, yaml: Any) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return {}
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigurationError(
            f"{path} is not valid YAML; fix or move it first", reason="usage"
        ) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigurationError(f"{path} is not a kubeconfig (not a mapping)", reason="usage")
    return content


def _insert(config: dict[str, Any], section: str, entry: dict[str, Any], path: str) -> None:
    entries = config.get(section) or []
    if not isinstance(entries, list):
        raise ConfigurationError(
            f"{path}: {section} is a {type(entries).__name__}, not a list", reason="usage"
        )
    for index, existing in enumerate(entries):
        if isinstance(existing, dict) and existing.get("name") == entry["name"]:
            entries[index] = entry
            break
    else:
        entries.append(entry)
    config[section] = entries


def merge_kubeconfig(path: str, generated: str) -> str:
    """Merge the kubeconfig text ``generated`` into the file at ``path``; return the context's name."""
    from k8s_aws_auth._runtime.private_file import write_private_file

    yaml = _yaml()
    new = yaml.safe_load(generated)
    config = _load(path, yaml)
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    for section in _SECTIONS:
        for entry in new[section]:
            _insert(config, section, entry, path)
    config.setdefault("preferences", {})
    name: str = new["current-context"]
    config["current-context"] = name
    write_private_file(path, yaml.safe_dump(config, default_flow_style=False, sort_keys=False))
    return name
