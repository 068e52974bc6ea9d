"""hypothesis properties of the core: round trip, tamper evidence, totality.

The profile is registered here and applied per test (not loaded globally), so other
test modules keep their own settings.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_aws_auth import Credentials, VerifierConfig, decode_token, presign_token, validate_token
from k8s_aws_auth._core.arn import parse_arn
from k8s_aws_auth._core.models import ValidatedToken
from k8s_aws_auth._core.partitions import PARTITIONS, partition_for_region, sts_host_for
from k8s_aws_auth._core.sts import (
    parse_error_body,
    parse_identity_response,
    raise_for_error_response,
)
from k8s_aws_auth.errors import ConfigurationError, K8sAwsAuthError, STSError, TokenError
from tests.support.budget import examples

settings.register_profile(
    "k8s-aws-auth-core",
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CORE = settings(settings.get_profile("k8s-aws-auth-core"))

REGIONS = sorted(region for partition in PARTITIONS.values() for region in partition.regions)
PREFIX = "k8s-aws-v1."
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

access_key_ids = st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True)
secrets = st.text(min_size=1, max_size=60)
# STS session tokens are standard base64 (the verifier refuses any other character).
session_tokens = st.none() | st.text(
    alphabet=string.ascii_letters + string.digits + "+/=", min_size=1, max_size=400
)
cluster_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=80,
).filter(lambda s: bool(s.split()))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.just(timezone.utc),
)


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, Credentials, str | None, str, str, datetime]:
    credentials = Credentials(draw(access_key_ids), draw(secrets), draw(session_tokens))
    region = draw(st.none() | st.sampled_from(REGIONS))
    mode = draw(st.sampled_from(("regional", "legacy")))
    cluster_id = draw(cluster_ids)
    now = draw(moments)
    token = presign_token(
        credentials, cluster_id=cluster_id, now=now, region=region, sts_regional_endpoints=mode
    )
    return token.value, credentials, region, mode, cluster_id, now


def _partition(region: str | None) -> str:
    return "aws" if region is None else partition_for_region(region).name


@CORE
@given(tokens())
def test_round_trip(generated: tuple[str, Credentials, str | None, str, str, datetime]) -> None:
    token, credentials, region, mode, cluster_id, now = generated
    config = VerifierConfig(cluster_id, partition=_partition(region))
    validated = validate_token(token, config, now=now)
    host, signing_region = sts_host_for(region, sts_regional_endpoints=mode)
    assert validated.host == host
    assert validated.region == signing_region
    assert validated.access_key_id == credentials.access_key_id
    assert validated.signed_at == now.replace(microsecond=0)
    assert validated.security_token == credentials.session_token
    # The rebuilt URL is exactly the one that was signed.
    assert validated.url == decode_token(token)


@st.composite
def tampered(draw: st.DrawFn) -> tuple[str, str, datetime, VerifierConfig]:
    token, _, region, _, cluster_id, now = draw(tokens())
    position = draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = draw(st.sampled_from(B64_ALPHABET + "=+/.\n \x00é"))
    operation = draw(st.sampled_from(("change", "insert", "delete")))
    if operation == "change":
        edited = token[:position] + replacement + token[position + 1 :]
    elif operation == "insert":
        edited = token[:position] + replacement + token[position:]
    else:
        edited = token[:position] + token[position + 1 :]
    return token, edited, now, VerifierConfig(cluster_id, partition=_partition(region))


@CORE
@given(tampered())
def test_single_character_tamper_never_goes_unnoticed(
    case: tuple[str, str, datetime, VerifierConfig],
) -> None:
    original, edited, now, config = case
    before = validate_token(original, config, now=now)
    try:
        after = validate_token(edited, config, now=now)
    except TokenError:
        return
    if edited == original:  # a "change" to the same character
        assert after == before
        return
    # Accepted only if the edit landed in a signed value (STS then refuses the
    # signature): the host cannot move, and the URL sent to STS is exactly the edited
    # URL — nothing is normalised away, and no second spelling of the same URL exists.
    _same_destination(before, after)
    assert after.url == decode_token(edited)
    assert after.url != before.url


def _same_destination(before: ValidatedToken, after: ValidatedToken) -> None:
    assert (after.host, after.region, after.partition) == (
        before.host,
        before.region,
        before.partition,
    )


CONFIG = VerifierConfig("c")
FIXED_NOW = datetime(2023, 4, 28, tzinfo=timezone.utc)
VALID_PREFIX = "https://sts.us-east-1.amazonaws.com/?"


def _total(token: object) -> None:
    with contextlib.suppress(K8sAwsAuthError):
        validate_token(token, CONFIG, now=FIXED_NOW)  # type: ignore[arg-type]


@CORE
@given(st.text(max_size=300))
def test_totality_random_text(text: str) -> None:
    _total(text)
    _total(PREFIX + text)


@CORE
@given(st.binary(max_size=300))
def test_totality_random_bytes(data: bytes) -> None:
    _total(data.decode("latin-1"))
    _total(PREFIX + data.decode("latin-1"))
    _total(PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("="))


url_chars = st.characters(min_codepoint=0, max_codepoint=0x2FF) | st.sampled_from(
    "/?#&=%:@[]\\ſｓ。"
)


@CORE
@given(st.text(alphabet=url_chars, max_size=200))
def test_totality_random_urls(rest: str) -> None:
    for head in ("https://", "https://sts.amazonaws.com", "http://", ""):
        _total(PREFIX + base64.urlsafe_b64encode((head + rest).encode()).decode().rstrip("="))


query_parts = st.sampled_from(
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
        "action",
        "=",
        "&",
        "%",
        "%2F",
        "%zz",
        "GetCallerIdentity",
        "2011-06-15",
        "AWS4-HMAC-SHA256",
        "AKIAIOSFODNN7EXAMPLE%2F20230428%2Fus-east-1%2Fsts%2Faws4_request",
        "20230428T000000Z",
        "60",
        "900",
        "host%3Bx-k8s-aws-id",
        "0" * 64,
        "#",
        ";",
        "+",
    ]
)


@CORE
@given(st.lists(query_parts, max_size=40).map("".join))
def test_totality_random_queries_after_a_valid_prefix(query: str) -> None:
    url = VALID_PREFIX + query
    _total(PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("="))


# --- the whole calendar: years 1 to 9999, in any offset a clock may use ---------------------

offsets = st.integers(min_value=-1439, max_value=1439).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets)
calendar = st.datetimes(min_value=datetime.min, max_value=datetime.max)


CALENDAR_LENGTH = datetime.max - datetime.min


def _since_calendar_start(moment: datetime) -> timedelta:
    """How long after 0001-01-01T00:00Z ``moment`` is (timedelta arithmetic: never overflows)."""
    offset = moment.utcoffset()
    assert offset is not None
    return (moment.replace(tzinfo=None) - datetime.min) - offset


def _off_the_calendar_in_utc(moment: datetime) -> bool:
    return not timedelta(0) <= _since_calendar_start(moment) <= CALENDAR_LENGTH


def _dated_url(signed: datetime) -> str:
    date = "%04d%02d%02dT%02d%02d%02dZ" % signed.timetuple()[:6]  # noqa: UP031
    return (
        f"{VALID_PREFIX}Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{date[:8]}%2Fus-east-1%2Fsts%2Faws4_request"
        f"&X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
        f"&X-Amz-Signature={'0' * 64}"
    )


@CORE
@given(calendar, instants)
def test_totality_over_the_calendar(signed: datetime, now: datetime) -> None:
    # A token dated anywhere on the calendar, checked at any instant: a result or
    # a library error, never OverflowError (datetime's arithmetic at its edges).
    token = PREFIX + base64.urlsafe_b64encode(_dated_url(signed).encode()).decode().rstrip("=")
    if _off_the_calendar_in_utc(now):
        with pytest.raises(ConfigurationError) as info:
            validate_token(token, CONFIG, now=now)
        assert info.value.reason == "clock"
    else:
        with contextlib.suppress(TokenError):
            validate_token(token, CONFIG, now=now)


@CORE
@given(instants)
def test_presign_totality_over_the_calendar(now: datetime) -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "s", "IQoJb3JpZ2lu+/==")
    signed = _since_calendar_start(now.replace(microsecond=0))
    # Refused when off the calendar, or when the 15-minute lifetime would leave it.
    if _off_the_calendar_in_utc(now) or signed + timedelta(minutes=15) > CALENDAR_LENGTH:
        with pytest.raises(ConfigurationError) as info:
            presign_token(credentials, cluster_id="c", now=now, region="us-east-1")
        assert info.value.reason == "clock"
    else:
        token = presign_token(credentials, cluster_id="c", now=now, region="us-east-1")
        assert _since_calendar_start(token.expiration) == signed + timedelta(minutes=14)


# --- _sts and _arn -----------------------------------------------------------------------------

VALIDATED = validate_token(
    presign_token(
        Credentials("AKIAIOSFODNN7EXAMPLE", "s"), cluster_id="c", now=FIXED_NOW, region="us-east-1"
    ).value,
    CONFIG,
    now=FIXED_NOW,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "GetCallerIdentityResponse",
                    "GetCallerIdentityResult",
                    "Account",
                    "Arn",
                    "UserId",
                    "ResponseMetadata",
                    "Error",
                    "Code",
                    "Message",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _identity_total(body: bytes) -> None:
    with contextlib.suppress(STSError):
        parse_identity_response(body, VALIDATED, CONFIG)


@CORE
@given(json_values)
def test_parse_identity_response_totality_json(document: Any) -> None:
    _identity_total(json.dumps(document).encode())


@CORE
@given(st.binary(max_size=400))
def test_parse_identity_response_totality_bytes(body: bytes) -> None:
    _identity_total(body)


arns = st.lists(
    st.sampled_from(
        [
            "arn",
            "aws",
            "aws-cn",
            "iam",
            "sts",
            "",
            "111122223333",
            "user/a",
            "role/x/y",
            "assumed-role/R/s",
            "federated-user/f",
            "root",
            "/",
            "a",
            "é",
            " ",
        ]
    ),
    max_size=8,
).map(":".join)


@CORE
@given(arns | st.text(max_size=80))
def test_parse_arn_raises_only_value_error(arn: str) -> None:
    try:
        parsed = parse_arn(arn)
    except ValueError:
        return
    assert parsed.arn == arn
    assert parsed.partition in PARTITIONS


@CORE
@given(arns)
def test_parse_identity_response_with_random_arns(arn: str) -> None:
    body = json.dumps(
        {
            "GetCallerIdentityResponse": {
                "GetCallerIdentityResult": {
                    "Account": "111122223333",
                    "Arn": arn,
                    "UserId": "AIDA:s",
                },
                "ResponseMetadata": {"RequestId": "r"},
            }
        }
    ).encode()
    _identity_total(body)


error_bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda d: json.dumps(d).encode())
    | st.builds(
        lambda code, message: (
            f"<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            "</ErrorResponse>"
        ).encode(),
        st.text(max_size=70),
        st.text(max_size=70),
    )
)


@CORE
@given(st.integers(min_value=-1, max_value=1000), error_bodies)
def test_raise_for_error_response_totality(status: int, body: bytes) -> None:
    try:
        raise_for_error_response(status, body)
    except K8sAwsAuthError:
        return
    assert status == 200


@CORE
@given(error_bodies)
def test_parse_error_body_never_raises(body: bytes) -> None:
    info = parse_error_body(body)
    assert info.code is None or (info.code.isascii() and 0 < len(info.code) <= 64)
