"""``_sts``: the rebuilt request, the strict success envelope and error classification."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from k8s_aws_auth import Credentials, VerifierConfig, presign_token, validate_token
from k8s_aws_auth._core.models import ValidatedToken
from k8s_aws_auth._core.sts import (
    build_verify_request,
    parse_error_body,
    parse_identity_response,
    raise_for_error_response,
)
from k8s_aws_auth.errors import (
    AccessDeniedError,
    K8sAwsAuthError,
    STSResponseError,
    STSThrottledError,
)

NOW = datetime(2023, 4, 28, tzinfo=timezone.utc)
CONFIG = VerifierConfig("  prod   cluster ")
SESSION = "FwoGZXIvYXdzEXAMPLE/+=="


@pytest.fixture(scope="module")
def validated() -> ValidatedToken:
    token = presign_token(
        Credentials("ASIAIOSFODNN7EXAMPLE", "secret", SESSION),
        cluster_id="prod cluster",
        now=NOW,
        region="eu-west-1",
    )
    return validate_token(token.value, CONFIG, now=NOW)


def body(account: object, arn: object, user_id: object, *, metadata: bool = True) -> bytes:
    inner: dict[str, object] = {
        "GetCallerIdentityResult": {"Account": account, "Arn": arn, "UserId": user_id}
    }
    if metadata:
        inner["ResponseMetadata"] = {"RequestId": "01234567-89ab-cdef-0123-456789abcdef"}
    return json.dumps({"GetCallerIdentityResponse": inner}).encode()


# --- request ---------------------------------------------------------------------------------


def test_request_is_rebuilt_with_the_configured_cluster_id(validated: ValidatedToken) -> None:
    request = build_verify_request(validated, CONFIG)
    assert request.url == validated.url
    assert request.url.startswith("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&")
    assert request.host == "sts.eu-west-1.amazonaws.com"
    assert request.headers == (
        ("Host", b"sts.eu-west-1.amazonaws.com"),
        ("x-k8s-aws-id", b"prod cluster"),
        ("Accept", b"application/json"),
    )


def test_request_to_a_configured_endpoint_keeps_the_sts_host(validated: ValidatedToken) -> None:
    config = VerifierConfig("prod cluster", sts_endpoint_url="http://127.0.0.1:8080/")
    request = build_verify_request(validated, config)
    assert request.url == "http://127.0.0.1:8080/?" + validated.query
    assert dict(request.headers)["Host"] == b"sts.eu-west-1.amazonaws.com"


def test_non_ascii_cluster_id_is_sent_as_utf8(validated: ValidatedToken) -> None:
    request = build_verify_request(validated, VerifierConfig("clüster"))
    assert dict(request.headers)["x-k8s-aws-id"] == "clüster".encode()


def test_request_repr_hides_the_url(validated: ValidatedToken) -> None:
    assert validated.signature not in repr(build_verify_request(validated, CONFIG))


# --- success envelope -------------------------------------------------------------------------

GOOD = [
    # (arn, user_id, principal_type, canonical_arn, identity user_id, session_name)
    (
        "arn:aws:iam::111122223333:user/alice",
        "AIDAEXAMPLEUSERID1",
        "user",
        "arn:aws:iam::111122223333:user/alice",
        "AIDAEXAMPLEUSERID1",
        "",
    ),
    (
        "arn:aws:iam::111122223333:user/division/team/alice",
        "AIDAEXAMPLEUSERID1",
        "user",
        "arn:aws:iam::111122223333:user/division/team/alice",
        "AIDAEXAMPLEUSERID1",
        "",
    ),
    (
        "arn:aws:iam::111122223333:root",
        "111122223333",
        "root",
        "arn:aws:iam::111122223333:root",
        "111122223333",
        "",
    ),
    (
        "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com",
        "AROAEXAMPLEROLEID1:alice@example.com",
        "assumed-role",
        "arn:aws:iam::111122223333:role/Admin",
        "AROAEXAMPLEROLEID1",
        "alice@example.com",
    ),
    (
        "arn:aws:sts::111122223333:assumed-role/eks-node/i-0123456789abcdef0",
        "AROAEXAMPLEROLEID1:i-0123456789abcdef0",
        "assumed-role",
        "arn:aws:iam::111122223333:role/eks-node",
        "AROAEXAMPLEROLEID1",
        "i-0123456789abcdef0",
    ),
    # Federated users keep the whole UserId (upstream #644: splitting it made them
    # indistinguishable from root).
    (
        "arn:aws:sts::111122223333:federated-user/bob",
        "111122223333:bob",
        "federated-user",
        "arn:aws:sts::111122223333:federated-user/bob",
        "111122223333:bob",
        "",
    ),
]


@pytest.mark.parametrize(
    ("arn", "user_id", "principal_type", "canonical", "identity_user_id", "session_name"), GOOD
)
def test_identity_from_a_good_answer(
    validated: ValidatedToken,
    arn: str,
    user_id: str,
    principal_type: str,
    canonical: str,
    identity_user_id: str,
    session_name: str,
) -> None:
    identity = parse_identity_response(body("111122223333", arn, user_id), validated, CONFIG)
    assert identity.arn == arn
    assert identity.canonical_arn == canonical
    assert identity.principal_type == principal_type
    assert identity.user_id == identity_user_id
    assert identity.session_name == session_name
    assert identity.account_id == "111122223333"
    assert identity.partition == "aws"
    assert identity.access_key_id == "ASIAIOSFODNN7EXAMPLE"
    assert identity.sts_endpoint == "sts.eu-west-1.amazonaws.com"


def test_response_metadata_is_optional(validated: ValidatedToken) -> None:
    answer = body("111122223333", "arn:aws:iam::111122223333:user/a", "AIDA1", metadata=False)
    assert parse_identity_response(answer, validated, CONFIG).arn.endswith("user/a")


def test_other_partition_verifier() -> None:
    config = VerifierConfig("c", partition="aws-cn")
    token = presign_token(
        Credentials("AKIAIOSFODNN7EXAMPLE", "s"), cluster_id="c", now=NOW, region="cn-north-1"
    )
    validated = validate_token(token.value, config, now=NOW)
    answer = body("111122223333", "arn:aws-cn:sts::111122223333:assumed-role/R/s", "AROA1:s")
    identity = parse_identity_response(answer, validated, config)
    assert identity.canonical_arn == "arn:aws-cn:iam::111122223333:role/R"
    assert identity.partition == "aws-cn"
    with pytest.raises(STSResponseError) as info:
        parse_identity_response(
            body("111122223333", "arn:aws:iam::111122223333:user/a", "AIDA1"), validated, config
        )
    assert info.value.reason == "sts-partition"


BAD = [
    ("not-json", b"{", "sts-bad-response"),
    ("not-utf8", b'{"a":"\xff"}', "sts-bad-response"),
    ("xml-success", b"<GetCallerIdentityResponse/>", "sts-bad-response"),
    ("array", b"[]", "sts-bad-response"),
    ("null", b"null", "sts-bad-response"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "sts-bad-response"),
    (
        "duplicate-account",
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"111122223333",'
        b'"Account":"444455556666","Arn":"arn:aws:iam::444455556666:user/a","UserId":"AIDA1"}}}',
        "sts-bad-response",
    ),
    (
        "extra-top-level",
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"111122223333",'
        b'"Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA1"}},"Injected":1}',
        "sts-bad-response",
    ),
    (
        "extra-in-response",
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"111122223333",'
        b'"Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA1"},"Other":{}}}',
        "sts-bad-response",
    ),
    (
        "result-not-object",
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":[]}}',
        "sts-bad-response",
    ),
    (
        "missing-userid",
        json.dumps(
            {
                "GetCallerIdentityResponse": {
                    "GetCallerIdentityResult": {
                        "Account": "111122223333",
                        "Arn": "arn:aws:iam::111122223333:user/a",
                    }
                }
            }
        ).encode(),
        "sts-bad-response",
    ),
    (
        "empty-userid",
        body("111122223333", "arn:aws:iam::111122223333:user/a", ""),
        "sts-bad-response",
    ),
    (
        "numeric-account",
        body(111122223333, "arn:aws:iam::111122223333:user/a", "AIDA1"),
        "sts-bad-response",
    ),
    ("null-arn", body("111122223333", None, "AIDA1"), "sts-bad-response"),
    (
        "newline-in-userid",
        body("111122223333", "arn:aws:iam::111122223333:user/a", "AIDA1\n"),
        "sts-bad-response",
    ),
    (
        "non-ascii-userid",
        body("111122223333", "arn:aws:iam::111122223333:user/a", "AIDAé"),
        "sts-bad-response",
    ),
    (
        "account-not-arn-account",
        body("444455556666", "arn:aws:iam::111122223333:user/a", "AIDA1"),
        "sts-account",
    ),
    (
        "account-11-digits",
        body("11112222333", "arn:aws:iam::111122223333:user/a", "AIDA1"),
        "sts-account",
    ),
    (
        "cross-partition-gov",
        body("111122223333", "arn:aws-us-gov:iam::111122223333:user/a", "AIDA1"),
        "sts-partition",
    ),
    (
        "cross-partition-cn",
        body("111122223333", "arn:aws-cn:sts::111122223333:assumed-role/R/s", "AROA1:s"),
        "sts-partition",
    ),
    (
        "unknown-partition",
        body("111122223333", "arn:aws-mars:iam::111122223333:user/a", "AIDA1"),
        "sts-bad-response",
    ),
    (
        "not-an-identity-arn",
        body("111122223333", "arn:aws:s3:::bucket", "AIDA1"),
        "sts-bad-response",
    ),
    (
        "role-userid-without-session",
        body("111122223333", "arn:aws:sts::111122223333:assumed-role/R/s", "AROA1"),
        "sts-bad-response",
    ),
    (
        "role-userid-two-colons",
        body("111122223333", "arn:aws:sts::111122223333:assumed-role/R/s", "AROA1:s:x"),
        "sts-bad-response",
    ),
    (
        "role-userid-empty-id",
        body("111122223333", "arn:aws:sts::111122223333:assumed-role/R/s", ":s"),
        "sts-bad-response",
    ),
    (
        "role-session-mismatch",
        body("111122223333", "arn:aws:sts::111122223333:assumed-role/R/alice", "AROA1:admin"),
        "sts-bad-response",
    ),
]


@pytest.mark.parametrize(("answer", "reason"), [pytest.param(b, r, id=n) for n, b, r in BAD])
def test_bad_answers_are_could_not_decide(
    validated: ValidatedToken, answer: bytes, reason: str
) -> None:
    with pytest.raises(STSResponseError) as info:
        parse_identity_response(answer, validated, CONFIG, status=200)
    assert type(info.value) is STSResponseError
    assert info.value.reason == reason
    assert info.value.status_code == 200
    assert SESSION not in str(info.value)
    assert validated.signature not in str(info.value)


# --- error classification ----------------------------------------------------------------------


def json_error(code: str, message: str = "msg") -> bytes:
    return json.dumps(
        {"Error": {"Code": code, "Message": message, "Type": "Sender"}, "RequestId": "r"}
    ).encode()


def xml_error(code: str, message: str = "msg") -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>r</RequestId></ErrorResponse>"
    ).encode()


EXPIRED_MESSAGE = (
    "Signature expired: 20230428T000000Z is now earlier than 20230428T001500Z "
    "(20230428T003000Z - 15 min.)"
)
NOT_YET_MESSAGE = (
    "Signature not yet current: 20230428T010000Z is still later than 20230428T004500Z "
    "(20230428T003000Z + 15 min.)"
)

CLASSIFY = [
    # deny
    (
        "sig-mismatch-json",
        403,
        json_error("SignatureDoesNotMatch"),
        AccessDeniedError,
        "sts-denied",
        "SignatureDoesNotMatch",
    ),
    (
        "sig-mismatch-xml",
        403,
        xml_error("SignatureDoesNotMatch"),
        AccessDeniedError,
        "sts-denied",
        "SignatureDoesNotMatch",
    ),
    (
        "invalid-client-token-json",
        403,
        json_error("InvalidClientTokenId"),
        AccessDeniedError,
        "sts-denied",
        "InvalidClientTokenId",
    ),
    (
        "invalid-client-token-xml",
        403,
        xml_error("InvalidClientTokenId"),
        AccessDeniedError,
        "sts-denied",
        "InvalidClientTokenId",
    ),
    (
        "expired-token-json",
        400,
        json_error("ExpiredToken"),
        AccessDeniedError,
        "sts-denied",
        "ExpiredToken",
    ),
    (
        "expired-token-xml",
        403,
        xml_error("ExpiredToken"),
        AccessDeniedError,
        "sts-denied",
        "ExpiredToken",
    ),
    (
        "signature-expired",
        403,
        json_error("SignatureDoesNotMatch", EXPIRED_MESSAGE),
        AccessDeniedError,
        "sts-denied",
        "SignatureDoesNotMatch",
    ),
    (
        "signature-not-yet-current",
        403,
        xml_error("SignatureDoesNotMatch", NOT_YET_MESSAGE),
        AccessDeniedError,
        "sts-denied",
        "SignatureDoesNotMatch",
    ),
    (
        "access-denied",
        403,
        xml_error("AccessDenied"),
        AccessDeniedError,
        "sts-denied",
        "AccessDenied",
    ),
    # throttled
    (
        "throttling-400-json",
        400,
        json_error("Throttling", "Rate exceeded"),
        STSThrottledError,
        "sts-throttled",
        "Throttling",
    ),
    (
        "throttling-400-xml",
        400,
        xml_error("Throttling", "Rate exceeded"),
        STSThrottledError,
        "sts-throttled",
        "Throttling",
    ),
    ("429-no-body", 429, b"", STSThrottledError, "sts-throttled", None),
    ("429-garbage", 429, b"\x00\xff", STSThrottledError, "sts-throttled", None),
    # could not decide
    ("500", 500, b"", STSResponseError, "sts-server-error", None),
    (
        "503-xml",
        503,
        xml_error("ServiceUnavailable"),
        STSResponseError,
        "sts-server-error",
        "ServiceUnavailable",
    ),
    (
        "500-with-deny-code",
        500,
        json_error("SignatureDoesNotMatch"),
        STSResponseError,
        "sts-server-error",
        "SignatureDoesNotMatch",
    ),
    ("302", 302, b"", STSResponseError, "sts-redirect", None),
    ("301", 301, b"<html>moved</html>", STSResponseError, "sts-redirect", None),
    ("307", 307, b"", STSResponseError, "sts-redirect", None),
    ("404-unknown", 404, b"not found", STSResponseError, "sts-bad-response", None),
    (
        "400-unknown-code",
        400,
        json_error("InvalidAction"),
        STSResponseError,
        "sts-bad-response",
        "InvalidAction",
    ),
    ("403-html", 403, b"<html>Forbidden</html>", STSResponseError, "sts-bad-response", None),
]


@pytest.mark.parametrize(
    ("status", "answer", "error", "reason", "code"),
    [pytest.param(s, b, e, r, c, id=n) for n, s, b, e, r, c in CLASSIFY],
)
def test_error_classification(
    status: int, answer: bytes, error: type[K8sAwsAuthError], reason: str, code: str | None
) -> None:
    with pytest.raises(K8sAwsAuthError) as info:
        raise_for_error_response(status, answer)
    assert type(info.value) is error
    assert info.value.reason == reason
    assert info.value.sts_code == code  # type: ignore[attr-defined]
    if isinstance(info.value, STSResponseError):
        assert info.value.status_code == status


def test_expired_and_not_yet_current_are_named() -> None:
    with pytest.raises(AccessDeniedError, match="signature expired"):
        raise_for_error_response(403, json_error("SignatureDoesNotMatch", EXPIRED_MESSAGE))
    with pytest.raises(AccessDeniedError, match="not yet current"):
        raise_for_error_response(403, xml_error("SignatureDoesNotMatch", NOT_YET_MESSAGE))


def test_error_messages_never_echo_the_body() -> None:
    secret = "The request signature we calculated does not match SECRETBODYTEXT"
    for status in (400, 403, 404, 429, 500, 302):
        with pytest.raises(K8sAwsAuthError) as info:
            raise_for_error_response(status, json_error("SignatureDoesNotMatch", secret))
        assert "SECRETBODYTEXT" not in str(info.value)
        assert "SECRETBODYTEXT" not in repr(info.value)


def test_200_does_not_raise() -> None:
    raise_for_error_response(200, b"anything")  # returns without raising


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (json_error("Throttling", "Rate exceeded"), "Throttling", "Rate exceeded"),
        (xml_error("ExpiredToken", "gone"), "ExpiredToken", "gone"),
        (b"  \n" + json_error("A.B1"), "A.B1", "msg"),
        (json_error("Bad Code"), None, "msg"),
        (json_error("1Leading"), None, "msg"),
        (json_error("X" * 65), None, "msg"),
        (b'{"Error":{"Code":1}}', None, None),
        (b'{"Error":"x"}', None, None),
        (b'{"Error":{"Code":"A"},"Error":{"Code":"B"}}', None, None),
        (b"{not json", None, None),
        (b"", None, None),
        (b"plain text Throttling", None, None),
        (b"<Code>" + b"A" * 200 + b"</Code>", None, None),
        (b" " * 70000 + json_error("Throttling"), None, None),
    ],
)
def test_parse_error_body(answer: bytes, code: str | None, message: str | None) -> None:
    info = parse_error_body(answer)
    assert info.code == code
    assert info.message == message
