"""FakeSTS behaves like STS: SigV4 recomputed, session tokens, expiry, the 15-minute window,
JSON/XML bodies, AssumeRole(WithWebIdentity), fault injection, loopback HTTP.

Oracles: tokens and header signatures made by botocore (``_botocore_oracle`` and
``botocore.auth.SigV4Auth``), a real botocore STS client talking to the served
emulator, and hand-written expected bodies and messages.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
import pytest

from k8s_aws_auth import Credentials, VerifierConfig, decode_token, presign_token, validate_token
from k8s_aws_auth._core.sigv4 import sign_post
from k8s_aws_auth._core.sts import parse_identity_response, raise_for_error_response
from k8s_aws_auth.errors import AccessDeniedError, STSResponseError, STSThrottledError
from k8s_aws_auth.testing import FakeSTS, FixedClock, new_credentials
from tests.support.botocore_oracle import BotocoreTokenOracle, frozen_botocore_clock

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
CLUSTER = "my-cluster"
ALICE_ARN = "arn:aws:iam::111122223333:user/team/alice"
ALICE_ID = "AIDAEXAMPLEALICE00001"
SESSION_ARN = "arn:aws:sts::111122223333:assumed-role/Deployer/bob-session"
SESSION_ID = "AROAEXAMPLEDEPLOYER01:bob-session"
ROLE_ARN = "arn:aws:iam::444455556666:role/ci/EksAdmin"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.fixture(scope="module")
def oracle() -> BotocoreTokenOracle:
    return BotocoreTokenOracle()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    return FakeSTS(clock=clock)


@pytest.fixture
def alice(fake: FakeSTS) -> Credentials:
    credentials = new_credentials("user", seed="alice")
    fake.register(credentials, ALICE_ARN, ALICE_ID)
    return credentials


@pytest.fixture
def bob(fake: FakeSTS) -> Credentials:
    credentials = new_credentials("temporary", seed="bob")
    fake.register(credentials, SESSION_ARN, SESSION_ID)
    return credentials


@pytest.fixture
def client(fake: FakeSTS) -> Iterator[httpx.Client]:
    with httpx.Client(transport=fake) as http:
        yield http


def botocore_token(
    oracle: BotocoreTokenOracle,
    credentials: Credentials,
    *,
    moment: datetime = T0,
    region: str | None = "us-west-2",
    cluster_id: str = CLUSTER,
) -> str:
    return oracle.token(
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        region=region,
        mode="regional",
        cluster_id=cluster_id,
        moment=moment,
    )


def our_token(credentials: Credentials, *, moment: datetime = T0, region: str = "us-west-2") -> str:
    return presign_token(credentials, cluster_id=CLUSTER, now=moment, region=region).value


def get(
    client: httpx.Client,
    token_or_url: str,
    *,
    cluster_id: str | bytes | None = CLUSTER,
    accept: str | None = "application/json",
) -> httpx.Response:
    url = decode_token(token_or_url) if token_or_url.startswith("k8s-aws-v1.") else token_or_url
    headers: dict[bytes, bytes] = {}
    if cluster_id is not None:
        headers[b"x-k8s-aws-id"] = (
            cluster_id.encode("utf-8") if isinstance(cluster_id, str) else cluster_id
        )
    if accept is not None:
        headers[b"Accept"] = accept.encode()
    return client.get(url, headers=headers)


def json_error(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/json"
    error = response.json()["Error"]
    assert error["Type"] == ("Receiver" if response.status_code >= 500 else "Sender")
    return response.status_code, error["Code"], error["Message"]


def identity(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    body = response.json()
    result: dict[str, str] = body["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    return result


# --- GetCallerIdentity by presigned GET -------------------------------------------------------


@pytest.mark.parametrize("region", ["us-west-2", None, "eu-central-1"])
def test_botocore_token_of_an_iam_user_is_accepted(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials, region: str | None
) -> None:
    response = get(client, botocore_token(oracle, alice, region=region))
    assert identity(response) == {
        "Arn": ALICE_ARN,
        "UserId": ALICE_ID,
        "Account": "111122223333",
    }
    body = response.json()
    assert set(body) == {"GetCallerIdentityResponse"}
    assert set(body["GetCallerIdentityResponse"]) == {"GetCallerIdentityResult", "ResponseMetadata"}
    assert (
        body["GetCallerIdentityResponse"]["ResponseMetadata"]["RequestId"]
        == (response.headers["x-amzn-requestid"])
    )


def test_botocore_token_with_a_session_token_is_accepted(
    oracle: BotocoreTokenOracle, client: httpx.Client, bob: Credentials
) -> None:
    assert bob.session_token
    response = get(client, botocore_token(oracle, bob))
    assert identity(response) == {
        "Arn": SESSION_ARN,
        "UserId": SESSION_ID,
        "Account": "111122223333",
    }


def test_unusual_cluster_id_is_signed_and_checked_as_utf8(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    weird = "weird id/with spaces+plus&amp=eq%pct~tilde_ü"
    token = botocore_token(oracle, alice, cluster_id=weird)
    assert identity(get(client, token, cluster_id=weird))["Arn"] == ALICE_ARN
    # SigV4 trims and collapses whitespace in header values, on both sides.
    spaced = get(client, token, cluster_id="  weird   id/with spaces+plus&amp=eq%pct~tilde_ü ")
    assert identity(spaced)["Arn"] == ALICE_ARN
    assert json_error(
        get(client, token, cluster_id="weird id/with spaces+plus&amp=eq%pct~tilde_u")
    )[1] == ("SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("arn", "user_id", "temporary"),
    [
        ("arn:aws:iam::111122223333:root", "111122223333", False),
        ("arn:aws:sts::111122223333:federated-user/carol", "111122223333:carol", True),
        ("arn:aws:iam::111122223333:user/dave", "AIDAEXAMPLEDAVE000001", False),
    ],
)
def test_our_tokens_are_accepted_for_every_principal_kind(
    fake: FakeSTS, client: httpx.Client, arn: str, user_id: str, temporary: bool
) -> None:
    credentials = new_credentials("temporary" if temporary else "user", seed=arn)
    fake.register(credentials, arn, user_id if "dave" in arn else None)
    result = identity(get(client, our_token(credentials)))
    assert result == {"Arn": arn, "UserId": user_id, "Account": "111122223333"}


def test_china_partition_token_is_accepted_for_a_china_principal(
    oracle: BotocoreTokenOracle, fake: FakeSTS, client: httpx.Client
) -> None:
    credentials = new_credentials("user", seed="cn")
    fake.register(credentials, "arn:aws-cn:iam::111122223333:user/li", "AIDAEXAMPLECHINA00001")
    token = botocore_token(oracle, credentials, region="cn-north-1")
    assert decode_token(token).startswith("https://sts.cn-north-1.amazonaws.com.cn/")
    assert identity(get(client, token))["Arn"] == "arn:aws-cn:iam::111122223333:user/li"


def test_key_of_another_partition_is_unknown_there(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    token = botocore_token(oracle, alice, region="cn-north-1")
    assert json_error(get(client, token)) == (
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )


def test_wrong_cluster_id_header_is_signature_does_not_match(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    token = botocore_token(oracle, alice)
    assert json_error(get(client, token, cluster_id="other-cluster")) == (
        403,
        "SignatureDoesNotMatch",
        MISMATCH,
    )


def test_signed_header_missing_from_the_request_is_signature_does_not_match(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    token = botocore_token(oracle, alice)
    assert json_error(get(client, token, cluster_id=None))[1] == "SignatureDoesNotMatch"


def _replace_param(url: str, name: str, new_value: str) -> str:
    base, _, query = url.partition("?")
    parts = []
    for component in query.split("&"):
        key = component.partition("=")[0]
        parts.append(f"{key}={new_value}" if key == name else component)
    return base + "?" + "&".join(parts)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"),
        lambda url: url + "&Extra=1",
        lambda url: _replace_param(url, "X-Amz-Expires", "900"),
        lambda url: _replace_param(url, "X-Amz-Date", "20260301T120001Z"),
        lambda url: url.replace(
            "https://sts.us-west-2.amazonaws.com/", "https://sts.amazonaws.com/"
        ),
        lambda url: url.replace("Version=2011-06-15&", "Version=2011-06-15&Foo=&"),
    ],
    ids=["signature", "extra-param", "expires", "date", "host", "empty-param"],
)
def test_tampered_url_is_refused(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials, tamper: Any
) -> None:
    url = decode_token(botocore_token(oracle, alice))
    assert identity(get(client, url))  # the untouched URL passes
    status, code, _ = json_error(get(client, tamper(url)))
    assert (status, code) == (403, "SignatureDoesNotMatch")


def test_unknown_access_key_is_invalid_client_token_id(
    oracle: BotocoreTokenOracle, client: httpx.Client
) -> None:
    stranger = new_credentials("user", seed="stranger")
    assert json_error(get(client, botocore_token(oracle, stranger))) == (
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )


def test_wrong_missing_or_unexpected_session_token_is_invalid_client_token_id(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials, bob: Credentials
) -> None:
    wrong = Credentials(bob.access_key_id, bob.secret_access_key, "not-the-session-token")
    missing = Credentials(bob.access_key_id, bob.secret_access_key)
    unexpected = Credentials(alice.access_key_id, alice.secret_access_key, "some-session-token")
    for credentials in (wrong, missing, unexpected):
        status, code, _ = json_error(get(client, botocore_token(oracle, credentials)))
        assert (status, code) == (403, "InvalidClientTokenId")


def test_expired_credentials_are_expired_token(
    oracle: BotocoreTokenOracle, fake: FakeSTS, client: httpx.Client, clock: FixedClock
) -> None:
    credentials = new_credentials("temporary", seed="short", expiration=T0 + timedelta(minutes=10))
    fake.register(credentials, SESSION_ARN)
    token = botocore_token(oracle, credentials, moment=T0 + timedelta(minutes=5))
    clock.set(T0 + timedelta(minutes=10))
    assert identity(get(client, token))["Arn"] == SESSION_ARN
    clock.set(T0 + timedelta(minutes=10, seconds=1))
    assert json_error(get(client, token)) == (
        403,
        "ExpiredToken",
        "The security token included in the request is expired",
    )


def test_fifteen_minute_window_in_the_past(
    oracle: BotocoreTokenOracle, client: httpx.Client, clock: FixedClock, alice: Credentials
) -> None:
    token = botocore_token(oracle, alice)
    clock.set(T0 + timedelta(minutes=15))
    assert identity(get(client, token))["Arn"] == ALICE_ARN
    clock.set(T0 + timedelta(minutes=15, seconds=1))
    assert json_error(get(client, token)) == (
        403,
        "SignatureDoesNotMatch",
        "Signature expired: 20260301T120000Z is now earlier than 20260301T120001Z "
        "(20260301T121501Z - 15 min.)",
    )


def test_fifteen_minute_window_in_the_future(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    at_limit = botocore_token(oracle, alice, moment=T0 + timedelta(minutes=15))
    assert identity(get(client, at_limit))["Arn"] == ALICE_ARN
    beyond = botocore_token(oracle, alice, moment=T0 + timedelta(minutes=15, seconds=1))
    assert json_error(get(client, beyond)) == (
        403,
        "SignatureDoesNotMatch",
        "Signature not yet current: 20260301T121501Z is still later than 20260301T121500Z "
        "(20260301T120000Z + 15 min.)",
    )


def test_expired_window_is_reported_before_a_bad_signature_is_checked(
    client: httpx.Client, clock: FixedClock, alice: Credentials
) -> None:
    url = decode_token(our_token(alice))
    clock.set(T0 + timedelta(hours=1))
    _, code, message = json_error(get(client, url[:-1] + ("0" if url[-1] != "0" else "1")))
    assert code == "SignatureDoesNotMatch"
    assert message.startswith("Signature expired: 20260301T120000Z")


def test_xml_is_the_default_answer(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    response = get(client, botocore_token(oracle, alice), accept=None)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}GetCallerIdentityResponse"
    result = root.find("sts:GetCallerIdentityResult", NS)
    assert result is not None
    assert {child.tag.split("}")[1]: child.text for child in result} == {
        "Arn": ALICE_ARN,
        "UserId": ALICE_ID,
        "Account": "111122223333",
    }
    assert (
        root.findtext("sts:ResponseMetadata/sts:RequestId", namespaces=NS)
        == (response.headers["x-amzn-requestid"])
    )


def test_xml_error_body(oracle: BotocoreTokenOracle, client: httpx.Client) -> None:
    response = get(client, botocore_token(oracle, new_credentials(seed="x")), accept="text/xml")
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"
    assert root.findtext("sts:Error/sts:Type", namespaces=NS) == "Sender"
    assert root.findtext("sts:Error/sts:Code", namespaces=NS) == "InvalidClientTokenId"
    assert root.findtext("sts:Error/sts:Message", namespaces=NS) == (
        "The security token included in the request is invalid."
    )
    assert root.findtext("sts:RequestId", namespaces=NS) == response.headers["x-amzn-requestid"]


def test_json_error_body_has_exactly_sts_shape(client: httpx.Client, alice: Credentials) -> None:
    response = get(client, our_token(alice), cluster_id="nope")
    body = response.json()
    assert set(body) == {"Error", "RequestId"}
    assert set(body["Error"]) == {"Code", "Message", "Type"}
    assert body["RequestId"] == response.headers["x-amzn-requestid"]


def test_the_core_parsers_read_fakests_answers(
    oracle: BotocoreTokenOracle, fake: FakeSTS, client: httpx.Client, bob: Credentials
) -> None:
    token = botocore_token(oracle, bob)
    config = VerifierConfig(CLUSTER)
    validated = validate_token(token, config, now=T0)
    ok = get(client, token)
    parsed = parse_identity_response(ok.content, validated, config)
    assert (parsed.arn, parsed.user_id, parsed.session_name) == (
        SESSION_ARN,
        "AROAEXAMPLEDEPLOYER01",
        "bob-session",
    )
    denied = get(client, token, cluster_id="other")
    with pytest.raises(AccessDeniedError):
        raise_for_error_response(denied.status_code, denied.content)
    fake.throttle_next()
    throttled = get(client, token)
    with pytest.raises(STSThrottledError):
        raise_for_error_response(throttled.status_code, throttled.content)
    fake.fail_next()
    unavailable = get(client, token)
    with pytest.raises(STSResponseError) as caught:
        raise_for_error_response(unavailable.status_code, unavailable.content)
    assert not isinstance(caught.value, STSThrottledError)


# --- header-signed requests ------------------------------------------------------------------


def botocore_signed_post(
    credentials: Credentials,
    params: dict[str, str],
    *,
    host: str = "sts.us-west-2.amazonaws.com",
    region: str = "us-west-2",
    moment: datetime = T0,
) -> tuple[str, dict[str, str], bytes]:
    """Sign a form POST with botocore's own SigV4 signer (the oracle for header auth)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    body = urlencode(params).encode()
    request = AWSRequest(
        method="POST", url=f"https://{host}/", data=body, headers={"Content-Type": FORM}
    )
    boto_credentials = BotoCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    with frozen_botocore_clock(moment):
        SigV4Auth(boto_credentials, "sts", region).add_auth(request)
    return f"https://{host}/", dict(request.headers.items()), body


def test_header_signed_get_caller_identity_post(client: httpx.Client, bob: Credentials) -> None:
    url, headers, body = botocore_signed_post(
        bob, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    )
    response = client.post(url, headers={**headers, "Accept": "application/json"}, content=body)
    assert identity(response)["Arn"] == SESSION_ARN
    tampered = client.post(url, headers=headers, content=body + b"&X=1")
    assert tampered.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in tampered.content


def assume_role_params(**extra: str) -> dict[str, str]:
    return {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "deploy-42",
        **extra,
    }


def xml_credentials(response: httpx.Response, action: str = "AssumeRole") -> dict[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NS['sts']}}}{action}Response"
    result = root.find(f"sts:{action}Result", NS)
    assert result is not None
    values = {
        child.tag.split("}")[1]: child.text or ""
        for child in result.iterfind("sts:Credentials/*", NS)
    }
    for child in result.iterfind("sts:AssumedRoleUser/*", NS):
        values[child.tag.split("}")[1]] = child.text or ""
    return values


def test_assume_role_signed_by_botocore_mints_credentials_that_verify(
    oracle: BotocoreTokenOracle, fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    fake.register_role(ROLE_ARN, role_id="AROAEXAMPLEEKSADMIN01")
    url, headers, body = botocore_signed_post(alice, assume_role_params(DurationSeconds="1800"))
    minted = xml_credentials(client.post(url, headers=headers, content=body))
    assert set(minted) == {
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
        "Arn",
        "AssumedRoleId",
    }
    assert minted["AccessKeyId"].startswith("ASIA")
    assert len(minted["AccessKeyId"]) == 20
    assert len(minted["SecretAccessKey"]) == 40
    assert minted["Expiration"] == "2026-03-01T12:30:00Z"
    # Real assumed-role ARNs drop the role's IAM path.
    assert minted["Arn"] == "arn:aws:sts::444455556666:assumed-role/EksAdmin/deploy-42"
    assert minted["AssumedRoleId"] == "AROAEXAMPLEEKSADMIN01:deploy-42"
    session = Credentials(minted["AccessKeyId"], minted["SecretAccessKey"], minted["SessionToken"])
    assert identity(get(client, botocore_token(oracle, session))) == {
        "Arn": "arn:aws:sts::444455556666:assumed-role/EksAdmin/deploy-42",
        "UserId": "AROAEXAMPLEEKSADMIN01:deploy-42",
        "Account": "444455556666",
    }
    # The minted credentials expire with the clock.
    late = botocore_token(oracle, session, moment=T0 + timedelta(minutes=31))
    assert isinstance(fake.clock, FixedClock)
    fake.clock.set(T0 + timedelta(minutes=31))
    assert json_error(get(client, late))[1] == "ExpiredToken"


def test_assume_role_signed_with_our_sign_post_answers_json_on_request(
    fake: FakeSTS, client: httpx.Client, bob: Credentials
) -> None:
    fake.register_role(ROLE_ARN, trusted=["arn:aws:iam::111122223333:role/Deployer"])
    body = urlencode(assume_role_params()).encode()
    headers = sign_post(
        credentials=bob,
        host="sts.amazonaws.com",
        region="us-east-1",
        service="sts",
        now=T0,
        body=body,
    )
    response = client.post(
        "https://sts.amazonaws.com/",
        headers={**headers, "Accept": "application/json"},
        content=body,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result = response.json()["AssumeRoleResponse"]["AssumeRoleResult"]
    assert result["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::444455556666:assumed-role/EksAdmin/deploy-42"
    )
    assert result["Credentials"]["Expiration"] == int((T0 + timedelta(hours=1)).timestamp())
    assert result["Credentials"]["AccessKeyId"].startswith("ASIA")


def post_assume_role(
    client: httpx.Client, credentials: Credentials, **extra: str
) -> httpx.Response:
    url, headers, body = botocore_signed_post(credentials, assume_role_params(**extra))
    return client.post(url, headers={**headers, "Accept": "application/json"}, content=body)


def test_assume_role_refusals(
    fake: FakeSTS, client: httpx.Client, alice: Credentials, bob: Credentials
) -> None:
    denied = (
        403,
        "AccessDenied",
        f"User: {ALICE_ARN} is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}",
    )
    assert json_error(post_assume_role(client, alice)) == denied  # role unknown
    fake.register_role(ROLE_ARN, trusted=["arn:aws:iam::999999999999:root"])
    assert json_error(post_assume_role(client, alice)) == denied  # not trusted
    fake.register_role(ROLE_ARN, trusted=["arn:aws:iam::111122223333:root"], external_id="ext-1")
    assert json_error(post_assume_role(client, alice)) == denied  # external id missing
    assert json_error(post_assume_role(client, alice, ExternalId="ext-2")) == denied
    assert post_assume_role(client, alice, ExternalId="ext-1").status_code == 200
    fake.register_role(ROLE_ARN, max_duration=7200)
    too_long = json_error(post_assume_role(client, alice, DurationSeconds="7201"))
    assert too_long == (
        400,
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    assert post_assume_role(client, alice, DurationSeconds="7200").status_code == 200
    chained = json_error(post_assume_role(client, bob, DurationSeconds="3601"))
    assert chained[:2] == (400, "ValidationError")
    assert "role chaining" in chained[2]
    root = new_credentials(seed="root")
    fake.register(root, "arn:aws:iam::111122223333:root")
    assert json_error(post_assume_role(client, root))[:2] == (403, "AccessDenied")


@pytest.mark.parametrize(
    ("extra", "member"),
    [
        ({"RoleSessionName": "x"}, "roleSessionName"),
        ({"RoleSessionName": "has space"}, "roleSessionName"),
        ({"DurationSeconds": "899"}, "durationSeconds"),
        ({"DurationSeconds": "43201"}, "durationSeconds"),
        ({"ExternalId": "a"}, "externalId"),
        ({"TokenCode": "12345"}, "tokenCode"),
    ],
)
def test_assume_role_validation_errors(
    fake: FakeSTS, client: httpx.Client, alice: Credentials, extra: dict[str, str], member: str
) -> None:
    fake.register_role(ROLE_ARN)
    status, code, message = json_error(post_assume_role(client, alice, **extra))
    assert (status, code) == (400, "ValidationError")
    assert f"at '{member}' failed to satisfy constraint" in message


def test_assume_role_missing_session_name(
    fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    fake.register_role(ROLE_ARN)
    params = assume_role_params()
    del params["RoleSessionName"]
    url, headers, body = botocore_signed_post(alice, params)
    response = client.post(url, headers={**headers, "Accept": "application/json"}, content=body)
    assert json_error(response) == (
        400,
        "ValidationError",
        "1 validation error detected: Value null at 'roleSessionName' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_assume_role_with_mfa(fake: FakeSTS, client: httpx.Client, alice: Credentials) -> None:
    serial = "arn:aws:iam::111122223333:mfa/alice"
    fake.register_role(ROLE_ARN, mfa_serial=serial, mfa_code=lambda code: code == "123456")
    assert json_error(post_assume_role(client, alice))[:2] == (403, "AccessDenied")
    wrong = json_error(post_assume_role(client, alice, SerialNumber=serial, TokenCode="654321"))
    assert wrong == (
        403,
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
    )
    ok = post_assume_role(client, alice, SerialNumber=serial, TokenCode="123456")
    assert ok.status_code == 200


def test_assume_role_needs_a_signature(fake: FakeSTS, client: httpx.Client) -> None:
    fake.register_role(ROLE_ARN)
    response = client.post(
        "https://sts.amazonaws.com/",
        content=urlencode(assume_role_params()).encode(),
        headers={"Content-Type": FORM, "Accept": "application/json"},
    )
    assert json_error(response) == (
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    )


def test_assume_role_scope_must_match_the_host_region(
    fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    fake.register_role(ROLE_ARN)
    url, headers, body = botocore_signed_post(
        alice, assume_role_params(), host="sts.eu-west-1.amazonaws.com", region="us-east-1"
    )
    response = client.post(url, headers={**headers, "Accept": "application/json"}, content=body)
    assert json_error(response)[:2] == (403, "SignatureDoesNotMatch")


# --- AssumeRoleWithWebIdentity ---------------------------------------------------------------


def web_identity(client: httpx.Client, token: str, role: str = ROLE_ARN) -> httpx.Response:
    params = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": role,
        "RoleSessionName": "pod-session",
        "WebIdentityToken": token,
    }
    return client.post(
        "https://sts.us-west-2.amazonaws.com/",
        content=urlencode(params).encode(),
        headers={"Content-Type": FORM},
    )


def test_assume_role_with_web_identity(
    oracle: BotocoreTokenOracle, fake: FakeSTS, client: httpx.Client
) -> None:
    fake.register_web_identity(ROLE_ARN, "eyJ.header.payload.sig")
    minted = xml_credentials(
        web_identity(client, "eyJ.header.payload.sig"), "AssumeRoleWithWebIdentity"
    )
    assert minted["Arn"] == "arn:aws:sts::444455556666:assumed-role/EksAdmin/pod-session"
    assert minted["Expiration"] == "2026-03-01T13:00:00Z"
    session = Credentials(minted["AccessKeyId"], minted["SecretAccessKey"], minted["SessionToken"])
    assert identity(get(client, botocore_token(oracle, session)))["Arn"] == minted["Arn"]

    refused = web_identity(client, "another-token")
    assert refused.status_code == 400
    assert b"<Code>InvalidIdentityToken</Code>" in refused.content
    other_role = "arn:aws:iam::444455556666:role/Other"
    unconfigured = web_identity(client, "eyJ.header.payload.sig", other_role)
    assert unconfigured.status_code == 403
    assert b"<Code>AccessDenied</Code>" in unconfigured.content
    fake.register_web_identity(other_role)  # any token
    assert web_identity(client, "whatever-token", other_role).status_code == 200


# --- protocol errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Version=2011-06-15", (400, "MissingAction", "Missing Action")),
        (
            "Action=DeleteEverything&Version=2011-06-15",
            (
                400,
                "InvalidAction",
                "Could not find operation DeleteEverything for version 2011-06-15",
            ),
        ),
        (
            "Action=GetCallerIdentity&Version=2099-01-01",
            (
                400,
                "InvalidAction",
                "Could not find operation GetCallerIdentity for version 2099-01-01",
            ),
        ),
        (
            "Action=GetCallerIdentity",
            (400, "MissingParameter", "The request must contain the parameter Version"),
        ),
        (
            "Action=GetCallerIdentity&Version=2011-06-15",
            (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
        ),
        (
            "Action=GetCallerIdentity&Action=GetCallerIdentity&Version=2011-06-15",
            (400, "MalformedQueryString", "The parameter Action appears more than once."),
        ),
    ],
)
def test_malformed_requests_get_sts_errors(
    client: httpx.Client, query: str, expected: tuple[int, str, str]
) -> None:
    response = client.get(
        f"https://sts.amazonaws.com/?{query}", headers={"Accept": "application/json"}
    )
    assert json_error(response) == expected


def test_incomplete_query_signature(
    oracle: BotocoreTokenOracle, client: httpx.Client, alice: Credentials
) -> None:
    url = decode_token(botocore_token(oracle, alice))
    without_date = "&".join(p for p in url.split("&") if not p.startswith("X-Amz-Date="))
    status, code, message = json_error(get(client, without_date))
    assert (status, code) == (400, "IncompleteSignature")
    assert "X-Amz-Date" in message


def test_other_methods_are_refused(client: httpx.Client) -> None:
    response = client.put("https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
    assert response.status_code == 400
    assert b"<Code>InvalidAction</Code>" in response.content


def test_an_internal_problem_answers_500_and_never_raises(alice: Credentials) -> None:
    naive = FakeSTS(clock=lambda: datetime(2026, 3, 1, 12, 0))  # naive: the bug
    naive.register(alice, ALICE_ARN)
    with httpx.Client(transport=naive) as http:
        response = get(http, our_token(alice))
    assert json_error(response)[:2] == (500, "InternalFailure")
    assert naive.requests[-1].outcome == "InternalFailure"


# --- fault injection and recording --------------------------------------------------------------


def test_fail_next_and_throttle_next(
    fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    token = our_token(alice)
    fake.fail_next(2)
    fake.throttle_next()
    assert json_error(get(client, token)) == (
        503,
        "ServiceUnavailable",
        "Service is unable to handle request.",
    )
    assert json_error(get(client, token))[:2] == (503, "ServiceUnavailable")
    assert json_error(get(client, token)) == (400, "Throttling", "Rate exceeded")
    assert identity(get(client, token))["Arn"] == ALICE_ARN
    fake.fail_next(status=500, code="InternalFailure", message="boom")
    assert json_error(get(client, token)) == (500, "InternalFailure", "boom")
    assert [r.outcome for r in fake.requests] == [
        "ServiceUnavailable",
        "ServiceUnavailable",
        "Throttling",
        "ok",
        "InternalFailure",
    ]


def test_drop_next_looks_like_a_server_hanging_up(
    fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    fake.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        get(client, our_token(alice))
    assert identity(get(client, our_token(alice)))["Arn"] == ALICE_ARN
    assert [(r.status, r.outcome) for r in fake.requests] == [(0, "dropped"), (200, "ok")]


def test_requests_are_recorded_counted_and_reset(
    fake: FakeSTS, client: httpx.Client, alice: Credentials
) -> None:
    token = our_token(alice)
    get(client, token)
    get(client, token, cluster_id="wrong")
    client.get("https://sts.amazonaws.com/?Version=2011-06-15")
    assert fake.count() == 3
    assert fake.count("GetCallerIdentity") == 2
    first = fake.requests[0]
    assert (first.method, first.action, first.status, first.outcome) == (
        "GET",
        "GetCallerIdentity",
        200,
        "ok",
    )
    assert first.url == decode_token(token)
    assert first.header("X-K8S-AWS-ID") == CLUSTER
    assert first.header("host") == "sts.us-west-2.amazonaws.com"
    assert "X-Amz-Signature" not in repr(first)
    assert fake.requests[1].outcome == "SignatureDoesNotMatch"
    assert fake.requests[2].action is None
    fake.fail_next()
    fake.reset()
    assert fake.requests == []
    assert identity(get(client, token))["Arn"] == ALICE_ARN  # registrations and no faults left
    assert fake.count() == 1


def test_reusable_across_clients(fake: FakeSTS, alice: Credentials) -> None:
    token = our_token(alice)
    for _ in range(2):
        with httpx.Client(transport=fake) as http:
            assert identity(get(http, token))["Arn"] == ALICE_ARN
    assert fake.count() == 2


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_async_transport(
    oracle: BotocoreTokenOracle, fake: FakeSTS, alice: Credentials, bob: Credentials
) -> None:
    tokens = [botocore_token(oracle, alice), botocore_token(oracle, bob)]
    results: list[str] = []
    async with httpx.AsyncClient(transport=fake) as http:

        async def one(token: str) -> None:
            response = await http.get(
                decode_token(token),
                headers={"x-k8s-aws-id": CLUSTER, "Accept": "application/json"},
            )
            results.append(identity(response)["Arn"])

        async with anyio.create_task_group() as group:
            for token in tokens * 5:
                group.start_soon(one, token)
        fake.drop_next()
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(decode_token(tokens[0]), headers={"x-k8s-aws-id": CLUSTER})
        fake.delay_next(0.01)
        delayed = await http.get(
            decode_token(tokens[0]), headers={"x-k8s-aws-id": CLUSTER, "Accept": "application/json"}
        )
        assert identity(delayed)["Arn"] == ALICE_ARN
    assert sorted(results) == sorted([ALICE_ARN, SESSION_ARN] * 5)
    assert fake.count() == 12


def test_concurrent_assume_role_from_threads(fake: FakeSTS, alice: Credentials) -> None:
    fake.register_role(ROLE_ARN)
    keys: list[str] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with httpx.Client(transport=fake) as http:
                url, headers, body = botocore_signed_post(
                    alice, assume_role_params(RoleSessionName=f"s-{index}")
                )
                keys.append(
                    xml_credentials(http.post(url, headers=headers, content=body))["AccessKeyId"]
                )
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(keys)) == 8
    assert fake.count("AssumeRole") == 8


# --- the loopback server ---------------------------------------------------------------------------


def test_served_over_real_http_with_the_sts_host_signed(
    oracle: BotocoreTokenOracle, fake: FakeSTS, alice: Credentials
) -> None:
    token = botocore_token(oracle, alice, cluster_id="ü cluster")
    url = decode_token(token)
    query = url.partition("?")[2]
    with fake.serve() as base:
        assert base.startswith("http://127.0.0.1:")
        with httpx.Client() as http:
            headers = {
                b"Host": b"sts.us-west-2.amazonaws.com",
                b"x-k8s-aws-id": "ü cluster".encode(),
                b"Accept": b"application/json",
            }
            ok = http.get(f"{base}/?{query}", headers=headers)
            assert identity(ok)["Arn"] == ALICE_ARN
            # Without the STS host as Host, the signed host differs: refused.
            wrong_host = http.get(
                f"{base}/?{query}", headers={**headers, b"Host": b"sts.amazonaws.com"}
            )
            assert json_error(wrong_host)[:2] == (403, "SignatureDoesNotMatch")
    assert fake.requests[0].url == f"{base}/?{query}"
    with pytest.raises(httpx.ConnectError), httpx.Client() as http:
        http.get(f"{base}/?{query}")


def test_two_servers_at_once_and_concurrent_requests(
    oracle: BotocoreTokenOracle, fake: FakeSTS, alice: Credentials, bob: Credentials
) -> None:
    queries = [decode_token(botocore_token(oracle, who)).partition("?")[2] for who in (alice, bob)]
    headers = {
        "Host": "sts.us-west-2.amazonaws.com",
        "x-k8s-aws-id": CLUSTER,
        "Accept": "application/json",
    }
    arns: list[str] = []
    lock = threading.Lock()
    with fake.serve() as first, fake.serve() as second, httpx.Client() as http:
        assert first != second

        def worker(base: str, query: str) -> None:
            for _ in range(5):
                arn = identity(http.get(f"{base}/?{query}", headers=headers))["Arn"]
                with lock:
                    arns.append(arn)

        threads = [
            threading.Thread(target=worker, args=(base, query))
            for base in (first, second)
            for query in queries
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(arns) == sorted([ALICE_ARN] * 20 + [SESSION_ARN] * 20)
    assert fake.count("GetCallerIdentity") == 40


@pytest.mark.anyio
async def test_served_to_an_async_client_at_concurrency(
    oracle: BotocoreTokenOracle, fake: FakeSTS, alice: Credentials
) -> None:
    query = decode_token(botocore_token(oracle, alice)).partition("?")[2]
    headers = {"Host": "sts.us-west-2.amazonaws.com", "x-k8s-aws-id": CLUSTER}
    statuses: list[int] = []
    with fake.serve() as base:
        async with httpx.AsyncClient() as http:

            async def one() -> None:
                statuses.append((await http.get(f"{base}/?{query}", headers=headers)).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(32):
                    group.start_soon(one)
    assert statuses == [200] * 32


def test_server_delay_makes_client_timeouts_fire_and_drop_closes(
    fake: FakeSTS, alice: Credentials
) -> None:
    query = decode_token(our_token(alice)).partition("?")[2]
    headers = {"Host": "sts.us-west-2.amazonaws.com", "x-k8s-aws-id": CLUSTER}
    with fake.serve() as base:
        fake.delay_next(1.0)
        with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.1) as http:
            http.get(f"{base}/?{query}", headers=headers)
        fake.drop_next()
        with pytest.raises(httpx.RemoteProtocolError), httpx.Client() as http:
            http.get(f"{base}/?{query}", headers=headers)
        with httpx.Client() as http:
            assert http.get(f"{base}/?{query}", headers=headers).status_code == 200


def test_server_refuses_chunked_and_oversized_bodies(fake: FakeSTS) -> None:
    with fake.serve() as base, httpx.Client() as http:

        def chunks() -> Iterator[bytes]:
            yield b"Action=GetCallerIdentity&Version=2011-06-15"

        assert http.post(f"{base}/", content=chunks()).status_code == 411
        big = http.post(f"{base}/", content=b"x" * ((1 << 20) + 1))
        assert big.status_code == 413


def test_botocore_client_against_the_served_emulator() -> None:
    """A real botocore STS client (its signer and XML parser) talks to the emulator."""
    import botocore.session

    fake = FakeSTS()  # real clock: botocore signs with the real time here
    user = fake.create_principal(ALICE_ARN, user_id=ALICE_ID)
    fake.register_role(ROLE_ARN, trusted=[ALICE_ARN])
    fake.register_web_identity(ROLE_ARN, "web-token")
    with fake.serve() as base:
        session = botocore.session.Session()
        sts: Any = session.create_client(
            "sts",
            region_name="us-west-2",
            endpoint_url=base,
            aws_access_key_id=user.credentials.access_key_id,
            aws_secret_access_key=user.credentials.secret_access_key,
        )
        me = sts.get_caller_identity()
        assert (me["Arn"], me["UserId"], me["Account"]) == (ALICE_ARN, ALICE_ID, "111122223333")
        assumed = sts.assume_role(
            RoleArn=ROLE_ARN,
            RoleSessionName="botocore",
            DurationSeconds=900,
            SourceIdentity="alice",
        )
        assert assumed["AssumedRoleUser"]["Arn"] == (
            "arn:aws:sts::444455556666:assumed-role/EksAdmin/botocore"
        )
        assert assumed["SourceIdentity"] == "alice"
        assert assumed["Credentials"]["Expiration"].tzinfo is not None
        minted = assumed["Credentials"]
        chained: Any = session.create_client(
            "sts",
            region_name="us-west-2",
            endpoint_url=base,
            aws_access_key_id=minted["AccessKeyId"],
            aws_secret_access_key=minted["SecretAccessKey"],
            aws_session_token=minted["SessionToken"],
        )
        assert chained.get_caller_identity()["Arn"] == assumed["AssumedRoleUser"]["Arn"]
        web = sts.assume_role_with_web_identity(
            RoleArn=ROLE_ARN, RoleSessionName="web", WebIdentityToken="web-token"
        )
        assert web["AssumedRoleUser"]["Arn"].endswith(":assumed-role/EksAdmin/web")
        with pytest.raises(Exception, match="AccessDenied"):
            chained.assume_role(RoleArn=ROLE_ARN, RoleSessionName="chained")
        bad: Any = session.create_client(
            "sts",
            region_name="us-west-2",
            endpoint_url=base,
            aws_access_key_id=user.credentials.access_key_id,
            aws_secret_access_key="x" * 40,
        )
        with pytest.raises(Exception, match="SignatureDoesNotMatch"):
            bad.get_caller_identity()
    assert [r.outcome for r in fake.requests][-2:] == ["AccessDenied", "SignatureDoesNotMatch"]


@pytest.mark.anyio
async def test_responses_stream_like_a_network_transport(fake: FakeSTS, alice: Credentials) -> None:
    """Clients that stream (``send(stream=True)`` + ``iter_raw``) read the body once."""
    url = decode_token(our_token(alice))
    headers = {"x-k8s-aws-id": CLUSTER, "Accept": "application/json"}
    with httpx.Client(transport=fake) as http:
        response = http.send(http.build_request("GET", url, headers=headers), stream=True)
        try:
            body = b"".join(response.iter_raw())
        finally:
            response.close()
    async with httpx.AsyncClient(transport=fake) as ahttp:
        streamed = await ahttp.send(ahttp.build_request("GET", url, headers=headers), stream=True)
        try:
            abody = b"".join([chunk async for chunk in streamed.aiter_raw()])
        finally:
            await streamed.aclose()
    results = [
        json.loads(raw)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        for raw in (body, abody)
    ]
    assert (
        results[0]
        == results[1]
        == {
            "Arn": ALICE_ARN,
            "UserId": ALICE_ID,
            "Account": "111122223333",
        }
    )
