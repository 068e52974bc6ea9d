"""SigV4 against published expected values: upstream's golden vector and AWS's test suite.

Every expected string here is typed in from its source (reference/upstream.md §1.6,
tests/vectors/aws-sigv4-test-suite.json, see its NOTICE); none is computed by the
code under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from k8s_aws_auth import Credentials, encode_token, presign_token
from k8s_aws_auth._core import sigv4
from tests.support.keys import GOLDEN_ACCESS_KEY_ID, GOLDEN_TIME

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "aws-sigv4-test-suite.json").read_text("utf-8")
)
DOC_DATE = VECTORS["x_amz_date"]
DOC_CREDENTIALS = Credentials(VECTORS["access_key_id"], VECTORS["secret_access_key"])

# --- upstream golden vector (reference/upstream.md §1.6) ----------------------------------

GOLDEN_PREFIX = "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9u"
GOLDEN_SUFFIX = "U5OWM1MTU3ZjYzMTQ0NDRjNWI5ZDg1NzQ3ZjVjZQ"
GOLDEN_SIGNATURE_60 = "e211dba77aba9dc44b0b6be38b8eaad092599c5157f6314444c5b9d85747f5ce"
GOLDEN_SIGNATURE_0 = "4d7abfde96725eb8a7738248416e4b5d08d9dbd718b4f6dd690f8fb7501329d5"


def _golden_url(expires: str, signature: str) -> str:
    return (
        "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={GOLDEN_ACCESS_KEY_ID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"
        f"&X-Amz-Date=20230428T000000Z&X-Amz-Expires={expires}"
        f"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature={signature}"
    )


def test_golden_vector_token(golden_credentials: Credentials) -> None:
    token = presign_token(
        golden_credentials, cluster_id="test-cluster", now=GOLDEN_TIME, region="us-west-2"
    )
    assert len(token.value) == 493
    assert token.value.startswith(GOLDEN_PREFIX)
    assert token.value.endswith(GOLDEN_SUFFIX)
    body = token.value[len("k8s-aws-v1.") :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
    assert url == _golden_url("60", GOLDEN_SIGNATURE_60)
    assert token.expiration == datetime(2023, 4, 28, 0, 14, tzinfo=timezone.utc)
    assert token.expiration == GOLDEN_TIME + timedelta(minutes=14)


def test_golden_vector_expires_zero_variant(golden_credentials: Credentials) -> None:
    url = sigv4.presign_url(
        credentials=golden_credentials,
        host="sts.us-west-2.amazonaws.com",
        region="us-west-2",
        service="sts",
        now=GOLDEN_TIME,
        params=(("Action", "GetCallerIdentity"), ("Version", "2011-06-15")),
        signed_headers={"x-k8s-aws-id": "test-cluster"},
        expires=0,
    )
    assert url == _golden_url("0", GOLDEN_SIGNATURE_0)
    token = encode_token(url)
    expected_body = base64.urlsafe_b64encode(_golden_url("0", GOLDEN_SIGNATURE_0).encode())
    assert token == "k8s-aws-v1." + expected_body.decode().rstrip("=")


def test_golden_vector_signing_time_microseconds_are_dropped(
    golden_credentials: Credentials,
) -> None:
    token = presign_token(
        golden_credentials,
        cluster_id="test-cluster",
        now=GOLDEN_TIME + timedelta(microseconds=999_999),
        region="us-west-2",
    )
    assert token.value.endswith(GOLDEN_SUFFIX)
    assert token.expiration == datetime(2023, 4, 28, 0, 14, tzinfo=timezone.utc)


def test_golden_vector_from_another_timezone(golden_credentials: Credentials) -> None:
    tokyo = timezone(timedelta(hours=9))
    token = presign_token(
        golden_credentials,
        cluster_id="test-cluster",
        now=datetime(2023, 4, 28, 9, 0, tzinfo=tokyo),
        region="us-west-2",
    )
    assert token.value.endswith(GOLDEN_SUFFIX)
    assert token.expiration.utcoffset() == timedelta(0)


# --- AWS SigV4 test suite ------------------------------------------------------------------


def _case_ids() -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in VECTORS["cases"]]


def _authz_signature(authz: str) -> tuple[str, str, str]:
    credential = authz.split("Credential=", 1)[1].split(",", 1)[0]
    signed = authz.split("SignedHeaders=", 1)[1].split(",", 1)[0]
    signature = authz.split("Signature=", 1)[1]
    return credential, signed, signature


@pytest.mark.parametrize("case", _case_ids())
def test_aws_test_suite(case: dict[str, Any]) -> None:
    query = sigv4.canonical_query([tuple(pair) for pair in case["query"]])
    block, signed = sigv4.canonical_headers(case["headers"])
    payload = hashlib.sha256(case["body"].encode("utf-8")).hexdigest()
    creq = sigv4.canonical_request(case["method"], "/", query, block, signed, payload)
    if "creq" in case:
        assert creq == case["creq"]
    scope = sigv4.credential_scope(DOC_DATE[:8], VECTORS["region"], case["service"])
    to_sign = sigv4.string_to_sign(DOC_DATE, scope, creq)
    if "sts" in case:
        assert to_sign == case["sts"]
    key = sigv4.signing_key(
        VECTORS["secret_access_key"], DOC_DATE[:8], VECTORS["region"], case["service"]
    )
    if "signing_key" in case:
        assert key.hex() == case["signing_key"]
    credential, expected_signed, expected_signature = _authz_signature(case["authz"])
    assert credential == f"{VECTORS['access_key_id']}/{scope}"
    assert signed == expected_signed
    assert sigv4.sign(key, to_sign) == expected_signature


def test_sign_post_matches_the_form_post_vector() -> None:
    case = next(c for c in VECTORS["cases"] if c["name"] == "post-x-www-form-urlencoded")
    headers = sigv4.sign_post(
        credentials=DOC_CREDENTIALS,
        host="example.amazonaws.com",
        region="us-east-1",
        service="service",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc),
        body=case["body"].encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert headers["Authorization"] == case["authz"]
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "X-Amz-Security-Token" not in headers


def test_sign_post_with_session_token_signs_and_sends_it() -> None:
    headers = sigv4.sign_post(
        credentials=Credentials("AKIDEXAMPLE", VECTORS["secret_access_key"], "tok/en+="),
        host="sts.us-east-1.amazonaws.com",
        region="us-east-1",
        service="sts",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc),
        body=b"Action=AssumeRole",
    )
    assert headers["X-Amz-Security-Token"] == "tok/en+="
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (headers["Authorization"])
    )


def test_signing_key_documentation_example() -> None:
    key = sigv4.signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam"
    )
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


# --- building blocks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("", ""),
        ("AZaz09-_.~", "AZaz09-_.~"),
        (" ", "%20"),
        ("+", "%2B"),
        ("/", "%2F"),
        ("=", "%3D"),
        (";", "%3B"),
        ("%", "%25"),
        ("*", "%2A"),
        ("ü", "%C3%BC"),
        ("\u1234", "%E1%88%B4"),
        ("a b&c=d", "a%20b%26c%3Dd"),
    ],
)
def test_uri_encode(raw: str, encoded: str) -> None:
    assert sigv4.uri_encode(raw) == encoded


def test_canonical_query_sorts_by_encoded_name_then_value() -> None:
    params = [("b", "2"), ("a", "z"), ("a", "Z"), ("A", "1"), ("a b", "x")]
    assert sigv4.canonical_query(params) == "A=1&a=Z&a=z&a%20b=x&b=2"


def test_canonical_headers_lowercase_trim_collapse() -> None:
    block, signed = sigv4.canonical_headers({"X-K8s-Aws-Id": "  a \t b  ", "Host": "h"})
    assert block == "host:h\nx-k8s-aws-id:a b\n"
    assert signed == "host;x-k8s-aws-id"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc), "20150830T123600Z"),
        (datetime(2015, 8, 30, 14, 36, 5, tzinfo=timezone(timedelta(hours=2))), "20150830T123605Z"),
        (datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc), "19991231T235959Z"),
    ],
)
def test_amz_date(moment: datetime, expected: str) -> None:
    assert sigv4.amz_date(moment) == expected


def test_empty_payload_hash_is_the_published_constant() -> None:
    assert sigv4.EMPTY_PAYLOAD_SHA256 == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_presign_url_puts_security_token_after_signed_headers() -> None:
    url = sigv4.presign_url(
        credentials=Credentials("AKIDEXAMPLE", "secret", "a/b+c=d"),
        host="sts.amazonaws.com",
        region="us-east-1",
        service="sts",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc),
        params=(("Action", "GetCallerIdentity"), ("Version", "2011-06-15")),
        signed_headers={"x-k8s-aws-id": "c"},
        expires=60,
    )
    prefix, signature = url.rsplit("&X-Amz-Signature=", 1)
    assert prefix == (
        "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request"
        "&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60"
        "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=a%2Fb%2Bc%3Dd"
    )
    assert len(signature) == 64
    assert int(signature, 16) >= 0


def test_session_token_changes_the_signature() -> None:
    def signature(session_token: str | None) -> str:
        return sigv4.presign_url(
            credentials=Credentials("AKIDEXAMPLE", "secret", session_token),
            host="sts.amazonaws.com",
            region="us-east-1",
            service="sts",
            now=datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc),
            params=(),
            signed_headers={"x-k8s-aws-id": "c"},
            expires=60,
        ).rsplit("=", 1)[1]

    assert len({signature(None), signature("t1"), signature("t2")}) == 3
