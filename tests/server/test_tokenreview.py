"""The TokenReview codec: strict parsing and answers in the request's apiVersion."""

from __future__ import annotations

import json

import pytest

from k8s_aws_auth.server import (
    ReviewedUser,
    TokenReviewRequestError,
    encode_token_review,
    parse_token_review,
)

V1 = "authentication.k8s.io/v1"
V1BETA1 = "authentication.k8s.io/v1beta1"
TOKEN = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8"


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_parses_both_api_versions(api_version: str) -> None:
    request = parse_token_review(
        _body({"apiVersion": api_version, "kind": "TokenReview", "spec": {"token": TOKEN}}),
        max_token_size=16384,
    )
    assert request.api_version == api_version
    assert request.token == TOKEN
    assert request.audiences is None
    assert TOKEN not in repr(request)


def test_audiences_are_read() -> None:
    request = parse_token_review(
        _body(
            {
                "apiVersion": V1,
                "kind": "TokenReview",
                "spec": {"token": TOKEN, "audiences": ["https://kubernetes.default.svc"]},
            }
        ),
        max_token_size=16384,
    )
    assert request.audiences == ("https://kubernetes.default.svc",)


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (b"", "malformed_request", "expected a request body"),
        (b"   ", "malformed_request", "expected a request body"),
        (b"{not json", "malformed_request", "not valid JSON"),
        (b"\xff\xfe{}", "malformed_request", "not valid JSON"),
        (b"[" * 100_000, "malformed_request", "not valid JSON"),
        (b"[]", "malformed_request", "must be a JSON object"),
        (
            _body({"kind": "TokenReview", "spec": {"token": "x"}}),
            "unsupported_api_version",
            "apiVersion",
        ),
        (
            _body(
                {
                    "apiVersion": "authentication.k8s.io/v2",
                    "kind": "TokenReview",
                    "spec": {"token": "x"},
                }
            ),
            "unsupported_api_version",
            "authentication.k8s.io/v2",
        ),
        (
            _body({"apiVersion": V1, "kind": "SubjectAccessReview", "spec": {"token": "x"}}),
            "unsupported_api_version",
            "kind",
        ),
        (_body({"apiVersion": V1, "kind": "TokenReview"}), "malformed_request", "spec must be"),
        (
            _body({"apiVersion": V1, "kind": "TokenReview", "spec": {}}),
            "malformed_request",
            "spec.token",
        ),
        (
            _body({"apiVersion": V1, "kind": "TokenReview", "spec": {"token": 7}}),
            "malformed_request",
            "spec.token",
        ),
        (
            _body({"apiVersion": V1, "kind": "TokenReview", "spec": {"token": ""}}),
            "malformed_request",
            "spec.token",
        ),
        (
            b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a","token":"b"}}',
            "malformed_request",
            "duplicate JSON key 'token'",
        ),
        (
            _body(
                {"apiVersion": V1, "kind": "TokenReview", "spec": {"token": "x", "audiences": "a"}}
            ),
            "malformed_request",
            "audiences",
        ),
        (
            _body(
                {"apiVersion": V1, "kind": "TokenReview", "spec": {"token": "x", "audiences": [1]}}
            ),
            "malformed_request",
            "audiences",
        ),
    ],
)
def test_refuses_what_is_not_a_token_review(body: bytes, reason: str, words: str) -> None:
    with pytest.raises(TokenReviewRequestError) as caught:
        parse_token_review(body, max_token_size=16384)
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_a_token_over_the_size_cap_is_refused_without_echoing_it() -> None:
    token = "k8s-aws-v1." + "A" * 20_000
    with pytest.raises(TokenReviewRequestError) as caught:
        parse_token_review(
            _body({"apiVersion": V1, "kind": "TokenReview", "spec": {"token": token}}),
            max_token_size=16384,
        )
    assert caught.value.reason == "token_too_large"
    assert "AAAA" not in str(caught.value)


def test_a_huge_api_version_is_not_echoed_whole() -> None:
    with pytest.raises(TokenReviewRequestError) as caught:
        parse_token_review(
            _body({"apiVersion": "x" * 10_000, "kind": "TokenReview", "spec": {"token": "t"}}),
            max_token_size=16384,
        )
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_success_answer_echoes_the_request_version(api_version: str) -> None:
    user = ReviewedUser(
        username="alice",
        uid="aws-iam-authenticator:111122223333:AIDAEXAMPLE",
        groups=("devs",),
        extra={"arn": ("arn:aws:iam::111122223333:user/alice",)},
    )
    document = json.loads(encode_token_review(api_version, user=user, audiences=["aud"]))
    assert document == {
        "apiVersion": api_version,
        "kind": "TokenReview",
        "status": {
            "authenticated": True,
            "user": {
                "username": "alice",
                "uid": "aws-iam-authenticator:111122223333:AIDAEXAMPLE",
                "groups": ["devs"],
                "extra": {"arn": ["arn:aws:iam::111122223333:user/alice"]},
            },
            "audiences": ["aud"],
        },
    }


def test_no_groups_and_no_extra_are_omitted() -> None:
    user = ReviewedUser(username="u", uid="id")
    document = json.loads(encode_token_review(V1, user=user))
    assert document["status"] == {"authenticated": True, "user": {"username": "u", "uid": "id"}}


def test_denial_answer() -> None:
    document = json.loads(encode_token_review(V1BETA1, error="identity is not mapped"))
    assert document == {
        "apiVersion": V1BETA1,
        "kind": "TokenReview",
        "status": {"authenticated": False, "error": "identity is not mapped"},
    }
