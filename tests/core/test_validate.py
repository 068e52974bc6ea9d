"""``validate_token``: what it accepts, its boundaries, its configuration switches and its order."""

from __future__ import annotations

import base64
import random
import string
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import Credentials, VerifierConfig, encode_token, presign_token, validate_token
from k8s_aws_auth._core.validate import decode_envelope
from k8s_aws_auth.errors import (
    ConfigurationError,
    ExpiredTokenError,
    MalformedTokenError,
    RegionNotAllowedError,
    TokenError,
    TokenNotYetValidError,
    UntrustedEndpointError,
)
from tests.support.keys import GOLDEN_ACCESS_KEY_ID, GOLDEN_TIME

CONFIG = VerifierConfig("test-cluster")
GOLDEN_URL = (
    "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={GOLDEN_ACCESS_KEY_ID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"
    "&X-Amz-Date=20230428T000000Z&X-Amz-Expires=60"
    "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
    "&X-Amz-Signature=e211dba77aba9dc44b0b6be38b8eaad092599c5157f6314444c5b9d85747f5ce"
)


def _url(
    *,
    host: str = "sts.us-west-2.amazonaws.com",
    region: str = "us-west-2",
    date: str = "20230428T000000Z",
    expires: str = "60",
    session_token: str | None = None,
) -> str:
    security = f"&X-Amz-Security-Token={session_token}" if session_token is not None else ""
    return (
        f"https://{host}/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{date[:8]}%2F{region}%2Fsts%2Faws4_request"
        f"&X-Amz-Date={date}&X-Amz-Expires={expires}"
        f"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id{security}"
        "&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )


# --- the golden token -------------------------------------------------------------------------


def test_golden_token_validates_to_its_parts() -> None:
    token = encode_token(GOLDEN_URL)
    validated = validate_token(token, CONFIG, now=GOLDEN_TIME + timedelta(minutes=3))
    assert validated.host == "sts.us-west-2.amazonaws.com"
    assert validated.region == "us-west-2"
    assert validated.partition == "aws"
    assert validated.access_key_id == GOLDEN_ACCESS_KEY_ID
    assert validated.signed_at == datetime(2023, 4, 28, tzinfo=timezone.utc)
    assert validated.expires_at == datetime(2023, 4, 28, 0, 15, tzinfo=timezone.utc)
    assert validated.x_amz_expires == 60
    assert validated.signature == (
        "e211dba77aba9dc44b0b6be38b8eaad092599c5157f6314444c5b9d85747f5ce"
    )
    assert validated.security_token is None
    assert validated.url == GOLDEN_URL
    assert GOLDEN_URL.endswith(validated.query)


def test_validated_repr_hides_secrets() -> None:
    validated = validate_token(
        encode_token(_url(session_token="SeSsIoNsEcReT%2B%2F%3D")),
        CONFIG,
        now=datetime(2023, 4, 28, tzinfo=timezone.utc),
    )
    assert validated.security_token == "SeSsIoNsEcReT+/="
    text = repr(validated)
    assert "SeSsIoNsEcReT" not in text
    assert "0123456789abcdef0123456789abcdef" not in text


def test_query_is_rebuilt_in_awscli_order() -> None:
    # The same parameters in another order validate to the canonical awscli order.
    parts = _url(session_token="tok").split("?", 1)[1].split("&")
    shuffled = list(reversed(parts))
    token = encode_token("https://sts.us-west-2.amazonaws.com/?" + "&".join(shuffled))
    validated = validate_token(token, CONFIG, now=datetime(2023, 4, 28, tzinfo=timezone.utc))
    assert validated.query == "&".join(parts)


def test_expires_zero_era_token_is_accepted() -> None:
    token = encode_token(GOLDEN_URL.replace("X-Amz-Expires=60", "X-Amz-Expires=0"))
    assert validate_token(token, CONFIG, now=GOLDEN_TIME).x_amz_expires == 0


def test_decode_envelope_returns_the_url() -> None:
    assert decode_envelope(encode_token(GOLDEN_URL), max_size=16384) == GOLDEN_URL


# --- X-Amz-Expires --------------------------------------------------------------------------


@pytest.mark.parametrize("expires", ["0", "1", "60", "899", "900"])
def test_expires_accepted(expires: str) -> None:
    validated = validate_token(
        encode_token(_url(expires=expires)), CONFIG, now=datetime(2023, 4, 28, tzinfo=timezone.utc)
    )
    assert validated.x_amz_expires == int(expires)


@pytest.mark.parametrize(
    ("expires", "reason"),
    [("901", "expires"), ("-1", "expires"), ("+60", "value-encoding"), ("%2B60", "expires")],
)
def test_expires_rejected(expires: str, reason: str) -> None:
    with pytest.raises(MalformedTokenError) as info:
        validate_token(
            encode_token(_url(expires=expires)),
            CONFIG,
            now=datetime(2023, 4, 28, tzinfo=timezone.utc),
        )
    assert info.value.reason == reason


# --- time --------------------------------------------------------------------------------------

SIGNED = datetime(2023, 4, 28, 12, 0, tzinfo=timezone.utc)
TOKEN_AT_SIGNED = encode_token(_url(date="20230428T120000Z"))


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(0),
        timedelta(minutes=14, seconds=59),
        timedelta(minutes=15),  # exactly at expiry: still valid
        -timedelta(minutes=2),  # token dated 2 minutes in the future
        -timedelta(minutes=5),  # at the default skew limit
    ],
)
def test_time_window_accepts(offset: timedelta) -> None:
    validated = validate_token(TOKEN_AT_SIGNED, CONFIG, now=SIGNED + offset)
    assert validated.signed_at == SIGNED


@pytest.mark.parametrize(
    ("offset", "error", "reason"),
    [
        (timedelta(minutes=15, microseconds=1), ExpiredTokenError, "expired"),
        (timedelta(hours=1), ExpiredTokenError, "expired"),
        (timedelta(days=4000), ExpiredTokenError, "expired"),
        (-timedelta(minutes=5, microseconds=1), TokenNotYetValidError, "not-yet-valid"),
        (-timedelta(minutes=20), TokenNotYetValidError, "not-yet-valid"),
    ],
)
def test_time_window_rejects(offset: timedelta, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as info:
        validate_token(TOKEN_AT_SIGNED, CONFIG, now=SIGNED + offset)
    assert info.value.reason == reason  # type: ignore[attr-defined]


def test_future_skew_is_configurable() -> None:
    strict = VerifierConfig("test-cluster", max_future_skew=timedelta(0))
    assert validate_token(TOKEN_AT_SIGNED, strict, now=SIGNED).signed_at == SIGNED
    with pytest.raises(TokenNotYetValidError):
        validate_token(TOKEN_AT_SIGNED, strict, now=SIGNED - timedelta(seconds=1))
    lenient = VerifierConfig("test-cluster", max_future_skew=timedelta(minutes=15))
    assert validate_token(TOKEN_AT_SIGNED, lenient, now=SIGNED - timedelta(minutes=14)).host


def test_now_in_another_timezone_is_the_same_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    now = datetime(2023, 4, 28, 14, 15, tzinfo=plus_two)  # == SIGNED + 15 min
    assert validate_token(TOKEN_AT_SIGNED, CONFIG, now=now).host
    with pytest.raises(ExpiredTokenError):
        validate_token(TOKEN_AT_SIGNED, CONFIG, now=now + timedelta(microseconds=1))


def test_naive_now_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_token(TOKEN_AT_SIGNED, CONFIG, now=datetime(2023, 4, 28, 12, 0))
    assert info.value.reason == "clock"


@pytest.mark.parametrize("config", [None, {"cluster_id": "x"}, "test-cluster"])
def test_config_must_be_a_verifier_config(config: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_token(TOKEN_AT_SIGNED, config, now=SIGNED)  # type: ignore[arg-type]
    assert info.value.reason == "config"


@pytest.mark.parametrize("token", [None, b"k8s-aws-v1.abc", 42, ["k8s-aws-v1."]])
def test_token_must_be_a_string(token: object) -> None:
    with pytest.raises(MalformedTokenError) as info:
        validate_token(token, CONFIG, now=SIGNED)  # type: ignore[arg-type]
    assert info.value.reason == "type"


# --- hosts and configuration switches --------------------------------------------------------

NOW = datetime(2023, 4, 28, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("host", "region", "switch"),
    [
        ("sts.amazonaws.com", "us-east-1", "allow_global_endpoint"),
        ("sts-fips.us-east-1.amazonaws.com", "us-east-1", "allow_fips_endpoints"),
        ("sts-fips.ca-central-1.amazonaws.com", "ca-central-1", "allow_fips_endpoints"),
        ("sts.eu-west-1.api.aws", "eu-west-1", "allow_dualstack_endpoints"),
        ("sts-fips.us-west-2.api.aws", "us-west-2", "allow_fips_endpoints"),
        ("sts-fips.us-west-2.api.aws", "us-west-2", "allow_dualstack_endpoints"),
    ],
)
def test_variant_hosts_accepted_and_switchable_off(host: str, region: str, switch: str) -> None:
    token = encode_token(_url(host=host, region=region))
    assert validate_token(token, CONFIG, now=NOW).host == host
    narrowed = VerifierConfig("test-cluster", **{switch: False})  # type: ignore[arg-type]
    with pytest.raises(UntrustedEndpointError) as info:
        validate_token(token, narrowed, now=NOW)
    assert info.value.reason == "host"
    # The plain regional host stays accepted when the variants are off.
    plain = encode_token(_url(host=f"sts.{region}.amazonaws.com", region=region))
    assert validate_token(plain, narrowed, now=NOW).region == region


def test_global_host_requires_us_east_1_scope() -> None:
    good = encode_token(_url(host="sts.amazonaws.com", region="us-east-1"))
    assert validate_token(good, CONFIG, now=NOW).region == "us-east-1"
    bad = encode_token(_url(host="sts.amazonaws.com", region="us-west-2"))
    with pytest.raises(RegionNotAllowedError) as info:
        validate_token(bad, CONFIG, now=NOW)
    assert info.value.reason == "credential-scope"


@pytest.mark.parametrize(
    ("partition", "host", "region"),
    [
        ("aws-cn", "sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("aws-cn", "sts.cn-northwest-1.api.amazonwebservices.com.cn", "cn-northwest-1"),
        ("aws-us-gov", "sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("aws-us-gov", "sts.us-gov-east-1.api.aws", "us-gov-east-1"),
        ("aws-iso", "sts.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"),
        ("aws-iso-b", "sts.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"),
        ("aws-iso-e", "sts.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1"),
        ("aws-iso-f", "sts.us-isof-east-1.csp.hci.ic.gov", "us-isof-east-1"),
        ("aws-eusc", "sts.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1"),
    ],
)
def test_other_partitions(partition: str, host: str, region: str) -> None:
    config = VerifierConfig("test-cluster", partition=partition)
    token = encode_token(_url(host=host, region=region))
    validated = validate_token(token, config, now=NOW)
    assert (validated.host, validated.region, validated.partition) == (host, region, partition)
    # ... and an aws verifier refuses it (GovCloud shares amazonaws.com: still refused).
    with pytest.raises(UntrustedEndpointError):
        validate_token(token, CONFIG, now=NOW)
    # ... and that partition refuses commercial hosts.
    with pytest.raises(UntrustedEndpointError):
        validate_token(encode_token(_url()), config, now=NOW)


def test_extra_regions() -> None:
    token = encode_token(_url(host="sts.xx-new-7.amazonaws.com", region="xx-new-7"))
    with pytest.raises(UntrustedEndpointError):
        validate_token(token, CONFIG, now=NOW)
    config = VerifierConfig("test-cluster", extra_regions={"xx-new-7"})
    assert validate_token(token, config, now=NOW).region == "xx-new-7"
    dual = encode_token(_url(host="sts.xx-new-7.api.aws", region="xx-new-7"))
    assert validate_token(dual, config, now=NOW).host == "sts.xx-new-7.api.aws"


# --- size cap ---------------------------------------------------------------------------------


def _session_token(length: int) -> str:
    rng = random.Random(length)
    return "".join(rng.choices(string.ascii_letters + string.digits + "/+=", k=length))


def test_large_real_looking_session_token_is_accepted() -> None:
    # STS session tokens can reach ~4 KB; upstream's 4096-byte cap rejects such tokens.
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "secret", _session_token(3300))
    token = presign_token(credentials, cluster_id="test-cluster", now=NOW, region="us-west-2")
    assert 4096 < len(token.value) <= 16384
    assert len(token.value) > 5000
    validated = validate_token(token.value, CONFIG, now=NOW)
    assert validated.security_token == credentials.session_token


def test_default_size_cap_is_16_kib() -> None:
    exactly = "k8s-aws-v1." + "A" * (16384 - 11)
    # At the cap the size check passes and a later check fails; one more character is "size".
    with pytest.raises(MalformedTokenError) as info:
        validate_token(exactly, CONFIG, now=NOW)
    assert info.value.reason != "size"
    with pytest.raises(MalformedTokenError) as info:
        validate_token(exactly + "A", CONFIG, now=NOW)
    assert info.value.reason == "size"


def test_size_cap_is_configurable() -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "secret", _session_token(3300))
    token = presign_token(credentials, cluster_id="test-cluster", now=NOW, region="us-west-2")
    small = VerifierConfig("test-cluster", max_token_size=4096)
    with pytest.raises(MalformedTokenError) as info:
        validate_token(token.value, small, now=NOW)
    assert info.value.reason == "size"
    exact = VerifierConfig("test-cluster", max_token_size=len(token.value))
    assert validate_token(token.value, exact, now=NOW).host


# --- check order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        # size before prefix
        ("x" * 20000, "size"),
        # prefix before encoding
        ("k8s-aws-v2.!!!", "prefix"),
        # encoding before anything inside
        ("k8s-aws-v1.!!!", "encoding"),
        # url-chars before scheme
        (encode_token("http://sts.amazonaws.com/ ?"), "url-chars"),
        # scheme before host
        (encode_token("http://evil.example/?"), "scheme"),
        # host before path
        (encode_token("https://evil.example/x"), "host"),
        # path before query
        (encode_token("https://sts.amazonaws.com/x?&&"), "path"),
        # fragment before query syntax
        (encode_token("https://sts.amazonaws.com/?&&#"), "fragment"),
        # duplicate before unknown
        (encode_token("https://sts.amazonaws.com/?Foo=1&foo=2"), "duplicate-param"),
        # unknown before missing
        (encode_token("https://sts.amazonaws.com/?Foo=1"), "unknown-param"),
        # missing before value encoding
        (encode_token("https://sts.amazonaws.com/?Action=a%zz"), "missing-param"),
        # expiry checked last: a malformed signature wins over an old date
        (
            encode_token(
                _url(date="20000101T000000Z").replace(
                    "X-Amz-Signature=0123", "X-Amz-Signature=ABCD"
                )
            ),
            "signature",
        ),
    ],
)
def test_documented_check_order(token: str, reason: str) -> None:
    with pytest.raises(TokenError) as info:
        validate_token(token, CONFIG, now=NOW)
    assert info.value.reason == reason


def test_untrusted_endpoint_reasons_in_order() -> None:
    with pytest.raises(UntrustedEndpointError) as info:
        validate_token(encode_token("http://evil.example/?"), CONFIG, now=NOW)
    assert info.value.reason == "scheme"


def test_raw_base64_of_the_golden_url_equals_encode_token() -> None:
    raw = base64.urlsafe_b64encode(GOLDEN_URL.encode()).decode().rstrip("=")
    assert encode_token(GOLDEN_URL) == "k8s-aws-v1." + raw


def test_token_str_does_not_reveal_the_bearer_token(golden_credentials: Credentials) -> None:
    token = presign_token(
        golden_credentials, cluster_id="test-cluster", region="us-west-2", now=GOLDEN_TIME
    )
    assert token.value.startswith("k8s-aws-v1.")
    assert token.value not in str(token)
    assert token.value not in repr(token)
    assert token.value not in f"{token}"
