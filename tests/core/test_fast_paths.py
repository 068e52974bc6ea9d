"""The core's speed-ups agree with the plain forms they replace.

Each fast path is checked against an independent statement of the same rule
(the standard library or a straightforward pattern written here), so a fast path
that accepts more, or decodes differently, fails.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_aws_auth import Credentials, VerifierConfig, encode_token, presign_token, validate_token
from k8s_aws_auth._core.sigv4 import Presigner, amz_date, presign_url
from k8s_aws_auth._core.validate import (
    _CANONICAL_VALUE,
    _SESSION_TOKEN_VALUE,
    _check_credential,
    _decode_session_token,
    _split_query,
    _split_query_in_order,
)
from k8s_aws_auth.errors import MalformedTokenError, TokenError
from tests.support.budget import examples

FAST = settings(max_examples=examples(300), deadline=None)

# The rule as first written: one alternation per character.
SIMPLE_CANONICAL_VALUE = re.compile(
    r"(?:[A-Za-z0-9_.~-]|%(?:2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-D]))+", re.ASCII
)
# A session token, stated plainly: base64's characters, + / = as their escapes.
SIMPLE_SESSION_TOKEN_VALUE = re.compile(r"(?:[A-Za-z0-9]|%2B|%2F|%3D)+", re.ASCII)
BASE64_ALPHABET = string.ascii_letters + string.digits + "+/="
PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
VALUE_PIECES = st.sampled_from(
    [
        *string.ascii_letters[:6],
        *("-", "~", "%", "%2F", "%2f", "%2B", "%3D", "%25", "%20", "%41", "%7E", "%5B"),
        *("%0A", "=", "&", "é", "\n", "%2", "%G0"),
    ]
)
NAMES = st.sampled_from(
    [
        "Action",
        "Version",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        "x-amz-date",
        "Foo",
        "",
    ]
)


def _outcome(function: object, *args: object) -> tuple[object, ...]:
    try:
        return ("ok", function(*args))  # type: ignore[operator]
    except MalformedTokenError as error:
        return ("error", error.reason, str(error))


@FAST
@given(st.lists(VALUE_PIECES, max_size=12).map("".join))
def test_canonical_value_pattern_matches_the_simple_rule(value: str) -> None:
    assert bool(_CANONICAL_VALUE.fullmatch(value)) == bool(SIMPLE_CANONICAL_VALUE.fullmatch(value))


@FAST
@given(st.lists(VALUE_PIECES, max_size=12).map("".join))
def test_session_token_pattern_matches_the_simple_rule(value: str) -> None:
    assert bool(_SESSION_TOKEN_VALUE.fullmatch(value)) == bool(
        SIMPLE_SESSION_TOKEN_VALUE.fullmatch(value)
    )


@FAST
@given(st.text(alphabet=BASE64_ALPHABET, min_size=1, max_size=80))
def test_decode_session_token_is_unquote_on_encoded_base64(raw: str) -> None:
    encoded = quote(raw, safe="")
    assert _SESSION_TOKEN_VALUE.fullmatch(encoded)
    assert _decode_session_token(encoded) == unquote(encoded) == raw


@FAST
@given(
    st.lists(
        st.tuples(NAMES, st.sampled_from(["=", ""]), st.sampled_from(["v", "", "a=b"])),
        max_size=11,
    )
)
def test_split_query_fast_path_agrees_with_the_ordered_checks(
    components: list[tuple[str, str, str]],
) -> None:
    query = "&".join(name + sep + value for name, sep, value in components)
    assert _outcome(_split_query, query) == _outcome(_split_query_in_order, query.split("&"))


@pytest.mark.parametrize(
    "value",
    [
        "AKIAIOSFODNN7EXAMPLE%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
        "akiaiosfodnn7example%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
        "AKIA%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
        "AKIAIOSFODNN7EXAMPLE%2F20230429%2Fus-west-2%2Fsts%2Faws4_request",
        "AKIAIOSFODNN7EXAMPLE%2F20230428%2Fus-east-1%2Fsts%2Faws4_request",
        "AKIAIOSFODNN7EXAMPLE%2F20230428%2Fus-west-2%2Fs3%2Faws4_request",
        "AKIAIOSFODNN7EXAMPLE%2Fx%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
        "%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    ],
)
def test_check_credential_accepts_exactly_the_scope_it_documents(value: str) -> None:
    parts = value.split("%2F")
    expected_ok = (
        len(parts) == 5
        and re.fullmatch(r"[A-Z0-9]{16,128}", parts[0]) is not None
        and parts[1:] == ["20230428", "us-west-2", "sts", "aws4_request"]
    )
    if expected_ok:
        assert _check_credential(value, "20230428T000000Z", "us-west-2") == parts[0]
    else:
        with pytest.raises(TokenError) as caught:
            _check_credential(value, "20230428T000000Z", "us-west-2")
        assert caught.value.reason == "credential-scope"


@FAST
@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)))
def test_amz_date_is_strftime(moment: datetime) -> None:
    aware = moment.replace(tzinfo=timezone.utc)
    assert amz_date(aware) == aware.strftime("%Y%m%dT%H%M%SZ")


def test_one_presigner_signs_each_second_like_a_fresh_presign() -> None:
    credentials = Credentials("AKIAIOSFODNN7EXAMPLE", "secret/+=", "session+/=token")
    arguments = {
        "host": "sts.us-west-2.amazonaws.com",
        "region": "us-west-2",
        "service": "sts",
        "params": (("Action", "GetCallerIdentity"), ("Version", "2011-06-15")),
        "signed_headers": {"x-k8s-aws-id": "my cluster"},
        "expires": 60,
    }
    day = datetime(2023, 4, 28, tzinfo=timezone.utc)
    presigner = Presigner(
        credentials,
        "sts.us-west-2.amazonaws.com",
        "us-west-2",
        "sts",
        "20230428",
        arguments["params"],  # type: ignore[arg-type]
        {"x-k8s-aws-id": "my cluster"},
        60,
    )
    urls = set()
    for seconds in (0, 1, 3599, 86399):
        moment = day + timedelta(seconds=seconds)
        url = presigner.url(amz_date(moment))
        assert url == presign_url(credentials=credentials, now=moment, **arguments)  # type: ignore[arg-type]
        urls.add(url)
    assert len(urls) == 4
    with pytest.raises(ValueError, match="day"):
        presigner.url("20230429T000000Z")


def test_presigner_refuses_a_second_date_parameter() -> None:
    with pytest.raises(ValueError, match="X-Amz-Date"):
        Presigner(
            Credentials("AKIAIOSFODNN7EXAMPLE", "secret"),
            "sts.amazonaws.com",
            "us-east-1",
            "sts",
            "20230428",
            (("X-Amz-Date", "20230428T000000Z"),),
            {},
            60,
        )


def test_memoised_generation_follows_credentials_cluster_and_day() -> None:
    now = datetime(2023, 4, 28, 23, 59, 59, tzinfo=timezone.utc)
    first = Credentials("AKIAIOSFODNN7EXAMPLE", "secret-one")
    second = Credentials("AKIAIOSFODNN7EXAMPLE", "secret-two")
    tokens = {
        presign_token(credentials, cluster_id=cluster, now=moment, region="us-west-2").value
        for credentials in (first, second)
        for cluster in ("a", "b")
        for moment in (now, now + timedelta(seconds=1))
    }
    assert len(tokens) == 8
    config = VerifierConfig("a")
    for token in tokens:
        validated = validate_token(token, config, now=now)
        assert encode_token(validated.url) == token
