"""Every temporary credential source is kept across plugin runs: whole processes, loopback stand-ins.

For each source (a role profile, ``--role``, web identity from the environment
and from a profile, SSO with ``sso_session``, ``credential_process``) the same
properties: the second run calls nothing, the entry is a private file where the
source's plan puts it, concurrent runs make one call, and a group-readable entry
is never served. The expected file names follow the AWS CLI's documented key
derivation (sha1 of the sorted JSON arguments), written out here by hand.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import pathlib
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from k8s_aws_auth.testing import FakeSTS
from tests.support.child_env import child_env
from tests.support.credentials import Seen, StandIn, serve
from tests.support.startup_probe import PROBE, REPLACED_ON_THE_FAST_PATH

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/demo"
WEB_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/webid"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
WEB_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdWItMSJ9.sig-AAA"
AWS = pathlib.Path(sys.executable).with_name("aws")
SSO_PATH = f"/federation/credentials?account_id={ACCOUNT}&role_name=Admin"

PROCESS_SCRIPT = """
import json, sys, time
with open(sys.argv[1], "a") as runs:
    runs.write("run\\n")
expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
print(json.dumps({"Version": 1, "AccessKeyId": "ASIAPROCESS0000" + str(len(open(sys.argv[1]).readlines())),
                  "SecretAccessKey": "process-secret", "SessionToken": "processToken",
                  **({} if len(sys.argv) > 2 else {"Expiration": expires})}))
"""


def _cli_name(arguments: dict[str, object], *, compact: bool = False) -> str:
    separators = (",", ":") if compact else None
    text = json.dumps(arguments, sort_keys=True, separators=separators)
    return hashlib.sha1(text.encode()).hexdigest() + ".json"


class Setup:
    """A temporary HOME, FakeSTS with alice, an SSO portal stand-in and a process counter."""

    def __init__(self, home: pathlib.Path, fake: FakeSTS, sts_url: str, portal: StandIn) -> None:
        self.home = home
        self.fake = fake
        self.sts_url = sts_url
        self.portal = portal
        self.alice = fake.create_principal(USER_ARN, seed="alice").credentials
        fake.register_role(ROLE_ARN, trusted=[USER_ARN])
        fake.register_web_identity(WEB_ROLE_ARN, WEB_TOKEN)
        (home / ".aws").mkdir()
        self.token_file = home / "web-token"
        self.token_file.write_text(WEB_TOKEN, encoding="utf-8")
        self.runs = home / "process-runs"
        self.script = home / "process.py"
        self.script.write_text(PROCESS_SCRIPT, encoding="utf-8")
        sso = home / ".aws" / "sso" / "cache"
        sso.mkdir(parents=True)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 8 * 3600))
        token = {"accessToken": "sso-access-token", "expiresAt": expires}
        (sso / (hashlib.sha1(b"my-sso").hexdigest() + ".json")).write_text(json.dumps(token))
        self.env: dict[str, str] = {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL_STS": sts_url,
            "AWS_ENDPOINT_URL_SSO": portal.base_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def config(self, text: str, credentials: str = "") -> None:
        (self.home / ".aws" / "config").write_text(text, encoding="utf-8")
        (self.home / ".aws" / "credentials").write_text(credentials, encoding="utf-8")

    def base_keys(self) -> str:
        return (
            f"[base]\naws_access_key_id = {self.alice.access_key_id}\n"
            f"aws_secret_access_key = {self.alice.secret_access_key}\n"
        )

    def process_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    @property
    def own_cache(self) -> pathlib.Path:
        return self.home / ".kube" / "cache" / "k8s-aws-auth"

    @property
    def cli_cache(self) -> pathlib.Path:
        return self.home / ".aws" / "cli" / "cache"


_SSO_SESSIONS = itertools.count(1)


def _portal(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    if seen.header("x-amz-sso_bearer_token") != "sso-access-token":
        return 401, {}, b'{"message": "Session token not found or invalid"}'
    credentials = {
        "accessKeyId": f"ASIASSOROLE{next(_SSO_SESSIONS):05d}",
        "secretAccessKey": "sso-secret",
        "sessionToken": "ssoSessionToken",
        "expiration": int((time.time() + 3600) * 1000),
    }
    return 200, {}, json.dumps({"roleCredentials": credentials}).encode()


class Source:
    """One credential source: its configuration, its call counter and where its entry goes."""

    def __init__(
        self,
        configure: Callable[[Setup], None],
        calls: Callable[[Setup], int],
        entry: Callable[[Setup], pathlib.Path],
        args: tuple[str, ...] = (),
        env: Callable[[Setup], dict[str, str]] = lambda _s: {},
    ) -> None:
        self.configure = configure
        self.calls = calls
        self.entry = entry
        self.args = args
        self.env = env


def _role_profile(setup: Setup) -> None:
    setup.config(
        f"[default]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = us-east-1\n",
        setup.base_keys(),
    )


def _web_identity_profile(setup: Setup) -> None:
    setup.config(
        f"[default]\nrole_arn = {WEB_ROLE_ARN}\nweb_identity_token_file = {setup.token_file}\n"
        "role_session_name = webid-sess\n"
    )


def _sso_profile(setup: Setup) -> None:
    setup.config(
        f"[default]\nsso_session = my-sso\nsso_account_id = {ACCOUNT}\nsso_role_name = Admin\n"
        "region = us-east-1\n"
        "[sso-session my-sso]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
    )


def _process_profile(setup: Setup) -> None:
    command = f"{sys.executable} {setup.script} {setup.runs}"
    setup.config(f"[default]\ncredential_process = {command}\n")


SOURCES = {
    "role-profile": Source(
        _role_profile,
        lambda s: s.fake.count("AssumeRole"),
        lambda s: s.cli_cache / _cli_name({"RoleArn": ROLE_ARN}),
    ),
    "explicit-role": Source(
        lambda s: s.config(""),
        lambda s: s.fake.count("AssumeRole"),
        lambda s: next(s.own_cache.glob("assume-role-*.json")),
        args=("--role", ROLE_ARN),
        env=lambda s: {
            "AWS_ACCESS_KEY_ID": s.alice.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s.alice.secret_access_key,
            "AWS_REGION": "us-east-1",
        },
    ),
    "web-identity-environment": Source(
        lambda s: s.config(""),
        lambda s: s.fake.count("AssumeRoleWithWebIdentity"),
        lambda s: (
            s.cli_cache
            / _cli_name(
                {"RoleArn": WEB_ROLE_ARN, "RoleSessionName": "pod", "WebIdentityToken": WEB_TOKEN}
            )
        ),
        env=lambda s: {
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(s.token_file),
            "AWS_ROLE_ARN": WEB_ROLE_ARN,
            "AWS_ROLE_SESSION_NAME": "pod",
            "AWS_REGION": "us-east-1",
        },
    ),
    "web-identity-profile": Source(
        _web_identity_profile,
        lambda s: s.fake.count("AssumeRoleWithWebIdentity"),
        lambda s: (
            s.cli_cache
            / _cli_name(
                {
                    "RoleArn": WEB_ROLE_ARN,
                    "RoleSessionName": "webid-sess",
                    "WebIdentityToken": WEB_TOKEN,
                }
            )
        ),
        env=lambda _s: {"AWS_REGION": "us-east-1"},
    ),
    "sso-session": Source(
        _sso_profile,
        lambda s: len(s.portal.seen),
        lambda s: (
            s.cli_cache
            / _cli_name(
                {"accountId": ACCOUNT, "roleName": "Admin", "sessionName": "my-sso"}, compact=True
            )
        ),
    ),
    "credential-process": Source(
        _process_profile,
        lambda s: s.process_runs(),
        lambda s: next(s.own_cache.glob("credential-process-*.json")),
        env=lambda _s: {"AWS_REGION": "us-east-1"},
    ),
}


@pytest.fixture
def setup(tmp_path: pathlib.Path) -> Iterator[Setup]:
    fake = FakeSTS()
    with fake.serve() as url, serve(StandIn({("GET", SSO_PATH): _portal})) as portal:
        yield Setup(tmp_path, fake, url, portal)


def _run(setup: Setup, source: Source) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "token", "-i", "c", *source.args],
        env=child_env({**setup.env, **source.env(setup)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _key_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)["status"]["token"].removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    key_id: str = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]
    return key_id


def _entry_key_id(path: pathlib.Path) -> str:
    key_id: str = json.loads(path.read_text())["Credentials"]["AccessKeyId"]
    return key_id


@pytest.mark.parametrize("name", SOURCES)
def test_the_second_run_calls_nothing_and_the_entry_is_private(setup: Setup, name: str) -> None:
    source = SOURCES[name]
    source.configure(setup)
    first = _key_id(_run(setup, source))
    assert source.calls(setup) == 1
    second = _key_id(_run(setup, source))
    assert source.calls(setup) == 1, "the second run was served from the cache"
    entry = source.entry(setup)
    assert first == second == _entry_key_id(entry)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    if name == "sso-session":  # AWS CLI v2's shape: `aws sso logout` clears it
        assert json.loads(entry.read_text())["ProviderType"] == "sso"


@pytest.mark.parametrize("name", SOURCES)
def test_concurrent_runs_make_one_call(setup: Setup, name: str) -> None:
    source = SOURCES[name]
    source.configure(setup)
    with ThreadPoolExecutor(max_workers=5) as pool:
        keys = list(pool.map(lambda _i: _key_id(_run(setup, source)), range(5)))
    assert source.calls(setup) == 1
    assert len(set(keys)) == 1
    assert [p.name for p in source.entry(setup).parent.glob("*.tmp")] == []


@pytest.mark.parametrize("name", SOURCES)
def test_a_group_readable_entry_is_never_served(setup: Setup, name: str) -> None:
    source = SOURCES[name]
    source.configure(setup)
    _key_id(_run(setup, source))
    entry = source.entry(setup)
    entry.chmod(0o644)
    _key_id(_run(setup, source))
    assert source.calls(setup) == 2
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_a_rotated_web_identity_token_is_a_new_entry(setup: Setup) -> None:
    source = SOURCES["web-identity-environment"]
    _key_id(_run(setup, source))
    setup.fake.register_web_identity(WEB_ROLE_ARN, "eyJhbGciOiJub25lIn0.e30.sig-BBB")
    setup.token_file.write_text("eyJhbGciOiJub25lIn0.e30.sig-BBB", encoding="utf-8")
    _key_id(_run(setup, source))
    assert source.calls(setup) == 2
    assert len(list(setup.cli_cache.glob("*.json"))) == 2


def test_the_aws_cli_reads_our_web_identity_entry(setup: Setup) -> None:
    source = SOURCES["web-identity-environment"]
    ours = _key_id(_run(setup, source))
    result = subprocess.run(
        [str(AWS), "eks", "get-token", "--cluster-name", "c"],
        env=child_env({**setup.env, **source.env(setup), "AWS_DEFAULT_REGION": "us-east-1"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert _key_id(result) == ours
    assert source.calls(setup) == 1, "aws made no AssumeRoleWithWebIdentity of its own"


def test_process_credentials_without_expiration_are_never_written(setup: Setup) -> None:
    command = f"{sys.executable} {setup.script} {setup.runs} static"
    setup.config(f"[default]\ncredential_process = {command}\n")
    source = SOURCES["credential-process"]
    for _ in range(2):
        _key_id(_run(setup, source))
    assert setup.process_runs() == 2
    assert list(setup.own_cache.glob("credential-process-*")) == []


def test_a_role_over_a_process_runs_the_process_only_on_a_miss(setup: Setup) -> None:
    # The AWS CLI runs a source profile's process on every call, even with the role cached.
    script = setup.home / "alice.py"
    keys = {
        "Version": 1,
        "AccessKeyId": setup.alice.access_key_id,
        "SecretAccessKey": setup.alice.secret_access_key,
    }
    script.write_text(
        f"import sys\nopen(sys.argv[1], 'a').write('run\\n')\nprint({json.dumps(keys)!r})\n",
        encoding="utf-8",
    )
    setup.config(
        f"[default]\nrole_arn = {ROLE_ARN}\nsource_profile = proc\nregion = us-east-1\n"
        f"[profile proc]\ncredential_process = {sys.executable} {script} {setup.runs}\n"
    )
    source = Source(lambda _s: None, lambda s: s.fake.count("AssumeRole"), lambda s: s.cli_cache)
    first = _key_id(_run(setup, source))
    second = _key_id(_run(setup, source))
    assert first == second
    assert setup.fake.count("AssumeRole") == 1
    assert setup.process_runs() == 1


#: What a cache hit must not load (no more than the static-keys path: test_startup.py);
#: json (with the re and enum it loads) neither: `_core.small_json` reads the entry.
_HEAVY = (
    "json",
    "re",
    "attr",
    "attrs",
    "typing",
    "datetime",
    "_datetime",
    "httpx",
    "httpcore",
    "anyio",
    *REPLACED_ON_THE_FAST_PATH,
)


@pytest.mark.parametrize("name", SOURCES)
def test_a_hit_loads_no_attrs_typing_datetime_or_httpx(setup: Setup, name: str) -> None:
    source = SOURCES[name]
    source.configure(setup)
    _key_id(_run(setup, source))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "token", "-i", "c", *source.args],
        # never measured by coverage: its own imports would count as the plugin's
        env=child_env({**setup.env, **source.env(setup)}, measured=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "k8s-aws-v1." in result.stdout, result.stderr
    assert source.calls(setup) == 1
    modules = json.loads(result.stderr)["modules"]
    assert [m for m in modules if m.split(".")[0] in _HEAVY] == []
    assert "k8s_aws_auth.cli._credential_cache" in modules
