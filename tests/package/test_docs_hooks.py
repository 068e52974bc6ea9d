"""The API page's mkdocs hook (docs/hooks/api_page.py) fails a strict build on a Sphinx role or a private path."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
from types import ModuleType

import pytest

from tests.support.dev_tools import needs_the_3_11_toolchain
from tests.support.tree import ROOT, copy_project

# The project's tooling, not the package: `nox -s tooling` runs it once, not on every Python.
pytestmark = pytest.mark.tooling
MKDOCS = pathlib.Path(sys.executable).with_name("mkdocs")


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "api_page", ROOT / "docs" / "hooks" / "api_page.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API_PAGE = _hook()

CLEAN = (
    '<h3 id="k8s_aws_auth.testing.FakeSTS">k8s_aws_auth.testing.FakeSTS</h3>'
    '<p>Sign with <a title="k8s_aws_auth.testing.make_token" href="#k8s_aws_auth.testing.make_token">'
    "<code>make_token()</code></a>; see <code>k8s_aws_auth.__version__</code>.</p>"
)


def test_a_clean_page_has_no_problems() -> None:
    assert API_PAGE.problems(CLEAN) == []


@pytest.mark.parametrize(
    "planted",
    [
        "<p>Returns a :class:<code>Token</code>.</p>",
        "<p>See :meth:<code>~FakeSTS.register</code>.</p>",
        "<p>:func:`generate_token`</p>",
        "<p>:py:attr:<code>x</code></p>",
    ],
)
def test_a_literal_role_is_a_problem(planted: str) -> None:
    found = API_PAGE.problems(CLEAN + planted)
    assert len(found) == 1
    assert found[0].startswith("literal Sphinx role")


@pytest.mark.parametrize(
    ("planted", "path"),
    [
        (
            '<h3 id="k8s_aws_auth.testing._fake_sts.FakeSTS">FakeSTS</h3>',
            "k8s_aws_auth.testing._fake_sts.FakeSTS",
        ),
        ("<p>defined in k8s_aws_auth._core.models</p>", "k8s_aws_auth._core.models"),
        (
            '<a href="#k8s_aws_auth._verifier.TokenVerifier">x</a>',
            "k8s_aws_auth._verifier.TokenVerifier",
        ),
    ],
)
def test_a_private_path_is_a_problem(planted: str, path: str) -> None:
    assert API_PAGE.problems(CLEAN + planted) == [f"private import path {path!r}"]


def test_tooltips_keep_the_public_name_only() -> None:
    page = (
        '<a title="k8s_aws_auth.Credentials (k8s_aws_auth._core.models.Credentials)" href="#c">C</a>'
        '<span title="k8s_aws_auth.credentials._base.CredentialFlow">CredentialFlow</span>'
        '<a title="k8s_aws_auth.Token" href="#t">T</a>'
    )
    cleaned = API_PAGE.public_titles(page)
    assert cleaned == (
        '<a title="k8s_aws_auth.Credentials" href="#c">C</a>'
        "<span>CredentialFlow</span>"
        '<a title="k8s_aws_auth.Token" href="#t">T</a>'
    )
    assert API_PAGE.problems(cleaned) == []
    assert API_PAGE.problems(page) != []  # the check alone would have flagged them


def _build(tree: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tree / "site")],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


#: Planted in one docstring, each with the problem the strict build must name.
PLANTED = {
    "Returns a :class:`Token`.": "literal Sphinx role ':class:'",
    "See `k8s_aws_auth._core.token` for the envelope.": "private import path",
}


# Two whole docs builds: CI runs them niced beside the suites, where one took over a minute.
@pytest.mark.timeout(600)
@needs_the_3_11_toolchain
def test_a_strict_build_fails_on_each_planted_problem(tmp_path: pathlib.Path) -> None:
    tree = copy_project(tmp_path, "docs", "src", "mkdocs.yml", "README.md")
    built = _build(tree)
    assert built.returncode == 0, built.stderr  # the control: the real docs build
    models = tree / "src" / "k8s_aws_auth" / "_core" / "models.py"
    text = models.read_text(encoding="utf-8")
    anchor = '    """A ``k8s-aws-v1.`` bearer token and the moment a client should stop using it.'
    assert anchor in text
    # Both at once (a full build takes seconds): the hook warns once per problem.
    planted = " ".join(PLANTED)
    models.write_text(
        text.replace(anchor, f'    """{planted} {anchor.lstrip()[3:]}'), encoding="utf-8"
    )
    broken = _build(tree)
    assert broken.returncode != 0
    for expected in PLANTED.values():
        assert expected in broken.stderr
