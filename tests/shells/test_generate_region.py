"""Region and STS endpoint choices of ``generate_token`` without credentials match ``aws eks get-token``.

The real awscli runs in a process of its own with its clock frozen (tests/support/awscli_oracle.py)
in the same environment and HOME; our token is generated in-process with the
same environment mapping and second.
"""

from __future__ import annotations

import json
import os
import pathlib
from datetime import datetime

import pytest

from k8s_aws_auth import Credentials, decode_token, generate_token
from k8s_aws_auth.credentials import CredentialResolver
from k8s_aws_auth.errors import ConfigurationError
from tests.support.awscli_oracle import run_awscli
from tests.support.credentials import write_aws_files
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

NOW_TEXT = "2026-11-28T11:02:49+00:00"
NOW = datetime.fromisoformat(NOW_TEXT)

PROFILES = (
    "[default]\nregion = ap-southeast-1\n"
    "[profile legacy]\nregion = eu-central-1\nsts_regional_endpoints = legacy\n"
    "[profile fips]\nregion = us-west-2\nuse_fips_endpoint = true\n"
    "[profile dual]\nregion = eu-west-1\nuse_dualstack_endpoint = true\n"
)


def _base_env(home: pathlib.Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
    }


def _awscli_token(env: dict[str, str]) -> str:
    result = run_awscli(["eks", "get-token", "--cluster-name", "c"], env, frozen=NOW_TEXT)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["status"]["token"])


CASES = [
    ("no-region", {}, False),
    ("us-east-1", {"AWS_DEFAULT_REGION": "us-east-1"}, False),
    (
        "legacy-classic",
        {"AWS_DEFAULT_REGION": "eu-central-1", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
        False,
    ),
    (
        "legacy-opt-in",
        {"AWS_DEFAULT_REGION": "af-south-1", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
        False,
    ),
    ("china", {"AWS_DEFAULT_REGION": "cn-north-1"}, False),
    ("govcloud", {"AWS_DEFAULT_REGION": "us-gov-west-1"}, False),
    ("fips-env", {"AWS_DEFAULT_REGION": "us-east-1", "AWS_USE_FIPS_ENDPOINT": "true"}, False),
    (
        "dualstack-env",
        {"AWS_DEFAULT_REGION": "us-east-1", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
        False,
    ),
    ("profile-region", {}, True),
    ("profile-legacy", {"AWS_PROFILE": "legacy"}, True),
    ("profile-fips", {"AWS_PROFILE": "fips"}, True),
    ("profile-dualstack", {"AWS_PROFILE": "dual"}, True),
    ("env-region-beats-profile", {"AWS_DEFAULT_REGION": "us-west-1"}, True),
]


@pytest.mark.parametrize(
    ("extra", "with_profiles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_same_host_and_token_as_aws_eks_get_token(
    extra: dict[str, str], with_profiles: bool
) -> None:
    home = pathlib.Path(os.environ["HOME"])
    if with_profiles:
        write_aws_files(home, config=PROFILES)
    env = {**_base_env(home), **extra}
    ours = generate_token("c", environ=env, now=NOW)
    assert ours.value == _awscli_token(env)


def test_environment_credentials_give_the_same_token_as_explicit_ones() -> None:
    home = pathlib.Path(os.environ["HOME"])
    env = {**_base_env(home), "AWS_DEFAULT_REGION": "eu-west-1", "AWS_SESSION_TOKEN": "tok/+="}
    from_env = generate_token("c", environ=env, now=NOW)
    explicit = generate_token(
        "c",
        credentials=Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET, "tok/+="),
        region="eu-west-1",
        now=NOW,
    )
    assert from_env == explicit


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DOC_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DOC_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    url = decode_token(generate_token("c", now=NOW).value)
    assert url.startswith("https://sts.us-west-2.amazonaws.com/?")


def test_explicit_credentials_read_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "bogus")
    token = generate_token("c", credentials=Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), now=NOW)
    assert decode_token(token.value).startswith("https://sts.amazonaws.com/?")


def test_explicit_arguments_override_configuration() -> None:
    home = pathlib.Path(os.environ["HOME"])
    env = {**_base_env(home), "AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "true"}
    url = decode_token(
        generate_token("c", environ=env, now=NOW, region="eu-west-2", use_fips=False).value
    )
    assert url.startswith("https://sts.eu-west-2.amazonaws.com/?")
    url = decode_token(
        generate_token(
            "c",
            environ=env,
            now=NOW,
            region="us-east-1",
            sts_regional_endpoints="legacy",
            use_fips=False,
        ).value
    )
    assert url.startswith("https://sts.amazonaws.com/?")


def test_aws_region_is_honoured_like_the_sdks_and_cli_v2() -> None:
    # awscli v1 ignores AWS_REGION (reference/peers.md §1); the SDKs, AWS CLI v2 and
    # aws-iam-authenticator use it before AWS_DEFAULT_REGION. We follow them.
    home = pathlib.Path(os.environ["HOME"])
    env = {**_base_env(home), "AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "us-west-2"}
    assert CredentialResolver(environ=env).settings().region == "ap-south-1"
    ours = generate_token("c", environ=env, now=NOW)
    cli_env = {**_base_env(home), "AWS_DEFAULT_REGION": "ap-south-1"}
    assert ours.value == _awscli_token(cli_env)


def test_endpoint_url_never_changes_the_token_host() -> None:
    home = pathlib.Path(os.environ["HOME"])
    env = {
        **_base_env(home),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000",
    }
    url = decode_token(generate_token("c", environ=env, now=NOW).value)
    assert url.startswith("https://sts.us-east-1.amazonaws.com/?")


@pytest.mark.parametrize("value", ["regionl", "global", "REGIONAL ish"])
def test_invalid_endpoint_mode_is_a_configuration_error(value: str) -> None:
    home = pathlib.Path(os.environ["HOME"])
    env = {**_base_env(home), "AWS_STS_REGIONAL_ENDPOINTS": value}
    with pytest.raises(ConfigurationError, match="must be 'regional' or 'legacy'"):
        generate_token("c", environ=env, now=NOW)


def test_empty_region_variables_count_as_unset() -> None:
    home = pathlib.Path(os.environ["HOME"])
    write_aws_files(home, config="[default]\nregion = eu-north-1\n")
    env = {**_base_env(home), "AWS_REGION": "", "AWS_DEFAULT_REGION": " "}
    assert CredentialResolver(environ=env).settings().region == "eu-north-1"


def test_invalid_region_is_a_configuration_error() -> None:
    home = pathlib.Path(os.environ["HOME"])
    env = {**_base_env(home), "AWS_DEFAULT_REGION": "not a region"}
    with pytest.raises(ConfigurationError):
        generate_token("c", environ=env, now=NOW)
