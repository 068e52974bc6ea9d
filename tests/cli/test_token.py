"""``k8s-aws-auth token`` / ``get-token`` as kubectl runs them: whole processes, real env."""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import TokenVerifier, VerifierConfig
from k8s_aws_auth.testing import FakeSTS
from tests.support.child_env import child_env
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

NOW = "2026-11-28T11:02:49Z"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
ROLE_ARN = "arn:aws:iam::111122223333:role/eks-admins"
USER_ARN = "arn:aws:iam::111122223333:user/alice"


def _base_env(home: pathlib.Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def _env(home: pathlib.Path, **extra: str) -> dict[str, str]:
    return _base_env(
        home, AWS_ACCESS_KEY_ID=DOC_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=DOC_SECRET, **extra
    )


def _run(
    args: Sequence[str], env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *args],
        env=child_env(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _ok(args: Sequence[str], env: Mapping[str, str], stdin: str | None = None) -> dict[str, object]:
    result = _run(args, env, stdin)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _status(document: Mapping[str, object]) -> dict[str, str]:
    status = document["status"]
    assert isinstance(status, dict)
    return status


def _url(token: str) -> str:
    payload = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


# --- output shape and KUBERNETES_EXEC_INFO ----------------------------------------------


def test_token_prints_a_v1beta1_exec_credential_by_default(tmp_path: pathlib.Path) -> None:
    result = _run(["token", "-i", "c", "--now", NOW], _env(tmp_path, AWS_REGION="us-west-2"))
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.endswith("}\n")
    document = json.loads(result.stdout)
    assert list(document) == ["kind", "apiVersion", "spec", "status"]
    assert document["kind"] == "ExecCredential"
    assert document["apiVersion"] == V1BETA1
    assert document["spec"] == {}
    assert _status(document)["expirationTimestamp"] == "2026-11-28T11:16:49Z"
    assert _url(_status(document)["token"]).startswith("https://sts.us-west-2.amazonaws.com/?")


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_api_version_follows_kubernetes_exec_info(tmp_path: pathlib.Path, api_version: str) -> None:
    info = json.dumps(
        {"kind": "ExecCredential", "apiVersion": api_version, "spec": {"interactive": False}}
    )
    result = _run(["token", "-i", "c"], _env(tmp_path, KUBERNETES_EXEC_INFO=info + "\n"))
    assert result.returncode == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["apiVersion"] == api_version


@pytest.mark.parametrize(
    ("exec_info", "warning"),
    [
        ("{not json", "not valid JSON"),
        ('{"apiVersion": "client.authentication.k8s.io/v2"}', "unknown apiVersion"),
    ],
)
def test_bad_exec_info_falls_back_to_v1beta1_with_a_warning(
    tmp_path: pathlib.Path, exec_info: str, warning: str
) -> None:
    result = _run(["token", "-i", "c"], _env(tmp_path, KUBERNETES_EXEC_INFO=exec_info))
    assert result.returncode == 0
    assert json.loads(result.stdout)["apiVersion"] == V1BETA1
    assert warning in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_v1alpha1_is_echoed_with_a_deprecation_warning(tmp_path: pathlib.Path) -> None:
    alpha = "client.authentication.k8s.io/v1alpha1"
    result = _run(
        ["token", "-i", "c"], _env(tmp_path, KUBERNETES_EXEC_INFO=json.dumps({"apiVersion": alpha}))
    )
    assert json.loads(result.stdout)["apiVersion"] == alpha
    assert "deprecated" in result.stderr


def test_exec_info_without_api_version_still_prints_one(tmp_path: pathlib.Path) -> None:
    """Upstream printed an empty apiVersion here (reference/upstream.md §9.18)."""
    info = json.dumps({"kind": "ExecCredential", "spec": {"interactive": False}})
    document = _ok(["token", "-i", "c"], _env(tmp_path, KUBERNETES_EXEC_INFO=info))
    assert document["apiVersion"] == V1BETA1


def test_token_only_prints_the_bare_token(tmp_path: pathlib.Path) -> None:
    result = _run(["token", "-i", "c", "--token-only", "--now", NOW], _env(tmp_path))
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    assert line.startswith("k8s-aws-v1.")
    assert "x-k8s-aws-id" in _url(line)


def test_get_token_text_output_matches_awscli_layout(tmp_path: pathlib.Path) -> None:
    result = _run(["get-token", "--cluster-name", "c", "-o", "text", "--now", NOW], _env(tmp_path))
    assert result.returncode == 0
    first, second = result.stdout.splitlines()
    assert first == f"{V1BETA1}\tExecCredential"
    label, expires, token = second.split("\t")
    assert (label, expires) == ("STATUS", "2026-11-28T11:16:49Z")
    assert token.startswith("k8s-aws-v1.")


# --- flags and environment ----------------------------------------------------------------


def test_cluster_id_from_the_authenticator_environment_variable(tmp_path: pathlib.Path) -> None:
    env = _env(tmp_path, KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID="from-env")
    from_env = _status(_ok(["token", "--now", NOW], env))["token"]
    from_flag = _status(_ok(["token", "-i", "from-env", "--now", NOW], _env(tmp_path)))["token"]
    assert from_env == from_flag
    overridden = _status(_ok(["token", "-i", "flag-wins", "--now", NOW], env))["token"]
    assert overridden != from_env


def test_region_precedence_for_token_and_get_token(tmp_path: pathlib.Path) -> None:
    both = _env(tmp_path, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="us-east-2")
    token_host = _url(_status(_ok(["token", "-i", "c"], both))["token"])
    get_token_host = _url(_status(_ok(["get-token", "--cluster-name", "c"], both))["token"])
    flag_host = _url(_status(_ok(["token", "-i", "c", "--region", "ap-south-1"], both))["token"])
    assert token_host.startswith("https://sts.eu-west-1.amazonaws.com/")  # Go SDK order
    assert get_token_host.startswith("https://sts.us-east-2.amazonaws.com/")  # awscli v1 order
    assert flag_host.startswith("https://sts.ap-south-1.amazonaws.com/")


def test_legacy_flag_maps_classic_regions_to_the_global_host(tmp_path: pathlib.Path) -> None:
    env = _env(tmp_path, AWS_REGION="us-west-2")
    token = _status(_ok(["token", "-i", "c", "--sts-regional-endpoints", "legacy"], env))["token"]
    assert _url(token).startswith("https://sts.amazonaws.com/")


def test_region_and_endpoint_mode_from_the_profile(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = eu-north-1\n\n[profile legacy]\nregion = eu-west-2\nsts_regional_endpoints = legacy\n"
    )
    env = _env(tmp_path, AWS_CONFIG_FILE=str(config))
    assert _url(_status(_ok(["token", "-i", "c"], env))["token"]).startswith(
        "https://sts.eu-north-1.amazonaws.com/"
    )
    legacy = _env(tmp_path, AWS_CONFIG_FILE=str(config), AWS_PROFILE="legacy")
    assert _url(_status(_ok(["token", "-i", "c"], legacy))["token"]).startswith(
        "https://sts.amazonaws.com/"
    )


def test_static_keys_in_a_named_profile(tmp_path: pathlib.Path) -> None:
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        f"[dev]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = {DOC_SECRET}\n"
    )
    env = _env(
        tmp_path,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )
    token = _status(_ok(["token", "-i", "c", "--profile", "dev"], env))["token"]
    assert "X-Amz-Credential=AKIAI44QH8DHBEXAMPLE%2F" in _url(token)
    # Without --profile, environment keys win (as in the AWS CLI).
    token = _status(_ok(["token", "-i", "c"], env))["token"]
    assert f"X-Amz-Credential={DOC_ACCESS_KEY_ID}%2F" in _url(token)


def test_expiration_is_capped_by_the_credentials_own_expiry(tmp_path: pathlib.Path) -> None:
    env = _env(
        tmp_path,
        AWS_SESSION_TOKEN="IQoJSessionToken",
        AWS_CREDENTIAL_EXPIRATION="2026-11-28T11:07:49Z",
    )
    document = _ok(["token", "-i", "c", "--now", NOW], env)
    assert _status(document)["expirationTimestamp"] == "2026-11-28T11:07:49Z"
    assert "X-Amz-Security-Token=IQoJSessionToken" in _url(_status(document)["token"])


# --- errors: one line, the fix, no traceback, no secrets -------------------------------------


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert DOC_SECRET not in line
    return line


def test_missing_cluster_id(tmp_path: pathlib.Path) -> None:
    result = _run(["token"], _env(tmp_path))
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "cluster ID not specified" in line
    assert "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID" in line


def test_get_token_needs_a_cluster_name(tmp_path: pathlib.Path) -> None:
    line = _one_line_error(_run(["get-token"], _env(tmp_path)))
    assert "--cluster-name or --cluster-id" in line


def test_no_credentials_names_the_fix(tmp_path: pathlib.Path) -> None:
    env = _base_env(
        tmp_path,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    result = _run(["token", "-i", "c"], env)
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "no AWS credentials found" in line
    assert "AWS_ACCESS_KEY_ID" in line


def test_secret_without_key_id_is_reported_without_the_secret(tmp_path: pathlib.Path) -> None:
    env = _base_env(tmp_path, AWS_ACCESS_KEY_ID=DOC_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY="")
    line = _one_line_error(_run(["token", "-i", "c"], env))
    assert "AWS_SECRET_ACCESS_KEY" in line


def test_bad_region_is_one_line_without_secrets(tmp_path: pathlib.Path) -> None:
    line = _one_line_error(_run(["token", "-i", "c", "--region", "Not A Region"], _env(tmp_path)))
    assert "region" in line


def test_control_character_in_cluster_id(tmp_path: pathlib.Path) -> None:
    line = _one_line_error(_run(["token", "-i", "bad\nid"], _env(tmp_path)))
    assert "cluster" in line.lower()


def test_usage_errors_exit_64(tmp_path: pathlib.Path) -> None:
    result = _run(["token", "-i", "c", "--no-such-flag"], _env(tmp_path))
    assert result.returncode == 64
    assert "unrecognized arguments" in result.stderr
    assert (
        _run(["token", "-s", "a", "--forward-session-name", "-i", "c"], _env(tmp_path)).returncode
        == 64
    )
    assert (
        _run(["get-token", "--cluster-name", "a", "--cluster-id", "b"], _env(tmp_path)).returncode
        == 64
    )


def test_debug_shows_the_traceback(tmp_path: pathlib.Path) -> None:
    result = _run(["--debug", "token", "-i", "c", "--region", "Not A Region"], _env(tmp_path))
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ConfigurationError" in result.stderr
    after = _run(["token", "-i", "c", "--region", "Not A Region", "--debug"], _env(tmp_path))
    assert "Traceback" in after.stderr


@pytest.mark.parametrize("cache", [False, True], ids=["fast-path", "cached-path"])
def test_a_session_token_outside_base64_is_a_clear_error(
    tmp_path: pathlib.Path, cache: bool
) -> None:
    session_token = "not-a-session-token%20at all"
    args = ["token", "-i", "c", "--now", NOW, *(["--cache"] if cache else [])]
    line = _one_line_error(_run(args, _env(tmp_path, AWS_SESSION_TOKEN=session_token)))
    assert "session token" in line
    assert "not standard base64" in line
    assert session_token not in line


def test_bad_now_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    line = _one_line_error(_run(["token", "-i", "c", "--now", "yesterday"], _env(tmp_path)))
    assert "--now" in line


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("9999-12-31T23:50:00Z", "end of year 9999"),  # its lifetime would leave the calendar
        ("9999-12-31T23:45:00Z", "end of year 9999"),  # the first second too late
        ("9999-12-31T23:00:00-05:00", "years 1 to 9999"),  # 10000-01-01 in UTC
        ("0001-01-01T00:00:00+05:00", "years 1 to 9999"),  # before year 1 in UTC
    ],
)
@pytest.mark.parametrize("cache", [False, True], ids=["fast-path", "cached-path"])
def test_a_signing_time_the_calendar_cannot_hold_is_a_clear_error(
    tmp_path: pathlib.Path, now: str, expected: str, cache: bool
) -> None:
    args = ["token", "-i", "c", "--now", now, *(["--cache"] if cache else [])]
    line = _one_line_error(_run(args, _env(tmp_path)))
    assert expected in line


def test_the_last_signing_second_of_the_calendar_still_signs(tmp_path: pathlib.Path) -> None:
    document = _ok(["token", "-i", "c", "--now", "9999-12-31T23:44:59Z"], _env(tmp_path))
    status = document["status"]
    assert isinstance(status, dict)
    assert status["expirationTimestamp"] == "9999-12-31T23:58:59Z"


# --- roles (AssumeRole against FakeSTS over loopback) --------------------------------------


class STS:
    """FakeSTS on loopback, and alice: an IAM user who may assume ROLE_ARN."""

    def __init__(self, fake: FakeSTS, url: str) -> None:
        self.fake = fake
        self.url = url
        self.alice = fake.create_principal(USER_ARN, seed="alice").credentials

    def env(self, home: pathlib.Path, **extra: str) -> dict[str, str]:
        settings = {
            "AWS_ACCESS_KEY_ID": self.alice.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.alice.secret_access_key,
            "AWS_REGION": "us-west-2",
            "AWS_ENDPOINT_URL_STS": self.url,
            "AWS_CONFIG_FILE": str(home / "none"),
        }
        return _base_env(home, **{**settings, **extra})

    def identity_of(self, document: Mapping[str, object], cluster_id: str = "c") -> str:
        config = VerifierConfig(cluster_id, sts_endpoint_url=self.url)
        with TokenVerifier(config) as verifier:
            return verifier.verify(_status(document)["token"]).arn


@pytest.fixture
def sts() -> Iterator[STS]:
    """A served FakeSTS with alice registered."""
    fake = FakeSTS()
    with fake.serve() as url:
        yield STS(fake, url)


def test_token_signed_by_alice_verifies_as_alice(sts: STS, tmp_path: pathlib.Path) -> None:
    assert sts.identity_of(_ok(["token", "-i", "c"], sts.env(tmp_path))) == USER_ARN


def test_role_is_assumed_before_signing(sts: STS, tmp_path: pathlib.Path) -> None:
    sts.fake.register_role(ROLE_ARN, trusted=[USER_ARN])
    document = _ok(["token", "-i", "c", "-r", ROLE_ARN, "-s", "ops-session"], sts.env(tmp_path))
    assert (
        sts.identity_of(document) == "arn:aws:sts::111122223333:assumed-role/eks-admins/ops-session"
    )
    # The token expires no later than the role session (1 h here): 14 minutes.
    expires = datetime.fromisoformat(
        _status(document)["expirationTimestamp"].replace("Z", "+00:00")
    )
    assert expires - datetime.now(timezone.utc) <= timedelta(minutes=14)


def test_default_role_environment_variable(sts: STS, tmp_path: pathlib.Path) -> None:
    sts.fake.register_role(ROLE_ARN, trusted=[USER_ARN])
    document = _ok(["token", "-i", "c"], sts.env(tmp_path, DEFAULT_ROLE=ROLE_ARN))
    assert sts.identity_of(document).startswith(
        "arn:aws:sts::111122223333:assumed-role/eks-admins/"
    )


def test_get_token_role_arn(sts: STS, tmp_path: pathlib.Path) -> None:
    sts.fake.register_role(ROLE_ARN, trusted=[USER_ARN])
    document = _ok(["get-token", "--cluster-name", "c", "--role-arn", ROLE_ARN], sts.env(tmp_path))
    assert sts.identity_of(document).startswith(
        "arn:aws:sts::111122223333:assumed-role/eks-admins/"
    )


def test_external_id_is_sent(sts: STS, tmp_path: pathlib.Path) -> None:
    sts.fake.register_role(ROLE_ARN, trusted=[USER_ARN], external_id="ext-123")
    document = _ok(["token", "-i", "c", "-r", ROLE_ARN, "-e", "ext-123"], sts.env(tmp_path))
    assert "assumed-role/eks-admins/" in sts.identity_of(document)
    wrong = _run(["token", "-i", "c", "-r", ROLE_ARN, "-e", "nope"], sts.env(tmp_path))
    line = _one_line_error(wrong)
    assert "AssumeRole failed" in line
    assert "AccessDenied" in line
    assert "nope" not in line


def test_forward_session_name_uses_the_callers_session(sts: STS, tmp_path: pathlib.Path) -> None:
    session = sts.fake.create_principal(
        "arn:aws:sts::111122223333:assumed-role/sso-user/alice@example.com", seed="sso"
    ).credentials
    sts.fake.register_role(ROLE_ARN)
    env = sts.env(
        tmp_path,
        AWS_ACCESS_KEY_ID=session.access_key_id,
        AWS_SECRET_ACCESS_KEY=session.secret_access_key,
        AWS_SESSION_TOKEN=session.session_token or "",
    )
    document = _ok(["token", "-i", "c", "-r", ROLE_ARN, "--forward-session-name"], env)
    assert sts.identity_of(document) == (
        "arn:aws:sts::111122223333:assumed-role/eks-admins/alice@example.com"
    )


def test_role_credentials_are_cached_with_cache(sts: STS, tmp_path: pathlib.Path) -> None:
    sts.fake.register_role(ROLE_ARN, trusted=[USER_ARN])
    env = sts.env(tmp_path)
    first = _ok(["token", "-i", "one", "-r", ROLE_ARN, "--cache"], env)
    calls = len(sts.fake.requests)
    second = _ok(["token", "-i", "two", "-r", ROLE_ARN, "--cache"], env)
    assert len(sts.fake.requests) == calls, "the second cluster reused the cached role session"
    assert sts.identity_of(first, "one") == sts.identity_of(second, "two")


def _mfa_config(home: pathlib.Path, sts: STS) -> pathlib.Path:
    config = home / "aws-config"
    config.write_text(
        "[profile admin]\n"
        f"role_arn = {ROLE_ARN}\n"
        "source_profile = base\n"
        "mfa_serial = arn:aws:iam::111122223333:mfa/alice\n"
        "role_session_name = alice-mfa\n"
        "[profile base]\n"
        f"aws_access_key_id = {sts.alice.access_key_id}\n"
        f"aws_secret_access_key = {sts.alice.secret_access_key}\n"
    )
    sts.fake.register_role(
        ROLE_ARN,
        trusted=[USER_ARN],
        mfa_serial="arn:aws:iam::111122223333:mfa/alice",
        mfa_code="123456",
    )
    return config


def test_mfa_prompt_only_when_kubectl_says_interactive(sts: STS, tmp_path: pathlib.Path) -> None:
    config = _mfa_config(tmp_path, sts)
    env = _base_env(
        tmp_path, AWS_CONFIG_FILE=str(config), AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-west-2"
    )
    not_interactive = json.dumps({"apiVersion": V1, "spec": {"interactive": False}})
    result = _run(
        ["token", "-i", "c", "--profile", "admin"],
        {**env, "KUBERNETES_EXEC_INFO": not_interactive},
        stdin="123456\n",
    )
    line = _one_line_error(result)
    assert "MFA" in line
    assert "Enter MFA code" not in result.stderr, "no prompt when kubectl cannot show it"

    interactive = json.dumps({"apiVersion": V1, "spec": {"interactive": True}})
    result = _run(
        ["token", "-i", "c", "--profile", "admin"],
        {**env, "KUBERNETES_EXEC_INFO": interactive},
        stdin="123456\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Enter MFA code for arn:aws:iam::111122223333:mfa/alice" in result.stderr
    assert result.stdout.count("\n") == 1, "the prompt went to stderr, not stdout"
    assert sts.identity_of(json.loads(result.stdout)) == (
        "arn:aws:sts::111122223333:assumed-role/eks-admins/alice-mfa"
    )
