"""SSO token refresh: SSO OIDC ``CreateToken`` with the cached refresh token, as the AWS CLI does it.

The SSO portal and SSO OIDC are one real loopback stand-in; the token cache is a
real file under the temporary HOME. botocore (test-only) is the oracle: it
refreshes the same cache against the same stand-in, and it reads back the file
we write.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from k8s_aws_auth._core.effects import HttpRequest, HttpResponse
from k8s_aws_auth.credentials import (
    AsyncCredentialResolver,
    CredentialResolver,
    ProviderContext,
    SSOProvider,
)
from k8s_aws_auth.credentials._local_effects import WriteFile
from k8s_aws_auth.credentials._resolver import write_private_file
from k8s_aws_auth.errors import CredentialProviderError
from tests.support.credentials import Seen, StandIn, serve, unused_port, write_aws_files

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"
PORTAL_PATH = f"/federation/credentials?account_id={ACCOUNT}&role_name=ReadOnly"
START_URL = "https://corp.awsapps.com/start"
CLIENT_SECRET = "CLIENTSECRETdoNotLeak0123456789"
OLD_REFRESH = "REFRESHTOKENold0123456789doNotLeak"
NEW_REFRESH = "REFRESHTOKENnew0123456789doNotLeak"
OLD_ACCESS = "ACCESSTOKENold0123456789doNotLeak"
NEW_ACCESS = "ACCESSTOKENnew0123456789doNotLeak"
SECRETS = (CLIENT_SECRET, OLD_REFRESH, NEW_REFRESH, OLD_ACCESS, NEW_ACCESS)

CONFIG = (
    "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n"
    f"[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\n"
    f"[profile legacy]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\n"
    "sso_account_id = 111122223333\nsso_role_name = ReadOnly\n"
)


@pytest.fixture
def home() -> Path:
    home = Path(os.environ["HOME"])
    write_aws_files(home, config=CONFIG)
    return home


def cache_file(home: Path, key: str = "corp") -> Path:
    return home / ".aws" / "sso" / "cache" / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def write_cache(home: Path, key: str = "corp", **fields: Any) -> Path:
    """A cache entry as ``aws sso login`` leaves it (fields may override or drop keys)."""
    document: dict[str, Any] = {
        "startUrl": START_URL,
        "region": "eu-west-1",
        "accessToken": OLD_ACCESS,
        "expiresAt": "2026-11-28T11:00:00Z",  # an hour before NOW
        "clientId": "client-id-123",
        "clientSecret": CLIENT_SECRET,
        "registrationExpiresAt": "2027-02-01T00:00:00Z",
        "refreshToken": OLD_REFRESH,
    }
    for key_name, value in fields.items():
        if value is None:
            document.pop(key_name, None)
        else:
            document[key_name] = value
    path = cache_file(home, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def sso_services(
    *, oidc_status: int = 200, answer: dict[str, Any] | None = None, refresh: str = OLD_REFRESH
) -> StandIn:
    """SSO OIDC (POST /token) and the SSO portal, which accepts only the token OIDC issued."""

    def create_token(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        body = json.loads(seen.body)
        expected = {
            "clientId": "client-id-123",
            "clientSecret": CLIENT_SECRET,
            "grantType": "refresh_token",
            "refreshToken": refresh,
        }
        if oidc_status != 200:
            return oidc_status, {}, b'{"error": "invalid_grant", "error_description": "x"}'
        if body != expected:
            return 400, {}, b'{"error": "invalid_request"}'
        document = answer or {
            "accessToken": NEW_ACCESS,
            "tokenType": "Bearer",
            "expiresIn": 28800,
            "refreshToken": NEW_REFRESH,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()

    def portal(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.header("x-amz-sso_bearer_token") not in (NEW_ACCESS, OLD_ACCESS):
            return 401, {}, b'{"message": "Session token not found or invalid"}'
        key_id = "ASIANEW" if seen.header("x-amz-sso_bearer_token") == NEW_ACCESS else "ASIAOLD"
        role = {
            "accessKeyId": key_id,
            "secretAccessKey": "ss",
            "sessionToken": "st",
            "expiration": 1795870800000,
        }
        return 200, {}, json.dumps({"roleCredentials": role}).encode()

    return StandIn({("POST", "/token"): create_token, ("GET", PORTAL_PATH): portal})


@pytest.fixture
def services() -> Iterator[StandIn]:
    with serve(sso_services()) as stand_in:
        yield stand_in


def env_for(home: Path, stand_in: StandIn) -> dict[str, str]:
    return {
        "HOME": str(home),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_SSO": stand_in.base_url,
        "AWS_ENDPOINT_URL_SSO_OIDC": stand_in.base_url,
    }


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_expired_token_is_refreshed_written_back_and_used(home: Path, services: StandIn) -> None:
    path = write_cache(home)
    resolver = CredentialResolver(environ=env_for(home, services), profile="sso", clock=lambda: NOW)
    assert resolver.resolve().access_key_id == "ASIANEW"
    assert [(s.method, s.path) for s in services.seen] == [("POST", "/token"), ("GET", PORTAL_PATH)]
    assert services.seen[0].header("Content-Type") == "application/json"
    assert services.seen[0].header("Authorization") is None  # CreateToken is unsigned
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "startUrl": START_URL,
        "region": "eu-west-1",
        "accessToken": NEW_ACCESS,
        "expiresAt": "2026-11-28T20:00:00Z",  # NOW + expiresIn (8 h)
        "clientId": "client-id-123",
        "clientSecret": CLIENT_SECRET,
        "registrationExpiresAt": "2027-02-01T00:00:00Z",
        "refreshToken": NEW_REFRESH,
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_the_next_process_uses_the_written_token_without_refreshing(
    home: Path, services: StandIn
) -> None:
    write_cache(home)
    env = env_for(home, services)
    CredentialResolver(environ=env, profile="sso", clock=lambda: NOW).resolve()
    later = NOW + timedelta(minutes=30)  # the new token is good until 20:00
    again = CredentialResolver(environ=env, profile="sso", clock=lambda: later).resolve()
    assert again.access_key_id == "ASIANEW"
    assert [s.method for s in services.seen] == ["POST", "GET", "GET"]


def test_token_in_the_refresh_window_is_refreshed_like_the_cli(
    home: Path, services: StandIn
) -> None:
    write_cache(home, expiresAt="2026-11-28T12:10:00Z")  # 10 minutes left: within 15
    credentials = CredentialResolver(
        environ=env_for(home, services), profile="sso", clock=lambda: NOW
    ).resolve()
    assert credentials.access_key_id == "ASIANEW"


def test_token_outside_the_window_is_not_refreshed(home: Path, services: StandIn) -> None:
    path = write_cache(home, expiresAt="2026-11-28T12:30:00Z")
    before = path.read_text()
    credentials = CredentialResolver(
        environ=env_for(home, services), profile="sso", clock=lambda: NOW
    ).resolve()
    assert credentials.access_key_id == "ASIAOLD"
    assert [s.method for s in services.seen] == ["GET"]
    assert path.read_text() == before


def test_failed_refresh_of_a_still_valid_token_keeps_it(home: Path) -> None:
    path = write_cache(home, expiresAt="2026-11-28T12:05:00Z")
    before = path.read_text()
    with serve(sso_services(oidc_status=400)) as stand_in:
        resolver = CredentialResolver(
            environ=env_for(home, stand_in), profile="sso", clock=lambda: NOW
        )
        assert resolver.resolve().access_key_id == "ASIAOLD"
    assert [s.method for s in stand_in.seen] == ["POST", "GET"]
    assert path.read_text() == before


def test_failed_refresh_of_an_expired_token_says_why_and_how_to_fix(home: Path) -> None:
    path = write_cache(home)
    before = path.read_text()
    with (
        serve(sso_services(oidc_status=400)) as stand_in,
        pytest.raises(CredentialProviderError) as caught,
    ):
        CredentialResolver(
            environ=env_for(home, stand_in), profile="sso", clock=lambda: NOW
        ).resolve()
    message = str(caught.value)
    assert (
        "the cached SSO login has expired and could not be refreshed "
        "(SSO OIDC answered HTTP 400, invalid_grant); run 'aws sso login --profile sso'"
    ) in message
    assert caught.value.reason == "sso-login-required"
    assert caught.value.provider == "sso (profile sso)"
    assert_no_secret(f"{message} {caught.value!r}")
    assert [s.method for s in stand_in.seen] == ["POST"]  # the portal was never asked
    assert path.read_text() == before


def test_unreachable_oidc_is_named(home: Path) -> None:
    write_cache(home)
    port = unused_port()
    env = {
        "HOME": str(home),
        "AWS_ENDPOINT_URL_SSO": f"http://127.0.0.1:{port}",
        "AWS_ENDPOINT_URL_SSO_OIDC": f"http://127.0.0.1:{port}",
    }
    with pytest.raises(CredentialProviderError, match=r"could not reach SSO OIDC \(127\.0\.0\.1:"):
        CredentialResolver(environ=env, profile="sso", clock=lambda: NOW).resolve()


@pytest.mark.parametrize(
    "answer",
    [
        {"accessToken": "", "expiresIn": 3600},
        {"accessToken": NEW_ACCESS},
        {"accessToken": NEW_ACCESS, "expiresIn": "3600"},
        {"accessToken": NEW_ACCESS, "expiresIn": True},
        {"accessToken": NEW_ACCESS, "expiresIn": -5},
    ],
)
def test_unusable_create_token_answer_is_refused(home: Path, answer: dict[str, Any]) -> None:
    write_cache(home)
    with (
        serve(sso_services(answer=answer)) as stand_in,
        pytest.raises(CredentialProviderError, match="no usable accessToken/expiresIn"),
    ):
        CredentialResolver(
            environ=env_for(home, stand_in), profile="sso", clock=lambda: NOW
        ).resolve()


def test_answer_without_a_new_refresh_token_keeps_the_old_one(home: Path) -> None:
    path = write_cache(home)
    with serve(sso_services(answer={"accessToken": NEW_ACCESS, "expiresIn": 3600})) as stand_in:
        CredentialResolver(
            environ=env_for(home, stand_in), profile="sso", clock=lambda: NOW
        ).resolve()
    written = json.loads(path.read_text())
    assert written["refreshToken"] == OLD_REFRESH
    assert written["expiresAt"] == "2026-11-28T13:00:00Z"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"refreshToken": None}, "the cached SSO login has expired; run"),
        ({"clientSecret": None}, "the cached SSO login has expired; run"),
        ({"registrationExpiresAt": None}, "the cached SSO login has expired; run"),
        (
            {"registrationExpiresAt": "2026-11-01T00:00:00Z"},
            "expired (its SSO client registration has expired too); run",
        ),
    ],
)
def test_no_refresh_without_a_usable_registration(
    home: Path, services: StandIn, fields: dict[str, Any], expected: str
) -> None:
    write_cache(home, **fields)
    with pytest.raises(
        CredentialProviderError, match=expected.replace("(", r"\(").replace(")", r"\)")
    ):
        CredentialResolver(
            environ=env_for(home, services), profile="sso", clock=lambda: NOW
        ).resolve()
    assert services.seen == []


def test_legacy_profiles_are_not_refreshed(home: Path, services: StandIn) -> None:
    write_cache(home, key=START_URL)
    with pytest.raises(
        CredentialProviderError, match="expired; run 'aws sso login --profile legacy'"
    ):
        CredentialResolver(
            environ=env_for(home, services), profile="legacy", clock=lambda: NOW
        ).resolve()
    assert services.seen == []


def test_a_cache_that_cannot_be_written_still_gives_credentials(
    home: Path, services: StandIn
) -> None:
    write_cache(home)
    attempts: list[str] = []

    def read_only(path: str, _text: str) -> None:
        attempts.append(path)
        raise PermissionError("read-only file system")

    resolver = CredentialResolver(
        environ=env_for(home, services), profile="sso", clock=lambda: NOW, write_file=read_only
    )
    assert resolver.resolve().access_key_id == "ASIANEW"
    assert attempts == [str(cache_file(home))]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_resolver_also_survives_a_cache_it_cannot_write(
    home: Path, services: StandIn, anyio_backend: str
) -> None:
    write_cache(home)
    attempts: list[str] = []

    def read_only(path: str, _text: str) -> None:
        attempts.append(path)
        raise PermissionError("read-only file system")

    resolver = AsyncCredentialResolver(
        environ=env_for(home, services), profile="sso", clock=lambda: NOW, write_file=read_only
    )
    assert (await resolver.resolve()).access_key_id == "ASIANEW"
    assert attempts == [str(cache_file(home))]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_resolver_refreshes_too(
    home: Path, services: StandIn, anyio_backend: str
) -> None:
    path = write_cache(home)
    resolver = AsyncCredentialResolver(
        environ=env_for(home, services), profile="sso", clock=lambda: NOW
    )
    assert (await resolver.resolve()).access_key_id == "ASIANEW"
    assert json.loads(path.read_text())["accessToken"] == NEW_ACCESS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- the request, stepped by hand ------------------------------------------------------


def _first_request(home: Path, environ: dict[str, str]) -> HttpRequest:
    ctx = ProviderContext(
        environ={"HOME": str(home), **environ},
        read_file=lambda p: Path(p).read_text() if Path(p).exists() else None,
        clock=lambda: NOW,
        profile="sso",
    )
    flow = SSOProvider().flow(ctx)
    request = next(flow)
    flow.close()
    assert isinstance(request, HttpRequest)
    return request


def test_default_oidc_endpoint_is_the_session_region(home: Path) -> None:
    write_cache(home)
    request = _first_request(home, {})
    assert (request.method, request.url) == ("POST", "https://oidc.eu-west-1.amazonaws.com/token")
    assert dict(request.headers)["Host"] == b"oidc.eu-west-1.amazonaws.com"
    assert_no_secret(repr(request))


def test_profile_services_section_sets_the_oidc_endpoint(home: Path) -> None:
    write_aws_files(
        home,
        config=CONFIG.replace("[profile sso]\n", "[profile sso]\nservices = local\n")
        + "[services local]\nsso_oidc =\n  endpoint_url = http://127.0.0.1:4566\n",
    )
    write_cache(home)
    assert _first_request(home, {}).url == "http://127.0.0.1:4566/token"


def test_the_write_effect_names_the_cli_cache_file(home: Path) -> None:
    write_cache(home)
    ctx = ProviderContext(
        environ={"HOME": str(home)},
        read_file=lambda p: Path(p).read_text() if Path(p).exists() else None,
        clock=lambda: NOW,
        profile="sso",
    )
    flow = SSOProvider().flow(ctx)
    next(flow)
    answer = {"accessToken": NEW_ACCESS, "expiresIn": 60, "refreshToken": NEW_REFRESH}
    effect = flow.send(HttpResponse(status=200, body=json.dumps(answer).encode()))
    flow.close()
    assert isinstance(effect, WriteFile)
    assert effect.path == str(cache_file(home))
    assert_no_secret(repr(effect))


# --- botocore as the oracle ----------------------------------------------------------------


def _botocore_token(home: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    import botocore.session
    from botocore.tokens import SSOTokenProvider, _sso_json_dumps
    from botocore.utils import JSONFileCache

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    session = botocore.session.Session(profile="sso")
    cache = JSONFileCache(str(cache_file(home).parent), dumps_func=_sso_json_dumps)
    provider = SSOTokenProvider(session, cache=cache, time_fetcher=lambda: NOW, profile_name="sso")
    token = provider.load_token()
    assert token is not None
    return str(token.get_frozen_token().token)


def test_same_create_token_request_as_botocore(
    home: Path, services: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(home, services)
    write_cache(home)
    assert _botocore_token(home, env, monkeypatch) == NEW_ACCESS
    theirs = services.seen[0]
    write_cache(home)
    CredentialResolver(environ=env, profile="sso", clock=lambda: NOW).resolve()
    ours = services.seen[1]
    assert (ours.method, ours.path) == (theirs.method, theirs.path) == ("POST", "/token")
    assert json.loads(ours.body) == json.loads(theirs.body)


def test_botocore_reads_the_token_we_wrote_without_refreshing(
    home: Path, services: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(home, services)
    write_cache(home)
    CredentialResolver(environ=env, profile="sso", clock=lambda: NOW).resolve()
    assert _botocore_token(home, env, monkeypatch) == NEW_ACCESS
    assert [s.method for s in services.seen] == ["POST", "GET"]  # botocore sent nothing


# --- the atomic writer ---------------------------------------------------------------------


def test_write_private_file_replaces_atomically_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "token.json"
    write_private_file(str(target), "first")
    target.chmod(0o644)
    write_private_file(str(target), "second")
    assert target.read_text() == "second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in target.parent.iterdir()) == ["token.json"]


def test_write_private_file_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "token.json"
    target.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_private_file(str(target), "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]
