"""Config file loading, certificates and kubeconfig from ``init``, and log redaction."""

from __future__ import annotations

import base64
import io
import json
import logging
import pathlib
import re
import stat
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server import ensure_certificates, load_server_config, webhook_kubeconfig
from k8s_aws_auth.server._config import ignored_key_reason, parse_duration
from k8s_aws_auth.server._logging import JsonFormatter, TextFormatter, redact
from tests.support.certificates import upstream_style_pair
from tests.support.server import run_cli

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

UPSTREAM_CONFIG = """\
clusterID: prod-cluster
server:
  port: 21362
  stateDir: /var/aws-iam-authenticator
  generateKubeconfig: /etc/kubernetes/aws-iam-authenticator/kubeconfig.yaml
  kubeconfigPregenerated: false
  partition: aws
  backendMode: [MountedFile]
  mapRoles:
  - roleARN: arn:aws:iam::000000000000:role/KubernetesAdmin
    username: kubernetes-admin
    groups:
    - system:masters
  mapUsers:
  - userARN: arn:aws:iam::000000000000:user/Alice
    username: alice
  mapAccounts:
  - "012345678912"
"""


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_an_upstream_config_file_loads_unchanged(tmp_path: pathlib.Path) -> None:
    config = load_server_config(_write(tmp_path, UPSTREAM_CONFIG))
    assert config.cluster_id == "prod-cluster"
    assert config.port == 21362
    assert config.state_dir == pathlib.Path("/var/aws-iam-authenticator")
    assert config.backend_mode == ("MountedFile",)
    assert set(config.mapping_document) == {"mapRoles", "mapUsers", "mapAccounts"}
    # upstream's file keys are honoured now, not ignored
    assert config.generate_kubeconfig == pathlib.Path(
        "/etc/kubernetes/aws-iam-authenticator/kubeconfig.yaml"
    )
    assert config.kubeconfig_pregenerated is False
    assert config.ignored_keys == ()


def test_dynamic_backend_mode_path_is_accepted_and_reported_with_its_reason(
    tmp_path: pathlib.Path,
) -> None:
    config = load_server_config(
        _write(tmp_path, "clusterID: c\nserver:\n  dynamicBackendModePath: /m.json\n")
    )
    assert config.ignored_keys == ("server.dynamicBackendModePath",)
    assert "not implemented" in ignored_key_reason(config.ignored_keys[0])
    assert "dynamicBackendModePath" not in config.mapping_document


def test_kubernetes_api_settings_are_validated(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    config = load_server_config(
        None, {"cluster_id": "c", "kubeconfig": kubeconfig, "master": "https://10.0.0.1:6443"}
    )
    assert (config.kubeconfig, config.master) == (kubeconfig, "https://10.0.0.1:6443")
    with pytest.raises(ConfigurationError, match="is not a readable file"):
        load_server_config(None, {"cluster_id": "c", "kubeconfig": tmp_path / "missing"})
    with pytest.raises(ConfigurationError, match="http\\(s\\) URL"):
        load_server_config(None, {"cluster_id": "c", "master": "ftp://x"})


def test_the_live_backends_api_settings_come_from_the_file_and_the_flags(
    tmp_path: pathlib.Path,
) -> None:
    in_file = tmp_path / "kube-config"
    in_file.write_text("apiVersion: v1\nkind: Config\n")
    other = tmp_path / "other-config"
    other.write_text("apiVersion: v1\nkind: Config\n")
    path = _write(
        tmp_path,
        "clusterID: c\nserver:\n  backendMode: [EKSConfigMap, CRD]\n"
        f"  kubeconfig: {in_file}\n  master: https://10.0.0.1:6443\n",
    )
    config = load_server_config(path)
    assert (config.kubeconfig, config.master) == (in_file, "https://10.0.0.1:6443")
    assert config.backend_mode == ("EKSConfigMap", "CRD")
    assert config.ignored_keys == ()
    flagged = load_server_config(path, {"kubeconfig": str(other), "master": None})
    assert (flagged.kubeconfig, flagged.master) == (other, "https://10.0.0.1:6443")


def test_keys_are_case_insensitive_and_ours_are_read(tmp_path: pathlib.Path) -> None:
    path = _write(
        tmp_path,
        "CLUSTERID: c\nServer:\n  STSENDPOINTURL: http://127.0.0.1:9\n  cacheTTL: 2m\n"
        "  readTimeout: 1500ms\n  maxRetries: 0\n  audiences: [a, b]\n  backendMode: File DynamicFile\n"
        "  dynamicfilepath: /x.json\n",
    )
    config = load_server_config(path)
    assert config.sts_endpoint_url == "http://127.0.0.1:9"
    assert config.cache_ttl == 120.0
    assert config.read_timeout == 1.5
    assert config.max_retries == 0
    assert config.audiences == ("a", "b")
    assert config.backend_mode == ("MountedFile", "DynamicFile")


def test_flags_beat_the_file(tmp_path: pathlib.Path) -> None:
    config = load_server_config(
        _write(tmp_path, UPSTREAM_CONFIG), {"port": 9999, "cluster_id": "flag", "partition": None}
    )
    assert (config.port, config.cluster_id, config.partition) == (9999, "flag", "aws")


def test_cache_ttl_zero_turns_the_verifier_cache_off() -> None:
    config = load_server_config(None, {"cluster_id": "c", "cache_ttl": "0s"})
    assert config.verifier_config().cache_size == 0
    assert load_server_config(None, {"cluster_id": "c"}).verifier_config().cache_size == 10_000


def test_connection_settings_and_their_defaults(tmp_path: pathlib.Path) -> None:
    defaults = load_server_config(None, {"cluster_id": "c"})
    assert (
        defaults.tls_handshake_timeout,
        defaults.header_timeout,
        defaults.body_timeout,
        defaults.idle_timeout,
        defaults.max_connections,
        defaults.sts_max_connections,
    ) == (5.0, 10.0, 10.0, 30.0, None, 100)
    path = _write(
        tmp_path,
        "clusterID: c\nserver:\n  tlsHandshakeTimeout: 2s\n  headerTimeout: 1500ms\n"
        "  bodyTimeout: 3s\n  idleTimeout: 1m\n  maxConnections: 64\n  stsMaxConnections: 8\n",
    )
    config = load_server_config(path)
    assert (config.tls_handshake_timeout, config.header_timeout) == (2.0, 1.5)
    assert (config.body_timeout, config.idle_timeout) == (3.0, 60.0)
    assert (config.max_connections, config.sts_max_connections) == (64, 8)
    # maxConnections is about clients; the STS pool has its own key.
    assert config.verifier_config().max_connections == 8
    assert load_server_config(path, {"max_connections": 5}).max_connections == 5


def test_the_default_connection_cap_follows_the_open_file_limit() -> None:
    from k8s_aws_auth.server._listener import default_max_connections
    from k8s_aws_auth.server._serve import connection_limits

    assert default_max_connections(None) == 1024
    assert default_max_connections(1_048_576) == 1024
    assert default_max_connections(1024) == 512
    assert default_max_connections(64) == 32
    assert default_max_connections(1) == 1
    config = load_server_config(None, {"cluster_id": "c"})
    assert connection_limits(config, 256).max_connections == 128
    explicit = load_server_config(None, {"cluster_id": "c", "max_connections": 4000})
    assert connection_limits(explicit, 256).max_connections == 4000


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("server: {}\n", "cluster id is required"),
        ("clusterID: c\nsurver: {}\n", "unknown key surver"),
        ("clusterID: c\nserver:\n  prot: 1\n", "unknown key server.prot"),
        ("clusterID: c\nserver:\n  port: 70000\n", "port must be an integer"),
        ("clusterID: c\nserver:\n  partition: mars\n", "unknown partition"),
        ("clusterID: c\nserver:\n  backendMode: [CRDs]\n", "unknown backend mode"),
        ("clusterID: c\nserver:\n  backendMode: [File, MountedFile]\n", "listed twice"),
        ("clusterID: c\nserver:\n  cacheTTL: soon\n", "cacheTTL must be a duration"),
        # Longer than a timedelta holds (the digits parse to inf): refused, not OverflowError.
        (f"clusterID: c\nserver:\n  cacheTTL: {'9' * 400}\n", "cacheTTL must be at most"),
        ("clusterID: c\nserver:\n  certLifetime: 1000000000d\n", "certLifetime must be at most"),
        ("clusterID: c\nserver:\n  headerTimeout: 0s\n", "headerTimeout must be positive"),
        ("clusterID: c\nserver:\n  maxConnections: 0\n", "maxConnections must be an integer"),
        ("clusterID: c\nserver:\n  scrubbedAccounts: ['12']\n", "12-digit"),
        ("clusterID: c\nserver:\n  port: 1\n  PORT: 2\n", "same key"),
        ("clusterID: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must hold a YAML mapping"),
        ('clusterID: "bad\\nid"\n', "control characters"),
    ],
)
def test_bad_config_is_a_configuration_error(tmp_path: pathlib.Path, text: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_server_config(_write(tmp_path, text))
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (0.5, 0.5),
        ("90s", 90.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("365d", 365 * 86400.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, "x") == seconds


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_ca_and_a_serving_pair_with_tight_modes(tmp_path: pathlib.Path) -> None:
    files = ensure_certificates(
        tmp_path / "state",
        hostname="authn.example.com",
        address="10.0.0.7",
        lifetime=timedelta(days=30),
        now=NOW,
    )
    assert not files.reused
    assert _mode(files.key_path) == 0o600
    assert _mode(files.cert_path) == 0o644
    assert _mode(tmp_path / "state" / "ca.pem") == 0o644
    cert = x509.load_pem_x509_certificate(files.cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_pem)
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["authn.example.com"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_certificates_at_the_calendar_edges(tmp_path: pathlib.Path) -> None:
    # A lifetime ending past 9999-12-31 is a ConfigurationError (nothing written);
    # one ending on its last day is a certificate.
    end = datetime(9999, 12, 30, tzinfo=timezone.utc)
    with pytest.raises(ConfigurationError, match="past the year 9999"):
        ensure_certificates(tmp_path / "late", lifetime=timedelta(days=2), now=end)
    assert not (tmp_path / "late").exists()
    files = ensure_certificates(tmp_path / "last", lifetime=timedelta(days=1), now=end)
    assert files.not_after == datetime(9999, 12, 31, tzinfo=timezone.utc)


def test_init_reuses_an_existing_pair(tmp_path: pathlib.Path) -> None:
    first = ensure_certificates(tmp_path, now=NOW)
    cert, key = first.cert_path.read_bytes(), first.key_path.read_bytes()
    second = ensure_certificates(tmp_path, now=NOW + timedelta(days=1))
    assert second.reused
    assert (second.cert_path.read_bytes(), second.key_path.read_bytes()) == (cert, key)
    assert second.ca_pem == first.ca_pem


def _upstream_pair(directory: pathlib.Path, not_after: datetime) -> bytes:
    """A self-signed RSA pair shaped like aws-iam-authenticator's (its own CA, PKCS#1 key)."""
    pem, key = upstream_style_pair(NOW - timedelta(days=1), not_after)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(key)
    return pem


def test_an_upstream_pair_is_reused_as_its_own_ca(tmp_path: pathlib.Path) -> None:
    pem = _upstream_pair(tmp_path, NOW + timedelta(days=365))
    files = ensure_certificates(tmp_path, now=NOW)
    assert files.reused
    assert files.ca_pem == pem


def test_an_expired_pair_is_refused(tmp_path: pathlib.Path) -> None:
    _upstream_pair(tmp_path, NOW - timedelta(seconds=1))
    with pytest.raises(ConfigurationError, match="expired"):
        ensure_certificates(tmp_path, now=NOW)


def test_a_key_of_another_certificate_is_refused(tmp_path: pathlib.Path) -> None:
    ensure_certificates(tmp_path, now=NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigurationError, match="is not the private key"):
        ensure_certificates(tmp_path, now=NOW)


def test_half_a_pair_is_refused(tmp_path: pathlib.Path) -> None:
    ensure_certificates(tmp_path, now=NOW)
    (tmp_path / "key.pem").unlink()
    with pytest.raises(ConfigurationError, match=r"key\.pem is missing"):
        ensure_certificates(tmp_path, now=NOW)


def test_webhook_kubeconfig() -> None:
    text = webhook_kubeconfig(
        hostname="::1", port=21362, ca_pem=b"PEM", client_certificate="/c.pem", client_key="/k.pem"
    )
    document = yaml.safe_load(text)
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == "https://[::1]:21362/authenticate"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"
    assert document["users"][0]["user"] == {"client-certificate": "/c.pem", "client-key": "/k.pem"}
    assert document["current-context"] == "webhook"


def test_init_command(tmp_path: pathlib.Path) -> None:
    first = run_cli(
        "init",
        "-i",
        "c",
        "--state-dir",
        "st",
        "--hostname",
        "authn.local",
        "--port",
        "4443",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert "wrote st/cert.pem" in first.stdout
    kubeconfig = yaml.safe_load((tmp_path / "st" / "kubeconfig.yaml").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://authn.local:4443/authenticate"
    second = run_cli("init", "-i", "c", "--state-dir", "st", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "reused st/cert.pem" in second.stdout
    missing = run_cli("init", "--state-dir", "st", cwd=tmp_path)
    assert missing.returncode == 1
    assert "cluster id is required" in missing.stderr


def test_redaction() -> None:
    text = "token k8s-aws-v1.aHR0cHM6Ly9zdHM_abc-def and X-Amz-Signature=abcdef&X-Amz-Security-Token=FQo%2B"
    cleaned = redact(text)
    assert "aHR0cHM6" not in cleaned
    assert "abcdef" not in cleaned
    assert "FQo" not in cleaned
    assert redact("Authorization: Bearer abc.def") == "Authorization: [redacted]"


def test_json_log_lines_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("k8s_aws_auth.test_json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "saw %s", "k8s-aws-v1.c2VjcmV0", extra={"fields": {"token": "k8s-aws-v1.eHl6", "n": 3}}
        )
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["message"] == "saw [redacted]"
    assert record["token"] == "[redacted]"
    assert record["n"] == 3
    assert record["level"] == "warning"


def test_text_log_lines_are_logrus_shaped_and_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("k8s_aws_auth.test_text_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "saw %s",
            "k8s-aws-v1.c2VjcmV0",
            extra={"fields": {"token": "k8s-aws-v1.eHl6", "n": 3, "groups": ["a b", "c"]}},
        )
        logger.error("plain", extra={"fields": {"arn": "arn:aws:iam::111122223333:user/x"}})
    finally:
        logger.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(
        r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=warning msg="saw \[redacted\]" '
        r'groups="\[\\"a b\\",\\"c\\"\]" n=3 token="\[redacted\]"',
        first,
    ), first
    assert second.endswith("level=error msg=plain arn=arn:aws:iam::111122223333:user/x")
    assert "eHl6" not in stream.getvalue()
    assert "c2VjcmV0" not in stream.getvalue()


def _built(tmp_path: pathlib.Path, server: dict[str, object]) -> None:
    """Run `build_server` on a config with ``server`` settings (no sockets; the verifier closed)."""
    import asyncio

    from k8s_aws_auth.server import build_server

    path = _write(
        tmp_path,
        yaml.safe_dump(
            {"clusterID": "c", "server": {"stateDir": str(tmp_path / "state"), **server}}
        ),
    )
    parts = build_server(load_server_config(path), environ={})
    asyncio.run(parts.verifier.aclose())


def test_serve_logs_each_ignored_upstream_key_with_its_reason(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="k8s_aws_auth.server")
    _built(tmp_path, {"dynamicBackendModePath": "/m.json", "mapUsers": []})
    (record,) = [r for r in caplog.records if r.getMessage() == "config key ignored"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["key"] == "server.dynamicBackendModePath"
    assert "not implemented" in fields["reason"]


def test_generate_kubeconfig_is_written_only_when_it_changes(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "out" / "kubeconfig.yaml"
    target.parent.mkdir()
    _built(tmp_path, {"generateKubeconfig": str(target)})
    first = target.stat()
    _built(tmp_path, {"generateKubeconfig": str(target)})
    assert target.stat().st_ino == first.st_ino  # not replaced: same content
    _built(tmp_path, {"generateKubeconfig": str(target), "port": 4443})
    assert target.stat().st_ino != first.st_ino
    assert "https://localhost:4443/authenticate" in target.read_text()
    # the state directory's default kubeconfig was not written: the path was given
    assert not (tmp_path / "state" / "kubeconfig.yaml").exists()


def test_an_unwritable_generate_kubeconfig_stops_the_start(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot write the webhook kubeconfig"):
        _built(tmp_path, {"generateKubeconfig": str(tmp_path / "missing-dir" / "kubeconfig.yaml")})


def test_kubeconfig_pregenerated_writes_none(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "kubeconfig.yaml"
    _built(tmp_path, {"generateKubeconfig": str(target), "kubeconfigPregenerated": True})
    assert not target.exists()
    assert not (tmp_path / "state" / "kubeconfig.yaml").exists()


def test_the_crd_backend_without_a_reachable_api_stops_the_start_naming_the_fix(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        ConfigurationError, match=r"not running in a cluster .*KUBERNETES_SERVICE_HOST"
    ):
        _built(tmp_path, {"backendMode": ["CRD"]})
