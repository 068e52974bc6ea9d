"""Each credential provider against real files in a temporary HOME and real loopback servers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from k8s_aws_auth import Credentials, presign_token
from k8s_aws_auth._core.effects import HttpRequest
from k8s_aws_auth.credentials import (
    AssumeRoleProvider,
    AsyncCredentialResolver,
    ConfigFileProvider,
    ContainerProvider,
    CredentialChain,
    CredentialResolver,
    EnvProvider,
    IMDSProvider,
    ProcessProvider,
    ProviderContext,
    SharedCredentialsProvider,
    Skip,
    SSOProvider,
    StaticProvider,
    WebIdentityProvider,
)
from k8s_aws_auth.credentials._container import container_host_allowed
from k8s_aws_auth.errors import CredentialProviderError, CredentialsError, NoCredentialsError
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.credentials import Seen, StandIn, serve, unused_port, write_aws_files
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
SECRET_MARKER = "SECRETSECRETSECRETdoNotLeak1234567890abcd"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def home() -> Path:
    return Path(os.environ["HOME"])


@pytest.fixture
def base_env(home: Path) -> dict[str, str]:
    """An environment that never reaches a real metadata service."""
    return {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def fake() -> FakeSTS:
    fake = FakeSTS()
    fake.register(Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), USER)
    return fake


@pytest.fixture
def sts_url(fake: FakeSTS) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def whoami(fake: FakeSTS, credentials: Credentials) -> str:
    """Ask FakeSTS who ``credentials`` belong to (proves they are real, working keys)."""
    token = presign_token(credentials, cluster_id="c", now=datetime.now(timezone.utc))
    from k8s_aws_auth import decode_token

    with httpx.Client(transport=fake) as client:
        response = client.get(
            decode_token(token.value),
            headers={"x-k8s-aws-id": "c", "Accept": "application/json"},
        )
    assert response.status_code == 200, response.text
    result = response.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    return str(result["Arn"])


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r}"
    for secret in (DOC_SECRET, SECRET_MARKER, *secrets):
        assert secret not in text


# --- environment ---------------------------------------------------------------------


def test_env_static_keys(base_env: dict[str, str]) -> None:
    env = {**base_env, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    assert CredentialResolver(environ=env).resolve() == Credentials("AKIAENV", "envsecret")


def test_env_session_token_and_expiration(base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "AWS_ACCESS_KEY_ID": "ASIAENV",
        "AWS_SECRET_ACCESS_KEY": "envsecret",
        "AWS_SESSION_TOKEN": "tok",
        "AWS_CREDENTIAL_EXPIRATION": "2026-11-28T14:00:00Z",
    }
    resolved = CredentialResolver(environ=env, clock=lambda: NOW).resolve()
    assert resolved == Credentials(
        "ASIAENV", "envsecret", "tok", datetime(2026, 11, 28, 14, tzinfo=timezone.utc)
    )


def test_env_prefers_aws_security_token_like_the_cli(base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "AWS_ACCESS_KEY_ID": "ASIAENV",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "new",
        "AWS_SECURITY_TOKEN": "old",
    }
    assert CredentialResolver(environ=env).resolve().session_token == "old"


def test_env_key_without_secret_is_a_clear_error(base_env: dict[str, str]) -> None:
    env = {**base_env, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SESSION_TOKEN": SECRET_MARKER}
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(environ=env).resolve()
    assert caught.value.provider == "environment"
    assert "AWS_SECRET_ACCESS_KEY" in str(caught.value)
    assert_no_secret(caught.value)


_ENV_CASES = [
    {},
    {"AWS_ACCESS_KEY_ID": ""},
    {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s"},
    {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": ""},
    {"AWS_ACCESS_KEY_ID": "AKIAENV"},
    {"AWS_ACCESS_KEY_ID": "ASIAENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"},
    {"AWS_ACCESS_KEY_ID": "ASIAENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": ""},
    {"AWS_ACCESS_KEY_ID": "ASIAENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SECURITY_TOKEN": "o"},
    {
        "AWS_ACCESS_KEY_ID": "ASIAENV",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "AWS_CREDENTIAL_EXPIRATION": "2026-11-28T14:00:00Z",
    },
]


@pytest.mark.parametrize("environ", _ENV_CASES)
def test_exec_plugin_and_env_provider_read_the_environment_alike(environ: dict[str, str]) -> None:
    # One reading of the variables serves both: the plugin's fast path answers exactly
    # when the provider would answer with keys that never expire, and with the same keys.
    from k8s_aws_auth.cli._token import static_env_credentials

    ctx = ProviderContext(environ=environ, read_file=lambda _path: None, clock=lambda: NOW)
    fast = static_env_credentials(environ)
    try:
        provider: Credentials | Skip | None = EnvProvider().read(ctx)
    except CredentialProviderError:
        provider = None  # a key id without a secret: the plugin leaves that to the chain
    if isinstance(provider, Credentials) and provider.expiration is None:
        assert fast == provider
    else:
        assert fast is None


# --- shared files --------------------------------------------------------------------


def test_credentials_file_default_and_named_profiles(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(
        home,
        credentials=(
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n"
            "[dev]\nAWS_ACCESS_KEY_ID = AKIADEV\naws_secret_access_key : s2\n"
            "aws_session_token = t2\n"
        ),
    )
    assert CredentialResolver(environ=base_env).resolve() == Credentials("AKIADEFAULT", "s1")
    assert CredentialResolver(environ={**base_env, "AWS_PROFILE": "dev"}).resolve() == (
        Credentials("AKIADEV", "s2", "t2")
    )
    assert CredentialResolver(environ=base_env, profile="dev").resolve().access_key_id == "AKIADEV"


def test_config_file_static_keys_and_custom_paths(home: Path, base_env: dict[str, str]) -> None:
    config = home / "elsewhere" / "cfg"
    config.parent.mkdir()
    config.write_text(
        "[default]\nregion = us-west-2\n[profile ci]\naws_access_key_id = AKIACI\n"
        "aws_secret_access_key = s\n"
    )
    creds = home / "elsewhere" / "creds"
    creds.write_text("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s\n")
    env = {**base_env, "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(creds)}
    assert CredentialResolver(environ=env, profile="ci").resolve().access_key_id == "AKIACI"
    assert CredentialResolver(environ=env, profile="other").resolve().access_key_id == "AKIAOTHER"


def test_profile_only_in_credentials_file_takes_config_from_tilde_path(
    home: Path, base_env: dict[str, str]
) -> None:
    env = {**base_env, "AWS_SHARED_CREDENTIALS_FILE": "~/custom-creds"}
    (home / "custom-creds").write_text(
        "[default]\naws_access_key_id = AKIATILDE\naws_secret_access_key = s\n"
    )
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIATILDE"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (f"[default]\naws_access_key_id = AKIA\n{SECRET_MARKER}\n", "line 3"),
        (f"aws_secret_access_key = {SECRET_MARKER}\n[default]\n", "line 1"),
        ("[default]\nregion = a\nregion = b\n", "set twice"),
        ("[default]\n[default]\n", "appears twice"),
    ],
)
def test_malformed_config_file_names_file_and_line_not_content(
    home: Path, base_env: dict[str, str], text: str, what: str
) -> None:
    write_aws_files(home, config=text)
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(environ=base_env).resolve()
    message = str(caught.value)
    assert caught.value.provider == "shared-config"
    assert caught.value.reason == "malformed-file"
    assert str(home / ".aws" / "config") in message
    assert what in message
    assert_no_secret(caught.value)


def test_key_without_secret_in_credentials_file(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(home, credentials="[default]\naws_access_key_id = AKIAHALF\n")
    with pytest.raises(CredentialProviderError, match="no aws_secret_access_key") as caught:
        CredentialResolver(environ=base_env).resolve()
    assert caught.value.provider == "shared-credentials-file"


def test_unreadable_credentials_file_is_a_clear_error(home: Path, base_env: dict[str, str]) -> None:
    (home / ".aws" / "credentials").mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(CredentialProviderError, match="cannot read") as caught:
        CredentialResolver(environ=base_env).resolve()
    assert caught.value.reason == "unreadable-file"


def _unreadable_sso_cache(home: Path, env: dict[str, str]) -> tuple[object, Path]:
    write_aws_files(
        home,
        config="[default]\nsso_session = corp\nsso_account_id = 111122223333\n"
        "sso_role_name = ReadOnly\n[sso-session corp]\n"
        "sso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
    )
    digest = hashlib.sha1(b"corp", usedforsecurity=False).hexdigest()
    return SSOProvider(), home / ".aws" / "sso" / "cache" / f"{digest}.json"


def _unreadable_web_identity_token(home: Path, env: dict[str, str]) -> tuple[object, Path]:
    env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(home / "token"), AWS_ROLE_ARN=ROLE)
    return WebIdentityProvider(), home / "token"


def _unreadable_container_token(home: Path, env: dict[str, str]) -> tuple[object, Path]:
    env.update(
        AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:9/creds",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(home / "auth"),
    )
    return ContainerProvider(), home / "auth"


@pytest.mark.parametrize(
    ("setup", "provider", "what"),
    [
        (_unreadable_sso_cache, "sso (profile default)", ""),
        (_unreadable_web_identity_token, "web-identity", "the token file "),
        (_unreadable_container_token, "container", ""),
    ],
)
def test_unreadable_provider_file_is_the_providers_error(
    home: Path, base_env: dict[str, str], setup: Any, provider: str, what: str
) -> None:
    source, path = setup(home, base_env)
    path.mkdir(parents=True)  # a directory where the file should be: it exists, but is unreadable
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(source, environ=base_env).resolve()
    assert caught.value.provider == provider
    assert caught.value.reason == "unreadable-file"
    assert caught.value.message == f"{provider}: cannot read {what}{path} (IsADirectoryError)"


# --- credential_process ---------------------------------------------------------------


def _process_profile(home: Path, script: str, *, name: str = "default") -> None:
    path = home / f"proc_{name}.py"
    path.write_text(script)
    header = "[default]" if name == "default" else f"[profile {name}]"
    write_aws_files(
        home, config=f'{header}\ncredential_process = "{sys.executable}" {path} --flag\n'
    )


def test_credential_process_success_with_expiration(home: Path, base_env: dict[str, str]) -> None:
    _process_profile(
        home,
        "import json, sys\n"
        "assert sys.argv[1:] == ['--flag']\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'ASIAPROC', 'SecretAccessKey': 'ps',"
        " 'SessionToken': 'pt', 'Expiration': '2026-11-28T13:00:00Z'}))\n",
    )
    resolved = CredentialResolver(environ=base_env, clock=lambda: NOW).resolve()
    assert resolved == Credentials(
        "ASIAPROC", "ps", "pt", datetime(2026, 11, 28, 13, tzinfo=timezone.utc)
    )


def test_credential_process_sees_the_resolver_environment(
    home: Path, base_env: dict[str, str]
) -> None:
    _process_profile(
        home,
        "import json, os\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': os.environ['KEY_FOR_PROC'],"
        " 'SecretAccessKey': 'ps'}))\n",
    )
    env = {**base_env, "KEY_FOR_PROC": "AKIAFROMENV"}
    assert CredentialResolver(environ=env).resolve() == Credentials("AKIAFROMENV", "ps")


@pytest.mark.parametrize(
    ("script", "reason", "fragment"),
    [
        (
            "import sys\nsys.stderr.write('token expired, log in again\\n')\nsys.exit(3)\n",
            "failed",
            "exited with status 3: token expired, log in again",
        ),
        (f"print('not json {SECRET_MARKER}')\n", "bad-output", "not JSON"),
        (
            "import json\nprint(json.dumps({'Version': 2, 'AccessKeyId': 'A',"
            f" 'SecretAccessKey': '{SECRET_MARKER}'}}))\n",
            "bad-output",
            '"Version": 1',
        ),
        (
            f"import json\nprint(json.dumps({{'Version': 1, 'SecretAccessKey': '{SECRET_MARKER}'}}))\n",
            "bad-output",
            "no AccessKeyId",
        ),
        (
            "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'A',"
            f" 'SecretAccessKey': '{SECRET_MARKER}', 'Expiration': 'tomorrow'}}))\n",
            "bad-output",
            "Expiration",
        ),
    ],
)
def test_failing_credential_process_is_a_clear_error(
    home: Path, base_env: dict[str, str], script: str, reason: str, fragment: str
) -> None:
    _process_profile(home, script)
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(environ=base_env).resolve()
    assert caught.value.provider == "credential-process (profile default)"
    assert caught.value.reason == reason
    assert fragment in str(caught.value)
    assert_no_secret(caught.value)


def test_credential_process_timeout(home: Path, base_env: dict[str, str]) -> None:
    _process_profile(home, "import time\ntime.sleep(30)\n")
    chain = CredentialChain([ProcessProvider(timeout=0.5)])
    with pytest.raises(CredentialProviderError, match=r"did not finish within 0\.5 s") as caught:
        CredentialResolver(chain, environ=base_env).resolve()
    assert caught.value.reason == "timeout"


def test_credential_process_missing_program(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(home, config="[default]\ncredential_process = /nonexistent/helper --x\n")
    with pytest.raises(CredentialProviderError, match="could not be run") as caught:
        CredentialResolver(environ=base_env).resolve()
    assert caught.value.reason == "not-run"


# --- AssumeRole via source_profile / credential_source -------------------------------


def _role_files(home: Path, extra: str = "") -> None:
    write_aws_files(
        home,
        credentials=(
            f"[base]\naws_access_key_id = {DOC_ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {DOC_SECRET}\n"
        ),
        config=(
            f"[profile dev]\nrole_arn = {ROLE}\nsource_profile = base\n"
            "role_session_name = dev-session\nexternal_id = ext-123\nduration_seconds = 1800\n"
            f"[profile deploy]\nrole_arn = {OTHER_ROLE}\nsource_profile = dev\n"
            "role_session_name = chained\n" + extra
        ),
    )


def test_assume_role_from_source_profile(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE, trusted=[USER], external_id="ext-123")
    _role_files(home)
    env = {**base_env, "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": sts_url}
    resolved = CredentialResolver(environ=env).resolve()
    assert resolved.session_token
    assert resolved.expiration is not None
    assert whoami(fake, resolved) == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/dev-session"
    (call,) = [r for r in fake.requests if r.action == "AssumeRole"]
    form = dict(pair.split("=", 1) for pair in call.body.decode().split("&"))
    assert form["DurationSeconds"] == "1800"
    assert form["ExternalId"] == "ext-123"


def test_assume_role_chain_through_two_roles(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE, external_id="ext-123")
    fake.register_role(OTHER_ROLE, trusted=[ROLE])
    _role_files(home)
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    resolved = CredentialResolver(environ=env, profile="deploy").resolve()
    assert whoami(fake, resolved) == f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/chained"
    assert fake.count("AssumeRole") == 2


def test_assume_role_refused_by_sts_names_code_not_secrets(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE, external_id="another-id")
    _role_files(home)
    env = {**base_env, "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": sts_url}
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(environ=env).resolve()
    assert caught.value.provider == "assume-role (profile dev)"
    assert "AssumeRole failed (HTTP 403, AccessDenied)" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (f"[profile x]\nrole_arn = {ROLE}\n", "neither source_profile nor credential_source"),
        (
            f"[profile x]\nrole_arn = {ROLE}\nsource_profile = base\ncredential_source = Environment\n",
            "both source_profile and credential_source",
        ),
        (
            f"[profile x]\nrole_arn = {ROLE}\nsource_profile = ghost\n",
            "'ghost' of profile 'x' does not exist",
        ),
        (
            f"[profile x]\nrole_arn = {ROLE}\nsource_profile = y\n"
            f"[profile y]\nrole_arn = {ROLE}\nsource_profile = x\n",
            "source_profile loop: x -> y -> x",
        ),
        (f"[profile x]\nrole_arn = {ROLE}\ncredential_source = Laptop\n", "expected one of"),
        (
            f"[profile x]\nrole_arn = {ROLE}\nsource_profile = empty\n[profile empty]\nregion = us-east-1\n",
            "has no credentials",
        ),
    ],
)
def test_bad_role_configuration(
    home: Path, base_env: dict[str, str], config: str, fragment: str
) -> None:
    write_aws_files(home, config=config)
    with pytest.raises(CredentialProviderError) as caught:
        CredentialResolver(environ=base_env, profile="x").resolve()
    assert fragment in str(caught.value)
    assert caught.value.provider == "assume-role"


def test_credential_source_environment(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE)
    write_aws_files(
        home, config=f"[profile x]\nrole_arn = {ROLE}\ncredential_source = Environment\n"
    )
    env = {
        **base_env,
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_ENDPOINT_URL_STS": sts_url,
    }
    resolved = CredentialResolver(environ=env, profile="x").resolve()
    assert whoami(fake, resolved).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/")


def test_self_sourcing_profile_uses_its_own_static_keys(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE)
    write_aws_files(
        home,
        config=(
            f"[profile me]\nrole_arn = {ROLE}\nsource_profile = me\nrole_session_name = self\n"
            f"aws_access_key_id = {DOC_ACCESS_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n"
        ),
    )
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    resolved = CredentialResolver(environ=env, profile="me").resolve()
    assert whoami(fake, resolved) == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/self"


# --- MFA ------------------------------------------------------------------------------


def _mfa_files(home: Path) -> None:
    write_aws_files(
        home,
        credentials=(
            f"[base]\naws_access_key_id = {DOC_ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {DOC_SECRET}\n"
        ),
        config=f"[profile mfa]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {MFA_SERIAL}\n",
    )


def test_mfa_prompt_on_stderr_reads_code_from_input(
    home: Path,
    base_env: dict[str, str],
    fake: FakeSTS,
    sts_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.register_role(ROLE, mfa_serial=MFA_SERIAL, mfa_code="123456")
    _mfa_files(home)
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    fake_stdin = io.StringIO("123456\n")
    resolved = CredentialResolver(
        environ=env, profile="mfa", mfa_input=fake_stdin.readline
    ).resolve()
    assert whoami(fake, resolved).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/")
    captured = capsys.readouterr()
    assert captured.err == f"Enter MFA code for {MFA_SERIAL}: "
    assert captured.out == ""


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_resolver_prompts_for_mfa_too(
    home: Path,
    base_env: dict[str, str],
    fake: FakeSTS,
    sts_url: str,
    capsys: pytest.CaptureFixture[str],
    anyio_backend: str,
) -> None:
    fake.register_role(ROLE, mfa_serial=MFA_SERIAL, mfa_code="123456")
    _mfa_files(home)
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    resolver = AsyncCredentialResolver(
        environ=env, profile="mfa", mfa_input=io.StringIO("123456\n").readline
    )
    resolved = await resolver.resolve()
    assert whoami(fake, resolved).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/")
    assert capsys.readouterr().err == f"Enter MFA code for {MFA_SERIAL}: "


def test_wrong_mfa_code_is_refused(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE, mfa_serial=MFA_SERIAL, mfa_code="123456")
    _mfa_files(home)
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    with pytest.raises(CredentialProviderError, match="AccessDenied") as caught:
        CredentialResolver(
            environ=env, profile="mfa", mfa_input=io.StringIO("654321\n").readline
        ).resolve()
    assert "654321" not in str(caught.value)


def test_mfa_without_interactive_input_fails_before_any_call(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE, mfa_serial=MFA_SERIAL, mfa_code="123456")
    _mfa_files(home)
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    with pytest.raises(CredentialProviderError, match="no interactive input") as caught:
        CredentialResolver(environ=env, profile="mfa", mfa_input=None).resolve()
    assert caught.value.reason == "mfa-required"
    assert fake.count() == 0


# --- web identity ----------------------------------------------------------------------


def test_web_identity_from_environment(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_role(ROLE)
    fake.register_web_identity(ROLE, "eyJhbGciOi.jwt.payload")
    token_file = home / "token"
    token_file.write_text("eyJhbGciOi.jwt.payload\n")
    env = {
        **base_env,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ROLE_SESSION_NAME": "pod-1",
        "AWS_ENDPOINT_URL_STS": sts_url,
    }
    resolved = CredentialResolver(environ=env).resolve()
    assert whoami(fake, resolved) == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/pod-1"
    (call,) = [r for r in fake.requests if r.action == "AssumeRoleWithWebIdentity"]
    assert call.header("Authorization") is None  # unsigned: the JWT is the credential


def test_web_identity_from_profile_with_default_session_name(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    fake.register_web_identity(ROLE)
    (home / "jwt").write_text("a.b.c.d")
    write_aws_files(home, config=f"[default]\nrole_arn = {ROLE}\nweb_identity_token_file = ~/jwt\n")
    env = {**base_env, "AWS_ENDPOINT_URL_STS": sts_url}
    clock = FixedClock(datetime.now(timezone.utc))
    resolved = CredentialResolver(environ=env, clock=clock).resolve()
    session = f"botocore-session-{int(clock().timestamp())}"
    assert whoami(fake, resolved) == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/{session}"


def test_web_identity_errors(
    home: Path, base_env: dict[str, str], fake: FakeSTS, sts_url: str
) -> None:
    env = {
        **base_env,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(home / "missing"),
        "AWS_ENDPOINT_URL_STS": sts_url,
    }
    with pytest.raises(CredentialProviderError, match="no role ARN"):
        CredentialResolver(environ=env).resolve()
    with pytest.raises(CredentialProviderError, match="does not exist") as caught:
        CredentialResolver(environ={**env, "AWS_ROLE_ARN": ROLE}).resolve()
    assert caught.value.provider == "web-identity"
    (home / "jwt").write_text(SECRET_MARKER)
    env = {**env, "AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(home / "jwt")}
    with pytest.raises(CredentialProviderError, match="AccessDenied") as caught:
        CredentialResolver(environ=env).resolve()
    assert_no_secret(caught.value)


def test_unreachable_sts_is_a_clear_error(home: Path, base_env: dict[str, str]) -> None:
    (home / "jwt").write_text("a.b.c.d")
    env = {
        **base_env,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(home / "jwt"),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{unused_port()}",
    }
    with pytest.raises(
        CredentialProviderError, match=r"could not reach STS \(127\.0\.0\.1:\d+\): network"
    ) as caught:
        CredentialResolver(environ=env).resolve()
    assert caught.value.reason == "unreachable"


# --- container -------------------------------------------------------------------------


def _container_answer(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    if seen.header("Authorization") != "pod-identity-token":
        return 401, {}, b'{"message": "bad token"}'
    body = {
        "AccessKeyId": "ASIACONTAINER",
        "SecretAccessKey": "cs",
        "Token": "ct",
        "Expiration": "2026-11-28T18:00:00Z",
        "AccountId": ACCOUNT,
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def test_container_full_uri_with_token_file(home: Path, base_env: dict[str, str]) -> None:
    (home / "pod-token").write_text("pod-identity-token\n")
    with serve(StandIn({("GET", "/v1/credentials"): _container_answer})) as stand_in:
        env = {
            **base_env,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": stand_in.base_url + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(home / "pod-token"),
        }
        resolved = CredentialResolver(environ=env, clock=lambda: NOW).resolve()
    assert resolved == Credentials(
        "ASIACONTAINER", "cs", "ct", datetime(2026, 11, 28, 18, tzinfo=timezone.utc)
    )
    (seen,) = stand_in.seen
    assert seen.header("Accept") == "application/json"


def test_container_wrong_token_is_an_error_naming_the_status(base_env: dict[str, str]) -> None:
    with serve(StandIn({("GET", "/c"): _container_answer})) as stand_in:
        env = {
            **base_env,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": stand_in.base_url + "/c",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": SECRET_MARKER,
        }
        with pytest.raises(CredentialProviderError, match="HTTP 401") as caught:
            CredentialResolver(environ=env).resolve()
    assert caught.value.provider == "container"
    assert len(stand_in.seen) == 1  # a refused token is not retried
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/creds",
        "http://example.com/creds",
        "http://10.0.0.1:8080/",
        "ftp://127.0.0.1/",
    ],
)
def test_container_refused_host_makes_no_request(base_env: dict[str, str], uri: str) -> None:
    env = {**base_env, "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}
    with pytest.raises(CredentialProviderError, match="must use https") as caught:
        CredentialResolver(
            environ=env, client=httpx.Client(transport=_ExplodingTransport())
        ).resolve()
    assert caught.value.reason == "host-not-allowed"


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://anything.example.com/x", True),
        ("http://127.0.0.1:9000/x", True),
        ("http://127.9.9.9/x", True),
        ("http://[::1]:80/x", True),
        ("http://localhost/x", True),
        ("http://169.254.170.2/v2/credentials", True),
        ("http://169.254.170.23/v1/credentials", True),
        ("http://[fd00:ec2::23]/v1/credentials", True),
        ("http://169.254.170.3/x", False),
        ("http://localhost.evil.com/x", False),
        ("http://[fd00:ec2::24]/x", False),
        ("http:///x", False),
    ],
)
def test_container_host_allowlist(uri: str, allowed: bool) -> None:
    assert container_host_allowed(uri) is allowed


def test_container_relative_uri_goes_to_the_ecs_host() -> None:
    ctx = ProviderContext(
        environ={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"},
        read_file=lambda _path: None,
        clock=lambda: NOW,
    )
    flow = ContainerProvider().flow(ctx)
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.url == "http://169.254.170.2/v2/credentials/abc"
    flow.close()


class _ExplodingTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no network call expected, got {request.method}")


# --- IMDS ------------------------------------------------------------------------------


def _imds(*, token_status: int = 200) -> StandIn:
    role_path = "/latest/meta-data/iam/security-credentials/"

    def token(_seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return token_status, {}, b"imds-session-token" if token_status == 200 else b""

    def role(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if token_status == 200 and seen.header("x-aws-ec2-metadata-token") != "imds-session-token":
            return 401, {}, b""
        return 200, {}, b"instance-role\n"

    def creds(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if token_status == 200 and seen.header("x-aws-ec2-metadata-token") != "imds-session-token":
            return 401, {}, b""
        body = {
            "Code": "Success",
            "AccessKeyId": "ASIAIMDS",
            "SecretAccessKey": "is",
            "Token": "it",
            "Expiration": "2026-11-28T18:00:00Z",
        }
        return 200, {}, json.dumps(body).encode()

    return StandIn(
        {
            ("PUT", "/latest/api/token"): token,
            ("GET", role_path): role,
            ("GET", role_path + "instance-role"): creds,
        }
    )


def test_imds_token_role_credentials_sequence(home: Path) -> None:
    with serve(_imds()) as stand_in:
        env = {"HOME": str(home), "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url}
        resolved = CredentialResolver(environ=env, clock=lambda: NOW).resolve()
    assert resolved == Credentials(
        "ASIAIMDS", "is", "it", datetime(2026, 11, 28, 18, tzinfo=timezone.utc)
    )
    assert [(s.method, s.path) for s in stand_in.seen] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/instance-role"),
    ]
    assert stand_in.seen[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600"


def test_imds_v1_fallback_when_token_is_not_offered(home: Path) -> None:
    with serve(_imds(token_status=404)) as stand_in:
        env = {"HOME": str(home), "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url + "/"}
        # The stand-in's credentials expire at a fixed moment: judge them at NOW.
        resolved = CredentialResolver(environ=env, clock=lambda: NOW).resolve()
        assert resolved.access_key_id == "ASIAIMDS"
        assert stand_in.seen[1].header("x-aws-ec2-metadata-token") is None
        with pytest.raises(NoCredentialsError, match="IMDSv1 is disabled"):
            CredentialResolver(
                environ={**env, "AWS_EC2_METADATA_V1_DISABLED": "true"}, clock=lambda: NOW
            ).resolve()


def test_unreachable_imds_is_skipped_with_the_reason(home: Path) -> None:
    env = {
        "HOME": str(home),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{unused_port()}",
    }
    with pytest.raises(NoCredentialsError) as caught:
        CredentialResolver(environ=env).resolve()
    name, why = caught.value.attempts[-1]
    assert name == "imds"
    assert why == "could not reach the instance metadata service: network (ConnectError)"
    assert "imds: could not reach" in str(caught.value)


def test_imds_disabled_makes_no_request(home: Path) -> None:
    with serve(_imds()) as stand_in:
        env = {
            "HOME": str(home),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url,
            "AWS_EC2_METADATA_DISABLED": "TRUE",
        }
        with pytest.raises(NoCredentialsError) as caught:
            CredentialResolver(environ=env).resolve()
    assert stand_in.seen == []
    assert caught.value.attempts[-1] == ("imds", "AWS_EC2_METADATA_DISABLED is true")


def test_imds_defaults_are_short() -> None:
    ctx = ProviderContext(environ={}, read_file=lambda _path: None, clock=lambda: NOW)
    flow = IMDSProvider().flow(ctx)
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.url == "http://169.254.169.254/latest/api/token"
    assert request.method == "PUT"
    assert request.connect_timeout == 1.0
    assert request.read_timeout == 1.0
    flow.close()


# --- SSO -------------------------------------------------------------------------------


def _portal(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    if seen.header("x-amz-sso_bearer_token") != "cached-access-token":
        return 401, {}, b'{"message": "Session token not found or invalid"}'
    if seen.path != f"/federation/credentials?account_id={ACCOUNT}&role_name=ReadOnly":
        return 400, {}, b"{}"
    body = {
        "roleCredentials": {
            "accessKeyId": "ASIASSO",
            "secretAccessKey": "ss",
            "sessionToken": "st",
            "expiration": 1795870800000,
        }
    }
    return 200, {}, json.dumps(body).encode()


def _sso_cache(home: Path, key: str, expires: str, token: str = "cached-access-token") -> None:
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(key.encode()).hexdigest() + ".json"
    (cache / name).write_text(json.dumps({"accessToken": token, "expiresAt": expires}))


SSO_CONFIG = (
    "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n"
    "region = eu-west-1\n"
    "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
    "[profile legacy]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
    "sso_account_id = 111122223333\nsso_role_name = ReadOnly\n"
)


@pytest.mark.parametrize(
    ("profile", "cache_key"), [("sso", "corp"), ("legacy", "https://corp.awsapps.com/start")]
)
def test_sso_reads_cli_token_cache_and_calls_portal(
    home: Path, base_env: dict[str, str], profile: str, cache_key: str
) -> None:
    write_aws_files(home, config=SSO_CONFIG)
    _sso_cache(home, cache_key, "2026-11-28T20:00:00Z")
    with serve(
        StandIn(
            {("GET", f"/federation/credentials?account_id={ACCOUNT}&role_name=ReadOnly"): _portal}
        )
    ) as s:
        env = {**base_env, "AWS_ENDPOINT_URL_SSO": s.base_url}
        resolved = CredentialResolver(environ=env, profile=profile, clock=lambda: NOW).resolve()
    assert resolved == Credentials(
        "ASIASSO", "ss", "st", datetime(2026, 11, 28, 13, tzinfo=timezone.utc)
    )


def test_sso_expired_login_says_how_to_fix(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(home, config=SSO_CONFIG)
    _sso_cache(home, "corp", "2026-11-28T11:00:00Z", token=SECRET_MARKER)
    with pytest.raises(
        CredentialProviderError, match="expired; run 'aws sso login --profile sso'"
    ) as caught:
        CredentialResolver(environ=base_env, profile="sso", clock=lambda: NOW).resolve()
    assert caught.value.reason == "sso-login-required"
    assert_no_secret(caught.value)


def test_sso_missing_settings(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(home, config="[profile half]\nsso_account_id = 111122223333\n")
    with pytest.raises(
        CredentialProviderError,
        match="missing SSO settings: sso_start_url, sso_region, sso_role_name",
    ):
        CredentialResolver(environ=base_env, profile="half").resolve()


def test_sso_portal_refusal(home: Path, base_env: dict[str, str]) -> None:
    write_aws_files(home, config=SSO_CONFIG)
    _sso_cache(home, "corp", "2026-11-28T20:00:00Z", token="stale")
    with serve(
        StandIn(
            {("GET", f"/federation/credentials?account_id={ACCOUNT}&role_name=ReadOnly"): _portal}
        )
    ) as s:
        env = {**base_env, "AWS_ENDPOINT_URL_SSO": s.base_url}
        with pytest.raises(CredentialProviderError, match="refused the cached login"):
            CredentialResolver(environ=env, profile="sso", clock=lambda: NOW).resolve()


# --- repr and messages never show secrets ----------------------------------------------


def test_reprs_hide_secrets() -> None:
    creds = Credentials("AKIAREPR", SECRET_MARKER, SECRET_MARKER + "tok")
    objects: list[object] = [
        StaticProvider(creds),
        CredentialChain([StaticProvider(creds), EnvProvider()]),
        CredentialResolver(CredentialChain([StaticProvider(creds)]), environ={"X": SECRET_MARKER}),
        ProviderContext(
            environ={"AWS_SECRET_ACCESS_KEY": SECRET_MARKER},
            read_file=lambda _p: None,
            clock=lambda: NOW,
        ),
        AssumeRoleProvider(),
        WebIdentityProvider(),
        SSOProvider(),
        SharedCredentialsProvider(profile="p"),
        ConfigFileProvider(),
        ProcessProvider(),
        ContainerProvider(),
        IMDSProvider(),
    ]
    for value in objects:
        assert SECRET_MARKER not in repr(value)
    resolver = CredentialResolver(CredentialChain([StaticProvider(creds)]), environ={})
    assert SECRET_MARKER not in repr(resolver.resolve())


def test_no_credentials_anywhere_lists_every_provider(base_env: dict[str, str]) -> None:
    with pytest.raises(NoCredentialsError) as caught:
        CredentialResolver(environ=base_env).resolve()
    assert [name for name, _ in caught.value.attempts] == [
        "environment",
        "assume-role",
        "web-identity",
        "sso",
        "shared-credentials-file",
        "credential-process",
        "config-file",
        "container",
        "imds",
    ]
    assert isinstance(caught.value, CredentialsError)
    assert "environment: AWS_ACCESS_KEY_ID is not set" in str(caught.value)
