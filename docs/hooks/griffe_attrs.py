"""Griffe extension: attrs classes documented by their fields, as ``attrs`` builds them.

Static analysis sees ``max_token_size: int = attrs.field(default=..., validator=...)``;
the reader needs ``max_token_size: int = 16384``. For every class decorated with
``attrs.frozen`` / ``attrs.define`` / ``attrs.mutable`` (or ``attr.s``), this gives
each field its real default (``factory=f`` shown as ``f()``; none when the field
is required or not an ``__init__`` argument) and builds the ``__init__`` attrs
generates, so the signature lists every argument with its type and default.
"""

from __future__ import annotations

from typing import Any

import griffe

__all__ = ["AttrsFields"]

_DECORATORS = frozenset(
    {
        "attrs.frozen",
        "attrs.define",
        "attrs.mutable",
        "attr.s",
        "attr.attrs",
        "attr.frozen",
        "attr.define",
        "attr.mutable",
    }
)
_POSITIONAL = griffe.ParameterKind("positional or keyword")
_KEYWORD_ONLY = griffe.ParameterKind("keyword-only")
_FIELD_CALLS = frozenset({"attrs.field", "attr.ib", "attr.attrib", "attr.field"})


def _keywords(call: griffe.ExprCall) -> dict[str, Any]:
    return {
        argument.name: argument.value
        for argument in call.arguments
        if isinstance(argument, griffe.ExprKeyword)
    }


def _attrs_decorator(cls: griffe.Class) -> griffe.Expr | None:
    for decorator in cls.decorators:
        value = decorator.value
        if not isinstance(value, griffe.Expr):
            continue
        function = value.function if isinstance(value, griffe.ExprCall) else value
        if function.canonical_path in _DECORATORS:
            return value
    return None


def _field_call(attribute: griffe.Attribute) -> griffe.ExprCall | None:
    value = attribute.value
    if isinstance(value, griffe.ExprCall) and value.function.canonical_path in _FIELD_CALLS:
        return value
    return None


def _document(cls: griffe.Class, decorator: griffe.Expr) -> None:
    class_options = _keywords(decorator) if isinstance(decorator, griffe.ExprCall) else {}
    class_kw_only = str(class_options.get("kw_only")) == "True"
    positional: list[griffe.Parameter] = []
    keyword_only: list[griffe.Parameter] = []
    for member in list(cls.members.values()):
        if not isinstance(member, griffe.Attribute) or member.annotation is None:
            continue
        if "property" in member.labels:
            continue
        call = _field_call(member)
        options = _keywords(call) if call is not None else {}
        if call is not None:
            if "default" in options:
                member.value = options["default"]
            elif "factory" in options:
                member.value = f"{options['factory']}()"
            else:
                member.value = None
        if str(options.get("init")) == "False":
            continue
        kw_only = class_kw_only or str(options.get("kw_only")) == "True"
        parameter = griffe.Parameter(
            str(options.get("alias", "")).strip("'\"") or member.name.lstrip("_"),
            annotation=member.annotation,
            kind=_KEYWORD_ONLY if kw_only else _POSITIONAL,
            default=member.value,
            docstring=member.docstring,
        )
        (keyword_only if kw_only else positional).append(parameter)
    init = griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parent=cls,
        parameters=griffe.Parameters(
            griffe.Parameter("self", kind=_POSITIONAL),
            *positional,
            *keyword_only,
        ),
        returns="None",
    )
    cls.set_member("__init__", init)


def _walk(obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if isinstance(obj, griffe.Class) and "__init__" not in obj.members:
        decorator = _attrs_decorator(obj)
        if decorator is not None:
            _document(obj, decorator)
    for member in list(obj.members.values()):
        if not member.is_alias and isinstance(member, (griffe.Module, griffe.Class)):
            _walk(member, seen)


class AttrsFields(griffe.Extension):
    """Give attrs classes their fields' defaults and the ``__init__`` attrs generates."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every attrs class of the loaded package."""
        _walk(pkg, set())
