"""The import contract (pyproject.toml, ``[tool.importlinter]``) is checked, and it bites.

``nox -s check`` runs ``lint-imports``; these tests run it on a copy of the
package with one forbidden import planted per rule, and see that rule (and only
a broken contract) fail the run, with the unmodified copy as the control.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tests.support.dev_tools import needs_the_3_11_toolchain
from tests.support.tree import copy_project

# The project's tooling, not the package: `nox -s tooling` runs it once, not on every Python.
pytestmark = [needs_the_3_11_toolchain, pytest.mark.tooling]

LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")

#: (module file under src/k8s_aws_auth, the import planted at its end, the id of the contract
#: in pyproject.toml that it breaks)
PLANTED = {
    "core-imports-httpx": (
        "_core/sigv4.py",
        "import httpx",
        "pure-core",
    ),
    "core-imports-the-drivers": (
        "_core/validate.py",
        "from k8s_aws_auth._runtime import drivers",
        "pure-core",
    ),
    "mapping-reads-the-clock": (
        "mapping/_templates.py",
        "from k8s_aws_auth._runtime.clock import utc_now",
        "pure-mapping",
    ),
    "mapping-imports-httpx": ("mapping/_model.py", "import httpx", "pure-mapping"),
    "mapping-reads-the-kubernetes-api": (
        "mapping/_loader.py",
        "from k8s_aws_auth._kube import watch",
        "pure-mapping",
    ),
    "kube-imports-the-server": (
        "_kube/watch.py",
        "from k8s_aws_auth import server",
        "layers",
    ),
    "server-imports-the-testing-toolkit": (
        "server/_app.py",
        "import k8s_aws_auth.testing",
        "testing-is-for-tests",
    ),
    "cli-reaches-into-credentials": (
        "cli/_verify.py",
        "from k8s_aws_auth.credentials._base import http",
        "no-reach-ins",
    ),
    "runtime-imports-the-cli": (
        "_runtime/drivers.py",
        "from k8s_aws_auth import cli",
        "layers",
    ),
    "verifier-imports-an-integration": (
        "_verifier.py",
        "from k8s_aws_auth.integrations import _http",
        "layers",
    ),
    "a-cycle-in-mapping": (
        "mapping/_templates.py",
        "from . import _mapper",
        "acyclic",
    ),
}


def _lint_imports(tree: pathlib.Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    only = [option for contract in contracts for option in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *only],
        cwd=tree,
        # PYTHONPATH comes before the editable install's path: grimp analyses the copy.
        env={**os.environ, "PYTHONPATH": str(tree / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_every_contract(tmp_path: pathlib.Path) -> None:
    result = _lint_imports(copy_project(tmp_path, "src", "pyproject.toml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_forbidden_import_breaks_its_contract(case: str, tmp_path: pathlib.Path) -> None:
    module, line, contract = PLANTED[case]
    tree = copy_project(tmp_path, "src", "pyproject.toml")
    path = tree / "src" / "k8s_aws_auth" / module
    assert _lint_imports(tree, contract).returncode == 0  # kept before the import is planted
    path.write_text(path.read_text() + f"\n{line}\n", encoding="utf-8")
    result = _lint_imports(tree, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    # The report names the offending module, the importer of the planted line (the
    # cycle report names modules relative to their package: "._templates -> ._mapper").
    importer = module.removesuffix(".py").rsplit("/", 1)[-1]
    assert f".{importer} -> " in result.stdout
