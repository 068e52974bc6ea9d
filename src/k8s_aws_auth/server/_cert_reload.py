"""Serving-certificate rotation without a restart, and the warnings before it is too late.

`CertificateReloader` polls ``cert.pem`` and ``key.pem`` (inode, mtime, size;
``os.stat`` follows symlinks, so a Kubernetes Secret volume's atomic ``..data``
symlink swap is seen like a plain file replace — no inotify needed). On a
change it builds a complete new `ssl.SSLContext` from the two files and checks
it (``load_cert_chain`` refuses a key that does not belong to the certificate,
or a file that does not parse), then refuses a certificate that is already
expired. Only a good pair is handed to ``swap`` — the listener uses it for new
handshakes, while established connections keep the session they negotiated.
A bad update (half-written, mismatched, expired) is logged and counted, and
the last good pair keeps serving; the next change is tried again.

`ServingCertificate` is what the metrics and ``/readyz`` read: the current
certificate's ``notAfter`` and serial, and the reload counters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs

from ._pem import CertificateFacts, certificate_facts

__all__ = ["CertificateReloader", "ServingCertificate", "read_certificate"]

_log = logging.getLogger("k8s_aws_auth.server")

#: How often the same expiry warning is repeated (it says the same thing for days).
_WARN_EVERY = timedelta(hours=1)

#: (inode, mtime ns, size) of the certificate, then of the key; ``None`` when missing.
Fingerprint = tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]


@attrs.define
class ServingCertificate:
    """The serving certificate in use (mutable: a reload replaces it)."""

    not_after: datetime
    serial: int
    reloads: int = 0
    """Pairs loaded after the start (a new certificate)."""
    reload_failures: int = 0
    """Changes on disk that were refused (the last good pair kept serving)."""

    def counters(self) -> dict[str, float]:
        """``k8s_aws_auth_serving_certificate_reloads_total`` and ``…_reload_failures_total``."""
        return {"reloads": self.reloads, "reload_failures": self.reload_failures}

    def gauges(self, now: datetime) -> dict[str, float]:
        """notAfter and the seconds left until it (negative once expired)."""
        return {
            "expiry_timestamp_seconds": self.not_after.timestamp(),
            "remaining_seconds": (self.not_after - now).total_seconds(),
        }


def read_certificate(path: Path) -> CertificateFacts:
    """Serial and validity of the first certificate in the PEM file at ``path``."""
    return certificate_facts(path.read_bytes())


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)


class CertificateReloader:
    """Watch ``cert_path``/``key_path``; give ``swap`` each new good `ssl.SSLContext`.

    Args:
        cert_path: the serving certificate (PEM; a chain may follow it).
        key_path: its private key.
        build_context: makes the server's context from a certificate and key
            path (the same settings as at start-up); raises on a bad pair.
        swap: installs a context for new handshakes.
        state: the certificate in use, updated on every reload.
        clock: the current time (UTC), for the expiry checks.
        interval: seconds between two looks at the files.
        warn_before: how long before ``notAfter`` to start warning.
    """

    def __init__(
        self,
        cert_path: Path,
        key_path: Path,
        *,
        build_context: Callable[[str, str], ssl.SSLContext],
        swap: Callable[[ssl.SSLContext], None],
        state: ServingCertificate,
        clock: Callable[[], datetime],
        interval: float,
        warn_before: timedelta,
    ) -> None:
        self._cert_path = cert_path
        self._key_path = key_path
        self._build = build_context
        self._swap = swap
        self.state = state
        self._clock = clock
        self._interval = interval
        self._warn_before = warn_before
        self._seen = self.fingerprint()
        self._warned_at: datetime | None = None

    def fingerprint(self) -> Fingerprint:
        """What identifies the current contents of the two files."""
        return (_stat(self._cert_path), _stat(self._key_path))

    def check(self) -> bool:
        """Reload if the files changed; whether a new pair is now in use."""
        seen = self.fingerprint()
        reloaded = False
        if seen != self._seen:
            self._seen = seen
            reloaded = self._reload()
        self._warn_if_expiring()
        return reloaded

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check()
            except Exception:  # never let the watcher die: the next look may succeed
                _log.exception("checking the serving certificate failed")

    def _reload(self) -> bool:
        now = self._clock()
        try:
            context = self._build(str(self._cert_path), str(self._key_path))
            certificate = read_certificate(self._cert_path)
        except (OSError, ValueError, ssl.SSLError) as exc:
            self._refuse(f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")
            return False
        if certificate.not_after <= now:
            self._refuse(f"the new certificate expired on {certificate.not_after:%Y-%m-%d}")
            return False
        self._swap(context)
        self.state.not_after = certificate.not_after
        self.state.serial = certificate.serial
        self.state.reloads += 1
        self._warned_at = None
        _log.info(
            "loaded a new serving certificate",
            extra={
                "fields": {
                    "certPath": str(self._cert_path),
                    "serial": format(certificate.serial, "x"),
                    "not_after": certificate.not_after.isoformat(),
                }
            },
        )
        return True

    def _refuse(self, why: str) -> None:
        self.state.reload_failures += 1
        _log.warning(
            "the changed certificate pair was refused; the last good one keeps serving",
            extra={
                "fields": {
                    "certPath": str(self._cert_path),
                    "keyPath": str(self._key_path),
                    "error": why,
                }
            },
        )

    def _warn_if_expiring(self) -> None:
        now = self._clock()
        remaining = self.state.not_after - now
        if remaining > self._warn_before:
            return
        if self._warned_at is not None and now - self._warned_at < _WARN_EVERY:
            return
        self._warned_at = now
        fields = {"fields": {"not_after": self.state.not_after.isoformat()}}
        if remaining <= timedelta(0):
            _log.error("the serving certificate has expired: /readyz answers 503", extra=fields)
        else:
            _log.warning(
                "the serving certificate expires soon: renew it (init --renew, cert-manager)",
                extra=fields,
            )
