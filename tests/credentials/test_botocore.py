"""Differential test: the same environment and files give the same credentials and settings as botocore.

botocore (a test-only oracle) reads ``os.environ`` and the files under the
temporary HOME; our resolver gets the same mapping as ``environ``. AssumeRole
goes to one FakeSTS for both (``AWS_ENDPOINT_URL_STS``); since every AssumeRole
mints new keys, role layouts compare the identity the keys belong to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import botocore.session
import httpx
import pytest

from k8s_aws_auth import Credentials, decode_token, presign_token
from k8s_aws_auth.credentials import CredentialResolver
from k8s_aws_auth.testing import FakeSTS
from tests.support.credentials import expires_in
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

ACCOUNT = "111122223333"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
ROLE2 = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
BASE = f"[base]\naws_access_key_id = {DOC_ACCESS_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n"


def _process_script() -> str:
    """A credential_process whose credentials stay valid a day by the clock both sides read."""
    return (
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'ASIAPROC', 'SecretAccessKey': 'ps',"
        f" 'SessionToken': 'pt', 'Expiration': '{expires_in(timedelta(days=1))}'}}))\n"
    )


@attrs.frozen
class Layout:
    name: str
    env: dict[str, str] = attrs.field(factory=dict)
    config: str | None = None
    credentials: str | None = None
    role: bool = False


LAYOUTS = [
    Layout(
        "credentials-file-default",
        credentials="[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n",
    ),
    Layout(
        "config-file-default",
        config="[default]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\nregion = eu-west-1\n",
    ),
    Layout(
        "credentials-file-beats-config-file",
        config="[default]\naws_access_key_id = AKIACFG\naws_secret_access_key = c\n",
        credentials="[default]\naws_access_key_id = AKIACRED\naws_secret_access_key = k\n",
    ),
    Layout(
        "aws-profile-in-credentials-file",
        env={"AWS_PROFILE": "dev"},
        credentials="[default]\naws_access_key_id = AKIAD\naws_secret_access_key = d\n[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = v\naws_session_token = tok\n",
    ),
    Layout(
        "aws-profile-in-config-file",
        env={"AWS_PROFILE": "dev"},
        config="[profile dev]\naws_access_key_id = AKIACFGDEV\naws_secret_access_key = v\nregion = ap-southeast-2\n",
    ),
    Layout(
        "default-profile-var-wins",
        env={"AWS_PROFILE": "a", "AWS_DEFAULT_PROFILE": "b"},
        credentials="[a]\naws_access_key_id = AKIAA\naws_secret_access_key = a\n[b]\naws_access_key_id = AKIAB\naws_secret_access_key = b\n",
    ),
    Layout(
        "security-token-name-preferred",
        credentials="[default]\naws_access_key_id = ASIAT\naws_secret_access_key = s\naws_session_token = new\naws_security_token = old\n",
    ),
    Layout(
        "environment-beats-files",
        env={
            "AWS_ACCESS_KEY_ID": "AKIAENV",
            "AWS_SECRET_ACCESS_KEY": "e",
            "AWS_SESSION_TOKEN": "et",
        },
        credentials="[default]\naws_access_key_id = AKIAF\naws_secret_access_key = f\n",
    ),
    Layout(
        "custom-file-locations",
        env={
            "AWS_CONFIG_FILE": "{home}/cfg/config",
            "AWS_SHARED_CREDENTIALS_FILE": "{home}/cfg/creds",
        },
        config="[default]\nregion = ca-central-1\n",
        credentials="[default]\naws_access_key_id = AKIACUSTOM\naws_secret_access_key = c\n",
    ),
    Layout(
        "credential-process",
        config="[default]\ncredential_process = {python} {home}/proc.py\nregion = us-east-2\n",
    ),
    Layout(
        "source-profile",
        env={"AWS_PROFILE": "dev"},
        config=f"[profile dev]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = s1\nregion = eu-central-1\n",
        credentials=BASE,
        role=True,
    ),
    Layout(
        "source-profile-chain",
        env={"AWS_PROFILE": "deploy", "AWS_DEFAULT_REGION": "us-west-2"},
        config=(
            f"[profile dev]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = s1\n"
            f"[profile deploy]\nrole_arn = {ROLE2}\nsource_profile = dev\nrole_session_name = s2\n"
        ),
        credentials=BASE,
        role=True,
    ),
    Layout(
        "role-beats-static-keys-in-same-profile",
        config=f"[default]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = s3\nregion = ap-south-1\n"
        "aws_access_key_id = AKIAIGNORED\naws_secret_access_key = x\n",
        credentials=BASE,
        role=True,
    ),
    Layout(
        "credential-source-environment",
        env={
            "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
            "AWS_PROFILE": "x",
        },
        config=f"[profile x]\nrole_arn = {ROLE}\ncredential_source = Environment\nrole_session_name = s4\n",
        role=True,
    ),
    Layout(
        "region-env-beats-profile",
        env={"AWS_DEFAULT_REGION": "sa-east-1"},
        config="[default]\nregion = eu-west-3\naws_access_key_id = AKIAR\naws_secret_access_key = r\n",
    ),
    Layout(
        "sts-legacy-from-env",
        env={"AWS_STS_REGIONAL_ENDPOINTS": "legacy", "AWS_DEFAULT_REGION": "us-west-2"},
        credentials="[default]\naws_access_key_id = AKIAL\naws_secret_access_key = l\n",
    ),
    Layout(
        "sts-legacy-from-profile",
        config="[default]\nsts_regional_endpoints = legacy\nregion = eu-west-1\naws_access_key_id = AKIAL\naws_secret_access_key = l\n",
    ),
    Layout(
        "fips-and-dualstack-from-profile",
        config="[default]\nuse_fips_endpoint = true\nuse_dualstack_endpoint = TRUE\nregion = us-east-1\naws_access_key_id = AKIAF\naws_secret_access_key = f\n",
    ),
    Layout(
        "fips-env-false-beats-profile-true",
        env={"AWS_USE_FIPS_ENDPOINT": "false", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
        config="[default]\nuse_fips_endpoint = true\naws_access_key_id = AKIAF\naws_secret_access_key = f\n",
    ),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeSTS, str]]:
    fake = FakeSTS()
    fake.register(Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), USER)
    fake.register_role(ROLE)
    fake.register_role(ROLE2, trusted=[ROLE])
    with fake.serve() as url:
        yield fake, url


def whoami(fake: FakeSTS, credentials: Credentials) -> str:
    token = presign_token(credentials, cluster_id="c", now=datetime.now(timezone.utc))
    with httpx.Client(transport=fake) as client:
        response = client.get(
            decode_token(token.value), headers={"x-k8s-aws-id": "c", "Accept": "application/json"}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Arn"])


def _setup(layout: Layout, home: Path, sts_url: str) -> dict[str, str]:
    subst = {"home": str(home), "python": sys.executable}
    (home / "proc.py").write_text(_process_script())
    env = {key: value.format(**subst) for key, value in layout.env.items()}
    config_path = Path(env.get("AWS_CONFIG_FILE", str(home / ".aws" / "config")))
    creds_path = Path(env.get("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials")))
    for path, text in ((config_path, layout.config), (creds_path, layout.credentials)):
        if text is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.format(**subst))
    return {
        **env,
        "HOME": str(home),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_STS": sts_url,
    }


def _botocore(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    session = botocore.session.Session()
    return session, session.get_credentials()


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_same_answer_as_botocore(
    layout: Layout, fake: tuple[FakeSTS, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sts, sts_url = fake
    home = Path(os.environ["HOME"])
    env = _setup(layout, home, sts_url)
    session, theirs = _botocore(env, monkeypatch)
    resolver = CredentialResolver(environ=env)
    ours = resolver.resolve()
    frozen = theirs.get_frozen_credentials()
    if layout.role:
        assert whoami(sts, ours) == whoami(
            sts, Credentials(frozen.access_key, frozen.secret_key, frozen.token)
        )
    else:
        assert (ours.access_key_id, ours.secret_access_key, ours.session_token) == (
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
        )
    settings = resolver.settings()
    assert settings.region == session.get_config_variable("region")
    assert settings.sts_regional_endpoints == session.get_config_variable("sts_regional_endpoints")
    assert settings.use_fips is bool(session.get_config_variable("use_fips_endpoint"))
    assert settings.use_dualstack is bool(session.get_config_variable("use_dualstack_endpoint"))


def test_both_find_nothing_in_an_empty_home(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"HOME": os.environ["HOME"], "AWS_EC2_METADATA_DISABLED": "true"}
    _session, theirs = _botocore(env, monkeypatch)
    assert theirs is None
    from k8s_aws_auth.errors import NoCredentialsError

    with pytest.raises(NoCredentialsError):
        CredentialResolver(environ=env).resolve()
