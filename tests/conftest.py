"""Shared fixtures: a clean environment and well-known fake credentials (tests/support/keys.py)."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

from k8s_aws_auth import Credentials
from tests.support.budget import examples
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET, GOLDEN_ACCESS_KEY_ID, GOLDEN_SECRET

# Hypothesis's default 200 ms deadline per example is a wall-clock assertion: on a
# loaded machine (xdist workers, two timeshift runs, other jobs) it fails honest tests.
# Tests that set their own settings keep them; every other one gets no deadline, and
# hypothesis's default 100 examples, or this run's share of them (tests/support/budget.py).
settings.register_profile("k8s-aws-auth", deadline=None, max_examples=examples(100))
settings.load_profile("k8s-aws-auth")

_SCRUBBED_PREFIXES = (
    "AWS_",
    "KUBERNETES_",
    "DEFAULT_ROLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


#: Set by ``nox -s timeshift`` instead of ``LD_PRELOAD``: see :func:`pytest_configure`.
WORKER_PRELOAD = "K8S_AWS_AUTH_TEST_WORKER_PRELOAD"


def pytest_configure(config: pytest.Config) -> None:
    """Under ``nox -s timeshift``: preload libfaketime into the xdist workers, not this process.

    The tests run in the workers and the processes they start, which get the
    library as ``LD_PRELOAD`` from this process's environment. The controller runs
    no test: with the library loaded its scheduling loop, which reads the clock
    all the time, took about a third of a run's CPU.
    """
    preload = os.environ.pop(WORKER_PRELOAD, None)
    if preload is None:
        return
    if not getattr(config.option, "numprocesses", None):
        raise pytest.UsageError(
            f"{WORKER_PRELOAD} preloads the xdist workers only: run with -n N, or set "
            "LD_PRELOAD itself to move the clock of a run without workers"
        )
    os.environ["LD_PRELOAD"] = preload


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker of ``--dist loadgroup``: stop unless ``xdist_group`` really groups.

    Modules marked ``xdist_group`` start a server or run every peer once per module;
    split across workers they do it once per worker, and tests that share a
    module's server race. pytest-xdist tags a grouped test's node id with
    ``@group``; when a pytest release stops that from taking effect
    (pytest-xdist#1386), the run ends here instead of going on ungrouped.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    ungrouped = [
        item.nodeid
        for item in items
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
    ]
    if ungrouped:
        message = (
            f"--dist loadgroup does not group {ungrouped[0]} (and {len(ungrouped) - 1} more): "
            "this pytest and pytest-xdist do not work together (pytest-xdist#1386)"
        )
        # The controller reports a worker's error as its own INTERNALERROR, without
        # this text: say it on the worker's stderr, which the terminal shows.
        sys.stderr.write(f"\n{message}\n")
        raise pytest.UsageError(message)


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's AWS settings, proxies or home directory."""
    for name in list(os.environ):
        if name.upper().startswith(_SCRUBBED_PREFIXES) or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def golden_credentials() -> Credentials:
    """Upstream's golden-vector credentials."""
    return Credentials(GOLDEN_ACCESS_KEY_ID, GOLDEN_SECRET)


@pytest.fixture
def doc_credentials() -> Credentials:
    """The AWS documentation example credentials."""
    return Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET)
