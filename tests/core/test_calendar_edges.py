"""The calendar's edges: year 1 and the last minutes of 9999-12-31.

``datetime`` ends there, and ``moment + delta`` past an end raises OverflowError.
Every place that adds to a time someone else chose (a token's X-Amz-Date, the
caller's ``now`` or clock, a credential expiry, a cache TTL) must answer with a
result or a library error: a token the calendar cannot hold is a denial, a
signing time or clock it cannot hold a ``ConfigurationError`` (``clock``).
"""

from __future__ import annotations

import json
import pathlib
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    Token,
    TokenVerifier,
    VerifierConfig,
    encode_token,
    format_exec_credential,
    generate_token,
    presign_token,
    validate_token,
)
from k8s_aws_auth._core.token_signer import sign_token
from k8s_aws_auth.cli._token_cache import TokenCache
from k8s_aws_auth.credentials._base import parse_timestamp
from k8s_aws_auth.errors import (
    ConfigurationError,
    ExpiredTokenError,
    K8sAwsAuthError,
    MalformedTokenError,
    TokenNotYetValidError,
)
from k8s_aws_auth.testing import FakeSTS, FixedClock
from k8s_aws_auth.testing._values import Principal

UTC = timezone.utc
EAST = timezone(timedelta(hours=5))
WEST = timezone(timedelta(hours=-5))
CONFIG = VerifierConfig("edge-cluster")
CACHED = VerifierConfig("edge-cluster", cache_size=16, cache_ttl=timedelta(minutes=10))
HOST = "sts.us-west-2.amazonaws.com"
LAST_SIGNING = datetime(9999, 12, 31, 23, 44, 59, tzinfo=UTC)
FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
ARN = "arn:aws:sts::111122223333:assumed-role/Edge/session"


def _dated(x_amz_date: str) -> str:
    """A well-formed (unsigned) token dated ``x_amz_date``."""
    return encode_token(
        f"https://{HOST}/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{x_amz_date[:8]}%2Fus-west-2%2Fsts"
        f"%2Faws4_request&X-Amz-Date={x_amz_date}&X-Amz-Expires=60"
        f"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature={'0' * 64}"
    )


# ---- validate_token ---------------------------------------------------------------------------

VALIDATE_TABLE = [
    # (X-Amz-Date, now, outcome): "ok", or the denial's reason
    ("99991231T234459Z", datetime(9999, 12, 31, 23, 58, tzinfo=UTC), "ok"),  # now + skew > max
    ("99991231T234459Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "ok"),  # the last second
    ("99991231T234459Z", LAST, "expired"),
    ("99991231T224459Z", datetime(9999, 12, 31, 23, 58, tzinfo=timezone(timedelta(hours=1))), "ok"),
    ("99991231T234000Z", datetime(9999, 12, 31, 23, 30, tzinfo=UTC), "not-yet-valid"),
    ("99991231T234500Z", LAST, "date-range"),  # its lifetime would end in year 10000
    ("99991231T235959Z", LAST, "date-range"),
    ("99991231T235959Z", datetime(2026, 1, 1, tzinfo=UTC), "date-range"),
    ("00010101T000000Z", FIRST, "ok"),
    ("00010101T000000Z", datetime(1, 1, 1, 0, 15, tzinfo=UTC), "ok"),
    ("00010101T000000Z", datetime(1, 1, 1, 0, 15, 1, tzinfo=UTC), "expired"),
    ("00010101T000500Z", FIRST, "ok"),  # exactly the default skew ahead
    ("00010101T000501Z", FIRST, "not-yet-valid"),
    ("00010101T000000Z", datetime(1, 1, 1, 5, 0, tzinfo=EAST), "ok"),  # 00:00 UTC
]


@pytest.mark.parametrize(("x_amz_date", "now", "outcome"), VALIDATE_TABLE)
def test_validate_at_the_calendar_edges(x_amz_date: str, now: datetime, outcome: str) -> None:
    token = _dated(x_amz_date)
    if outcome == "ok":
        validated = validate_token(token, CONFIG, now=now)
        assert validated.expires_at == validated.signed_at + timedelta(minutes=15)
        return
    with pytest.raises(MalformedTokenError if outcome == "date-range" else K8sAwsAuthError) as info:
        validate_token(token, CONFIG, now=now)
    assert info.value.reason == outcome
    expected = {
        "expired": ExpiredTokenError,
        "not-yet-valid": TokenNotYetValidError,
        "date-range": MalformedTokenError,
    }[outcome]
    assert type(info.value) is expected


@pytest.mark.parametrize(
    "now",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=WEST),  # 10000-01-01T04:00Z
        datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-4, minutes=-1))),
        datetime(1, 1, 1, 4, 0, tzinfo=EAST),  # 0000-12-31T23:00Z
    ],
)
def test_a_now_off_the_calendar_in_utc_is_a_configuration_error(now: datetime) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_token(_dated("99991231T234459Z"), CONFIG, now=now)
    assert info.value.reason == "clock"


def test_the_verifier_denies_a_token_the_calendar_cannot_hold_without_calling_sts() -> None:
    sts = FakeSTS(clock=FixedClock(datetime(9999, 12, 31, 23, 50, tzinfo=UTC)))
    with (
        httpx.Client(transport=sts) as client,
        TokenVerifier(CONFIG, client=client, clock=sts.clock) as verifier,
    ):
        with pytest.raises(MalformedTokenError) as info:
            verifier.validate(_dated("99991231T235000Z"))
        assert info.value.reason == "date-range"
        with pytest.raises(MalformedTokenError):
            verifier.verify(_dated("99991231T235000Z"))
    assert sts.count() == 0


# ---- verify, sync and async, with and without the cache --------------------------------------


def _signed_token(principal: Principal, x_amz_date: str) -> str:
    """A token really signed at ``x_amz_date`` (the signer takes the date as text)."""
    credentials = principal.credentials
    return sign_token(
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        cluster_id=CONFIG.cluster_id,
        x_amz_date=x_amz_date,
        region="us-west-2",
    )


def _world(now: datetime, x_amz_date: str) -> tuple[FixedClock, FakeSTS, str]:
    """A clock at ``now``, FakeSTS on it, and a principal's token signed at ``x_amz_date``."""
    clock = FixedClock(now)
    sts = FakeSTS(clock=clock)
    return clock, sts, _signed_token(sts.create_principal(ARN, seed="edge"), x_amz_date)


VERIFY_TABLE = [
    # (X-Amz-Date, the clock of the verifier and of STS, outcome)
    ("99991231T234459Z", datetime(9999, 12, 31, 23, 58, tzinfo=UTC), "ok"),
    ("99991231T234459Z", datetime(9999, 12, 31, 23, 59, 58, tzinfo=UTC), "ok"),
    ("99991231T234459Z", datetime(9999, 12, 31, 23, 58, tzinfo=EAST), "not-yet-valid"),  # 18:58Z
    ("00010101T000000Z", FIRST, "ok"),
    ("00010101T000400Z", FIRST, "ok"),
    ("00010101T000000Z", datetime(1, 1, 1, 0, 14, tzinfo=UTC), "ok"),
]


@pytest.mark.parametrize("config", [CONFIG, CACHED], ids=["no-cache", "cache"])
@pytest.mark.parametrize(("x_amz_date", "now", "outcome"), VERIFY_TABLE)
def test_sync_verify_at_the_calendar_edges(
    x_amz_date: str, now: datetime, outcome: str, config: VerifierConfig
) -> None:
    clock, sts, token = _world(now, x_amz_date)
    with (
        httpx.Client(transport=sts) as client,
        TokenVerifier(config, client=client, clock=clock) as verifier,
    ):
        if outcome == "not-yet-valid":
            with pytest.raises(TokenNotYetValidError):
                verifier.verify(token)
            assert sts.count() == 0
            return
        assert verifier.verify(token).arn == ARN
        assert verifier.verify(token).arn == ARN
    # With the cache on, the second answer came from it: one STS call.
    assert sts.count() == (1 if config.cache_size else 2)


@pytest.mark.anyio
@pytest.mark.parametrize("config", [CONFIG, CACHED], ids=["no-cache", "cache"])
@pytest.mark.parametrize(("x_amz_date", "now", "outcome"), VERIFY_TABLE)
async def test_async_verify_at_the_calendar_edges(
    x_amz_date: str, now: datetime, outcome: str, config: VerifierConfig
) -> None:
    clock, sts, token = _world(now, x_amz_date)
    async with (
        httpx.AsyncClient(transport=sts) as client,
        AsyncTokenVerifier(config, client=client, clock=clock) as verifier,
    ):
        if outcome == "not-yet-valid":
            with pytest.raises(TokenNotYetValidError):
                await verifier.verify(token)
            assert sts.count() == 0
            return
        assert (await verifier.verify(token)).arn == ARN
        assert (await verifier.verify(token)).arn == ARN
    assert sts.count() == (1 if config.cache_size else 2)


def test_a_cached_identity_expires_with_its_token_at_the_calendar_end() -> None:
    clock, sts, token = _world(datetime(9999, 12, 31, 23, 58, tzinfo=UTC), "99991231T234459Z")
    with (
        httpx.Client(transport=sts) as client,
        TokenVerifier(CACHED, client=client, clock=clock) as verifier,
    ):
        assert verifier.verify(token).arn == ARN
        clock.set(LAST)  # past the token's 23:59:59 expiry: the cache must not answer
        with pytest.raises(ExpiredTokenError):
            verifier.verify(token)
    assert sts.count() == 1


# ---- presign_token, generate_token, the exec credential --------------------------------------

CREDENTIALS = Credentials("ASIAIOSFODNN7EXAMPLE", "secret", "IQoJb3JpZ2lu+/==")

SIGNING_TABLE = [
    # (now, expected expiration or None when refused)
    (LAST_SIGNING, datetime(9999, 12, 31, 23, 58, 59, tzinfo=UTC)),
    (LAST_SIGNING.replace(microsecond=999999), datetime(9999, 12, 31, 23, 58, 59, tzinfo=UTC)),
    (datetime(9999, 12, 31, 23, 45, tzinfo=UTC), None),
    (datetime(9999, 12, 31, 23, 50, tzinfo=UTC), None),
    (LAST, None),
    (datetime(9999, 12, 31, 23, 0, tzinfo=WEST), None),  # 10000-01-01T04:00Z
    (datetime(9999, 12, 31, 23, 50, tzinfo=EAST), datetime(9999, 12, 31, 19, 4, tzinfo=UTC)),
    (FIRST, datetime(1, 1, 1, 0, 14, tzinfo=UTC)),
    (datetime(1, 1, 1, 4, 0, tzinfo=EAST), None),  # before year 1 in UTC
]


@pytest.mark.parametrize(("now", "expiration"), SIGNING_TABLE)
def test_presign_at_the_calendar_edges(now: datetime, expiration: datetime | None) -> None:
    if expiration is None:
        with pytest.raises(ConfigurationError) as info:
            presign_token(CREDENTIALS, cluster_id="c", now=now, region="us-west-2")
        assert info.value.reason == "clock"
        assert "9999" in str(info.value)
        return
    token = presign_token(CREDENTIALS, cluster_id="c", now=now, region="us-west-2")
    assert token.expiration == expiration
    assert token.expiration.tzinfo is UTC
    document = json.loads(format_exec_credential(token))
    assert document["status"]["expirationTimestamp"].startswith(
        f"{expiration.year:04d}" if expiration.year >= 1000 else str(expiration.year)
    )


@pytest.mark.parametrize(("now", "expiration"), SIGNING_TABLE)
def test_generate_token_at_the_calendar_edges(now: datetime, expiration: datetime | None) -> None:
    if expiration is None:
        with pytest.raises(ConfigurationError) as info:
            generate_token("c", credentials=CREDENTIALS, region="us-west-2", now=now)
        assert info.value.reason == "clock"
        return
    token = generate_token("c", credentials=CREDENTIALS, region="us-west-2", now=now)
    assert token.expiration == expiration


def test_a_token_signed_at_the_last_second_verifies_until_the_calendar_ends() -> None:
    token = presign_token(
        CREDENTIALS, cluster_id="edge-cluster", now=LAST_SIGNING, region="us-west-2"
    )
    validated = validate_token(
        token.value, CONFIG, now=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    assert validated.expires_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_token_signed_in_year_one_carries_botocores_unpadded_date_and_is_refused() -> None:
    # botocore prints strftime's unpadded years below 1000; the validator wants YYYY.
    token = presign_token(CREDENTIALS, cluster_id="edge-cluster", now=FIRST, region="us-west-2")
    with pytest.raises(MalformedTokenError) as info:
        validate_token(token.value, CONFIG, now=FIRST)
    assert info.value.reason == "date"


@pytest.mark.parametrize(
    "expiration",
    [datetime(9999, 12, 31, 23, 0, tzinfo=WEST), datetime(1, 1, 1, 4, 0, tzinfo=EAST)],
)
def test_a_credentials_expiry_off_the_calendar_is_a_configuration_error(
    expiration: datetime,
) -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "secret", "IQoJ", expiration)
    with pytest.raises(ConfigurationError) as info:
        presign_token(credentials, cluster_id="c", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert info.value.reason == "clock"
    assert "credentials.expiration" in str(info.value)


def test_credentials_expiring_at_the_calendar_end_cap_nothing() -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "secret", "IQoJ", LAST)
    token = presign_token(credentials, cluster_id="c", now=LAST_SIGNING)
    assert token.expiration == datetime(9999, 12, 31, 23, 58, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "expiration",
    [datetime(9999, 12, 31, 23, 0, tzinfo=WEST), datetime(1, 1, 1, 4, 0, tzinfo=EAST)],
)
def test_an_exec_credential_expiry_off_the_calendar_is_a_configuration_error(
    expiration: datetime,
) -> None:
    with pytest.raises(ConfigurationError) as info:
        format_exec_credential(Token("k8s-aws-v1.x", expiration))
    assert info.value.reason == "clock"


# ---- the client's token cache, the credential parser, the test clock -------------------------


@pytest.mark.parametrize(
    ("now", "token_kept"),
    [
        (datetime(9999, 12, 31, 23, 58, tzinfo=UTC), True),
        (datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC), False),  # < 1 minute left
        (LAST, False),
        (FIRST, True),
    ],
)
def test_the_token_cache_at_the_calendar_edges(
    tmp_path: pathlib.Path, now: datetime, token_kept: bool
) -> None:
    # Everything cached expires at the calendar's last instant.
    cache = TokenCache(tmp_path / "cache")
    tokens: list[Token] = []

    def token() -> Token:
        tokens.append(Token(f"k8s-aws-v1.token{len(tokens)}", LAST))
        return tokens[-1]

    for _ in range(2):
        assert cache.get_or_create({"cluster": "c"}, now=now, create=token) == tokens[-1]
    assert len(tokens) == (1 if token_kept else 2)


def test_a_cached_timestamp_off_the_calendar_is_a_broken_entry(tmp_path: pathlib.Path) -> None:
    cache = TokenCache(tmp_path / "cache")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cache.get_or_create({"cluster": "c"}, now=now, create=lambda: Token("k8s-aws-v1.a", LAST))
    (entry,) = (tmp_path / "cache").rglob("*.json")
    document = json.loads(entry.read_text())
    document["expiration"] = "9999-12-31T23:00:00-05:00"
    entry.write_text(json.dumps(document))
    fresh = cache.get_or_create(
        {"cluster": "c"}, now=now, create=lambda: Token("k8s-aws-v1.b", LAST)
    )
    assert fresh.value == "k8s-aws-v1.b"


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"])
def test_a_credential_timestamp_off_the_calendar_in_utc_is_unparseable(text: str) -> None:
    assert parse_timestamp(text) is None


def test_the_test_clock_refuses_to_leave_the_calendar() -> None:
    clock = FixedClock(datetime(9999, 12, 31, 23, 50, tzinfo=UTC))
    with pytest.raises(ConfigurationError) as info:
        clock.advance(minutes=15)
    assert info.value.reason == "clock"
    assert clock() == datetime(9999, 12, 31, 23, 50, tzinfo=UTC)
    with pytest.raises(ConfigurationError):
        FixedClock(datetime(9999, 12, 31, 23, 0, tzinfo=WEST))
