"""Developer and CI sessions.

``nox -s check`` is the one-command gate of the README (lint, types, contract, tests,
docs, on the Python that runs nox, from the source tree). CI (``.ci/run``) runs the
pieces instead: ``lint``, ``typecheck``, ``docs``, ``tooling``, ``build`` once, then the
whole suite once on every supported Python against the built wheel: ``tests`` on 3.11
(with coverage) and 3.10, ``timeshift`` on 3.12 (the clock a year ahead) and 3.13 (a
year back).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pathlib
import shutil
import time
from collections.abc import Iterator

import nox

# uv when it is installed (``.ci/run`` installs it; it creates and fills a virtualenv in
# seconds), the standard library's venv otherwise, so the README's commands need nothing else.
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["check"]
# A Python the project claims must be found on the machine, never fetched from elsewhere.
nox.options.download_python = "never"

TEST_DEPS = ".[test]"
HERE = pathlib.Path(__file__).parent
#: Every Python of ``requires-python`` and the classifiers (tests/package/test_installed_wheel.py).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The one ``tests`` run measured with coverage (branch coverage, children included).
COVERAGE_PYTHON = "3.11"
#: pytest-xdist: two workers per core, because a third of the tests spend most of their
#: time waiting on child processes, loopback servers and timeouts; ``xdist_group``
#: marks keep a group on one worker. Arguments after ``--`` come later and win
#: (``-- -n0`` runs in one process).
PARALLEL = ("-n", str(2 * (os.cpu_count() or 1)), "--dist", "loadgroup")
#: Tests of the project's own tooling (the docs hook, the import contract): the same on
#: every Python, so ``tooling`` runs them once and the per-Python sessions leave them out.
NOT_TOOLING = ("-m", "not tooling")
#: The suite starts thousands of Pythons: each would compile every module it imports
#: again under a caller's ``PYTHONDONTWRITEBYTECODE``, and pytest could not keep its
#: rewritten test modules. Installs compile the virtualenv's modules once (uv does not by
#: default; pip does), and the test runs may write the caches of the rest.
INSTALL_ENV = {"UV_COMPILE_BYTECODE": "1"}
RUN_ENV: dict[str, str | None] = {"PYTHONDONTWRITEBYTECODE": None}
#: The four per-Python runs (``tests``, ``timeshift``) each draw a quarter of every property
#: test's examples from seeds of their own, so that together they explore as much as one
#: full run does instead of the same part four times (tests/support/budget.py). Other
#: runs (``check``, plain pytest) draw them all.
EXAMPLE_SHARE = {"K8S_AWS_AUTH_TEST_EXAMPLE_SHARE": str(1 / len(PYTHONS))}
#: Set by ``tests``: tests/package/test_installed_wheel.py then proves the wheel is tested.
INSTALLED_WHEEL_VARIABLE = "K8S_AWS_AUTH_TEST_WHEEL"

#: Where Debian's ``libfaketime`` package (and a ``make install`` from source) put the library.
LIBFAKETIME_GLOBS = (
    "/usr/lib/*-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)
#: tests/conftest.py moves it to ``LD_PRELOAD`` for the xdist workers of a timeshift run.
WORKER_PRELOAD_VARIABLE = "K8S_AWS_AUTH_TEST_WORKER_PRELOAD"
#: ``timeshift``: the Python each moved clock runs on, and the move (libfaketime's
#: relative syntax, and in seconds). Each is that Python's whole run against the wheel.
TIME_SHIFTS = {"3.12": ("+365d", 365 * 86400), "3.13": ("-365d", -365 * 86400)}


@nox.session
def check(session: nox.Session) -> None:
    """Lint, type-check, check the import contract, run the tests, build the docs (what CI runs)."""
    session.install("-e", TEST_DEPS, env=INSTALL_ENV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")
    session.run("pytest", *PARALLEL, *session.posargs, env=RUN_ENV)
    # Not --quiet: it drops warnings before --strict can count them.
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp())


@nox.session(python=list(TIME_SHIFTS))
def timeshift(session: nox.Session) -> None:
    """The whole suite against the built wheel with the clock moved (libfaketime).

    A year ahead on 3.12, a year back on 3.13 (``nox -s timeshift`` runs both): proves
    that no test compares a literal date with the real clock. The xdist workers and
    every process they start see the moved wall clock (pytest's controller, which
    runs no test, keeps the real one); monotonic clocks (timeouts) stay real. Tests marked ``kubectl`` then run with the real clock: the real kubectl is a
    Go binary, which libfaketime cannot move. So each session is also that Python's
    whole suite, and CI runs no ``tests`` session for 3.12 and 3.13. Arguments after
    ``--`` go to pytest.
    """
    library = _libfaketime(session)
    wheel_env = _install_wheel(session)
    _install_sleep_fix(session)
    shift, seconds = TIME_SHIFTS[str(session.python)]
    env = {
        **wheel_env,
        "LD_PRELOAD": library,
        "FAKETIME": shift,
        # A faked monotonic clock hangs every thread wait with a timeout (see
        # tests/support/faketime_sleep.py); durations and deadlines need the real one.
        # FAKETIME_NO_CACHE stays unset: a fixed offset re-read every 10 s is the
        # same offset, and re-reading it on every call only slows the suite.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # With the monotonic clock real, libfaketime's rewriting of condition-variable
        # deadlines has nothing to convert, and costs every thread wait (the GIL's
        # included) a lookup under a lock: a third more CPU for the whole run.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
    }
    # pytest itself gets the library only for its xdist workers (tests/conftest.py):
    # they and every process they start run the tests; the controller only schedules.
    pytest_env = {**env, "LD_PRELOAD": None, WORKER_PRELOAD_VARIABLE: library}
    with _removing_faketime_leftovers():
        _require_shift(session, env, seconds)
        session.run(
            "pytest", *PARALLEL, "-m", "not kubectl and not tooling", *session.posargs,
            env=pytest_env,
        )  # fmt: skip
    # A dozen tests, in one process: xdist workers would each spend longer collecting
    # the suite than running them. Exit 5: the arguments after -- chose no kubectl test.
    session.run(
        "pytest", "-n", "0", "-m", "kubectl and not tooling", *session.posargs,
        env=wheel_env, success_codes=[0, 5],
    )  # fmt: skip


def _libfaketime(session: nox.Session) -> str:
    found = [path for pattern in LIBFAKETIME_GLOBS for path in sorted(glob.glob(pattern))]
    if not found:
        session.error(
            "libfaketime is not installed (looked for "
            + ", ".join(LIBFAKETIME_GLOBS)
            + "): on Debian or Ubuntu, apt-get install libfaketime"
        )
    return found[0]


def _install_sleep_fix(session: nox.Session) -> None:
    """Load tests/support/faketime_sleep.py at the start of every Python of this virtualenv."""
    purelib = session.run_install(
        "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True
    )
    if purelib is None:  # --no-install: the reused virtualenv has it from its first run
        return
    site = pathlib.Path(str(purelib).strip())
    shutil.copyfile(HERE / "tests" / "support" / "faketime_sleep.py", site / "_faketime_sleep.py")
    (site / "_faketime_sleep.pth").write_text("import _faketime_sleep\n")


@contextlib.contextmanager
def _removing_faketime_leftovers() -> Iterator[None]:
    """Unlink the shared memory libfaketime 0.9.10 leaves in /dev/shm for each process tree.

    It creates ``faketime_shm_PID`` and ``sem.faketime_sem_PID`` for every process that
    does not inherit ``FAKETIME_SHARED`` and never removes them. Only entries that
    appeared during the run and whose process is gone are removed.
    """
    shm = pathlib.Path("/dev/shm")
    before = set(shm.glob("*faketime_*")) if shm.is_dir() else set()
    try:
        yield
    finally:
        for path in set(shm.glob("*faketime_*")) - before:
            pid = path.name.rpartition("_")[2]
            if pid.isdigit() and not pathlib.Path("/proc", pid).exists():
                path.unlink(missing_ok=True)


def _require_shift(session: nox.Session, env: dict[str, str | None], seconds: int) -> None:
    """Fail unless a child Python really sees the moved clock (the run is never vacuous)."""
    probe = "import time; time.sleep(0.01); print(time.time())"
    output = session.run("python", "-c", probe, env=env, silent=True)
    if output is None:  # --install-only: nothing runs
        return
    seen = float(str(output).split()[-1])
    shifted = seen - time.time()
    if abs(shifted - seconds) > 600:
        session.error(
            f"the clock is not moved under {env['FAKETIME']!r}: a child Python is "
            f"{shifted:+.0f} s off the real clock, expected {seconds:+d} s"
        )
    session.log(f"clock moved by {shifted / 86400:+.1f} days ({env['FAKETIME']})")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite against the built wheel, on each supported Python (coverage on 3.11).

    The package is imported from the virtualenv's site-packages, never from ``src/``: a
    module or data file missing from the wheel fails here. Arguments after ``--`` go to
    pytest (``nox -s tests-3.13 -- tests/server -q``).
    """
    env = _install_wheel(session)
    if session.python != COVERAGE_PYTHON:
        session.run("pytest", *PARALLEL, *NOT_TOOLING, *session.posargs, env=env)
        return
    data = session.create_tmp()
    for stale in pathlib.Path(data).glob(".coverage*"):
        stale.unlink()
    # An absolute data file: children started in other folders write beside the others.
    env["COVERAGE_FILE"] = os.path.join(data, ".coverage")
    # patch = subprocess (pyproject.toml) measures the xdist workers and every Python
    # the tests start (the CLI, the server), each into its own data file.
    session.run(
        "coverage", "run", "-m", "pytest", *PARALLEL, *NOT_TOOLING, *session.posargs, env=env
    )
    session.run("coverage", "combine", "--quiet", env=env)
    session.run("coverage", "report", env=env)


def _install_wheel(session: nox.Session) -> dict[str, str | None]:
    """Install the built wheel with the test extra; the environment its test runs need.

    That environment includes CI's per-Python share of the property tests' examples.
    """
    wheel = _wheel(session)
    session.install(f"{wheel}[test]", env=INSTALL_ENV)
    # Same version, new build: pip and uv would keep the copy from the last run.
    session.install("--force-reinstall", "--no-deps", str(wheel), env=INSTALL_ENV)
    return {**RUN_ENV, **EXAMPLE_SHARE, INSTALLED_WHEEL_VARIABLE: str(wheel)}


@nox.session
def tooling(session: nox.Session) -> None:
    """The tests of the project's own tooling (marked ``tooling``): the docs hook, the import contract."""
    session.install("-e", TEST_DEPS, env=INSTALL_ENV)
    # Two workers, not PARALLEL's four: two dozen tests, and each worker collects the
    # whole suite (seconds of CPU) before it runs any.
    session.run("pytest", "-n", "2", "-m", "tooling", *session.posargs, env=RUN_ENV)


_built: dict[str, pathlib.Path] = {}


def _wheel(session: nox.Session) -> pathlib.Path:
    """Build the sdist, and the wheel from it, once per nox run; return the wheel.

    The wheel is built from the sdist (``python -m build``'s default), so a file missing
    from either one shows up as a failing test.
    """
    if "wheel" in _built:
        return _built["wheel"]
    session.install("build>=1.2")
    out = pathlib.Path(session.create_tmp()) / "dist"
    # An install step: it runs under --install-only too, and -R / --no-install skips it
    # and reuses the last build, the one installed in the virtualenv.
    session.run_install("python", "-m", "build", "--outdir", str(out), str(HERE), silent=True)
    for kind, pattern in (("sdist", "*.tar.gz"), ("wheel", "*.whl")):
        built = sorted(out.glob(pattern), key=lambda path: path.stat().st_mtime)
        if not built:
            session.error(f"no {kind} in {out}: run without --no-install to build one")
        _built[kind] = built[-1]
    return _built["wheel"]


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel into ``dist/`` and check their metadata (twine --strict)."""
    wheel = _wheel(session)
    session.install("twine>=5")
    session.run("twine", "check", "--strict", str(_built["sdist"]), str(wheel))
    dist = HERE / "dist"
    dist.mkdir(exist_ok=True)
    for artifact in (_built["sdist"], wheel):
        shutil.copy(artifact, dist / artifact.name)
    session.log(f"built {_built['sdist'].name} and {wheel.name} into {dist}")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check, and the import contract (pyproject.toml, lint-imports)."""
    session.install("ruff", "import-linter>=2.16")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The contract reads the source, not an installed copy: no install of the package.
    session.run("lint-imports", env={"PYTHONPATH": str(HERE / "src")})


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
