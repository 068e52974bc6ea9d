"""The forked awscli (tests/support/awscli_oracle.py) behaves as a new ``aws`` process does."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from k8s_aws_auth import Credentials
from tests.support.awscli_oracle import run_awscli
from tests.support.child_env import child_env
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET
from tests.support.peer_generators import peer_env, read_token

FROZEN_RUNNER = pathlib.Path(__file__).with_name("awscli_frozen.py")
AWS = pathlib.Path(sys.executable).with_name("aws")
NOW = "2026-11-28T11:02:49+00:00"


def _env(home: pathlib.Path, **extra: str) -> dict[str, str]:
    return peer_env(home, Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), extra=extra)


def _process(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=child_env(env), capture_output=True, text=True, timeout=60, check=False
    )


def _token_url_host(stdout: str) -> str:
    return read_token(json.loads(stdout)["status"]["token"]).host


def test_a_forked_command_prints_what_a_new_process_prints(tmp_path: pathlib.Path) -> None:
    env = _env(tmp_path, AWS_DEFAULT_REGION="eu-central-1")
    args = ["eks", "get-token", "--cluster-name", "oracle"]
    forked = run_awscli(args, env, frozen=NOW)
    new = _process([sys.executable, str(FROZEN_RUNNER), NOW, *args], env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        new.returncode,
        new.stdout,
        new.stderr,
    )
    assert _token_url_host(forked.stdout) == "sts.eu-central-1.amazonaws.com"


def test_each_command_has_its_own_environment(tmp_path: pathlib.Path) -> None:
    args = ["eks", "get-token", "--cluster-name", "c"]
    regional = run_awscli(args, _env(tmp_path, AWS_DEFAULT_REGION="ap-south-1"))
    assert _token_url_host(regional.stdout) == "sts.ap-south-1.amazonaws.com"
    # The region of the command before is gone: awscli's global endpoint.
    unset = run_awscli(args, _env(tmp_path))
    assert _token_url_host(unset.stdout) == "sts.amazonaws.com"


@pytest.mark.parametrize("args", [["eks", "get-token"], ["eks", "no-such-command"]])
def test_a_failing_command_exits_as_the_aws_process_does(
    tmp_path: pathlib.Path, args: list[str]
) -> None:
    env = _env(tmp_path)
    forked = run_awscli(args, env)
    real = _process([str(AWS), *args], env)
    assert forked.returncode == real.returncode != 0
    assert forked.stderr == real.stderr
    assert forked.stdout == real.stdout == ""
