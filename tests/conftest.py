"""Shared fixtures: a clean environment, fixed times and well-known fake credentials."""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone

import pytest

from k8s_aws_auth import Credentials

#: Upstream's golden-vector credentials (reference/upstream.md §1.6), stored base64
#: upstream to dodge secret scanners.
GOLDEN_ACCESS_KEY_ID = base64.b64decode("QVNJQVIyVEc0NFY2QVMzWlpFN0M=").decode()
GOLDEN_SECRET = base64.b64decode(
    "NEtENWNudEdjVm1MV1JkRjV3dk5SdXpOTDVReG1wNk9LVlk2RnovUQ=="
).decode()
GOLDEN_TIME = datetime.fromtimestamp(1682640000, timezone.utc)

#: AWS documentation's example key pair (not a real credential).
DOC_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

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
