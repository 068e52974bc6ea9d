"""Credential providers, EC2 lookups and parsers never log or chain a secret (issue 10, item 2).

Every provider that speaks HTTP (AssumeRole, AssumeRoleWithWebIdentity, SSO
with its OIDC token refresh, IMDS, the container endpoint), the EC2
``DescribeInstances`` lookups and the webhook's DescribeInstances role run
against a loopback stand-in, sync and async (asyncio, trio), while every record
of every logger is captured. The stand-in either answers properly (the secrets
it hands out are planted too) or echoes our requests back: as its status line,
in a broken header line, or as response headers and body. Documents that hold
secrets and fail to parse (credential answers, process output, SSO caches,
shared files, TokenReview bodies) must not leave the decoder's exception, which
holds the whole input, in the error's chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from k8s_aws_auth import Credentials, VerifierConfig, presign_token, validate_token
from k8s_aws_auth._core.sts import parse_identity_response
from k8s_aws_auth._ec2.lookup import DescribeRoleProvider
from k8s_aws_auth.credentials import (
    AsyncCredentialResolver,
    ContainerProvider,
    CredentialProvider,
    CredentialResolver,
    IMDSProvider,
    StaticProvider,
)
from k8s_aws_auth.credentials._process import parse_process_output
from k8s_aws_auth.errors import CredentialsError, K8sAwsAuthError, STSResponseError
from k8s_aws_auth.mapping import AsyncEC2Resolver, EC2LookupError, EC2Resolver
from k8s_aws_auth.server._tokenreview import TokenReviewRequestError, parse_token_review
from tests.support.credentials import expires_in, write_aws_files
from tests.support.leak_harness import (
    CANARY,
    EchoServer,
    Planted,
    Reply,
    chain_texts,
    echoing,
    every_record,
)
from tests.support.verifier_harness import KINDS

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/LeakRole"
SECRET_KEY = f"{CANARY}SecretAccessKey0123456789abcdefghij"
SESSION_TOKEN = f"{CANARY}SessionToken+/0123456789abcdefghijklmnopqrstuv=="
SOURCE = Credentials("ASIALEAKCANARY000001", SECRET_KEY, SESSION_TOKEN)
WEB_IDENTITY_TOKEN = f"{CANARY}-web-identity-token-0123456789abcdefghijklmnop"
SSO_ACCESS = f"{CANARY}-sso-access-token-0123456789abcdefghijklmnop"
SSO_NEW_ACCESS = f"{CANARY}-sso-new-access-token-0123456789abcdefghij"
SSO_REFRESH = f"{CANARY}-sso-refresh-token-0123456789abcdefghijklm"
SSO_CLIENT_SECRET = f"{CANARY}-sso-client-secret-0123456789abcdefghijk"
IMDS_TOKEN = f"{CANARY}-imds-session-token-0123456789abcdefghijkl"
CONTAINER_TOKEN = f"{CANARY}-container-authorization-token-0123456789"
#: What the stand-ins hand out when they answer properly.
ISSUED = Credentials(
    "ASIAISSUEDCANARY0001",
    f"{CANARY}IssuedSecretAccessKey0123456789abcdef",
    f"{CANARY}IssuedSessionToken+/0123456789abcdefghijklmn==",
)
PLANTED = Planted(
    {
        "secret key": SECRET_KEY,
        "session token": SESSION_TOKEN,
        "web identity token": WEB_IDENTITY_TOKEN,
        "SSO access token": SSO_ACCESS,
        "new SSO access token": SSO_NEW_ACCESS,
        "SSO refresh token": SSO_REFRESH,
        "SSO client secret": SSO_CLIENT_SECRET,
        "IMDS token": IMDS_TOKEN,
        "container authorization token": CONTAINER_TOKEN,
        "issued secret key": ISSUED.secret_access_key,
        "issued session token": str(ISSUED.session_token),
    }
)
IMDS_ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
SSO_PORTAL_PATH = "/federation/credentials"
NODE = "i-0123456789abcdef0"


def _credentials_json(**extra: Any) -> bytes:
    document = {
        "AccessKeyId": ISSUED.access_key_id,
        "SecretAccessKey": ISSUED.secret_access_key,
        "Token": ISSUED.session_token,
        "Expiration": expires_in(timedelta(hours=1)),
        **extra,
    }
    return json.dumps(document).encode()


def _sso_cache(home: Path) -> None:
    """An SSO login about to expire (inside the refresh window), refreshable."""
    path = home / ".aws" / "sso" / "cache" / (hashlib.sha1(b"corp").hexdigest() + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "startUrl": "https://corp.awsapps.com/start",
        "region": "eu-west-1",
        "accessToken": SSO_ACCESS,
        "expiresAt": expires_in(timedelta(minutes=2)),
        "clientId": "client-id-123",
        "clientSecret": SSO_CLIENT_SECRET,
        "registrationExpiresAt": expires_in(timedelta(days=30)),
        "refreshToken": SSO_REFRESH,
    }
    path.write_text(json.dumps(document))


Setup = Callable[[Path, str], tuple[CredentialProvider | None, dict[str, str]]]


def _assume_role(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    write_aws_files(
        home,
        config=f"[profile leak]\nrole_arn = {ROLE}\nsource_profile = base\n",
        credentials=(
            f"[base]\naws_access_key_id = {SOURCE.access_key_id}\n"
            f"aws_secret_access_key = {SECRET_KEY}\naws_session_token = {SESSION_TOKEN}\n"
        ),
    )
    return None, {"AWS_PROFILE": "leak", "AWS_ENDPOINT_URL_STS": url}


def _web_identity(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    token_file = home / "web-identity-token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    return None, {
        "AWS_ROLE_ARN": ROLE,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL_STS": url,
    }


def _sso(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    write_aws_files(
        home,
        config=(
            "[profile leak]\nsso_session = corp\nsso_account_id = 111122223333\n"
            "sso_role_name = ReadOnly\n[sso-session corp]\n"
            "sso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
        ),
    )
    _sso_cache(home)
    return None, {
        "AWS_PROFILE": "leak",
        "AWS_ENDPOINT_URL_SSO": url,
        "AWS_ENDPOINT_URL_SSO_OIDC": url,
    }


def _imds(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    return IMDSProvider(), {
        "AWS_EC2_METADATA_DISABLED": "false",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": url,
    }


def _container(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    return ContainerProvider(attempts=1), {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN,
    }


def _describe_role(home: Path, url: str) -> tuple[CredentialProvider | None, dict[str, str]]:
    provider = DescribeRoleProvider(
        role_arn=ROLE,
        region="us-east-1",
        source=StaticProvider(SOURCE),
        source_headers={"x-amz-source-arn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/c"},
    )
    return provider, {"AWS_ENDPOINT_URL_STS": url}


PROVIDERS: dict[str, Setup] = {
    "assume-role": _assume_role,
    "web-identity": _web_identity,
    "sso": _sso,
    "imds": _imds,
    "container": _container,
    "webhook-describe-role": _describe_role,
}


def _sts_answer(action: str) -> bytes:
    c = ISSUED
    return (
        f"<{action}Response><{action}Result><Credentials><AccessKeyId>{c.access_key_id}"
        f"</AccessKeyId><SecretAccessKey>{c.secret_access_key}</SecretAccessKey>"
        f"<SessionToken>{c.session_token}</SessionToken><Expiration>{expires_in(timedelta(hours=1))}"
        f"</Expiration></Credentials></{action}Result></{action}Response>"
    ).encode()


def proper_replies(provider: str) -> dict[tuple[str, str], Reply]:
    """Canned answers that make ``provider`` succeed, handing out ``ISSUED``."""
    imds: dict[tuple[str, str], Reply] = {
        ("PUT", "/latest/api/token"): (200, [], IMDS_TOKEN.encode()),
        ("GET", IMDS_ROLE_PATH): (200, [], b"leakrole"),
    }
    if provider == "imds":
        return {**imds, ("GET", IMDS_ROLE_PATH + "leakrole"): (200, [], _credentials_json())}
    if provider == "container":
        return {("GET", "/creds"): (200, [], _credentials_json())}
    if provider == "sso":
        oidc = {"accessToken": SSO_NEW_ACCESS, "expiresIn": 28800, "refreshToken": SSO_REFRESH}
        role = {
            "accessKeyId": ISSUED.access_key_id,
            "secretAccessKey": ISSUED.secret_access_key,
            "sessionToken": ISSUED.session_token,
            "expiration": int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp()) * 1000,
        }
        return {
            ("POST", "/token"): (200, [], json.dumps(oidc).encode()),
            ("GET", SSO_PORTAL_PATH): (200, [], json.dumps({"roleCredentials": role}).encode()),
        }
    action = "AssumeRoleWithWebIdentity" if provider == "web-identity" else "AssumeRole"
    return {("POST", "/"): (200, [("Content-Type", "text/xml")], _sts_answer(action))}


def echo_replies(provider: str) -> dict[tuple[str, str], Reply]:
    """Canned answers for the steps before the request under attack (IMDS's token and role)."""
    if provider != "imds":
        return {}
    replies = proper_replies("imds")
    del replies[("GET", IMDS_ROLE_PATH + "leakrole")]
    return replies


def sent_secrets(server: EchoServer) -> Planted:
    """The signatures of the SigV4-signed requests the stand-in received."""
    found: dict[str, str] = {}
    for n, (_line, headers, _body) in enumerate(server.requests):
        for name, value in headers:
            if name.lower() == "authorization" and "Signature=" in value:
                found[f"signature of request {n}"] = value.rsplit("Signature=", 1)[1]
    return Planted(found)


def resolve(kind: str, chain: CredentialProvider | None, environ: dict[str, str]) -> object:
    """Resolve once with a sync or async resolver; the credentials or the library error."""
    try:
        if kind == "sync":
            return CredentialResolver(chain, environ=environ).resolve()
        resolver = AsyncCredentialResolver(chain, environ=environ)
        return anyio.run(resolver.resolve, backend=kind)
    except K8sAwsAuthError as exc:
        return exc


def _environ(home: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        "HOME": str(home),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        **extra,
    }


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_provider_that_succeeds_logs_no_secret(kind: str, provider: str, tmp_path: Path) -> None:
    server = EchoServer(replies=proper_replies(provider))
    with every_record() as captured, echoing(server):
        chain, extra = PROVIDERS[provider](tmp_path, server.base_url)
        result = resolve(kind, chain, _environ(tmp_path, extra))
    assert isinstance(result, Credentials), repr(result)
    assert result.secret_access_key == ISSUED.secret_access_key  # the stand-in's, really
    assert any(m.startswith("HTTP Request:") for m in captured.messages("httpx"))
    assert any(name.startswith("httpcore.") for name in captured.loggers())
    PLANTED.assert_absent([*captured.texts, repr(result)])
    sent_secrets(server).assert_absent(captured.texts)


@pytest.mark.parametrize(
    ("mode", "status"), [("status-line", 0), ("broken-header", 0), ("echo", 200), ("echo", 400)]
)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_provider_facing_an_echo_fails_without_quoting_it(
    kind: str, provider: str, mode: str, status: int, tmp_path: Path
) -> None:
    server = EchoServer(mode=mode, status=status, replies=echo_replies(provider))
    with every_record() as captured, echoing(server):
        chain, extra = PROVIDERS[provider](tmp_path, server.base_url)
        result = resolve(kind, chain, _environ(tmp_path, extra))
    assert isinstance(result, CredentialsError), repr(result)
    assert server.requests, "the stand-in was never asked"
    if mode == "echo":
        # Our own secrets came back in the response head; httpcore's trace of it is scrubbed.
        heads = [m for m in captured.messages("httpcore.http11") if "receive_response_headers" in m]
        assert any("[redacted]" in m for m in heads), heads
    texts = captured.texts + chain_texts(result)
    PLANTED.assert_absent(texts, f" ({provider}, {mode} {status})")
    sent_secrets(server).assert_absent(texts, f" ({provider}, {mode} {status})")


# --- EC2 DescribeInstances ------------------------------------------------------------------------


def _lookup(kind: str, url: str) -> object:
    options: dict[str, Any] = {"credentials": SOURCE, "endpoint_url": url, "max_retries": 0}
    try:
        if kind == "sync":
            with EC2Resolver("us-east-1", **options) as resolver:
                return resolver.resolve(NODE)

        async def lookup() -> str:
            async with AsyncEC2Resolver("us-east-1", **options) as resolver:
                return await resolver.resolve(NODE)

        return anyio.run(lookup, backend=kind)
    except K8sAwsAuthError as exc:
        return exc


@pytest.mark.parametrize(
    ("mode", "status"), [("status-line", 0), ("broken-header", 0), ("echo", 200), ("echo", 500)]
)
@pytest.mark.parametrize("kind", KINDS)
def test_an_ec2_lookup_facing_an_echo_fails_without_quoting_it(
    kind: str, mode: str, status: int
) -> None:
    server = EchoServer(mode=mode, status=status)
    with every_record() as captured, echoing(server):
        result = _lookup(kind, server.base_url)
    assert isinstance(result, EC2LookupError), repr(result)
    assert server.requests
    texts = captured.texts + chain_texts(result)
    PLANTED.assert_absent(texts, f" ({mode} {status})")
    sent_secrets(server).assert_absent(texts, f" ({mode} {status})")


@pytest.mark.parametrize("kind", KINDS)
def test_an_ec2_lookup_that_succeeds_logs_no_secret(kind: str) -> None:
    answer = (
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        f"<instanceId>{NODE}</instanceId><privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName>"
        "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"
    ).encode()
    server = EchoServer(replies={("POST", "/"): (200, [], answer)})
    with every_record() as captured, echoing(server):
        result = _lookup(kind, server.base_url)
    assert result == "ip-10-0-0-1.ec2.internal"
    assert any(m.startswith("HTTP Request: POST") for m in captured.messages("httpx"))
    PLANTED.assert_absent(captured.texts)
    sent_secrets(server).assert_absent(captured.texts)


def test_a_credentials_source_whose_error_quotes_a_key_is_chained_scrubbed() -> None:
    def source() -> Credentials:
        raise RuntimeError(f"vault said: aws_secret_access_key = {SECRET_KEY}")

    with (
        EC2Resolver("us-east-1", credentials=source, endpoint_url="http://127.0.0.1:9") as resolver,
        pytest.raises(EC2LookupError) as caught,
    ):
        resolver.resolve(NODE)
    assert caught.value.reason == "ec2-credentials"
    cause = caught.value.__cause__
    assert isinstance(cause, RuntimeError)
    assert str(cause) == "vault said: aws_secret_access_key = [redacted]"
    PLANTED.assert_absent(chain_texts(caught.value))


# --- documents that hold secrets and do not parse -------------------------------------------------


def _assert_detached(error: BaseException) -> None:
    """No decoder exception (which holds the whole input) hangs off ``error``."""
    assert error.__context__ is None, repr(error.__context__)
    assert error.__cause__ is None
    PLANTED.assert_absent(chain_texts(error))


@pytest.mark.parametrize(
    "output",
    [
        f'{{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "{SECRET_KEY}"'.encode(),
        b'{"Version": 1, "SecretAccessKey": "' + SECRET_KEY.encode() + b'\xff"}',
    ],
    ids=["truncated", "not-utf-8"],
)
def test_credential_process_output_that_is_not_json(output: bytes) -> None:
    with pytest.raises(CredentialsError) as caught:
        parse_process_output(output, "credential-process (profile leak)")
    _assert_detached(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        f"aws_secret_access_key = {SECRET_KEY}\n[default]\n".encode(),  # before any section
        f"[default]\n{SECRET_KEY}\n".encode(),  # not key = value
        f"[default]\naws_secret_access_key = {SECRET_KEY}\n\xff\n".encode("latin-1"),  # not UTF-8
    ],
    ids=["no-section", "no-equals", "not-utf-8"],
)
def test_a_shared_credentials_file_that_does_not_parse(content: bytes, tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_bytes(content)
    result = resolve("sync", None, _environ(tmp_path, {}))
    assert isinstance(result, CredentialsError), repr(result)
    _assert_detached(result)


def test_an_sso_cache_that_is_not_json(tmp_path: Path) -> None:
    _sso(tmp_path, "http://127.0.0.1:9")
    cache = next((tmp_path / ".aws" / "sso" / "cache").iterdir())
    cache.write_text(cache.read_text()[:-10])
    result = resolve("sync", None, _environ(tmp_path, {"AWS_PROFILE": "leak"}))
    assert isinstance(result, CredentialsError), repr(result)
    assert "is not JSON" in str(result)
    _assert_detached(result)


BROKEN_ANSWERS = {
    "sso": (
        ("GET", SSO_PORTAL_PATH),
        f'{{"roleCredentials": {{"secretAccessKey": "{ISSUED.secret_access_key}"'.encode(),
    ),
    "container": (("GET", "/creds"), _credentials_json()[:-20]),
    "imds": (("GET", IMDS_ROLE_PATH + "leakrole"), _credentials_json()[:-20]),
    "assume-role": (("POST", "/"), _sts_answer("AssumeRole")[:-60]),
    "web-identity": (("POST", "/"), _credentials_json()),  # JSON where XML belongs
}


@pytest.mark.parametrize("provider", BROKEN_ANSWERS)
def test_a_credentials_answer_that_does_not_parse(provider: str, tmp_path: Path) -> None:
    route, body = BROKEN_ANSWERS[provider]
    replies = {**proper_replies(provider), route: (200, [], body)}
    server = EchoServer(replies=replies)
    with echoing(server):
        chain, extra = PROVIDERS[provider](tmp_path, server.base_url)
        result = resolve("sync", chain, _environ(tmp_path, extra))
    assert isinstance(result, CredentialsError), repr(result)
    assert result.__context__ is None, repr(result.__context__)
    PLANTED.assert_absent(chain_texts(result))


def test_an_sts_identity_answer_that_does_not_parse() -> None:
    now = datetime.now(timezone.utc)
    config = VerifierConfig("c")
    validated = validate_token(
        presign_token(SOURCE, cluster_id="c", now=now).value, config, now=now
    )
    echoed = f'{{"echo": "X-Amz-Security-Token={SESSION_TOKEN}"'.encode()
    for body in (echoed, echoed + b"}\xff", b'{"GetCallerIdentityResponse": 1}'):
        with pytest.raises(STSResponseError) as caught:
            parse_identity_response(body, validated, config)
        _assert_detached(caught.value)


@pytest.mark.parametrize(
    "body",
    [b'{"spec": {"token": "k8s-aws-v1.TOKEN"', b'{"spec": {"token": "k8s-aws-v1.TOKEN"}}\xff'],
    ids=["truncated", "not-utf-8"],
)
def test_a_token_review_body_that_does_not_parse(body: bytes) -> None:
    token = presign_token(SOURCE, cluster_id="c", now=datetime.now(timezone.utc)).value
    with pytest.raises(TokenReviewRequestError) as caught:
        parse_token_review(body.replace(b"k8s-aws-v1.TOKEN", token.encode()), max_token_size=16384)
    _assert_detached(caught.value)
    Planted({"token": token, "token body": token[11:]}).assert_absent(chain_texts(caught.value))
