"""How the AssumeRole* flows read STS's answer: JSON or XML, and every way it can be unusable."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from k8s_aws_auth import Credentials
from k8s_aws_auth._core.effects import HttpResponse
from k8s_aws_auth.credentials._sts_calls import parse_credentials_response
from k8s_aws_auth.errors import CredentialProviderError

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN/+="
EXPIRES = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def _parse(body: bytes, *, status: int = 200, truncated: bool = False) -> Credentials:
    return parse_credentials_response(
        HttpResponse(status=status, body=body, truncated=truncated),
        action="AssumeRole",
        provider="assume-role (profile ops)",
        host="sts.us-east-1.amazonaws.com",
    )


def _json_answer(**credentials: object) -> bytes:
    return json.dumps(
        {"AssumeRoleResponse": {"AssumeRoleResult": {"Credentials": credentials}}}
    ).encode()


def _refused(body: bytes, **kwargs: bool) -> CredentialProviderError:
    with pytest.raises(CredentialProviderError) as caught:
        _parse(body, **kwargs)
    error = caught.value
    for shown in (str(error), repr(error)):
        assert SECRET not in shown
        assert SESSION not in shown
    assert error.provider == "assume-role (profile ops)"
    return error


def test_a_json_answer_with_epoch_seconds_gives_the_credentials() -> None:
    # STS's JSON protocol sends Expiration as epoch seconds, not as an ISO 8601 string.
    credentials = _parse(
        _json_answer(
            AccessKeyId="ASIAJSONEXAMPLE00001",
            SecretAccessKey=SECRET,
            SessionToken=SESSION,
            Expiration=1772600767,
        )
    )
    assert credentials.access_key_id == "ASIAJSONEXAMPLE00001"
    assert credentials.secret_access_key == SECRET
    assert credentials.session_token == SESSION
    assert credentials.expiration == EXPIRES


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            _json_answer(AccessKeyId="ASIAX", SecretAccessKey=SECRET, SessionToken=SESSION),
            id="json-no-expiration",
        ),
        pytest.param(
            _json_answer(
                AccessKeyId="ASIAX", SecretAccessKey=SECRET, SessionToken=SESSION, Expiration=True
            ),
            id="json-boolean-expiration",
        ),
        pytest.param(
            json.dumps({"AssumeRoleResponse": {"AssumeRoleResult": {"Credentials": []}}}).encode(),
            id="json-credentials-not-an-object",
        ),
        pytest.param(b'{"AssumeRoleResponse": ', id="json-cut-short"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s "x">]><AssumeRoleResponse>'
            b"<Credentials><AccessKeyId>&s;</AccessKeyId></Credentials></AssumeRoleResponse>",
            id="xml-entity-declaration",
        ),
        pytest.param(
            b"<AssumeRoleResponse><Result/></AssumeRoleResponse>", id="xml-no-credentials"
        ),
        pytest.param(b"<AssumeRoleResponse><unclosed>", id="xml-not-well-formed"),
    ],
)
def test_an_answer_without_complete_credentials_is_a_bad_response(body: bytes) -> None:
    error = _refused(body)
    assert error.reason == "bad-response"
    assert "no complete Credentials element" in str(error)


def test_an_unreadable_expiration_is_a_bad_response() -> None:
    body = (
        "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
        f"<AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>"
        f"<SessionToken>{SESSION}</SessionToken><Expiration>next tuesday</Expiration>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>"
    ).encode()
    error = _refused(body)
    assert error.reason == "bad-response"
    assert "unreadable Expiration" in str(error)


def test_a_truncated_answer_is_too_large_even_if_it_parses() -> None:
    body = _json_answer(
        AccessKeyId="ASIAX", SecretAccessKey=SECRET, SessionToken=SESSION, Expiration=1772600767
    )
    error = _refused(body, truncated=True)
    assert error.reason == "bad-response"
    assert "too large" in str(error)
