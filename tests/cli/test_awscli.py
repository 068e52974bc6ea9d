"""The CLI prints what the real ``aws eks get-token`` prints for the same inputs.

awscli runs in a process of its own with its signing clock frozen (tests/support/awscli_oracle.py);
ours runs with ``--now`` set to the same second. Outputs are compared as parsed
JSON (awscli adds a blank line after the document).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

from tests.support.awscli_oracle import run_awscli
from tests.support.child_env import child_env
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

NOW = "2026-11-28T11:02:49+00:00"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def+ghi==end"
ODD_ID = "weird id/with spaces+plus&amp=eq%pct~tilde_ü"


def _env(home: pathlib.Path, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        **extra,
    }


def _run(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=child_env(env), capture_output=True, text=True, timeout=60, check=False
    )


def _awscli(args: Sequence[str], env: Mapping[str, str]) -> dict[str, object]:
    result = run_awscli(["eks", "get-token", *args], env, frozen=NOW)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _ours(command: str, args: Sequence[str], env: Mapping[str, str]) -> dict[str, object]:
    result = _run([sys.executable, "-m", "k8s_aws_auth", command, *args, "--now", NOW], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document: dict[str, object] = json.loads(result.stdout)
    return document


CASES = [
    pytest.param(
        ["--cluster-name", "my-cluster"], {"AWS_DEFAULT_REGION": "us-east-1"}, id="us-east-1"
    ),
    pytest.param(
        ["--cluster-name", "prod"],
        {"AWS_DEFAULT_REGION": "eu-central-1", "AWS_SESSION_TOKEN": SESSION_TOKEN},
        id="eu-central-1-session-token",
    ),
    pytest.param(["--cluster-name", "c"], {}, id="no-region-global-host"),
    pytest.param(
        ["--cluster-name", "c"],
        {"AWS_DEFAULT_REGION": "us-west-2", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
        id="us-west-2-legacy",
    ),
    pytest.param(
        ["--cluster-name", "c"],
        {"AWS_DEFAULT_REGION": "af-south-1", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
        id="af-south-1-legacy-stays-regional",
    ),
    pytest.param(["--cluster-name", "cn"], {"AWS_DEFAULT_REGION": "cn-north-1"}, id="cn-north-1"),
    pytest.param(
        ["--cluster-name", "gov"], {"AWS_DEFAULT_REGION": "us-gov-west-1"}, id="us-gov-west-1"
    ),
    pytest.param(
        ["--cluster-name", ODD_ID], {"AWS_DEFAULT_REGION": "ap-southeast-1"}, id="odd-cluster-name"
    ),
    pytest.param(
        ["--cluster-name", "  spaced   out  "],
        {"AWS_DEFAULT_REGION": "us-east-2"},
        id="whitespace-name",
    ),
    pytest.param(
        ["--cluster-id", "0123abcd-outpost"], {"AWS_DEFAULT_REGION": "us-west-2"}, id="cluster-id"
    ),
    pytest.param(
        ["--cluster-name", "c", "--region", "eu-west-1"],
        {"AWS_DEFAULT_REGION": "us-west-2"},
        id="region-flag-wins",
    ),
    pytest.param(
        ["--cluster-name", "c"],
        {"AWS_DEFAULT_REGION": "us-east-1", "AWS_USE_FIPS_ENDPOINT": "true"},
        id="fips",
    ),
    pytest.param(
        ["--cluster-name", "c"],
        {"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
        id="dualstack",
    ),
    pytest.param(
        ["--cluster-name", "c"],
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "KUBERNETES_EXEC_INFO": '{"kind":"ExecCredential","apiVersion":'
            '"client.authentication.k8s.io/v1","spec":{"interactive":false}}\n',
        },
        id="exec-info-v1",
    ),
]


@pytest.mark.parametrize(("args", "extra_env"), CASES)
def test_get_token_matches_awscli(
    args: list[str], extra_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    env = _env(tmp_path, extra_env)
    expected = _awscli(args, env)
    assert _ours("get-token", args, env) == expected


def test_token_command_signs_the_same_token_as_awscli(tmp_path: pathlib.Path) -> None:
    """The aws-iam-authenticator style command differs only in flag names."""
    env = _env(tmp_path, {"AWS_DEFAULT_REGION": "us-west-2", "AWS_SESSION_TOKEN": SESSION_TOKEN})
    expected = _awscli(["--cluster-name", ODD_ID], env)
    assert _ours("token", ["-i", ODD_ID], env) == expected


def test_frozen_awscli_really_is_frozen(tmp_path: pathlib.Path) -> None:
    """Guard for the oracle itself: its token carries the frozen second, not the clock's."""
    import base64

    document = _awscli(["--cluster-name", "c"], _env(tmp_path, {"AWS_DEFAULT_REGION": "us-east-1"}))
    status = document["status"]
    assert isinstance(status, dict)
    assert status["expirationTimestamp"] == "2026-11-28T11:16:49Z"
    payload = status["token"].removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "X-Amz-Date=20261128T110249Z" in url
