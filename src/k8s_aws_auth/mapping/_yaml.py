"""Mapping files as data: PyYAML's safe loader (imported on first use), duplicate keys refused."""

from __future__ import annotations

import json
from contextlib import suppress
from functools import cache
from typing import Any

from k8s_aws_auth.errors import ConfigurationError

from ._errors import MappingFileError, Problem

__all__ = ["load_document", "load_yaml"]

_INSTALL_HINT = "reading mapping files needs PyYAML: pip install 'k8s-aws-auth[server]'"


#: Scalar tags the fast path builds itself (``str``) or hands to the constructor's own function.
_PLAIN_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"


class _NotPlain(Exception):
    """The fast path met something only PyYAML's own construction gets exactly right."""


@cache
def _loader_class() -> type[Any]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - exercised only without the server extra
        raise ConfigurationError(_INSTALL_HINT) from None
    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    class _StrictSafeLoader(base):  # type: ignore[misc]
        """The safe loader, refusing duplicate mapping keys (PyYAML keeps the last silently).

        A document of plain lists, mappings and scalars (what aws-auth holds)
        is built by one walk over the node tree instead of PyYAML's
        generator-driven construction (most of the load time of a large
        ConfigMap). Anything else (aliases, merge keys, explicit tags, a
        duplicate key, a scalar that fails to construct) is handed to PyYAML's
        construction, from the start, so results and errors are exactly PyYAML's.
        """

        def construct_document(self, node: Any) -> Any:
            # _NotPlain, RecursionError, a scalar that fails to construct: PyYAML's way, outside
            # the handler, so its own error does not carry the fast path's as context.
            with suppress(Exception):
                return self._plain(node, set())
            return super().construct_document(node)

        def _plain(self, node: Any, containers: set[int]) -> Any:
            kind = type(node)
            if kind is ScalarNode:
                # An aliased scalar is an equal immutable value however often it is built.
                return node.value if node.tag == _STR_TAG else self._plain_scalar(node)
            # A collection met twice is an alias (shared, maybe recursive): PyYAML's job.
            if id(node) in containers:
                raise _NotPlain
            containers.add(id(node))
            tag = node.tag
            if kind is SequenceNode and tag == _SEQ_TAG:
                return [
                    child.value
                    if type(child) is ScalarNode and child.tag == _STR_TAG
                    else self._plain(child, containers)
                    for child in node.value
                ]
            if kind is MappingNode and tag == _MAP_TAG:
                mapping: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    if type(key_node) is not ScalarNode:
                        raise _NotPlain  # a collection as a key
                    key = (
                        key_node.value
                        if key_node.tag == _STR_TAG
                        else self._plain_scalar(key_node)  # merge and "=" keys: not plain
                    )
                    if key in mapping:
                        raise _NotPlain  # a duplicate: PyYAML's construction reports it
                    mapping[key] = (
                        value_node.value
                        if type(value_node) is ScalarNode and value_node.tag == _STR_TAG
                        else self._plain(value_node, containers)
                    )
                return mapping
            raise _NotPlain

        def _plain_scalar(self, node: Any) -> Any:
            if node.tag in _PLAIN_SCALAR_TAGS:
                return self.yaml_constructors[node.tag](self, node)
            raise _NotPlain

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

    Raises [`MappingFileError`][k8s_aws_auth.mapping.MappingFileError] for a syntax error (with line and column)
    and [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError] with an install hint when PyYAML is missing.
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


def load_document(text: str, source: str) -> Any:
    """A mapping file's text as data: JSON when it is JSON, else YAML (duplicate keys refused)."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_pairs)
        except (ValueError, RecursionError):
            pass  # YAML flow style, or broken: let the YAML parser give the precise error
    return load_yaml(text, source)
