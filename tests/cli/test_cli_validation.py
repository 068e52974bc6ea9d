"""The CLI checks what it would sign or write: regions, role ARNs, plugin commands; bad flags get the subcommand's usage; kubeconfig merging."""

from __future__ import annotations

import os
import pathlib
import re
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.budget import examples
from tests.support.child_env import child_env

KEYS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40}


def _cli(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env(environ),
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["token", "-i", "c", "--region", "us-west-99"], {}, "'us-west-99' (from --region)"),
        (["token", "-i", "c"], {"AWS_REGION": "moon-1"}, "'moon-1' (from AWS_REGION)"),
        (
            ["get-token", "--cluster-name", "c"],
            {"AWS_DEFAULT_REGION": "eu-nowhere-7"},
            "'eu-nowhere-7' (from AWS_DEFAULT_REGION)",
        ),
    ],
)
def test_an_unknown_region_is_refused_naming_its_source(
    args: list[str], env: dict[str, str], named: str
) -> None:
    result = _cli(args, {**KEYS, **env})
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"unknown AWS region {named}" in result.stderr


def test_a_profile_s_region_is_named_by_its_profile(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = mars-north-1\n")
    result = _cli(
        ["token", "-i", "c", "--profile", "dev"], {**KEYS, "AWS_CONFIG_FILE": str(config)}
    )
    assert result.returncode == 1
    assert "'mars-north-1' (from the region of profile 'dev')" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "problem"),
    [
        (["token", "-i", "c", "-r", "not-an-arn"], {}, "(from -r/--role)"),
        (
            ["token", "-i", "c", "--region", "cn-north-1"],
            {"DEFAULT_ROLE": "arn:aws:iam::111122223333:role/X"},
            "partition 'aws' is not 'aws-cn' of region 'cn-north-1' (from DEFAULT_ROLE)",
        ),
        (
            ["get-token", "--cluster-name", "c", "--role-arn", "arn:aws:iam::111122223333:user/u"],
            {},
            "names 'user', not an IAM role (from --role-arn)",
        ),
    ],
)
def test_a_bad_role_arn_is_refused_before_any_call(
    args: list[str], env: dict[str, str], problem: str
) -> None:
    # No STS endpoint is reachable: a role that passed the check would fail differently.
    result = _cli(args, {**KEYS, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9", **env})
    assert result.returncode == 1
    assert "is not an assumable IAM role ARN" in result.stderr
    assert problem in result.stderr


def test_a_bad_flag_prints_the_subcommand_s_usage() -> None:
    result = _cli(["token", "-i", "c", "--bogus"])
    assert result.returncode == 64
    assert result.stderr.startswith("usage: k8s-aws-auth token ")
    assert "k8s-aws-auth token: error: unrecognized arguments: --bogus" in result.stderr
    top = _cli(["--bogus"])
    assert top.returncode == 64
    assert top.stderr.startswith("usage: k8s-aws-auth [-h]")


def _kubeconfig(
    *extra: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return _cli(
        ["kubeconfig", "-i", "prod", "--server", "https://10.0.0.1:6443", "--this-python", *extra],
        env,
    )


def test_kubeconfig_checks_region_role_and_command() -> None:
    assert "unknown AWS region 'moon-1' (from --region)" in _kubeconfig("--region", "moon-1").stderr
    bad_role = _kubeconfig("--region", "us-west-2", "--role", "admin")
    assert bad_role.returncode == 1
    assert "role ARN 'admin' is not an assumable IAM role ARN" in bad_role.stderr
    missing = _cli(
        ["kubeconfig", "-i", "p", "--server", "https://h", "--command", "/nonexistent/plugin"]
    )
    assert missing.returncode == 1
    assert "--command '/nonexistent/plugin' is not an executable" in missing.stderr


def test_kubeconfig_merges_into_a_file_keeping_other_entries(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "other", "cluster": {"server": "https://other"}},
                    {"name": "prod", "cluster": {"server": "https://old"}},
                ],
                "users": [{"name": "other", "user": {"token": "keep-me"}}],
                "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
                "current-context": "other",
                "preferences": {"colors": True},
            }
        )
    )
    result = _kubeconfig("--region", "us-west-2", "--kubeconfig", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote context 'prod' to {path}\n"
    merged = yaml.safe_load(path.read_text())
    assert [c["name"] for c in merged["clusters"]] == ["other", "prod"]
    assert merged["clusters"][1]["cluster"]["server"] == "https://10.0.0.1:6443"  # replaced
    assert [u["name"] for u in merged["users"]] == ["other", "prod"]
    assert merged["users"][0]["user"] == {"token": "keep-me"}
    assert merged["users"][1]["user"]["exec"]["args"][-4:] == [
        "-i",
        "prod",
        "--region",
        "us-west-2",
    ]
    assert [c["name"] for c in merged["contexts"]] == ["other", "prod"]
    assert merged["current-context"] == "prod"
    assert merged["preferences"] == {"colors": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_kubeconfig_default_file_is_kubeconfig_s_first_path_else_home(
    tmp_path: pathlib.Path,
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    result = _kubeconfig("--kubeconfig", env={"KUBECONFIG": f"{first}{os.pathsep}{second}"})
    assert result.returncode == 0, result.stderr
    assert first.exists()
    assert not second.exists()
    home = tmp_path / "home"
    result = _kubeconfig("--kubeconfig", env={"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    created = home / ".kube" / "config"
    assert yaml.safe_load(created.read_text())["current-context"] == "prod"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600


def test_kubeconfig_refuses_to_merge_into_a_file_that_is_not_a_kubeconfig(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "config"
    for text, problem in (("- a list\n", "not a mapping"), ("clusters: 3\n", "clusters is a int")):
        path.write_text(text)
        result = _kubeconfig("--kubeconfig", str(path))
        assert result.returncode == 1
        assert problem in result.stderr
        assert path.read_text() == text  # left untouched


# The exec plugin's fast path for role ARNs (cli/_token_request.py) skips the full
# check only for ARNs the full check accepts: a fast "yes" never overrides a "no".
_ROLE_ARN_CASES = [
    "arn:aws:iam::111122223333:role/Dev",
    "arn:aws:iam::111122223333:role/team/a/Dev",
    "arn:aws:iam::111122223333:role/Dev:with:colons",
    "arn:aws-cn:iam::111122223333:role/Dev",
    "arn:aws:iam::111122223333:role//Dev",
    "arn:aws:iam::111122223333:role/Dev/",
    "arn:aws:iam::111122223333:role/",
    "arn:aws:iam::11112222333:role/Dev",
    "arn:aws:iam:us-east-1:111122223333:role/Dev",
    "arn:aws:iam::111122223333:user/Dev",
    "arn:aws:sts::111122223333:assumed-role/Dev/s",
    "arn:aws:iam::111122223333:role/D ev",
    "arn:aws:iam::111122223333:role/Dév",
    "arn:nope:iam::111122223333:role/Dev",
    "arn:aws:iam::１１１１２２２２３３３３:role/Dev",
]


@pytest.mark.parametrize("region", [None, "us-east-1", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize("arn", _ROLE_ARN_CASES)
def test_the_fast_role_check_accepts_only_what_the_full_check_accepts(
    arn: str, region: str | None
) -> None:
    from k8s_aws_auth.cli._token_request import check_role_flag
    from k8s_aws_auth.credentials.internal import check_role_arn
    from k8s_aws_auth.errors import ConfigurationError

    full_message: str | None = None
    try:
        check_role_arn(arn, region)
    except ConfigurationError as full:
        full_message = full.message
    if full_message is None:
        check_role_flag(arn, region, "--role")  # accepted by both
        return
    with pytest.raises(ConfigurationError) as fast:
        check_role_flag(arn, region, "--role")
    assert fast.value.reason == "usage"
    assert fast.value.message == f"{full_message} (from --role)"


# The layout the fast check matched when it was a regular expression.
_PLAIN_ROLE_LAYOUT = re.compile(r"arn:([a-z0-9-]+):iam::[0-9]{12}:role/[!-.0-~]+(?:/[!-.0-~]+)*")
_ARNISH = st.builds(
    ":".join,
    st.lists(
        st.sampled_from(["arn", "aws", "aws-cn", "iam", "", "111122223333", "1111", "role/Dev"])
        | st.text(alphabet="arnws-iomle/D:1 é０", max_size=12),
        min_size=1,
        max_size=7,
    ),
)


@settings(max_examples=examples(500), deadline=None)
@given(st.one_of(_ARNISH, st.sampled_from(_ROLE_ARN_CASES)))
def test_the_plain_role_reading_matches_its_old_pattern(arn: str) -> None:
    from k8s_aws_auth.cli._token_request import plain_role_partition

    match = _PLAIN_ROLE_LAYOUT.fullmatch(arn)
    assert plain_role_partition(arn) == (match.group(1) if match else None)
