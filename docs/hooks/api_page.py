"""mkdocs hook: the API reference shows public import paths and no literal Sphinx roles.

mkdocstrings renders Markdown; a docstring written with Sphinx roles
(``:class:`Token```) comes out as literal text, and an object rendered through
its defining module shows a private path (``k8s_aws_auth.testing._fake_sts``).
Each problem on the API page is logged as a warning, so ``mkdocs build
--strict`` (``nox -s check``, ``nox -s docs``) fails on it.

Tooltips are the one place the renderer itself names where an object is
defined (``title="Credentials (k8s_aws_auth._core.models.Credentials)"``): those
private paths are dropped from the titles before the check, so hovering shows
the public name only; a private path anywhere else (a heading, an anchor, the
text) is an error.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

__all__ = ["API_PAGE", "on_post_page", "problems", "public_titles"]

#: The page checked (its source path under docs/).
API_PAGE = "api.md"

_log = logging.getLogger("mkdocs.hooks.api_page")

_TAG = re.compile(r"<[^>]+>")
#: A Sphinx role as it renders: the role name, then the (code-formatted) target.
_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const|ref):(?=[`\w~])")
#: A dotted path of ours with an underscore component (dunders such as __version__ are fine).
_PRIVATE_PATH = re.compile(r"\bk8s_aws_auth(?:\.\w+)*?\._(?!_)\w+(?:\.\w+)*")


_TITLE = re.compile(r' title="([^"]*)"')
_DEFINED_IN = re.compile(r" \((k8s_aws_auth[\w.]*)\)$")


def _public_title(match: re.Match[str]) -> str:
    title = html.unescape(match.group(1))
    defined = _DEFINED_IN.search(title)
    if defined is not None and _PRIVATE_PATH.search(defined.group(1)):
        title = title[: defined.start()]
    if _PRIVATE_PATH.search(title):
        return ""  # a bare private path: no tooltip rather than a private one
    return f' title="{html.escape(title)}"'


def public_titles(page_html: str) -> str:
    """``page_html`` with private defining paths removed from its tooltips."""
    return _TITLE.sub(_public_title, page_html)


def problems(page_html: str) -> list[str]:
    """What is wrong with a rendered API page: literal roles and private import paths."""
    found: list[str] = []
    text = html.unescape(_TAG.sub("", page_html))
    for match in _ROLE.finditer(text):
        context = " ".join(text[max(match.start() - 40, 0) : match.end() + 40].split())
        found.append(f"literal Sphinx role {match.group(0)!r} near {context!r}")
    for path in sorted(set(_PRIVATE_PATH.findall(html.unescape(page_html)))):
        found.append(f"private import path {path!r}")
    return found


def on_post_page(output: str, page: Any, **kwargs: Any) -> str:
    """mkdocs event, on the finished page (cross-references resolved): warn for each problem.

    A warning is an error under ``--strict``.
    """
    if page.file.src_uri != API_PAGE:
        return output
    output = public_titles(output)
    for problem in problems(output):
        _log.warning("%s: %s", API_PAGE, problem)
    return output
