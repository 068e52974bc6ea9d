"""The exec plugin's chain-free path through ``~/.aws/config`` and ``~/.aws/credentials``.

``k8s-aws-auth token``/``get-token`` read region settings and a plain profile's
static keys without importing the credential chain. These tests hold that path
to two oracles: the real ``aws eks get-token`` (awscli, clock frozen, in a
process of its own) and this library's own full chain (``CredentialResolver``), for
the same files and environment. That the path really skipped the chain is
checked in ``tests/cli/test_startup.py``.
"""

from __future__ import annotations

import argparse
import base64
import json
import pathlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_aws_auth.cli._token import configure, request_from_args, sign
from k8s_aws_auth.credentials import CredentialResolver
from k8s_aws_auth.credentials._shared_files import SharedFiles, profile_static_keys
from k8s_aws_auth.errors import ConfigurationError, CredentialProviderError
from tests.support.awscli_oracle import run_awscli
from tests.support.budget import examples
from tests.support.child_env import child_env
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

NOW = "2026-11-28T11:02:49+00:00"
# AWS's documentation examples for a second and third identity.
DEV_KEY_ID = "AKIAI44QH8DHBEXAMPLE"
DEV_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
OPS_KEY_ID = "AKIAJ6ZM3IWEXAMPLE77"
OPS_SECRET = "bPxRfiCYEXAMPLEKEYwJalrXUtnFEMI/K7MDENG"
ENV_KEYS = {"AWS_ACCESS_KEY_ID": OPS_KEY_ID, "AWS_SECRET_ACCESS_KEY": OPS_SECRET}
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def+ghi==end"

CONFIG = f"""\
[default]
region = eu-north-1

[profile legacy]
region = eu-west-2
sts_regional_endpoints = legacy

[profile fips]
region = us-east-1
use_fips_endpoint = true

[profile dualstack]
region = ap-southeast-2
use_dualstack_endpoint = TRUE

[profile dev]
region = us-west-2

[profile ops]
region = ca-central-1
aws_access_key_id = {OPS_KEY_ID}
aws_secret_access_key = {OPS_SECRET}

[profile both]
region = eu-central-1
aws_access_key_id = {OPS_KEY_ID}
aws_secret_access_key = {OPS_SECRET}
"""

CREDENTIALS = f"""\
[default]
aws_access_key_id = {DOC_ACCESS_KEY_ID}
aws_secret_access_key = {DOC_SECRET}

[dev]
aws_access_key_id = {DEV_KEY_ID}
aws_secret_access_key = {DEV_SECRET}
aws_session_token = {SESSION_TOKEN}

[both]
aws_access_key_id = {DEV_KEY_ID}
aws_secret_access_key = {DEV_SECRET}
"""


def _home(tmp_path: pathlib.Path, config: str = CONFIG, credentials: str = CREDENTIALS) -> str:
    aws = tmp_path / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "config").write_text(config, encoding="utf-8")
    (aws / "credentials").write_text(credentials, encoding="utf-8")
    return str(tmp_path)


def _env(home: str, **extra: str) -> dict[str, str]:
    """No credentials or region in the environment: everything comes from ~/.aws."""
    return {
        "HOME": home,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def _run(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=child_env(env), capture_output=True, text=True, timeout=60, check=False
    )


def _awscli(args: Sequence[str], env: Mapping[str, str]) -> dict[str, object]:
    result = run_awscli(args, env, frozen=NOW)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _ours(args: Sequence[str], env: Mapping[str, str]) -> dict[str, object]:
    result = _run([sys.executable, "-m", "k8s_aws_auth", *args, "--now", NOW], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document: dict[str, object] = json.loads(result.stdout)
    return document


# --- the same ExecCredential as `aws eks get-token`, from the same files ----------------------


AWSCLI_CASES = [
    pytest.param([], {}, "sts.eu-north-1.amazonaws.com", DOC_ACCESS_KEY_ID, id="default-profile"),
    # Environment keys, settings from the profile (the plain ~/.aws/config case):
    pytest.param(
        [], {"AWS_PROFILE": "legacy", **ENV_KEYS}, "sts.amazonaws.com", OPS_KEY_ID, id="legacy"
    ),
    pytest.param(
        [],
        {"AWS_PROFILE": "fips", **ENV_KEYS},
        "sts-fips.us-east-1.amazonaws.com",
        OPS_KEY_ID,
        id="fips",
    ),
    pytest.param(
        [],
        {"AWS_PROFILE": "dualstack", **ENV_KEYS},
        "sts.ap-southeast-2.api.aws",
        OPS_KEY_ID,
        id="dualstack",
    ),
    pytest.param(
        [], {"AWS_PROFILE": "dev"}, "sts.us-west-2.amazonaws.com", DEV_KEY_ID, id="credentials-file"
    ),
    pytest.param(
        ["--profile", "dev"],
        {"AWS_PROFILE": "legacy"},
        "sts.us-west-2.amazonaws.com",
        DEV_KEY_ID,
        id="profile-flag-over-AWS_PROFILE",
    ),
    pytest.param(
        [], {"AWS_PROFILE": "ops"}, "sts.ca-central-1.amazonaws.com", OPS_KEY_ID, id="config-file"
    ),
    pytest.param(
        [],
        {"AWS_PROFILE": "both"},
        "sts.eu-central-1.amazonaws.com",
        DEV_KEY_ID,
        id="credentials-file-wins-over-config-file",
    ),
    pytest.param(
        [],
        {"AWS_DEFAULT_PROFILE": "dev", "AWS_PROFILE": "ops"},
        "sts.us-west-2.amazonaws.com",
        DEV_KEY_ID,
        id="AWS_DEFAULT_PROFILE-first",
    ),
    pytest.param(
        [],
        {"AWS_PROFILE": "legacy", "AWS_DEFAULT_REGION": "us-east-1", **ENV_KEYS},
        "sts.amazonaws.com",
        OPS_KEY_ID,
        id="environment-region-with-profile-mode",
    ),
    pytest.param(
        [],
        {"AWS_PROFILE": "dev", **ENV_KEYS},
        "sts.us-west-2.amazonaws.com",
        OPS_KEY_ID,
        id="environment-keys-over-AWS_PROFILE-keys",
    ),
    pytest.param(
        ["--profile", "dev"],
        ENV_KEYS,
        "sts.us-west-2.amazonaws.com",
        DEV_KEY_ID,
        id="profile-flag-over-environment-keys",
    ),
]


@pytest.mark.parametrize(("profile_args", "extra_env", "host", "key_id"), AWSCLI_CASES)
def test_get_token_matches_awscli_for_the_shared_files(
    profile_args: list[str],
    extra_env: dict[str, str],
    host: str,
    key_id: str,
    tmp_path: pathlib.Path,
) -> None:
    env = _env(_home(tmp_path), **extra_env)
    # awscli takes --profile before the command, as a global option.
    expected = _awscli([*profile_args, "eks", "get-token", "--cluster-name", "c"], env)
    ours = _ours(["get-token", "--cluster-name", "c", *profile_args], env)
    assert ours == expected
    status = ours["status"]
    assert isinstance(status, dict)
    url = _decoded(status["token"])
    # Guards for the oracle: the files really decided the host and the key.
    assert url.startswith(f"https://{host}/?")
    assert f"X-Amz-Credential={key_id}%2F" in url


def _decoded(token: str) -> str:
    payload = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_region_in_the_credentials_file_alone_counts_as_in_awscli(tmp_path: pathlib.Path) -> None:
    credentials = (
        f"[default]\nregion = eu-west-3\n"
        f"aws_access_key_id = {DEV_KEY_ID}\naws_secret_access_key = {DEV_SECRET}\n"
    )
    home = _home(tmp_path, CONFIG, credentials)
    (tmp_path / ".aws" / "config").unlink()
    env = _env(home)
    expected = _awscli(["eks", "get-token", "--cluster-name", "c"], env)
    ours = _ours(["get-token", "--cluster-name", "c"], env)
    assert ours == expected
    status = ours["status"]
    assert isinstance(status, dict)
    assert _decoded(status["token"]).startswith("https://sts.eu-west-3.amazonaws.com/?")


def test_token_command_signs_what_awscli_signs_for_a_profile(tmp_path: pathlib.Path) -> None:
    """The aws-iam-authenticator style command reads the same profile the same way."""
    env = _env(_home(tmp_path), AWS_PROFILE="dev")
    expected = _awscli(["eks", "get-token", "--cluster-name", "c"], env)
    ours = _ours(["token", "-i", "c"], env)
    assert ours["status"] == expected["status"]


# --- the same credentials as the full chain ---------------------------------------------------


def _chain_keys(environ: Mapping[str, str], profile: str | None) -> tuple[str, str, str | None]:
    credentials = CredentialResolver(profile=profile, environ=environ, mfa_input=None).resolve()
    return credentials.access_key_id, credentials.secret_access_key, credentials.session_token


#: (config, credentials, environment, --profile) → the keys the plugin signs with,
#: or None where only the chain may decide.
PROFILE_CASES = [
    pytest.param(
        CONFIG, CREDENTIALS, {}, None, (DOC_ACCESS_KEY_ID, DOC_SECRET, None), id="default"
    ),
    pytest.param(
        CONFIG, CREDENTIALS, {}, "dev", (DEV_KEY_ID, DEV_SECRET, SESSION_TOKEN), id="session-token"
    ),
    pytest.param(CONFIG, CREDENTIALS, {}, "ops", (OPS_KEY_ID, OPS_SECRET, None), id="config-keys"),
    pytest.param(CONFIG, CREDENTIALS, {}, "both", (DEV_KEY_ID, DEV_SECRET, None), id="both-files"),
    pytest.param(
        "",
        f"[x]\naws_access_key_id = {DEV_KEY_ID}\naws_secret_access_key = {DEV_SECRET}\n"
        "aws_session_token = new\naws_security_token = old\n",
        {},
        "x",
        (DEV_KEY_ID, DEV_SECRET, "old"),
        id="older-token-name-preferred",
    ),
    pytest.param(
        CONFIG, CREDENTIALS, {"AWS_ACCESS_KEY_ID": OPS_KEY_ID}, None, None, id="env-key-id"
    ),
    pytest.param(
        CONFIG,
        CREDENTIALS,
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
        None,
        None,
        id="env-web-identity",
    ),
    pytest.param(
        CONFIG,
        CREDENTIALS,
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"},
        "dev",
        (DEV_KEY_ID, DEV_SECRET, SESSION_TOKEN),
        id="explicit-profile-ignores-env-web-identity",
    ),
    pytest.param(
        "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = dev\n",
        f"[r]\naws_access_key_id = {DEV_KEY_ID}\naws_secret_access_key = {DEV_SECRET}\n",
        {},
        "r",
        None,
        id="role_arn",
    ),
    pytest.param(
        "[profile p]\ncredential_process = /bin/false\n"
        f"aws_access_key_id = {OPS_KEY_ID}\naws_secret_access_key = {OPS_SECRET}\n",
        "",
        {},
        "p",
        None,
        id="credential_process-before-config-keys",
    ),
    pytest.param(
        "[profile s]\nsso_session = corp\n",
        f"[s]\naws_access_key_id = {DEV_KEY_ID}\naws_secret_access_key = {DEV_SECRET}\n",
        {},
        "s",
        None,
        id="sso",
    ),
    pytest.param(
        "[profile w]\nweb_identity_token_file = /t\nrole_arn = arn:aws:iam::1:role/r\n",
        "",
        {},
        "w",
        None,
        id="web_identity_token_file",
    ),
    pytest.param(
        "", f"[k]\naws_access_key_id = {DEV_KEY_ID}\n", {}, "k", None, id="key-id-without-secret"
    ),
    pytest.param("", "", {}, "missing", None, id="missing-profile"),
]


@pytest.mark.parametrize(
    ("config", "credentials", "extra_env", "profile", "expected"), PROFILE_CASES
)
def test_profile_static_keys_are_the_chains_answer(
    config: str,
    credentials: str,
    extra_env: dict[str, str],
    profile: str | None,
    expected: tuple[str, str, str | None] | None,
    tmp_path: pathlib.Path,
) -> None:
    environ = _env(_home(tmp_path, config, credentials), **extra_env)
    keys = profile_static_keys(SharedFiles(environ, profile=profile))
    assert keys == expected
    if keys is not None:
        assert keys == _chain_keys(environ, profile)


_KEY_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "aws_access_key_id": st.sampled_from([DEV_KEY_ID, ""]),
        "aws_secret_access_key": st.sampled_from([DEV_SECRET, ""]),
        "aws_session_token": st.sampled_from(["tok", ""]),
        "aws_security_token": st.just("old"),
    },
)
_OTHER_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "region": st.just("us-west-2"),
        "role_arn": st.just("arn:aws:iam::111122223333:role/r"),
        "source_profile": st.just("p"),
        "credential_source": st.just("Environment"),
        "credential_process": st.just("/bin/false"),
        "sso_start_url": st.just("https://corp.awsapps.com/start"),
        "web_identity_token_file": st.just("/nonexistent/token"),
    },
)


def _section(header: str, values: Mapping[str, str]) -> str:
    return f"[{header}]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    config_keys=_KEY_SETTINGS,
    config_other=_OTHER_SETTINGS,
    credentials_keys=_KEY_SETTINGS,
    credentials_other=_OTHER_SETTINGS,
    env_keys=st.booleans(),
    explicit=st.booleans(),
)
def test_whenever_the_shared_files_answer_the_chain_answers_the_same(
    config_keys: dict[str, str],
    config_other: dict[str, str],
    credentials_keys: dict[str, str],
    credentials_other: dict[str, str],
    env_keys: bool,
    explicit: bool,
    tmp_path: pathlib.Path,
) -> None:
    config = _section("profile p", {**config_other, **config_keys})
    credentials = _section("p", {**credentials_other, **credentials_keys})
    extra = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # a chain gone astray fails fast
    if env_keys:
        extra |= ENV_KEYS
    if not explicit:
        extra["AWS_PROFILE"] = "p"
    environ = _env(_home(tmp_path, config, credentials), **extra)
    profile = "p" if explicit else None
    keys = profile_static_keys(SharedFiles(environ, profile=profile))
    if keys is not None:
        assert keys == _chain_keys(environ, profile)


# --- settings: one set of rules for the resolver and the plugin -------------------------------


@pytest.mark.parametrize("profile", ["default", "legacy", "fips", "dualstack", "dev", "missing"])
def test_plugin_settings_are_the_resolvers(profile: str, tmp_path: pathlib.Path) -> None:
    from k8s_aws_auth.credentials._region import resolve_settings

    environ = _env(_home(tmp_path))
    ours = resolve_settings(SharedFiles(environ, profile=profile))
    assert ours == CredentialResolver(profile=profile, environ=environ).settings()


def test_region_flags_are_not_read_from_the_files_when_given(tmp_path: pathlib.Path) -> None:
    from k8s_aws_auth.credentials._region import ClientSettings, resolve_settings

    reads: list[str] = []

    def read_file(path: str) -> str | None:
        reads.append(path)
        return None

    environ = {"AWS_USE_FIPS_ENDPOINT": "false", "AWS_USE_DUALSTACK_ENDPOINT": "true"}
    files = SharedFiles(environ, read_file=read_file)
    settings = resolve_settings(files, region="eu-west-1", sts_regional_endpoints="legacy")
    assert settings == ClientSettings(
        region="eu-west-1", sts_regional_endpoints="legacy", use_dualstack=True
    )
    assert reads == []


def test_bad_endpoint_mode_in_the_profile_is_a_configuration_error(tmp_path: pathlib.Path) -> None:
    from k8s_aws_auth.credentials._region import resolve_settings

    environ = _env(_home(tmp_path, "[default]\nsts_regional_endpoints = global\n", ""))
    with pytest.raises(ConfigurationError, match="sts_regional_endpoints"):
        resolve_settings(SharedFiles(environ))


def test_malformed_config_file_names_the_file_and_line(tmp_path: pathlib.Path) -> None:
    environ = _env(_home(tmp_path, f"aws_secret_access_key = {DEV_SECRET}\n", ""))
    with pytest.raises(CredentialProviderError, match=r"config line 1") as caught:
        profile_static_keys(SharedFiles(environ, profile="p"))
    assert DEV_SECRET not in str(caught.value)


# --- through the CLI: fast path and chain agree, and chain-only profiles still work ----------


def _cli_token(args: Sequence[str], env: Mapping[str, str]) -> str:
    document = _ours(["token", "-i", "c", *args], env)
    status = document["status"]
    assert isinstance(status, dict)
    token: str = status["token"]
    return token


def _chain_token(args: Sequence[str], environ: Mapping[str, str]) -> str:
    """The token of the plugin's chain path: ``sign`` (CredentialResolver + presign_token).

    The environments here hold no keys, so ``sign`` always resolves through the chain.
    """
    assert "AWS_ACCESS_KEY_ID" not in environ
    parser = argparse.ArgumentParser(prog="k8s-aws-auth token")
    configure(parser)
    args_ns = parser.parse_args(["-i", "c", *args])
    args_ns.command = "token"
    request = request_from_args(args_ns, environ)
    return sign(request, environ, interactive=False, now=datetime.fromisoformat(NOW)).value


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        pytest.param([], {}, id="default"),
        pytest.param(["--profile", "dev"], {}, id="profile-flag"),
        pytest.param([], {"AWS_PROFILE": "ops"}, id="config-keys"),
        pytest.param(
            ["--profile", "both", "--region", "us-east-1", "--sts-regional-endpoints", "legacy"],
            {},
            id="flags",
        ),
        pytest.param(["--profile", "both"], {"AWS_USE_DUALSTACK_ENDPOINT": "true"}, id="env-flag"),
        pytest.param([], {"AWS_PROFILE": "dev", "AWS_REGION": "sa-east-1"}, id="env-region"),
    ],
)
def test_cli_fast_path_token_equals_the_chain_path_token(
    args: list[str], extra_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    environ = _env(_home(tmp_path), **extra_env)
    assert _cli_token(args, environ) == _chain_token(args, environ)


def test_credential_process_profile_still_goes_through_the_chain(tmp_path: pathlib.Path) -> None:
    process = json.dumps({"Version": 1, "AccessKeyId": OPS_KEY_ID, "SecretAccessKey": OPS_SECRET})
    script = tmp_path / "creds.py"
    script.write_text(f"print({process!r})\n", encoding="utf-8")
    config = (
        f"[profile p]\nregion = us-west-2\ncredential_process = {sys.executable} {script}\n"
        f"aws_access_key_id = {DEV_KEY_ID}\naws_secret_access_key = {DEV_SECRET}\n"
    )
    environ = _env(_home(tmp_path, config, ""), AWS_PROFILE="p")
    url = _decoded(_cli_token([], environ))
    assert f"X-Amz-Credential={OPS_KEY_ID}%2F" in url  # the process's keys, not the config's


def test_partial_profile_keys_report_the_chains_error(tmp_path: pathlib.Path) -> None:
    environ = _env(_home(tmp_path, "", f"[k]\naws_access_key_id = {DEV_KEY_ID}\n"))
    result = _run(
        [sys.executable, "-m", "k8s_aws_auth", "token", "-i", "c", "--profile", "k"], environ
    )
    assert result.returncode == 1
    assert "has aws_access_key_id but no aws_secret_access_key" in result.stderr
