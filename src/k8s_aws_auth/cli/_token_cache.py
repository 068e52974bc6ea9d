"""The ``--cache`` store: signed tokens on disk, one file per key.

kubectl runs the exec plugin once per invocation, so a script calling kubectl
in a loop signs every time. With ``--cache`` the plugin keeps the tokens it
made in ``~/.kube/cache/k8s-aws-auth/`` (temporary credentials are kept with
or without ``--cache``: `_credential_cache`):

* the directory is created ``0700`` and refused if group or others have any
  access; every file is created ``0600`` and refused (never read, never
  overwritten) if it is not a regular file owned by us with those bits clear;
* each key has a lock file; the whole check-sign-write runs under an exclusive
  ``fcntl.flock``, so a burst of concurrent plugin runs signs once and the rest
  read the result; files are replaced atomically (write a temporary, rename);
* a token is never served within 60 seconds of its expiry; an unreadable or
  corrupt file is ignored and rewritten (`_cache_files.cached_token` reads a
  hit the same way without this module's imports);
* when the lock cannot be had in time, the caller signs without the cache.

Cached tokens are bearer credentials for up to 15 minutes: the permission
checks are the security boundary, the same one ``~/.kube/cache`` relies on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from k8s_aws_auth._core.instants import clamped, utc
from k8s_aws_auth._core.models import Token
from k8s_aws_auth._core.token_signer import TOKEN_PREFIX
from k8s_aws_auth._runtime.private_file import write_private_file

from ._cache_files import (
    CACHE_DIR_ENV,
    FORMAT_VERSION,
    TOKEN_MAX_FUTURE_SECONDS,
    TOKEN_MIN_REMAINING_SECONDS,
    CacheUnavailable,
    cache_directory,
    ensure_private_directory,
    exclusive_lock,
    key_digest,
    plain_key,
    read_private_json,
)

_T = TypeVar("_T")

__all__ = [
    "CACHE_DIR_ENV",
    "TOKEN_MIN_REMAINING",
    "CacheUnavailable",
    "TokenCache",
    "default_cache_dir",
]

TOKEN_MIN_REMAINING = timedelta(seconds=TOKEN_MIN_REMAINING_SECONDS)
TOKEN_MAX_FUTURE = timedelta(seconds=TOKEN_MAX_FUTURE_SECONDS)


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$K8S_AWS_AUTH_CACHE_DIR``, else ``~/.kube/cache/k8s-aws-auth``."""
    return Path(cache_directory(environ))


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    # A naive or off-calendar time is a ConfigurationError, a ValueError: a broken entry.
    return utc(datetime.fromisoformat(value), "a cached timestamp")


class TokenCache:
    """A directory of small JSON files, each guarded by its own lock file."""

    def __init__(
        self,
        directory: Path,
        *,
        warn: Callable[[str], None] = lambda _message: None,
        lock_timeout: float = 10.0,
    ) -> None:
        """Use ``directory`` (created ``0700`` on first use); ``warn`` hears why the cache was skipped."""
        self.directory = directory
        self._warn = warn
        self._lock_timeout = lock_timeout

    @classmethod
    def default(
        cls, environ: Mapping[str, str], *, warn: Callable[[str], None] = lambda _m: None
    ) -> TokenCache:
        """The cache at `default_cache_dir()`."""
        return cls(default_cache_dir(environ), warn=warn)

    # --- public operations ------------------------------------------------------------

    def get_or_create(
        self, key: Mapping[str, object], *, now: datetime, create: Callable[[], Token]
    ) -> Token:
        """A cached token for ``key`` valid for at least another minute, else ``create()``'s (stored)."""

        def load(document: Mapping[str, object]) -> Token | None:
            token = Token(str(document["token"]), _parse_time(document["expiration"]))
            if not token.value.startswith(TOKEN_PREFIX):
                raise ValueError("not a token")
            signed_at = _parse_time(document["signed_at"])
            # A token from "the future" (the clock was set back) may not be valid yet.
            fresh = signed_at <= clamped(now, TOKEN_MAX_FUTURE)
            if fresh and clamped(now, TOKEN_MIN_REMAINING) < token.expiration:
                return token
            return None

        def dump(token: Token) -> dict[str, object]:
            return {
                "token": token.value,
                "expiration": token.expiration.isoformat(),
                "signed_at": now.isoformat(),
            }

        return self._get_or_create("token", key, load, dump, create)

    # --- machinery ----------------------------------------------------------------------

    def _get_or_create(
        self,
        kind: str,
        key: Mapping[str, object],
        load: Callable[[Mapping[str, object]], _T | None],
        dump: Callable[[_T], Mapping[str, object] | None],
        create: Callable[[], _T],
    ) -> _T:
        digest = key_digest(kind, key)
        with contextlib.ExitStack() as stack:
            try:
                ensure_private_directory(str(self.directory))
                lock_path = str(self.directory / f"{digest}.lock")
                stack.enter_context(exclusive_lock(lock_path, timeout=self._lock_timeout))
            except CacheUnavailable as exc:
                self._warn(f"not using the cache: {exc}")
                return create()
            path = self.directory / f"{digest}.json"
            try:
                document = self._read(path)
            except CacheUnavailable as exc:
                self._warn(f"not using the cache: {exc}")
                return create()
            if document is not None and document.get("key") == plain_key(key):
                try:
                    cached = load(document)
                except (KeyError, TypeError, ValueError):
                    cached = None  # corrupt entry: rewrite it below
                if cached is not None:
                    return cached
            value = create()
            payload = dump(value)
            if payload is not None:
                entry = {"version": FORMAT_VERSION, "kind": kind, "key": plain_key(key), **payload}
                self._write(path, entry)
            return value

    def _read(self, path: Path) -> Mapping[str, object] | None:
        document = read_private_json(str(path))
        if document is None or document.get("version") != FORMAT_VERSION:
            return None
        return document

    def _write(self, path: Path, entry: Mapping[str, object]) -> None:
        try:
            import json  # a miss: signing came first

            write_private_file(path, json.dumps(entry, sort_keys=True))
        except OSError as exc:
            self._warn(f"could not write the cache file {path}: {exc.strerror}")
