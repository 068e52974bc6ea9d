"""JSON for the exec plugin's cache files without importing ``json`` on a cache hit.

``import json`` loads ``re``, ``enum`` and json's scanner: several milliseconds of a
plugin run that otherwise takes about twenty (docs/performance.md). A cache hit
encodes a few flat documents to derive its file names and reads back one small
object, all in a narrow, common shape. This module handles exactly that shape and
hands everything else to ``json`` itself, so the results are always ``json``'s:

* `dumps_sorted` equals ``json.dumps(value, sort_keys=True, separators=...)`` for
  dictionaries with string keys, lists, strings of printable ASCII, integers,
  booleans and ``None``;
* `loads` equals ``json.loads`` for UTF-8 documents of objects, arrays, strings
  without escapes or control characters, integers, ``true``, ``false`` and
  ``null``, nested at most `MAX_DEPTH` deep.

Outside that shape (a float, an escape, a non-ASCII character to encode, a
deeper nesting, any syntax error) the call is ``json``'s, errors included
(``tests/core/test_small_json.py`` compares the two on generated documents).
"""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "dumps_sorted", "loads"]

#: Deeper documents go to ``json`` (cache files nest two or three levels).
MAX_DEPTH = 16

# Printable ASCII that json writes as itself (ensure_ascii): space to '~', but
# not the quote and the backslash, which it escapes.
_PLAIN_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F)) - {'"', "\\"}
_WHITESPACE = " \t\n\r"
_DIGITS = "0123456789"


class _Unusual(Exception):
    """The value or document is outside this module's shape: ``json`` takes it."""


def dumps_sorted(value: object, *, compact: bool) -> str:
    """``json.dumps(value, sort_keys=True)``, with ``(",", ":")`` separators if ``compact``."""
    item, key = (",", ":") if compact else (", ", ": ")
    parts: list[str] = []
    try:
        _encode(value, parts, item, key, 0)
    except _Unusual:
        import json  # the general case; a cache hit never gets here

        return json.dumps(value, sort_keys=True, separators=(item, key))
    return "".join(parts)


def _encode(value: object, parts: list[str], item: str, key: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Unusual
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif type(value) is int:
        parts.append(str(value))
    elif type(value) is str:
        parts.append(_string(value))
    elif type(value) is dict:
        if not all(type(name) is str for name in value):
            raise _Unusual
        parts.append("{")
        for index, name in enumerate(sorted(value)):
            if index:
                parts.append(item)
            parts.append(_string(name))
            parts.append(key)
            _encode(value[name], parts, item, key, depth + 1)
        parts.append("}")
    elif type(value) is list:
        parts.append("[")
        for index, element in enumerate(value):
            if index:
                parts.append(item)
            _encode(element, parts, item, key, depth + 1)
        parts.append("]")
    else:  # floats, tuples, subclasses: json's own rules
        raise _Unusual


def _string(text: str) -> str:
    if not _PLAIN_CHARACTERS.issuperset(text):
        raise _Unusual
    return f'"{text}"'


def loads(raw: bytes | str) -> object:
    """``json.loads(raw)``: the document's value; ``ValueError`` if it is not JSON."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value, end = _value(text, _skip(text, 0), 0)
        if _skip(text, end) != len(text):
            raise _Unusual
    except (_Unusual, UnicodeDecodeError, IndexError):
        import json  # anything unusual: json decides, with its own error

        return json.loads(raw)
    return value


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _value(text: str, index: int, depth: int) -> tuple[object, int]:
    if depth > MAX_DEPTH:
        raise _Unusual
    first = text[index]
    if first == '"':
        return _string_at(text, index)
    if first == "{":
        return _object(text, index, depth)
    if first == "[":
        return _array(text, index, depth)
    if first == "-" or first in _DIGITS:
        return _integer(text, index)
    for word, meaning in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, index):
            return meaning, index + len(word)
    raise _Unusual


def _string_at(text: str, index: int) -> tuple[str, int]:
    end = text.find('"', index + 1)
    if end < 0:
        raise _Unusual
    body = text[index + 1 : end]
    # A backslash may escape the quote found; control characters are errors.
    if "\\" in body or any(character < " " for character in body):
        raise _Unusual
    return body, end + 1


def _integer(text: str, index: int) -> tuple[int, int]:
    start = index
    if text[index] == "-":
        index += 1
    digits = index
    while index < len(text) and text[index] in _DIGITS:
        index += 1
    number = text[digits:index]
    if not number or (len(number) > 1 and number[0] == "0"):
        raise _Unusual
    if index < len(text) and text[index] in ".eE":
        raise _Unusual  # a float: json's
    return int(text[start:index]), index


def _object(text: str, index: int, depth: int) -> tuple[dict[str, object], int]:
    document: dict[str, object] = {}
    index = _skip(text, index + 1)
    if text[index] == "}":
        return document, index + 1
    while True:
        if text[index] != '"':
            raise _Unusual
        name, index = _string_at(text, index)
        index = _skip(text, index)
        if text[index] != ":":
            raise _Unusual
        document[name], index = _value(text, _skip(text, index + 1), depth + 1)
        index = _skip(text, index)
        if text[index] == "}":
            return document, index + 1
        if text[index] != ",":
            raise _Unusual
        index = _skip(text, index + 1)


def _array(text: str, index: int, depth: int) -> tuple[list[object], int]:
    elements: list[object] = []
    index = _skip(text, index + 1)
    if text[index] == "]":
        return elements, index + 1
    while True:
        element, index = _value(text, index, depth + 1)
        elements.append(element)
        index = _skip(text, index)
        if text[index] == "]":
            return elements, index + 1
        if text[index] != ",":
            raise _Unusual
        index = _skip(text, index + 1)
