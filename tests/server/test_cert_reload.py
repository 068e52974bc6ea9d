"""`CertificateReloader`: only a good pair is swapped in; a bad update keeps the last good one.

Pairs come from the real ``init`` and ``init --renew``; the clock is a fake
one (expiry checks), the server's own context builder makes the contexts.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import ssl
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server._cert_reload import (
    CertificateReloader,
    ServingCertificate,
    read_certificate,
)
from k8s_aws_auth.server._certs import ensure_certificates, renew_certificate

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class World:
    def __init__(self, root: pathlib.Path) -> None:
        self.state = root / "state"
        self.files = ensure_certificates(self.state, now=NOW)
        self.next = root / "next"
        shutil.copytree(self.state, self.next)
        renew_certificate(self.next, now=NOW + timedelta(days=1))
        self.now = NOW
        self.swapped: list[ssl.SSLContext] = []
        self.serving = ServingCertificate(
            not_after=self.files.not_after,
            serial=read_certificate(self.files.cert_path).serial,
        )
        self.reloader = CertificateReloader(
            self.files.cert_path,
            self.files.key_path,
            build_context=_context,
            swap=self.swapped.append,
            state=self.serving,
            clock=lambda: self.now,
            interval=1.0,
            warn_before=timedelta(days=30),
        )

    def install(self, name: str, data: bytes) -> None:
        target = self.state / name
        temporary = self.state / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(target)


@pytest.fixture
def world(tmp_path: pathlib.Path) -> World:
    return World(tmp_path)


def test_nothing_changed_nothing_swapped(world: World) -> None:
    assert world.reloader.check() is False
    assert world.swapped == []


def test_a_renewed_pair_is_swapped_in_and_counted(world: World) -> None:
    world.install("key.pem", (world.next / "key.pem").read_bytes())
    world.install("cert.pem", (world.next / "cert.pem").read_bytes())
    assert world.reloader.check() is True
    assert len(world.swapped) == 1
    new = read_certificate(world.next / "cert.pem")
    assert world.serving.serial == new.serial
    assert world.serving.not_after == new.not_after
    assert world.serving.counters() == {"reloads": 1, "reload_failures": 0}


def test_a_key_that_does_not_match_keeps_the_last_good_pair(world: World) -> None:
    serial = world.serving.serial
    world.install("key.pem", (world.next / "key.pem").read_bytes())  # the cert is still the old one
    assert world.reloader.check() is False
    assert world.swapped == []
    assert world.serving.serial == serial
    assert world.serving.reload_failures == 1
    # the half-way state ends: the next look loads the complete pair
    world.install("cert.pem", (world.next / "cert.pem").read_bytes())
    assert world.reloader.check() is True


@pytest.mark.parametrize("garbage", [b"", b"-----BEGIN CERTIFICATE-----\nnot base64\n"])
def test_an_unparseable_certificate_is_refused(world: World, garbage: bytes) -> None:
    world.install("cert.pem", garbage)
    assert world.reloader.check() is False
    assert world.serving.reload_failures == 1


def test_an_expired_new_certificate_is_refused(world: World) -> None:
    world.install("key.pem", (world.next / "key.pem").read_bytes())
    world.install("cert.pem", (world.next / "cert.pem").read_bytes())
    world.now = NOW + timedelta(days=400)  # past the renewed certificate's 365 days
    assert world.reloader.check() is False
    assert world.serving.reload_failures == 1


def test_expiry_warnings_start_at_the_threshold_and_repeat_hourly(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="k8s_aws_auth.server")
    world.now = world.serving.not_after - timedelta(days=31)
    world.reloader.check()
    assert not caplog.records
    world.now = world.serving.not_after - timedelta(days=29)
    world.reloader.check()
    world.now += timedelta(minutes=30)
    world.reloader.check()
    assert [r.getMessage() for r in caplog.records] == [
        "the serving certificate expires soon: renew it (init --renew, cert-manager)"
    ]
    world.now = world.serving.not_after + timedelta(seconds=1)
    world.reloader.check()
    assert caplog.records[-1].levelno == logging.ERROR
    assert world.serving.gauges(world.now)["remaining_seconds"] == -1.0


def test_renew_without_the_ca_key_says_what_to_do(tmp_path: pathlib.Path) -> None:
    ensure_certificates(tmp_path, now=NOW)
    (tmp_path / "ca-key.pem").unlink()
    with pytest.raises(ConfigurationError, match="without the CA's key only a new CA"):
        renew_certificate(tmp_path, now=NOW)


def test_init_keeps_the_ca_key_private(tmp_path: pathlib.Path) -> None:
    ensure_certificates(tmp_path, now=NOW)
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
