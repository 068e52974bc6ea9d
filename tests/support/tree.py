"""A copy of the project's files in a temporary folder, for tests that plant a change and run a tool."""

from __future__ import annotations

import pathlib
import shutil

__all__ = ["ROOT", "copy_project"]

#: The repository root (the folder of pyproject.toml).
ROOT = pathlib.Path(__file__).resolve().parents[2]


def copy_project(tmp_path: pathlib.Path, *names: str) -> pathlib.Path:
    """Copy the top-level files and folders ``names`` of the repository; return the copy's root."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tree / name)
    return tree
