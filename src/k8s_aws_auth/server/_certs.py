"""``init``: the webhook's TLS material and the kubeconfig kube-apiserver uses to call it.

[`ensure_certificates()`][k8s_aws_auth.server.ensure_certificates] writes, into a state directory:

* ``ca.pem`` (0644) and ``ca-key.pem`` (0600) — a private CA (10 years) that
  signed the serving certificate; its key stays so that
  ``renew_certificate()`` (``init --renew``)
  can issue the next serving certificate under the same CA, and the webhook
  kubeconfig's CA data stays valid (keep ``ca-key.pem`` out of the Secret the
  server mounts: it only needs ``cert.pem`` and ``key.pem``);
* ``cert.pem`` (0644) and ``key.pem`` (0600) — the serving certificate (ECDSA
  P-256, ``serverAuth``, SANs for the hostname and address; 365 days by
  default) and its key;

and reuses an existing ``cert.pem``/``key.pem`` pair — also one made by
aws-iam-authenticator, whose self-signed certificate is its own CA.
[`webhook_kubeconfig()`][k8s_aws_auth.server.webhook_kubeconfig] renders the file for kube-apiserver's
``--authentication-token-webhook-config-file``. Upstream writes ``cert.pem``
world-writable (0666) and valid for 100 years; here the lifetime is explicit.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import yaml

from k8s_aws_auth._core.instants import clamped, shifted
from k8s_aws_auth.errors import ConfigurationError

from ._pem import certificate_facts, check_pair

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

# cryptography (~15 MiB resident) is imported only where certificates are made.

__all__ = [
    "CA_FILE",
    "CA_KEY_FILE",
    "DEFAULT_CA_LIFETIME",
    "CERT_FILE",
    "DEFAULT_CERT_LIFETIME",
    "KEY_FILE",
    "KUBECONFIG_FILE",
    "CertificateFiles",
    "ensure_certificates",
    "renew_certificate",
    "webhook_kubeconfig",
    "write_file",
    "write_if_changed",
]

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
KUBECONFIG_FILE = "kubeconfig.yaml"
DEFAULT_CERT_LIFETIME = timedelta(days=365)
#: The CA outlives many serving certificates, so ``init --renew`` never changes the kubeconfig.
DEFAULT_CA_LIFETIME = timedelta(days=3650)
#: Certificates start this long before "now", so a slightly slow apiserver clock accepts them.
_BACKDATE = timedelta(minutes=5)


@attrs.frozen(kw_only=True)
class CertificateFiles:
    """Where the serving certificate lives, and the CA that clients must trust."""

    cert_path: Path
    key_path: Path
    ca_pem: bytes
    """PEM of the CA (``ca.pem``, or the self-signed ``cert.pem`` of an upstream pair)."""
    not_after: datetime
    reused: bool


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with exactly ``mode`` (never wider, whatever the umask)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: bytes, mode: int) -> bool:
    """`write_file` unless ``path`` already holds ``data``; whether it wrote.

    A read-only directory whose file is already right is not an error.
    """
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_file(path, data, mode)
    return True


def _subject_alternative_names(hostname: str, address: str) -> list[x509.GeneralName]:
    from cryptography import x509

    names: list[x509.GeneralName] = []

    def add_host(value: str) -> None:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            entry: x509.GeneralName = x509.DNSName(value)
        else:
            if ip.is_unspecified:
                return
            entry = x509.IPAddress(ip)
        if entry not in names:
            names.append(entry)

    add_host(hostname)
    add_host(address)
    return names


def _new_ca(
    lifetime: timedelta, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-aws-auth webhook CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(clamped(now, -_BACKDATE))
        .not_valid_after(clamped(now, lifetime))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, ca_key


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hostname: str,
    address: str,
    lifetime: timedelta,
    now: datetime,
) -> tuple[bytes, bytes, datetime]:
    """A new serving key and certificate signed by the CA: (cert PEM, key PEM, notAfter)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    # Never past the CA: a chain is only as valid as its shortest link.
    not_after = min(now + lifetime, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-aws-auth")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(clamped(now, -_BACKDATE))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(_subject_alternative_names(hostname, address)),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), not_after


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_existing(state_dir: Path, now: datetime) -> CertificateFiles:
    # ssl and a DER reader, not cryptography: a server whose pair exists never loads it.
    cert_path, key_path = state_dir / CERT_FILE, state_dir / KEY_FILE
    try:
        cert_pem = cert_path.read_bytes()
        facts = certificate_facts(cert_pem)
        check_pair(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), str(cert_path), str(key_path))
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigurationError(
                f"{key_path} is not the private key of {cert_path}", reason="certificate"
            ) from None
        raise ConfigurationError(
            f"cannot reuse {cert_path} and {key_path}: {exc.reason or 'not PEM'}",
            reason="certificate",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot reuse {cert_path} and {key_path}: {type(exc).__name__}: {exc}",
            reason="certificate",
        ) from None
    if facts.not_after <= now:
        raise ConfigurationError(
            f"the certificate in {cert_path} expired on {facts.not_after:%Y-%m-%d}; "
            f"delete {CERT_FILE} and {KEY_FILE} to generate a new pair",
            reason="certificate",
        )
    ca_path = state_dir / CA_FILE
    # An upstream pair has no ca.pem: its self-signed certificate is its own CA.
    ca_pem = ca_path.read_bytes() if ca_path.exists() else cert_pem
    return CertificateFiles(
        cert_path=cert_path,
        key_path=key_path,
        ca_pem=ca_pem,
        not_after=facts.not_after,
        reused=True,
    )


def _check_lifetime(lifetime: timedelta, now: datetime) -> None:
    if lifetime <= timedelta(0):
        raise ConfigurationError("certificate lifetime must be positive", reason="certificate")
    if shifted(now, lifetime) is None:
        raise ConfigurationError(
            "certificate lifetime would end past the year 9999", reason="certificate"
        )


def ensure_certificates(
    state_dir: Path,
    *,
    hostname: str = "localhost",
    address: str = "127.0.0.1",
    lifetime: timedelta = DEFAULT_CERT_LIFETIME,
    now: datetime,
) -> CertificateFiles:
    """Reuse the serving pair in ``state_dir`` or create CA, certificate and key there.

    Raises:
        ConfigurationError: only one of ``cert.pem``/``key.pem`` exists, they do
            not belong together, the certificate expired, or ``lifetime`` is not
            positive or would end past the calendar.
    """
    _check_lifetime(lifetime, now)
    cert_path, key_path = state_dir / CERT_FILE, state_dir / KEY_FILE
    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert and have_key:
        # Nothing is written: a read-only state directory (a Secret) works.
        return _load_existing(state_dir, now)
    state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    if have_cert or have_key:
        missing = key_path if have_cert else cert_path
        raise ConfigurationError(
            f"{missing} is missing; remove the other half of the pair to generate a new one",
            reason="certificate",
        )
    from cryptography.hazmat.primitives import serialization

    ca_cert, ca_key = _new_ca(max(lifetime, DEFAULT_CA_LIFETIME), now)
    cert_pem, key_pem, not_after = _issue(ca_cert, ca_key, hostname, address, lifetime, now)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    write_file(state_dir / CA_KEY_FILE, _key_pem(ca_key), 0o600)
    write_file(state_dir / CA_FILE, ca_pem, 0o644)
    write_file(key_path, key_pem, 0o600)
    write_file(cert_path, cert_pem, 0o644)
    return CertificateFiles(
        cert_path=cert_path, key_path=key_path, ca_pem=ca_pem, not_after=not_after, reused=False
    )


def renew_certificate(
    state_dir: Path,
    *,
    hostname: str = "localhost",
    address: str = "127.0.0.1",
    lifetime: timedelta = DEFAULT_CERT_LIFETIME,
    now: datetime,
) -> CertificateFiles:
    """Issue a new serving key and certificate in ``state_dir`` with the CA kept there.

    The CA stays, so the webhook kubeconfig's ``certificate-authority-data`` stays
    valid; a running ``serve`` picks the new pair up without a restart. The key
    is written before the certificate, and each file is replaced atomically.

    Raises:
        ConfigurationError: no ``ca.pem``/``ca-key.pem`` (a pair made by
            aws-iam-authenticator, or by an ``init`` older than this), they do
            not belong together, or the CA has expired.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    _check_lifetime(lifetime, now)
    ca_path, ca_key_path = state_dir / CA_FILE, state_dir / CA_KEY_FILE
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot renew: {exc.filename} is missing or unreadable ({exc.strerror}); without "
            "the CA's key only a new CA can be made: delete cert.pem and key.pem, run init "
            "again and give kube-apiserver the new kubeconfig",
            reason="certificate",
        ) from None
    except ValueError as exc:
        raise ConfigurationError(
            f"cannot renew: {ca_path} or {ca_key_path} is not PEM ({exc})", reason="certificate"
        ) from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey) or _spki(ca_key) != _spki(ca_cert):
        raise ConfigurationError(
            f"cannot renew: {ca_key_path} is not the key of {ca_path}", reason="certificate"
        )
    if ca_cert.not_valid_after_utc <= now:
        raise ConfigurationError(
            f"cannot renew: the CA in {ca_path} expired on {ca_cert.not_valid_after_utc:%Y-%m-%d}",
            reason="certificate",
        )
    cert_pem, key_pem, not_after = _issue(ca_cert, ca_key, hostname, address, lifetime, now)
    cert_path, key_path = state_dir / CERT_FILE, state_dir / KEY_FILE
    write_file(key_path, key_pem, 0o600)
    write_file(cert_path, cert_pem, 0o644)
    return CertificateFiles(
        cert_path=cert_path,
        key_path=key_path,
        ca_pem=ca_path.read_bytes(),
        not_after=not_after,
        reused=False,
    )


def _spki(item: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    public = item.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _url_host(hostname: str) -> str:
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        return hostname
    return f"[{ip}]" if ip.version == 6 else str(ip)


def webhook_kubeconfig(
    *,
    hostname: str,
    port: int,
    ca_pem: bytes,
    client_certificate: str | None = None,
    client_key: str | None = None,
) -> str:
    """The kubeconfig kube-apiserver reads to call the webhook (YAML text).

    ``client_certificate``/``client_key`` (file paths on the apiserver's host)
    are set when the webhook requires client certificates.
    """
    user: dict[str, str] = {}
    if client_certificate is not None:
        user["client-certificate"] = client_certificate
    if client_key is not None:
        user["client-key"] = client_key
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "k8s-aws-auth",
                "cluster": {
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                    "server": f"https://{_url_host(hostname)}:{port}/authenticate",
                },
            }
        ],
        "users": [{"name": "apiserver", "user": user}],
        "contexts": [
            {"name": "webhook", "context": {"cluster": "k8s-aws-auth", "user": "apiserver"}}
        ],
        "current-context": "webhook",
    }
    return yaml.safe_dump(document, sort_keys=False)
