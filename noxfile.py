"""Developer sessions: ``nox -s check`` is the one CI runs (lint, mypy --strict, tests)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["check"]

TEST_DEPS = ".[test]"


@nox.session
def check(session: nox.Session) -> None:
    """Lint, type-check, run the whole test suite and build the docs: the README's test command."""
    session.install("-e", TEST_DEPS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("pytest", *session.posargs)
    session.run("mkdocs", "build", "--strict", "--quiet", "--site-dir", session.create_tmp())


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite only."""
    session.install("-e", TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests, benchmarks and this file."""
    session.install("-e", TEST_DEPS)
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark and print the tables that go into docs/performance.md."""
    session.install("-e", TEST_DEPS)
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (warnings are errors)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")
