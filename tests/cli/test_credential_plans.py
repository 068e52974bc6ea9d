"""``cli/_credential_plans.py`` names entries as the AWS CLI does: the file names ``aws`` 1.46.3 wrote.

The expected names are literals observed from the real AWS CLI (and, for SSO, from
AWS CLI v2's fetcher) in the research notes for issue 15, not computed here.
"""

from __future__ import annotations

import pathlib

import pytest

from k8s_aws_auth.cli._credential_plans import source_plan
from k8s_aws_auth.credentials.internal import SharedFiles

TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdWItMSJ9.sig-AAA"
CONFIG = """
[profile role]
role_arn = arn:aws:iam::123456789012:role/demo
source_profile = base
[profile role-full]
role_arn = arn:aws:iam::123456789012:role/demo
source_profile = base
role_session_name = my-session
external_id = ext-123
duration_seconds = 1800
[profile role-900]
role_arn = arn:aws:iam::123456789012:role/demo
source_profile = base
duration_seconds = 900
[profile mfa]
role_arn = arn:aws:iam::123456789012:role/demo
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/alice
[profile credsrc]
role_arn = arn:aws:iam::123456789012:role/demo
credential_source = Environment
[profile chained]
role_arn = arn:aws:iam::123456789012:role/second
source_profile = role
[profile webid]
role_arn = arn:aws:iam::123456789012:role/webid
web_identity_token_file = {token_file}
role_session_name = webid-sess
[profile webid-noname]
role_arn = arn:aws:iam::123456789012:role/webid
web_identity_token_file = {token_file}
[profile sso-legacy]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Admin
[profile sso-new]
sso_session = my-sso
sso_account_id = 123456789012
sso_role_name = Admin
[sso-session my-sso]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
"""
CREDENTIALS = "[base]\naws_access_key_id = AKIABASEEXAMPLE00001\naws_secret_access_key = s1\n"


@pytest.fixture
def home(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / ".aws").mkdir()
    token_file = tmp_path / "webid-token"
    token_file.write_text(TOKEN, encoding="utf-8")
    config = CONFIG.format(token_file=token_file)
    (tmp_path / ".aws" / "config").write_text(config, encoding="utf-8")
    (tmp_path / ".aws" / "credentials").write_text(CREDENTIALS, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("profile", "name"),
    [
        ("role", "5f52c9c583acfd120a607977e4f21fe86b7fa42d"),
        ("role-full", "12c013179caa0d9af459cb04b694120063a3f028"),
        ("role-900", "164078189df8db2be2119350cfc6cf48697a919b"),
        ("mfa", "6336ab650db96bfffebda258e654965b52d52e43"),
        ("credsrc", "5f52c9c583acfd120a607977e4f21fe86b7fa42d"),  # the CLI's collision
        ("chained", "889d6b9b04d19752e63f279d8c9beb3843905be2"),
        ("webid", "7db832ad52828f58cfbdd2727130db08eb6e872e"),
        ("webid-noname", "3fe96105bf9c729faab637998e7e197532edb3a9"),
        ("sso-legacy", "764b1819cd322a32dff569462ca869a4196b4fc1"),
        ("sso-new", "c30b99aca80d8f5b3178e353f05b2abcc9a4ccd3"),
    ],
)
def test_the_entry_has_the_aws_cli_s_file_name(home: pathlib.Path, profile: str, name: str) -> None:
    plan = source_plan(SharedFiles({"HOME": str(home)}, profile=profile))
    assert plan is not None
    assert plan.path == str(home / ".aws" / "cli" / "cache" / f"{name}.json")


def test_profiles_that_share_a_cli_file_have_different_fingerprints(home: pathlib.Path) -> None:
    role = source_plan(SharedFiles({"HOME": str(home)}, profile="role"))
    credsrc = source_plan(SharedFiles({"HOME": str(home)}, profile="credsrc"))
    assert role is not None
    assert credsrc is not None
    assert role.path == credsrc.path
    assert role.fingerprint != credsrc.fingerprint
    assert role.accept_cli_entries
    assert not credsrc.accept_cli_entries


@pytest.mark.parametrize(
    "environ",
    [
        {"AWS_REGION": "eu-west-1"},
        {"AWS_ENDPOINT_URL_STS": "https://sts.example"},
        {"AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
    ],
)
def test_the_endpoint_settings_are_in_the_fingerprint(
    home: pathlib.Path, environ: dict[str, str]
) -> None:
    plain = source_plan(SharedFiles({"HOME": str(home)}, profile="role"))
    changed = source_plan(SharedFiles({"HOME": str(home), **environ}, profile="role"))
    assert plain is not None
    assert changed is not None
    assert plain.path == changed.path
    assert plain.fingerprint != changed.fingerprint


def test_static_keys_and_a_disabled_cache_have_no_plan(home: pathlib.Path) -> None:
    assert source_plan(SharedFiles({"HOME": str(home)}, profile="base")) is None
    off = {"HOME": str(home), "K8S_AWS_AUTH_CREDENTIAL_CACHE": "off"}
    assert source_plan(SharedFiles(off, profile="role")) is None
    keys = {"HOME": str(home), "AWS_ACCESS_KEY_ID": "AKIA", "AWS_PROFILE": "role"}
    assert source_plan(SharedFiles(keys)) is None  # the environment's keys come first
