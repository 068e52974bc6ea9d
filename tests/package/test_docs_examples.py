"""Every Python example in README.md and docs/ runs.

A fenced ``python`` block is executed in a fresh namespace, in a temporary
directory, unless the line before it is ``<!-- not-run: REASON -->`` (used only
for examples that need the real AWS or a cluster).
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for index, match in enumerate(_BLOCK.finditer("\n" + text)):
            if match["before"].strip().startswith("<!-- not-run"):
                continue
            found.append((f"{page.name}#{index}", match["code"]))
    return found


EXAMPLES = _examples()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_example_runs(
    where: str, code: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    compiled = compile(code, where, "exec")
    exec(compiled, {"__name__": "__docs_example__"})  # running our own documentation
