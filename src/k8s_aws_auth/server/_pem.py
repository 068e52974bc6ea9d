"""What the server reads of a certificate without ``cryptography``: serial and validity.

``cryptography`` costs the process about 15 MiB of resident memory; a server
whose pair already exists (a Secret, a reused state directory) only needs to
know when its certificate ends. This reads the serial number and the
``notBefore``/``notAfter`` instants straight from the DER of the first
certificate in a PEM file (RFC 5280: ``Certificate → TBSCertificate →
[version] serialNumber signature issuer validity``). That the certificate and
the key belong together is checked by ``ssl.SSLContext.load_cert_chain``.
"""

from __future__ import annotations

import binascii
import re
import ssl
from datetime import datetime, timezone

__all__ = ["CertificateFacts", "certificate_facts", "check_pair"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_SEQUENCE, _INTEGER, _UTC_TIME, _GENERALIZED_TIME, _VERSION = 0x30, 0x02, 0x17, 0x18, 0xA0


class CertificateFacts:
    """The serial number and validity of one certificate."""

    __slots__ = ("not_after", "not_before", "serial")

    def __init__(self, serial: int, not_before: datetime, not_after: datetime) -> None:
        self.serial = serial
        self.not_before = not_before
        self.not_after = not_after


def _element(data: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of the contents, end of the contents) of the DER element at ``position``."""
    if position + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[position], data[position + 1]
    position += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, position, end


def _instant(tag: int, text: bytes) -> datetime:
    value = text.decode("ascii")
    if tag == _UTC_TIME and len(value) == 13 and value.endswith("Z"):
        year = int(value[:2])
        value = f"{1900 + year if year >= 50 else 2000 + year}{value[2:]}"  # RFC 5280 §4.1.2.5.1
    elif not (tag == _GENERALIZED_TIME and len(value) == 15 and value.endswith("Z")):
        raise ValueError("unsupported time in the certificate's validity")
    return datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=timezone.utc)


def certificate_facts(pem: bytes) -> CertificateFacts:
    """Serial and validity of the first certificate in ``pem``.

    Raises:
        ValueError: no PEM certificate, or DER that is not a certificate.
    """
    match = _PEM.search(pem)
    if match is None:
        raise ValueError("no PEM certificate")
    try:
        der = binascii.a2b_base64(match.group(1))
    except binascii.Error:
        raise ValueError("the PEM certificate is not base64") from None
    tag, start, _ = _element(der, 0)
    if tag != _SEQUENCE:
        raise ValueError("not a certificate")
    tag, position, _ = _element(der, start)  # TBSCertificate
    if tag != _SEQUENCE:
        raise ValueError("not a certificate")
    tag, start, end = _element(der, position)
    if tag == _VERSION:
        tag, start, end = _element(der, end)
    if tag != _INTEGER:
        raise ValueError("not a certificate")
    serial = int.from_bytes(der[start:end], "big", signed=True)
    for _ in range(2):  # signature algorithm, issuer
        tag, _, end = _element(der, end)
        if tag != _SEQUENCE:
            raise ValueError("not a certificate")
    tag, start, _ = _element(der, end)  # validity
    if tag != _SEQUENCE:
        raise ValueError("not a certificate")
    before_tag, before_start, before_end = _element(der, start)
    after_tag, after_start, after_end = _element(der, before_end)
    return CertificateFacts(
        serial,
        _instant(before_tag, der[before_start:before_end]),
        _instant(after_tag, der[after_start:after_end]),
    )


def _no_password() -> bytes:
    # An encrypted key must fail, not make OpenSSL prompt on a terminal.
    return b""


def check_pair(context: ssl.SSLContext, cert_path: str, key_path: str) -> None:
    """Load the pair into ``context``; raises `ssl.SSLError` (``KEY_VALUES_MISMATCH``...) or `OSError`."""
    context.load_cert_chain(cert_path, key_path, password=_no_password)
