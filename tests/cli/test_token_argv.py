"""`_token_argv`: the exec plugin's argparse-free reading equals argparse's, or declines.

Each command line of the table is read both ways. Where the fast reader answers,
its namespace must equal what `parse_command_line` (argparse and
`apply_global_flags`) returns for the same command line and environment; where
argparse refuses the line (exit 64) or answers ``--help``, the fast reader must
have declined, so the message and code stay argparse's. Each row also says which
of the two the fast reader must do: a reader that declined everything would be
correct but useless, and fail here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from k8s_aws_auth.cli import EXIT_USAGE, parse_command_line
from k8s_aws_auth.cli._token_argv import token_args
from tests.support.child_env import child_env

ROLE = "arn:aws:iam::123456789012:role/demo"
FAST = "fast"
DECLINE = "argparse"

#: (argv, what the fast reader must do)
COMMAND_LINES: list[tuple[list[str], str]] = [
    # aws-iam-authenticator's spellings (kubeconfigs made by eksctl and by upstream)
    (["token", "-i", "c"], FAST),
    (["token", "--cluster-id", "c"], FAST),
    (["token", "--cluster-id=c"], FAST),
    (["token", "-i", "c", "-r", ROLE], FAST),
    (["token", "-i", "c", "--role", ROLE, "-e", "ext", "-s", "me"], FAST),
    (["token", "-i", "c", "--role=" + ROLE, "--external-id=ext", "--session-name=me"], FAST),
    (["token", "-i", "c", "-r", ROLE, "--forward-session-name"], FAST),
    (["token", "-i", "c", "--token-only"], FAST),
    (["token", "-i", "c", "--region", "eu-west-1", "--profile", "dev"], FAST),
    (["token", "-i", "c", "--imds-region", "--cache", "--debug"], FAST),
    (["token", "-i", "c", "--sts-regional-endpoints", "legacy"], FAST),
    (["token", "-i", "c", "--sts-regional-endpoints=regional"], FAST),
    (["token", "-i", "c", "--now", "2026-01-01T00:00:00Z"], FAST),
    (["token", "-i", "c", "--profile=a b"], FAST),  # a space after '=' is still a value
    (["token", "-i", ""], FAST),  # an empty value is a value (request_from_args refuses it)
    (["token"], FAST),  # no cluster id: the environment's, else request_from_args refuses
    (["token", "-i", "a", "-i", "b"], FAST),  # repeated: the last wins
    (["token", "--cache", "--cache"], FAST),
    (["token", "-s", "a", "-s", "b"], FAST),  # the same member of a group twice is fine
    (["--debug", "token", "-i", "c"], FAST),
    (["-i", "top", "token"], FAST),  # the global flag before the command
    (["-i", "top", "token", "-i", "own"], FAST),  # the command's own wins
    (["--cluster-id=top", "token"], FAST),
    (["-i", "token", "token"], FAST),  # "token" is -i's value, then the command
    # aws eks get-token's spellings
    (["get-token", "--cluster-name", "c"], FAST),
    (["get-token", "--cluster-name=c", "--region", "us-east-1"], FAST),
    (["get-token", "--cluster-id", "c", "--role-arn", ROLE], FAST),
    (["get-token", "--cluster-name", "c", "-o", "text"], FAST),
    (["get-token", "--cluster-name", "c", "--output=json", "--cache"], FAST),
    (
        ["get-token", "--cluster-name", "c", "--profile", "dev", "--now", "2026-01-01T00:00:00Z"],
        FAST,
    ),
    (["-i", "top", "get-token", "--cluster-name", "c"], FAST),
    (["get-token"], FAST),
    # help, version and no command
    (["token", "-h"], DECLINE),
    (["token", "--help"], DECLINE),
    (["get-token", "--help"], DECLINE),
    (["--help"], DECLINE),
    (["--version"], DECLINE),
    ([], DECLINE),
    (["--debug"], DECLINE),
    (["version"], DECLINE),
    # prefix abbreviations argparse accepts: declined on purpose (one spelling per flag)
    (["token", "--cluster", "c"], DECLINE),
    (["token", "-i", "c", "--tok"], DECLINE),
    (["token", "-i", "c", "--reg", "us-east-1"], DECLINE),
    (["get-token", "--cluster-n", "c"], DECLINE),
    (["--deb", "token", "-i", "c"], DECLINE),
    # attached short values, '=' after a short option, '--', positionals
    (["token", "-ic"], DECLINE),
    (["token", "-i=c"], DECLINE),
    (["token", "-i", "c", "--"], DECLINE),
    (["token", "--", "-i", "c"], DECLINE),
    (["token", "-i", "c", "extra"], DECLINE),
    (["token", "-i", "c", ""], DECLINE),
    # values that look like options, missing values, empty '=' values
    (["token", "-i"], DECLINE),
    (["token", "-i", "-c"], DECLINE),
    (["token", "-i", "-1"], DECLINE),
    (["token", "-i", "-"], DECLINE),
    (["token", "--cluster-id="], DECLINE),
    (["-i"], DECLINE),
    (["-i", "-x", "token"], DECLINE),
    # bad values and flags given values
    (["token", "-i", "c", "--sts-regional-endpoints", "fast"], DECLINE),
    (["get-token", "--cluster-name", "c", "-o", "yaml"], DECLINE),
    (["get-token", "--cluster-name", "c", "--output=yaml"], DECLINE),
    (["token", "-i", "c", "--cache=yes"], DECLINE),
    (["token", "-i", "c", "--debug=1"], DECLINE),
    # flags that exclude each other
    (["token", "-i", "c", "-s", "me", "--forward-session-name"], DECLINE),
    (["get-token", "--cluster-name", "a", "--cluster-id", "b"], DECLINE),
    # unknown flags, the other command's flags, aws-iam-authenticator's other globals
    (["token", "-i", "c", "--cluster-name", "x"], DECLINE),
    (["get-token", "-i", "c"], DECLINE),
    (["get-token", "--cluster-name", "c", "--token-only"], DECLINE),
    (["token", "-i", "c", "--unknown"], DECLINE),
    (["token", "-i", "c", "-c", "config.yaml"], DECLINE),
    (["token", "-i", "c", "--log-format", "text"], DECLINE),
    (["token", "-i", "c", "-v", "debug"], DECLINE),
    (["token", "-i", "c", "--feature-gates", "SSORoleMatch=true"], DECLINE),
    (["-c", "config.yaml", "token"], DECLINE),
    (["-v", "debug", "token", "-i", "c"], DECLINE),
]

CLEAN_ENV = ("KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID", "AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY")


def _argparse_result(argv: list[str]) -> dict[str, object] | int:
    """argparse's namespace as a dict, or the code it exits with (usage errors, help)."""
    try:
        return vars(parse_command_line(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else -1


@pytest.mark.parametrize(
    "environ",
    [{}, {"KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID": "from-env"}],
    ids=["plain", "cluster-id-variable"],
)
@pytest.mark.parametrize(("argv", "expected"), COMMAND_LINES, ids=repr)
def test_the_fast_reading_equals_argparse_or_declines(
    argv: list[str],
    expected: str,
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    fast = token_args(argv, os.environ)
    full = _argparse_result(argv)
    capsys.readouterr()  # argparse's help and messages
    if expected == FAST:
        assert fast is not None, "a command line kubeconfigs use was left to argparse"
        assert isinstance(full, dict)
        assert vars(fast) == full
        assert fast == parse_command_line(argv)
    else:
        assert fast is None
    if not isinstance(full, dict):  # argparse refused it or printed help: never read fast
        assert fast is None


@pytest.mark.parametrize("level", ["debug", "loud"])
def test_the_log_verbosity_variable_goes_to_argparse(
    level: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # apply_global_flags checks it (and refuses a bad level): one place decides.
    monkeypatch.setenv("AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY", level)
    assert token_args(["token", "-i", "c"], os.environ) is None
    full = _argparse_result(["token", "-i", "c"])
    capsys.readouterr()
    assert full == EXIT_USAGE if level == "loud" else isinstance(full, dict)


def test_the_namespace_stand_in_behaves_like_argparses() -> None:
    fast = token_args(["token", "-i", "c"], {})
    assert fast is not None
    assert "cluster_id" in fast
    assert "role_arn" not in fast
    assert fast.cluster_id == "c"
    assert fast != token_args(["token", "-i", "d"], {})
    assert repr(fast).startswith("Namespace(")
    with pytest.raises(TypeError):
        hash(fast)


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "-i", "c", "--sts-regional-endpoints", "fast"],
        ["token", "-i", "c", "-s", "me", "--forward-session-name"],
        ["get-token", "--cluster-name", "c", "-o", "yaml"],
        ["token", "-i", "c", "--unknown"],
    ],
)
def test_declined_lines_get_argparses_messages_and_exit_code(argv: list[str]) -> None:
    # Through the real entry point in a child process: what a user sees.
    result = subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *argv],
        env=child_env({"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_USAGE
    assert result.stdout == ""
    assert "error:" in result.stderr
    assert result.stderr.startswith("usage: k8s-aws-auth " + argv[0])
