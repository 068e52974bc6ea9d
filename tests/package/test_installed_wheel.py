"""The package under test is the built wheel, whole, and its metadata claims what CI tests.

``nox -s tests`` installs the wheel it built and sets ``K8S_AWS_AUTH_TEST_WHEEL`` to
its path; the first two tests then prove that the suite imported that installed copy
(not ``src/`` through pytest's rootdir, a ``pythonpath`` setting or an editable
install) and that the copy holds every file of the source package. Elsewhere (an
editable install in ``nox -s check``) they are skipped: there is no wheel to check.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import pathlib
import re
import sys
import sysconfig
import zipfile

import pytest

import k8s_aws_auth
from tests.support.tree import ROOT

SOURCE_PACKAGE = ROOT / "src" / "k8s_aws_auth"
WHEEL = os.environ.get("K8S_AWS_AUTH_TEST_WHEEL")
against_the_wheel = pytest.mark.skipif(
    WHEEL is None, reason="only under nox -s tests, which installs the built wheel"
)


def _package_files(root: pathlib.Path) -> set[str]:
    """The package's files below ``root``, as relative POSIX paths (no caches)."""
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@against_the_wheel
def test_the_package_is_imported_from_site_packages_not_the_source_tree() -> None:
    imported = pathlib.Path(k8s_aws_auth.__file__).resolve()
    site_packages = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
    assert imported.is_relative_to(site_packages)
    assert not imported.is_relative_to(SOURCE_PACKAGE.resolve())
    assert str(ROOT / "src") not in sys.path


@against_the_wheel
def test_the_wheel_holds_every_file_of_the_source_package() -> None:
    assert WHEEL is not None
    with zipfile.ZipFile(WHEEL) as wheel:
        shipped = {
            name.removeprefix("k8s_aws_auth/")
            for name in wheel.namelist()
            if name.startswith("k8s_aws_auth/")
        }
    assert shipped == _package_files(SOURCE_PACKAGE)
    installed = pathlib.Path(k8s_aws_auth.__file__).parent
    assert _package_files(installed) >= shipped


_MINOR = re.compile(r"Programming Language :: Python :: (3\.\d+)$")


def _claimed_pythons() -> list[str]:
    """The ``PYTHONS`` list of noxfile.py: the versions CI runs the suite on."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == "PYTHONS" for target in targets):
                assert node.value is not None
                versions = ast.literal_eval(node.value)
                assert isinstance(versions, list)
                return [str(version) for version in versions]
    raise AssertionError("noxfile.py has no PYTHONS list")


def test_the_classifiers_name_exactly_the_pythons_ci_tests() -> None:
    metadata = importlib.metadata.metadata("k8s-aws-auth")
    classified = sorted(
        (match[1] for c in metadata.get_all("Classifier") or [] if (match := _MINOR.match(c))),
        key=lambda version: tuple(map(int, version.split("."))),
    )
    assert classified == _claimed_pythons()
    assert metadata["Requires-Python"] == f">={classified[0]}"


def test_ci_runs_the_whole_suite_once_on_every_claimed_python() -> None:
    # `tests-X` or `timeshift-X` (the whole suite on X with the clock moved), never both.
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    sessions = re.findall(r"\b(tests|timeshift)-(3\.\d+)\b", run)
    assert sorted(version for _, version in sessions) == sorted(_claimed_pythons())
    assert {kind for kind, _ in sessions} == {"tests", "timeshift"}


def test_this_python_is_one_the_package_claims() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in _claimed_pythons()


def test_no_placeholder_address_in_the_metadata_or_the_docs_site() -> None:
    # A project address must be one that exists; until the project has a public home,
    # there is none (CONTRIBUTING.md, "Releases").
    metadata = importlib.metadata.metadata("k8s-aws-auth")
    addresses = [*(metadata.get_all("Project-URL") or []), *(metadata.get_all("Home-page") or [])]
    addresses.append((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    for text in addresses:
        assert ".invalid" not in text
        assert "example.com" not in text
