"""The project's own tooling that runs on Python 3.11 and later only."""

from __future__ import annotations

import sys

import pytest

__all__ = ["needs_the_3_11_toolchain"]

#: For tests that run the docs build or the import contract: import-linter 2.16+ (the
#: ``private_modules`` contract type) and pymdown-extensions 13+ (the only releases that
#: work with the newest mkdocstrings a 3.10 resolver can pick) require Python 3.11+, so
#: the test extra leaves them out on 3.10 (pyproject.toml). CI builds the docs and checks
#: the contract on 3.11; the library itself is tested on 3.10 like on every Python.
needs_the_3_11_toolchain = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="the docs and import-contract toolchain requires Python 3.11+",
)
