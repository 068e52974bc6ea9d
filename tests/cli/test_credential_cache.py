"""The credential cache shared with the AWS CLI (``~/.aws/cli/cache``): whole plugin processes.

FakeSTS serves AssumeRole on loopback and counts the calls; every process runs
with a temporary ``HOME``, so nothing reaches the developer's real cache. The
expected file names are the AWS CLI's own (checked against ``aws`` 1.46.3 in
the research notes), not computed by the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from k8s_aws_auth import TokenVerifier, VerifierConfig
from k8s_aws_auth.testing import FakeSTS
from tests.support.child_env import child_env

ROLE_ARN = "arn:aws:iam::123456789012:role/demo"
USER_ARN = "arn:aws:iam::123456789012:user/alice"
BOB_ARN = "arn:aws:iam::123456789012:user/bob"
MFA_SERIAL = "arn:aws:iam::123456789012:mfa/alice"
#: sha1('{"RoleArn": "arn:aws:iam::123456789012:role/demo"}'), the name `aws` gives the entry.
ROLE_FILE = "5f52c9c583acfd120a607977e4f21fe86b7fa42d.json"
#: The same with "SerialNumber": MFA_SERIAL (the CLI's `mfa` profile in the research notes).
MFA_FILE = "6336ab650db96bfffebda258e654965b52d52e43.json"
AWS = pathlib.Path(sys.executable).with_name("aws")
T0 = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)


class Clock:
    """FakeSTS's clock, moved by the test (the plugin gets the same instant as ``--now``)."""

    def __init__(self, now: datetime | None) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now if self.now is not None else datetime.now(timezone.utc)

    def flag(self) -> list[str]:
        return [] if self.now is None else ["--now", self.now.strftime("%Y-%m-%dT%H:%M:%SZ")]


class World:
    """A served FakeSTS, alice and bob (IAM users), the role, and a HOME with a role profile."""

    def __init__(self, fake: FakeSTS, url: str, home: pathlib.Path, clock: Clock) -> None:
        self.fake = fake
        self.url = url
        self.home = home
        self.clock = clock
        self.alice = fake.create_principal(USER_ARN, seed="alice").credentials
        self.bob = fake.create_principal(BOB_ARN, seed="bob").credentials
        fake.register_role(ROLE_ARN, trusted=[USER_ARN, BOB_ARN])
        (home / ".aws").mkdir()
        self.write_profiles()

    @property
    def cache(self) -> pathlib.Path:
        return self.home / ".aws" / "cli" / "cache"

    def write_profiles(self, *, source: str = "alice", extra: str = "") -> None:
        keys = self.alice if source == "alice" else self.bob
        (self.home / ".aws" / "config").write_text(
            f"[profile role]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = us-east-1\n"
            f"{extra}",
            encoding="utf-8",
        )
        (self.home / ".aws" / "credentials").write_text(
            f"[base]\naws_access_key_id = {keys.access_key_id}\n"
            f"aws_secret_access_key = {keys.secret_access_key}\n",
            encoding="utf-8",
        )

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL_STS": self.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra,
        }

    def plugin(
        self, *args: str, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "k8s_aws_auth", "token", "-i", "c", *args, *self.clock.flag()],
            env=child_env(env or self.env()),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def token(self, *args: str, stdin: str = "", env: Mapping[str, str] | None = None) -> str:
        result = self.plugin("--profile", "role", *args, stdin=stdin, env=env)
        assert result.returncode == 0, result.stderr
        token: str = json.loads(result.stdout)["status"]["token"]
        return token

    def aws_token(self, profile: str = "role") -> str:
        result = subprocess.run(
            [str(AWS), "eks", "get-token", "--cluster-name", "c", "--profile", profile],
            env=child_env(self.env()),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        token: str = json.loads(result.stdout)["status"]["token"]
        return token

    def assume_role_calls(self) -> int:
        return self.fake.count("AssumeRole")

    def entry(self, name: str = ROLE_FILE) -> dict[str, object]:
        document: dict[str, object] = json.loads((self.cache / name).read_text(encoding="utf-8"))
        return document

    def identity(self, token: str) -> str:
        config = VerifierConfig("c", sts_endpoint_url=self.url)
        with TokenVerifier(config, clock=self.clock) as verifier:
            return verifier.verify(token).arn


def _signing_key_id(token: str) -> str:
    """The access key id in the token's X-Amz-Credential (which keys signed it)."""
    payload = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    return parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]


def _last_caller(world: World) -> str:
    """The access key id that signed FakeSTS's last request (its Authorization header)."""
    authorization = world.fake.requests[-1].header("Authorization") or ""
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def _cached_key_id(world: World, name: str = ROLE_FILE) -> str:
    credentials = world.entry(name)["Credentials"]
    assert isinstance(credentials, dict)
    key_id: str = credentials["AccessKeyId"]
    return key_id


def _world(tmp_path: pathlib.Path, now: datetime | None) -> Iterator[World]:
    clock = Clock(now)
    fake = FakeSTS(clock=clock)
    with fake.serve() as url:
        yield World(fake, url, tmp_path, clock)


@pytest.fixture
def world(tmp_path: pathlib.Path) -> Iterator[World]:
    """Real time: the AWS CLI judges its cache by the system clock."""
    yield from _world(tmp_path, None)


@pytest.fixture
def frozen(tmp_path: pathlib.Path) -> Iterator[World]:
    """A clock the test moves: FakeSTS's, and the plugin's ``--now``."""
    yield from _world(tmp_path, T0)


# --- the cache itself ------------------------------------------------------------------


def test_the_second_run_uses_the_cached_role_credentials(world: World) -> None:
    first = world.token()
    assert world.assume_role_calls() == 1
    second = world.token()
    assert world.assume_role_calls() == 1, "no second AssumeRole"
    assert _signing_key_id(first) == _signing_key_id(second) == _cached_key_id(world)
    assert world.identity(second).startswith("arn:aws:sts::123456789012:assumed-role/demo/")


def test_files_are_private_and_directories_we_create_are_0700(world: World) -> None:
    world.token()
    assert sorted(p.name for p in world.cache.iterdir()) == [ROLE_FILE]
    assert stat.S_IMODE((world.cache / ROLE_FILE).stat().st_mode) == 0o600
    for directory in (world.cache, world.cache.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    locks = world.home / ".kube" / "cache" / "k8s-aws-auth"
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700
    # The entry is the CLI's shape (SessionToken present, an aware Expiration).
    credentials = world.entry()["Credentials"]
    assert isinstance(credentials, dict)
    assert set(credentials) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert str(credentials["Expiration"]).endswith("Z")


def test_the_cli_s_0755_directory_is_accepted(world: World) -> None:
    world.cache.mkdir(parents=True, mode=0o755)
    world.cache.chmod(0o755)
    world.token()
    world.token()
    assert world.assume_role_calls() == 1
    assert stat.S_IMODE(world.cache.stat().st_mode) == 0o755, "never changed under the CLI"


def test_a_group_writable_directory_is_refused_with_a_warning(world: World) -> None:
    world.cache.mkdir(parents=True)
    world.cache.chmod(0o775)
    for _ in range(2):
        result = world.plugin("--profile", "role")
        assert result.returncode == 0, result.stderr
        assert "not using the credential cache" in result.stderr
        assert "chmod go-w" in result.stderr
    assert world.assume_role_calls() == 2
    assert list(world.cache.iterdir()) == []


def test_a_group_readable_entry_is_not_served_but_replaced_privately(world: World) -> None:
    world.token()
    entry = world.cache / ROLE_FILE
    entry.chmod(0o640)
    old_key = _cached_key_id(world)
    token = world.token()
    assert world.assume_role_calls() == 2, "a readable entry may have leaked: not used"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert _signing_key_id(token) == _cached_key_id(world) != old_key


@pytest.mark.parametrize(
    "content",
    ["", '{"Credentials": {"AccessKeyId": "AS', "[]", '{"Credentials": {}}', "{}\n}"],
    ids=["empty", "truncated", "list", "no-fields", "trailing-garbage"],
)
def test_a_corrupt_entry_is_replaced_with_one_the_cli_reads(world: World, content: str) -> None:
    world.cache.mkdir(parents=True, mode=0o700)
    (world.cache / ROLE_FILE).write_text(content, encoding="utf-8")
    (world.cache / ROLE_FILE).chmod(0o600)
    ours = world.token()
    assert world.assume_role_calls() == 1
    theirs = world.aws_token()  # `aws` failed on the corrupt file; it reads ours
    assert world.assume_role_calls() == 1
    assert _signing_key_id(theirs) == _signing_key_id(ours)


def test_a_changed_source_profile_is_never_served_the_old_credentials(world: World) -> None:
    world.token()
    alices_session = _cached_key_id(world)
    world.write_profiles(source="bob")  # the same role, other source keys: same CLI file name
    token = world.token()
    assert world.assume_role_calls() == 2
    assert _signing_key_id(token) != alices_session
    assert _last_caller(world) == world.bob.access_key_id


@pytest.mark.parametrize(
    ("extra", "env"),
    [
        ("", {"AWS_REGION": "eu-west-1"}),
        ("duration_seconds = abc\n", {}),  # not in the CLI's key (unreadable), in ours
        ("sts_regional_endpoints = legacy\n", {}),
    ],
    ids=["region-in-the-environment", "another-setting", "endpoint-mode"],
)
def test_any_change_of_what_decided_the_credentials_refreshes_them(
    world: World, extra: str, env: dict[str, str]
) -> None:
    world.token()
    world.write_profiles(extra=extra)
    world.token(env=world.env(**env))
    assert world.assume_role_calls() == 2


def test_a_cli_entry_made_before_a_profile_edit_is_not_used(world: World) -> None:
    world.aws_token()
    assert world.assume_role_calls() == 1
    stale = _cached_key_id(world)
    world.write_profiles(source="bob")
    written = (world.cache / ROLE_FILE).stat().st_mtime
    for name in ("config", "credentials"):  # the edit came after, even on a coarse clock
        os.utime(world.home / ".aws" / name, (written + 1, written + 1))
    token = world.token()
    assert world.assume_role_calls() == 2
    assert _signing_key_id(token) != stale
    assert _last_caller(world) == world.bob.access_key_id


def test_expired_entries_are_never_served(frozen: World) -> None:
    frozen.token()  # FakeSTS issues a one-hour session at T0
    frozen.clock.now = T0 + timedelta(minutes=44)  # 16 minutes left: used
    token = frozen.token()
    assert frozen.assume_role_calls() == 1
    status_key = _signing_key_id(token)
    frozen.clock.now = T0 + timedelta(minutes=46)  # 14 minutes left: a token would outlive it
    token = frozen.token()
    assert frozen.assume_role_calls() == 2
    assert _signing_key_id(token) != status_key
    frozen.clock.now = T0 + timedelta(hours=3)  # long expired
    frozen.token()
    assert frozen.assume_role_calls() == 3


def test_the_token_never_outlives_cached_credentials(frozen: World) -> None:
    frozen.token()
    frozen.clock.now = T0 + timedelta(minutes=44)
    result = frozen.plugin("--profile", "role")
    expires = json.loads(result.stdout)["status"]["expirationTimestamp"]
    assert expires == "2026-11-28T12:00:49Z"  # signed 11:46:49 + 14 min, within the 12:02:49 end


def test_turned_off_by_the_environment(world: World) -> None:
    env = world.env(K8S_AWS_AUTH_CREDENTIAL_CACHE="off")
    world.token(env=env)
    world.token(env=env)
    assert world.assume_role_calls() == 2
    assert not world.cache.exists()


# --- concurrency ----------------------------------------------------------------------


def test_concurrent_runs_make_one_assume_role_call(world: World) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        tokens = list(pool.map(lambda _i: world.token(), range(6)))
    assert world.assume_role_calls() == 1
    assert len({_signing_key_id(token) for token in tokens}) == 1
    assert [p.name for p in world.cache.iterdir()] == [ROLE_FILE], "no temporary left over"


# --- MFA: one code per credential lifetime ---------------------------------------------


def _mfa_exec_info() -> str:
    return json.dumps(
        {"apiVersion": "client.authentication.k8s.io/v1", "spec": {"interactive": True}}
    )


def test_mfa_is_asked_once_per_credential_lifetime(frozen: World) -> None:
    frozen.fake.register_role(ROLE_ARN, mfa_serial=MFA_SERIAL, mfa_code="123456")
    frozen.write_profiles(extra=f"mfa_serial = {MFA_SERIAL}\n")
    env = frozen.env(KUBERNETES_EXEC_INFO=_mfa_exec_info())
    first = frozen.plugin("--profile", "role", stdin="123456\n", env=env)
    assert first.returncode == 0, first.stderr
    assert f"Enter MFA code for {MFA_SERIAL}" in first.stderr
    assert (frozen.cache / MFA_FILE).is_file()
    for minutes in (5, 30, 44):  # no code on stdin: a prompt would fail the run
        frozen.clock.now = T0 + timedelta(minutes=minutes)
        later = frozen.plugin("--profile", "role", env=env)
        assert later.returncode == 0, later.stderr
        assert "Enter MFA code" not in later.stderr
    assert frozen.assume_role_calls() == 1
    frozen.clock.now = T0 + timedelta(minutes=46)  # the window: a new code, once
    again = frozen.plugin("--profile", "role", stdin="123456\n", env=env)
    assert again.returncode == 0, again.stderr
    assert "Enter MFA code" in again.stderr
    assert frozen.assume_role_calls() == 2


# --- the AWS CLI reads ours, we read the CLI's -------------------------------------------


def test_the_aws_cli_uses_credentials_the_plugin_cached(world: World) -> None:
    ours = world.token()
    theirs = world.aws_token()
    assert world.assume_role_calls() == 1, "aws made no AssumeRole of its own"
    # aws signed with our cached session (its token names the loopback host: not verifiable).
    assert _signing_key_id(theirs) == _signing_key_id(ours) == _cached_key_id(world)


def test_the_plugin_uses_credentials_the_aws_cli_cached(world: World) -> None:
    theirs = world.aws_token()
    assert world.assume_role_calls() == 1
    ours = world.token()
    assert world.assume_role_calls() == 1, "the plugin made no AssumeRole of its own"
    assert _signing_key_id(ours) == _signing_key_id(theirs) == _cached_key_id(world)
    assert world.identity(ours).startswith("arn:aws:sts::123456789012:assumed-role/demo/")


def test_cli_entries_are_not_trusted_for_an_environment_source(world: World) -> None:
    # credential_source = Environment: the source lives outside the files, so only
    # an entry with our fingerprint (the environment's keys in it) is used.
    env_config = f"[profile role]\nrole_arn = {ROLE_ARN}\ncredential_source = Environment\n"
    (world.home / ".aws" / "config").write_text(env_config, encoding="utf-8")
    alice = world.env(
        AWS_ACCESS_KEY_ID=world.alice.access_key_id,
        AWS_SECRET_ACCESS_KEY=world.alice.secret_access_key,
    )
    bob = world.env(
        AWS_ACCESS_KEY_ID=world.bob.access_key_id,
        AWS_SECRET_ACCESS_KEY=world.bob.secret_access_key,
    )
    world.token(env=alice)
    world.token(env=alice)
    assert world.assume_role_calls() == 1
    world.token(env=bob)
    assert world.assume_role_calls() == 2
    assert _last_caller(world) == world.bob.access_key_id


def test_a_cached_token_is_not_served_after_the_profile_changed(world: World) -> None:
    first = world.token("--cache")
    assert world.token("--cache") == first  # a token cache hit
    world.write_profiles(source="bob")
    token = world.token("--cache")
    assert token != first
    assert world.assume_role_calls() == 2
    assert _last_caller(world) == world.bob.access_key_id
