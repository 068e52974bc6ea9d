"""``nox -s timeshift`` preloads libfaketime into pytest's xdist workers only (tests/conftest.py)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from tests.conftest import WORKER_PRELOAD
from tests.support.child_env import child_env
from tests.support.tree import ROOT

PROBE = """
import os

def test_the_worker_has_the_library():
    assert os.environ["LD_PRELOAD"] == os.environ["EXPECTED_PRELOAD"]
    assert os.environ.get("K8S_AWS_AUTH_TEST_WORKER_PRELOAD") is None
"""


def _pytest(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    # An empty library path: the dynamic loader ignores it, the variable is what counts.
    library = str(tmp_path / "libnothing.so")
    env = {
        **{k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
        WORKER_PRELOAD: library,
        "EXPECTED_PRELOAD": library,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, *args, str(tmp_path / "test_probe.py")],
        cwd=tmp_path, env=child_env(env, measured=False), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_workers_get_the_library_as_ld_preload(tmp_path: pathlib.Path) -> None:
    result = _pytest(tmp_path, "-n", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_run_without_workers_is_refused(tmp_path: pathlib.Path) -> None:
    result = _pytest(tmp_path, "-n", "0")
    assert result.returncode == 4, result.stdout + result.stderr
    assert WORKER_PRELOAD in result.stderr
