"""``k8s-aws-auth verify``: identity out, exit codes 0 verified / 1 denied / 2 undecided / 64 usage."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

import pytest

from k8s_aws_auth import Credentials, presign_token
from k8s_aws_auth.testing import FakeSTS
from tests.support.child_env import child_env
from tests.support.credentials import unused_port

USER_ARN = "arn:aws:iam::111122223333:user/alice"


@pytest.fixture
def served() -> Iterator[tuple[str, Credentials]]:
    """A served FakeSTS URL and alice's keys."""
    fake = FakeSTS()
    alice = fake.create_principal(USER_ARN, seed="verify").credentials
    with fake.serve() as url:
        yield url, alice


def _token(credentials: Credentials, cluster_id: str = "c") -> str:
    return presign_token(
        credentials, cluster_id=cluster_id, now=datetime.now(timezone.utc), region="us-west-2"
    ).value


def _verify(args: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "verify", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env({"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}),
    )


def test_verified_token_prints_the_identity_as_json(served: tuple[str, Credentials]) -> None:
    url, alice = served
    result = _verify(["-i", "c", "-t", _token(alice), "--sts-endpoint-url", url])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {
        "ARN": USER_ARN,
        "CanonicalARN": USER_ARN,
        "AccountID": "111122223333",
        "UserID": document["UserID"],
        "SessionName": "",
        "AccessKeyID": alice.access_key_id,
        "STSEndpoint": "sts.us-west-2.amazonaws.com",
        "Partition": "aws",
        "PrincipalType": "user",
    }
    assert document["UserID"].startswith("AIDA")


def test_text_output_and_token_from_stdin(served: tuple[str, Credentials]) -> None:
    url, alice = served
    result = _verify(
        ["-i", "c", "-t", "-", "--sts-endpoint-url", url, "-o", "text"], _token(alice) + "\n"
    )
    assert result.returncode == 0, result.stderr
    fields = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    assert fields["ARN"] == USER_ARN
    assert fields["AccountID"] == "111122223333"
    assert fields["SessionName"] == ""


def test_token_for_another_cluster_is_denied_with_exit_1(served: tuple[str, Credentials]) -> None:
    url, alice = served
    result = _verify(["-i", "c", "-t", _token(alice, "other"), "--sts-endpoint-url", url])
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("k8s-aws-auth verify: denied (sts-denied)")


def test_malformed_token_is_denied_without_echoing_it() -> None:
    bogus = "k8s-aws-v1.bm90LWEtdXJs-SECRETISH"
    result = _verify(["-i", "c", "-t", bogus])
    assert result.returncode == 1
    assert "denied (" in result.stderr
    assert "SECRETISH" not in result.stderr


def test_unreachable_sts_is_undecided_with_exit_2(served: tuple[str, Credentials]) -> None:
    _, alice = served
    port = unused_port()
    result = _verify(
        ["-i", "c", "-t", _token(alice), "--sts-endpoint-url", f"http://127.0.0.1:{port}"]
    )
    assert result.returncode == 2
    assert "could not decide" in result.stderr
    assert "k8s-aws-v1." not in result.stderr


def test_missing_token_and_bad_partition_are_usage_errors(tmp_path: pathlib.Path) -> None:
    assert _verify(["-i", "c"]).returncode == 64
    result = _verify(["-i", "c", "-t", "x", "--partition", "nope"])
    assert result.returncode == 64
    assert "partition" in result.stderr
    assert _verify(["-t", "x"]).returncode == 64  # no cluster id
