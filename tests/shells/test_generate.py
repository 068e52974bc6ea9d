"""``presign_token`` / ``generate_token`` / ``agenerate_token`` with explicit credentials."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import (
    Credentials,
    VerifierConfig,
    agenerate_token,
    decode_token,
    generate_token,
    presign_token,
    validate_token,
)
from k8s_aws_auth.errors import ConfigurationError, CredentialsError
from tests.support.keys import GOLDEN_TIME

GOLDEN_SUFFIX = "U5OWM1MTU3ZjYzMTQ0NDRjNWI5ZDg1NzQ3ZjVjZQ"
NOW = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_generate_token_reproduces_the_golden_vector(golden_credentials: Credentials) -> None:
    token = generate_token(
        "test-cluster", credentials=golden_credentials, region="us-west-2", now=GOLDEN_TIME
    )
    assert len(token.value) == 493
    assert token.value.endswith(GOLDEN_SUFFIX)
    assert token.expiration == GOLDEN_TIME + timedelta(minutes=14)


@pytest.mark.anyio
async def test_agenerate_token_equals_generate_token(golden_credentials: Credentials) -> None:
    sync = generate_token(
        "test-cluster", credentials=golden_credentials, region="us-west-2", now=GOLDEN_TIME
    )
    asynchronous = await agenerate_token(
        "test-cluster", credentials=golden_credentials, region="us-west-2", now=GOLDEN_TIME
    )
    assert asynchronous == sync
    assert asynchronous.value.endswith(GOLDEN_SUFFIX)


def test_generate_equals_presign(doc_credentials: Credentials) -> None:
    for region in (None, "us-east-1", "cn-north-1"):
        for mode in ("regional", "legacy"):
            assert generate_token(
                "c",
                credentials=doc_credentials,
                region=region,
                sts_regional_endpoints=mode,
                now=NOW,
            ) == presign_token(
                doc_credentials, cluster_id="c", region=region, sts_regional_endpoints=mode, now=NOW
            )


def test_peers_md_awscli_capture(doc_credentials: Credentials) -> None:
    # The token `aws eks get-token --cluster-name my-cluster` printed (reference/peers.md §1).
    token = generate_token("my-cluster", credentials=doc_credentials, region="us-east-1", now=NOW)
    assert token.value == (
        "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0"
        "eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlh"
        "bD1BS0lBSU9TRk9ETk43RVhBTVBMRSUyRjIwMjYxMTI4JTJGdXMtZWFzdC0xJTJGc3RzJTJGYXdzNF9yZXF1ZXN0Jlgt"
        "QW16LURhdGU9MjAyNjExMjhUMTEwMjQ5WiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUz"
        "QngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9ZWY3MmE3ZDI4ZmY1YWU2ZTlkZDg1MzJjMDhhMDE1ZGRiNTZlNWY1"
        "MjJlODhhMTJhNjYwZTQyY2E5NzhlMGQwYg"
    )
    assert token.expiration == datetime(2026, 11, 28, 11, 16, 49, tzinfo=timezone.utc)


def test_explicit_credentials_read_nothing_from_the_environment(
    doc_credentials: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    token = generate_token("c", credentials=doc_credentials, now=NOW)
    assert decode_token(token.value).startswith("https://sts.amazonaws.com/?")


def test_without_now_the_token_is_valid_now(doc_credentials: Credentials) -> None:
    token = generate_token("c", credentials=doc_credentials, region="us-west-2")
    now = datetime.now(timezone.utc)
    validated = validate_token(token.value, VerifierConfig("c"), now=now)
    assert validated.expires_at - timedelta(minutes=1) == token.expiration


@pytest.mark.parametrize(
    ("credential_expiry", "expected"),
    [
        # Credentials expiring before signing time + 14 min cap the token (upstream #590).
        (NOW + timedelta(minutes=5), NOW + timedelta(minutes=5)),
        (NOW + timedelta(minutes=14), NOW + timedelta(minutes=14)),
        (NOW + timedelta(hours=1), NOW + timedelta(minutes=14)),
        (
            datetime(2026, 11, 28, 13, 7, 49, tzinfo=timezone(timedelta(hours=2))),
            NOW + timedelta(minutes=5),
        ),
    ],
)
def test_expiration_capped_by_credentials(credential_expiry: datetime, expected: datetime) -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "s", "t", expiration=credential_expiry)
    token = presign_token(credentials, cluster_id="c", now=NOW + timedelta(microseconds=500))
    assert token.expiration == expected


def test_session_token_is_signed_into_the_url() -> None:
    credentials = Credentials("ASIAIOSFODNN7EXAMPLE", "s", "a/b+c=d")
    url = decode_token(presign_token(credentials, cluster_id="c", now=NOW).value)
    assert "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=a%2Fb%2Bc%3Dd&" in url


def test_cluster_id_is_normalised_before_signing(doc_credentials: Credentials) -> None:
    spaced = presign_token(doc_credentials, cluster_id="  my \u3000\u00a0 cluster ", now=NOW)
    plain = presign_token(doc_credentials, cluster_id="my cluster", now=NOW)
    assert spaced == plain


@pytest.mark.parametrize(
    ("kwargs", "error", "reason"),
    [
        ({"cluster_id": ""}, ConfigurationError, "cluster-id"),
        ({"cluster_id": "a\nb"}, ConfigurationError, "cluster-id"),
        ({"cluster_id": "x" * 256}, ConfigurationError, "cluster-id"),
        ({"now": datetime(2026, 1, 1)}, ConfigurationError, "clock"),
        ({"region": "US-EAST-1"}, ConfigurationError, "region"),
        ({"region": "us-east-1\n"}, ConfigurationError, "region"),
        ({"sts_regional_endpoints": "global"}, ConfigurationError, "endpoint-mode"),
        ({"region": "us-iso-east-1", "use_dualstack": True}, ConfigurationError, "region"),
    ],
)
def test_bad_inputs(
    doc_credentials: Credentials, kwargs: dict[str, object], error: type[Exception], reason: str
) -> None:
    arguments: dict[str, object] = {"cluster_id": "c", "now": NOW, **kwargs}
    with pytest.raises(error) as info:
        presign_token(doc_credentials, **arguments)  # type: ignore[arg-type]
    assert info.value.reason == reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "credentials",
    [Credentials("", "secret"), Credentials("AKIAIOSFODNN7EXAMPLE", "")],
)
def test_empty_credentials(credentials: Credentials) -> None:
    with pytest.raises(CredentialsError):
        presign_token(credentials, cluster_id="c", now=NOW)


def test_credentials_must_be_a_credentials_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        presign_token(("AKIA", "secret"), cluster_id="c", now=NOW)  # type: ignore[arg-type]
    assert info.value.reason == "credentials"


def test_credentials_repr_hides_secrets() -> None:
    text = repr(Credentials("AKIAIOSFODNN7EXAMPLE", "TOPSECRETKEY", "SESSIONSECRET"))
    assert "AKIAIOSFODNN7EXAMPLE" in text
    assert "TOPSECRETKEY" not in text
    assert "SESSIONSECRET" not in text
