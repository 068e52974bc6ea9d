"""Run every benchmark module in this folder and print its Markdown table.

Each ``bench_*.py`` module exposes ``main() -> str`` returning a Markdown
section (heading, table, notes) measured against a peer in the same run.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    """Run the named benchmark modules (all ``bench_*.py`` when none are named)."""
    sys.path.insert(0, str(HERE))
    modules = names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    for name in modules:
        module = importlib.import_module(name)
        print(module.main(), flush=True)
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
