"""Child processes read the test's clock: under ``nox -s timeshift`` the moved one.

A process started with an environment built from scratch loses ``LD_PRELOAD`` and
``FAKETIME*`` unless the environment goes through ``tests.support.child_env.child_env``; it then
signs, caches and judges expiry by the real calendar while the test's FakeSTS and
verifiers use the moved one. The first test proves the helper works (it fails
under ``timeshift`` if the variables are dropped); the second keeps every test's
``env=`` going through it.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests.support.child_env import child_env, clock_variables, coverage_variables

TESTS = pathlib.Path(__file__).parents[1]
_SPAWNERS = {"run", "Popen", "check_output", "check_call", "call", "create_subprocess_exec"}


def test_clock_variables_are_carried_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {
        "LD_PRELOAD": "/lib/libfaketime.so.1",
        "FAKETIME": "+365d",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    measured = {"COVERAGE_PROCESS_CONFIG": "/tmp/cov.toml"}
    for name, value in {**clock, **measured, "UNRELATED_SETTING": "x"}.items():
        monkeypatch.setenv(name, value)
    env = child_env({"HOME": "/h", "PATH": "/bin"})
    # libfaketime may add FAKETIME_* variables of its own (FAKETIME_SHARED), and the
    # coverage run its COVERAGE_* ones: they go too.
    carried = {"HOME", "PATH", *clock, *measured}
    assert set(env) - carried == (set(clock_variables()) | set(coverage_variables())) - carried
    assert {name: env[name] for name in carried} == {
        "HOME": "/h",
        "PATH": "/bin",
        **clock,
        **measured,
    }
    assert "UNRELATED_SETTING" not in env


def test_a_child_with_a_scratch_environment_reads_the_same_wall_clock() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=child_env({"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The shifts are a year: an hour apart means the same clock, on a slow machine too.
    assert abs(float(result.stdout) - time.time()) < 3600


def _scratch_environments(path: pathlib.Path) -> list[int]:
    """Lines of ``path`` that start a process with an ``env=`` not made by child_env."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in _SPAWNERS:
            continue
        for keyword in node.keywords:
            if keyword.arg != "env":
                continue
            value = keyword.value
            made_by_helper = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "child_env"
            )
            # {**os.environ, ...} inherits the clock variables already.
            inherits = isinstance(value, ast.Dict) and any(
                key is None and ast.unparse(item) == "os.environ"
                for key, item in zip(value.keys, value.values, strict=True)
            )
            if not (made_by_helper or inherits):
                lines.append(node.lineno)
    return lines


def test_every_child_environment_carries_the_clock() -> None:
    offenders = {
        path.name: lines
        for path in sorted(TESTS.rglob("*.py"))
        if (lines := _scratch_environments(path))
    }
    assert offenders == {}, "pass these env= mappings through _child_env.child_env"


def test_the_scan_sees_a_scratch_environment(tmp_path: pathlib.Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, subprocess\n"
        "subprocess.run(['x'], env={'PATH': '/bin'})\n"
        "subprocess.run(['x'], env=child_env({'PATH': '/bin'}))\n"
        "subprocess.Popen(['x'], env={**os.environ, 'A': '1'})\n"
        "subprocess.Popen(['x'], env=dict(base))\n"
    )
    assert _scratch_environments(sample) == [2, 5]


def test_an_unmeasured_child_drops_coverage_variables_of_a_copied_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COVERAGE_PROCESS_CONFIG", "/tmp/cov.toml")
    monkeypatch.setenv("FAKETIME", "+365d")
    env = child_env(dict(os.environ), measured=False)
    assert not [name for name in env if name.startswith("COVERAGE_")]
    assert env["FAKETIME"] == "+365d"
    assert env["HOME"] == os.environ["HOME"]
