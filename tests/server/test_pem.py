"""The DER reader agrees with cryptography on serial and validity; bad input is a ValueError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import trustme
from cryptography import x509

from k8s_aws_auth.server._pem import certificate_facts
from tests.support.certificates import upstream_style_pair


def _self_signed(not_before: datetime, not_after: datetime, serial: int) -> bytes:
    return upstream_style_pair(not_before, not_after, serial)[0]


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        # UTCTime on both sides (before 2050)
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        ),
        # upstream's 100 years: notAfter becomes a GeneralizedTime
        (datetime(2024, 1, 2, tzinfo=timezone.utc), datetime(2124, 1, 2, tzinfo=timezone.utc)),
        # the UTCTime century boundary (1950..2049)
        (
            datetime(1950, 1, 1, tzinfo=timezone.utc),
            datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        ),
    ],
)
def test_validity_and_serial_match_cryptography(not_before: datetime, not_after: datetime) -> None:
    pem = _self_signed(not_before, not_after, serial=(1 << 127) + 12345)
    oracle = x509.load_pem_x509_certificate(pem)
    facts = certificate_facts(pem)
    assert facts.serial == oracle.serial_number
    assert facts.not_before == oracle.not_valid_before_utc
    assert facts.not_after == oracle.not_valid_after_utc


def test_a_chain_reads_its_first_certificate() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    oracle = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert certificate_facts(chain).serial == oracle.serial_number
    assert certificate_facts(chain).not_after - oracle.not_valid_after_utc == timedelta(0)


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",  # an empty SEQUENCE
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",  # truncated
        b"-----BEGIN CERTIFICATE-----\nAgEB\n-----END CERTIFICATE-----\n",  # an INTEGER
    ],
)
def test_malformed_input_is_a_value_error(pem: bytes) -> None:
    with pytest.raises(ValueError, match=r"PEM|DER|certificate|base64"):
        certificate_facts(pem)
