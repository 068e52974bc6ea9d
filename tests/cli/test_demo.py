"""``k8s-aws-auth demo``: run as a real process, and made to fail in-process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from k8s_aws_auth import cli
from k8s_aws_auth.cli import _demo as demo_command


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_process_runs_every_step() -> None:
    done = _demo()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"FakeSTS listening on http://127\.0\.0\.1:\d+ ", out)
    assert "accepted: arn:aws:iam::111122223333:user/demo/alice" in out
    assert out.count("accepted: arn:aws:sts::111122223333:assumed-role/demo-deployer/ci-run-1") == 2
    assert "canonical_arn: arn:aws:iam::111122223333:role/demo-deployer" in out
    assert "session_name:  ci-run-1" in out
    tampered, other_cluster = re.findall(
        r"\[\d\] (tampered token|token signed for another cluster)", out
    )
    assert (tampered, other_cluster) == ("tampered token", "token signed for another cluster")
    assert (
        out.count(
            "rejected as expected: AccessDeniedError [sts-denied] "
            "STS refused the token (SignatureDoesNotMatch)"
        )
        == 2
    )
    assert "rejected as expected: ExpiredTokenError [expired] token expired" in out
    assert "AsyncTokenVerifier" in out
    assert "UNEXPECTED" not in out
    assert out.rstrip().endswith("all 6 steps behaved as expected")
    # Tokens are bearer credentials: never printed whole.
    assert not re.search(r"k8s-aws-v1\.[A-Za-z0-9_-]{40,}", out)
    assert done.stderr == ""


def test_demo_with_a_cluster_id_containing_spaces() -> None:
    done = _demo("--cluster-id", "my  demo cluster", "--region", "eu-north-1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sts_endpoint:  sts.eu-north-1.amazonaws.com" in done.stdout


def test_demo_exits_1_when_a_step_misbehaves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A "tampered" token that is not tampered gets accepted: the demo must notice.
    monkeypatch.setattr(demo_command, "_tampered", lambda token: token)
    assert cli.main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED: accepted as arn:aws:iam::111122223333:user/demo/alice" in out
    assert "1 of 6 steps did NOT behave as expected" in out
