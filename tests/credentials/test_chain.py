"""The chain: precedence, no network once answered, refresh windows, sync and async alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import httpx
import pytest

from k8s_aws_auth import Credentials, agenerate_token, generate_token
from k8s_aws_auth._core.effects import Sleep
from k8s_aws_auth.credentials import (
    AsyncCredentialResolver,
    CredentialChain,
    CredentialResolver,
    ProviderContext,
    Skip,
)
from k8s_aws_auth.credentials._base import CredentialFlow
from k8s_aws_auth.errors import CredentialProviderError, NoCredentialsError
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.child_env import child_env
from tests.support.credentials import StandIn, expires_in, serve, write_aws_files
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def home() -> Path:
    return Path(os.environ["HOME"])


def _metadata_stand_ins() -> tuple[StandIn, StandIn]:
    creds = json.dumps(
        {
            "AccessKeyId": "ASIAX",
            "SecretAccessKey": "x",
            "Token": "x",
            "Expiration": expires_in(timedelta(days=1)),
        }
    ).encode()
    imds = StandIn(
        {
            ("PUT", "/latest/api/token"): (200, {}, b"t"),
            ("GET", "/latest/meta-data/iam/security-credentials/"): (200, {}, b"r"),
            ("GET", "/latest/meta-data/iam/security-credentials/r"): (200, {}, creds),
        }
    )
    container = StandIn({("GET", "/creds"): (200, {}, creds)})
    return imds, container


@pytest.fixture
def metadata() -> Iterator[tuple[StandIn, StandIn]]:
    imds, container = _metadata_stand_ins()
    with serve(imds), serve(container):
        yield imds, container


# --- precedence -------------------------------------------------------------------------


def test_environment_beats_profiles_and_no_later_provider_touches_the_network(
    home: Path, metadata: tuple[StandIn, StandIn]
) -> None:
    imds, container = metadata
    write_aws_files(
        home,
        credentials="[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = f\n",
        config="[default]\ncredential_process = /bin/false\n",
    )
    env = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": "e",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.base_url,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": container.base_url + "/creds",
    }
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIAENV"
    # Without the environment keys the credentials file answers, still before the network.
    del env["AWS_ACCESS_KEY_ID"]
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIAFILE"
    assert imds.seen == []
    assert container.seen == []
    # With nothing else, the container endpoint answers before IMDS.
    (home / ".aws" / "credentials").unlink()
    (home / ".aws" / "config").unlink()
    assert CredentialResolver(environ=env).resolve().access_key_id == "ASIAX"
    assert len(container.seen) == 1
    assert imds.seen == []


def test_credentials_file_beats_credential_process_beats_config_file_keys(home: Path) -> None:
    script = home / "proc.py"
    script.write_text(
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROC', 'SecretAccessKey': 'p'}))\n"
    )
    write_aws_files(
        home,
        credentials="[default]\naws_access_key_id = AKIACREDFILE\naws_secret_access_key = c\n",
        config=(
            f"[default]\ncredential_process = {sys.executable} {script}\n"
            "aws_access_key_id = AKIACONFIG\naws_secret_access_key = k\n"
        ),
    )
    env = {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIACREDFILE"
    (home / ".aws" / "credentials").unlink()
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIAPROC"


def test_explicit_profile_ignores_environment_keys_but_aws_profile_does_not(home: Path) -> None:
    write_aws_files(
        home, credentials="[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = d\n"
    )
    env = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": "e",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert CredentialResolver(environ=env, profile="dev").resolve().access_key_id == "AKIADEV"
    assert (
        CredentialResolver(environ={**env, "AWS_PROFILE": "dev"}).resolve().access_key_id
        == "AKIAENV"
    )


def test_aws_default_profile_wins_over_aws_profile_like_the_cli(home: Path) -> None:
    write_aws_files(
        home,
        credentials=(
            "[a]\naws_access_key_id = AKIAA\naws_secret_access_key = a\n"
            "[b]\naws_access_key_id = AKIAB\naws_secret_access_key = b\n"
        ),
    )
    env = {"HOME": str(home), "AWS_PROFILE": "a", "AWS_DEFAULT_PROFILE": "b"}
    assert CredentialResolver(environ=env).resolve().access_key_id == "AKIAB"


def test_role_arn_beats_static_keys_in_the_same_profile(home: Path) -> None:
    fake = FakeSTS()
    fake.register(Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), f"arn:aws:iam::{ACCOUNT}:user/u")
    fake.register_role(ROLE)
    write_aws_files(
        home,
        credentials=f"[default]\naws_access_key_id = {DOC_ACCESS_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n",
        config=f"[default]\nrole_arn = {ROLE}\nsource_profile = default\n",
    )
    with fake.serve() as url:
        env = {"HOME": str(home), "AWS_ENDPOINT_URL_STS": url}
        resolved = CredentialResolver(environ=env).resolve()
    assert resolved.access_key_id.startswith("ASIA")
    assert fake.count("AssumeRole") == 1


def _loaded_chain_modules(extra_env: dict[str, str]) -> tuple[list[str], str]:
    """Run generate_token('c') in a fresh process; its credentials and network modules, expiry."""
    code = (
        "import json, sys, k8s_aws_auth\n"
        "t = k8s_aws_auth.generate_token('c')\n"
        "assert t.value.startswith('k8s-aws-v1.')\n"
        "names = ('k8s_aws_auth.credentials.', 'httpx', 'httpcore', 'anyio', 'ssl')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(names))))\n"
        "print(t.expiration.isoformat())\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra_env,
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules, expiration = result.stdout.splitlines()
    return json.loads(modules), expiration


def test_environment_keys_sign_without_building_the_chain() -> None:
    # The default chain's first provider decides: generate_token reads the keys with the
    # provider's own function and the settings with the resolver's rules, nothing more.
    # No httpx, anyio or ssl either.
    modules, _expiration = _loaded_chain_modules({"AWS_REGION": "eu-west-1"})
    assert modules == [
        "k8s_aws_auth.credentials._env_keys",
        "k8s_aws_auth.credentials._region",
        "k8s_aws_auth.credentials._shared_files",
        "k8s_aws_auth.credentials._simple_ini",  # the shared files' common form
        "k8s_aws_auth.credentials.internal",  # the lazy seam they are taken through
    ]


def test_expiring_environment_keys_still_go_through_the_provider() -> None:
    # AWS_CREDENTIAL_EXPIRATION is parsed by EnvProvider: the token cannot outlive the keys.
    later = expires_in(timedelta(days=1))
    modules, expiration = _loaded_chain_modules({"AWS_CREDENTIAL_EXPIRATION": later})
    assert "k8s_aws_auth.credentials._env" in modules
    assert "k8s_aws_auth.credentials._resolver" in modules
    assert [m for m in modules if not m.startswith("k8s_aws_auth.")] == []  # still no httpx
    # 14 minutes from now comes first
    assert datetime.fromisoformat(expiration) < datetime.fromisoformat(later.replace("Z", "+00:00"))
    soon = expires_in(timedelta(minutes=3))
    modules, expiration = _loaded_chain_modules({"AWS_CREDENTIAL_EXPIRATION": soon})
    assert expiration == soon.replace("Z", "+00:00")


# --- refresh ------------------------------------------------------------------------------


@attrs.frozen
class CountingProvider:
    """Test double: fresh credentials valid for ``lifetime`` on each call; can be told to fail."""

    clock: FixedClock
    lifetime: timedelta = timedelta(hours=1)
    calls: list[int] = attrs.field(factory=list)
    failing: list[bool] = attrs.field(factory=list)
    pause: float = 0.0
    name: str = "counting"

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        if self.pause:
            yield Sleep(self.pause)
        self.calls.append(1)
        if self.failing:
            raise CredentialProviderError("refresh failed", provider=self.name)
        return Credentials(f"ASIA{len(self.calls):04d}", "s", "t", self.clock() + self.lifetime)


def test_cached_then_advisory_then_mandatory_refresh() -> None:
    clock = FixedClock(START)
    provider = CountingProvider(clock)
    resolver = CredentialResolver(CredentialChain([provider]), environ={}, clock=clock)
    first = resolver.resolve()
    assert first.access_key_id == "ASIA0001"
    clock.advance(timedelta(minutes=44))  # 16 min left: still fresh
    assert resolver.resolve() is first
    clock.advance(timedelta(minutes=2))  # 14 min left: advisory refresh
    second = resolver.resolve()
    assert second.access_key_id == "ASIA0002"
    assert first.access_key_id == "ASIA0001"  # snapshots are never mutated
    assert len(provider.calls) == 2


def test_failed_advisory_refresh_keeps_credentials_failed_mandatory_raises() -> None:
    clock = FixedClock(START)
    provider = CountingProvider(clock)
    resolver = CredentialResolver(CredentialChain([provider]), environ={}, clock=clock)
    first = resolver.resolve()
    provider.failing.append(True)
    clock.advance(timedelta(minutes=47))  # 13 min left: advisory
    assert resolver.resolve() is first
    clock.advance(timedelta(minutes=4))  # 9 min left: mandatory
    with pytest.raises(CredentialProviderError, match="refresh failed"):
        resolver.resolve()
    provider.failing.clear()
    assert resolver.resolve().access_key_id == "ASIA0004"


def test_static_credentials_are_never_refreshed(home: Path) -> None:
    write_aws_files(
        home, credentials="[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n"
    )
    clock = FixedClock(START)
    resolver = CredentialResolver(environ={"HOME": str(home)}, clock=clock)
    first = resolver.resolve()
    (home / ".aws" / "credentials").unlink()
    clock.advance(timedelta(days=400))
    assert resolver.resolve() is first


def test_one_refresh_at_a_time_across_threads() -> None:
    clock = FixedClock(START)
    provider = CountingProvider(clock, pause=0.3)
    resolver = CredentialResolver(CredentialChain([provider]), environ={}, clock=clock)
    results: list[Credentials] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.resolve())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(provider.calls) == 1
    assert {c.access_key_id for c in results} == {"ASIA0001"}


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_one_refresh_at_a_time(anyio_backend: str) -> None:
    import anyio

    clock = FixedClock(START)
    provider = CountingProvider(clock, pause=0.2)
    resolver = AsyncCredentialResolver(CredentialChain([provider]), environ={}, clock=clock)
    results: list[Credentials] = []

    async def one() -> None:
        results.append(await resolver.resolve())

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(one)
    assert len(provider.calls) == 1
    assert len(results) == 8
    clock.advance(timedelta(minutes=55))
    assert (await resolver.resolve()).access_key_id == "ASIA0002"


def test_already_expired_credentials_are_refused() -> None:
    clock = FixedClock(START)
    provider = CountingProvider(clock, lifetime=timedelta(seconds=-1))
    with pytest.raises(Exception, match="already expired"):
        CredentialResolver(CredentialChain([provider]), environ={}, clock=clock).resolve()


# --- sync and async give the same answers ----------------------------------------------------


def _scenarios(home: Path, sts_url: str, imds_url: str) -> list[dict[str, str]]:
    script = home / "proc.py"
    script.write_text(
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROC', 'SecretAccessKey': 'p',"
        f" 'Expiration': '{expires_in(timedelta(days=1))}'}}))\n"
    )
    write_aws_files(
        home,
        credentials=(
            f"[base]\naws_access_key_id = {DOC_ACCESS_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n"
            "[file]\naws_access_key_id = AKIAFILE\naws_secret_access_key = f\n"
        ),
        config=(
            f"[profile proc]\ncredential_process = {sys.executable} {script}\n"
            f"[profile role]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = same\n"
        ),
    )
    base = {
        "HOME": str(home),
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_url,
    }
    return [
        {**base, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"},
        {**base, "AWS_PROFILE": "file"},
        {**base, "AWS_PROFILE": "proc"},
        {**base, "AWS_PROFILE": "role"},
        base,  # nothing configured: IMDS answers
    ]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_sync_and_async_resolvers_agree(home: Path, anyio_backend: str) -> None:
    fake = FakeSTS()
    fake.register(Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET), f"arn:aws:iam::{ACCOUNT}:user/u")
    fake.register_role(ROLE)
    imds, _container = _metadata_stand_ins()
    with fake.serve() as sts_url, serve(imds):
        for env in _scenarios(home, sts_url, imds.base_url):
            sync_result = CredentialResolver(environ=env).resolve()
            async_result = await AsyncCredentialResolver(environ=env).resolve()
            if (
                sync_result.access_key_id.startswith("ASIA")
                and sync_result.access_key_id != "ASIAX"
            ):
                # AssumeRole mints new keys per call; compare what they are, not the bytes.
                assert async_result.access_key_id.startswith("ASIA")
                assert async_result.expiration is not None
            else:
                assert async_result == sync_result
    assert fake.count("AssumeRole") == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_agenerate_token_matches_generate_token(home: Path, anyio_backend: str) -> None:
    env = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_REGION": "eu-west-1",
    }
    sync_token = generate_token("c", environ=env, now=START)
    async_token = await agenerate_token("c", environ=env, now=START)
    assert sync_token == async_token


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_errors_are_the_same(home: Path, anyio_backend: str) -> None:
    env = {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.raises(NoCredentialsError) as sync_error:
        CredentialResolver(environ=env).resolve()
    with pytest.raises(NoCredentialsError) as async_error:
        await AsyncCredentialResolver(environ=env).resolve()
    assert sync_error.value.attempts == async_error.value.attempts


def test_borrowed_client_is_used_and_left_open(home: Path) -> None:
    seen: list[str] = []
    imds, _container = _metadata_stand_ins()
    client = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.url.path)]})
    with serve(imds):
        env = {"HOME": str(home), "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.base_url}
        resolver = CredentialResolver(environ=env, client=client)
        assert resolver.resolve().access_key_id == "ASIAX"
    assert seen == [
        "/latest/api/token",
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials/r",
    ]
    assert not client.is_closed
    client.close()
