"""The shared files as most people write them, read without configparser.

``configparser`` (with the ``re`` it compiles its patterns with) costs the exec
plugin's start-up about as much as the rest of reading a profile, for files that
are nearly always a few ``[section]`` headers and ``key = value`` lines.
`read_simple_ini()` reads exactly those: blank lines, full-line ``#``/``;``
comments, section headers, and ``key = value`` or ``key: value`` lines that start
at the first column. For anything else (an indented line: a continuation or a
nested ``s3 =`` block; a ``[DEFAULT]`` section; a repeated section or key; a
line configparser would refuse) it returns ``None`` and `parse_ini()` hands the
text to configparser, whose results and errors stay the reference.
``tests/credentials/test_simple_ini.py`` compares the two.

`split_section_name()` likewise splits ``profile NAME`` headers without shlex
when they hold no quotes or backslashes.
"""

from __future__ import annotations

__all__ = ["read_simple_ini", "split_section_name"]

_COMMENT_PREFIXES = ("#", ";")
#: What shlex.split treats as itself: printable ASCII but quotes and backslash, and space.
_SHLEX_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - frozenset("\"'\\")


def read_simple_ini(text: str) -> dict[str, dict[str, str]] | None:
    """``{section: {key: value}}`` as ``RawConfigParser`` reads ``text``, or ``None``: not simple.

    Keys are lower-cased and values stripped, as configparser does.
    """
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.split("\n"):  # configparser reads lines split at "\n" only
        stripped = line.strip()
        if not stripped or stripped.startswith(_COMMENT_PREFIXES):
            continue
        if line[0].isspace():
            return None  # a continuation line, or indentation configparser weighs
        if stripped.startswith("["):
            name = stripped[1:-1]
            if not stripped.endswith("]") or not name or "]" in name:
                return None
            if name == "DEFAULT" or name in sections:
                return None
            current = sections[name] = {}
            continue
        if current is None:
            return None  # a setting before any section: configparser's error
        equals, colon = stripped.find("="), stripped.find(":")
        if equals < 0 and colon < 0:
            return None  # not a setting: configparser's error
        cut = colon if equals < 0 or 0 <= colon < equals else equals
        key = stripped[:cut].rstrip().lower()
        if not key or key in current:
            return None
        current[key] = stripped[cut + 1 :].strip()
    return sections


def split_section_name(header: str) -> list[str] | None:
    """``shlex.split(header)`` for a header without quotes or backslashes, else ``None``."""
    if not _SHLEX_PLAIN.issuperset(header):
        return None
    return header.split()
