"""Shared fixtures: a clean environment and well-known fake credentials (tests/support/keys.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from k8s_aws_auth import Credentials
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET, GOLDEN_ACCESS_KEY_ID, GOLDEN_SECRET

# Hypothesis's default 200 ms deadline per example is a wall-clock assertion: on a
# loaded machine (xdist workers, two timeshift runs, other jobs) it fails honest tests.
# Tests that set their own settings keep them; every other one gets no deadline.
settings.register_profile("k8s-aws-auth", deadline=None)
settings.load_profile("k8s-aws-auth")

_SCRUBBED_PREFIXES = (
    "AWS_",
    "KUBERNETES_",
    "DEFAULT_ROLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


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
