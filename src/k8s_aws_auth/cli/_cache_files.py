"""The exec plugin's private cache directory, its permission rules and its per-key locks.

Shared by the ``--cache`` token store (`_token_cache`) and the credential cache
(`_credential_cache`). Only ``os``, ``errno``, ``fcntl``, ``stat`` and ``time``:
a cache hit runs on the plugin's start-up path, which loads no attrs, typing,
datetime or pathlib (pathlib pulls in urllib).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time

from k8s_aws_auth._core.digests import sha256
from k8s_aws_auth._core.small_json import dumps_sorted, loads

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "CACHE_DIR_ENV",
    "FORMAT_VERSION",
    "TOKEN_MAX_FUTURE_SECONDS",
    "TOKEN_MIN_REMAINING_SECONDS",
    "CacheUnavailable",
    "cache_directory",
    "cached_token",
    "check_private",
    "ensure_private_directory",
    "exclusive_lock",
    "json_object",
    "key_digest",
    "plain_key",
    "private_directory",
    "read_file",
    "read_private_json",
]

#: Overrides the cache directory (tests, shared machines with a private tmpfs).
CACHE_DIR_ENV = "K8S_AWS_AUTH_CACHE_DIR"
_MAX_FILE_BYTES = 64 * 1024
#: The ``version`` of the ``--cache`` entries.
FORMAT_VERSION = 1
#: A cached token is served only with more than this left, and only if it was not
#: signed more than ``TOKEN_MAX_FUTURE_SECONDS`` ahead of now (a clock set back).
TOKEN_MIN_REMAINING_SECONDS = 60
TOKEN_MAX_FUTURE_SECONDS = 60


class CacheUnavailable(Exception):
    """The cache cannot be used safely right now; the message says why and how to fix it."""


def cache_directory(environ: Mapping[str, str]) -> str:
    """``$K8S_AWS_AUTH_CACHE_DIR``, else ``~/.kube/cache/k8s-aws-auth``."""
    override = environ.get(CACHE_DIR_ENV)
    if override:
        return override
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".kube", "cache", "k8s-aws-auth")


def check_private(st: os.stat_result, path: str, what: str) -> None:
    """Refuse ``path`` unless it is ours and group and others have no access at all."""
    if st.st_uid != os.getuid():
        raise CacheUnavailable(f"{what} {path} is owned by another user; remove it")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise CacheUnavailable(
            f"{what} {path} is accessible to group/others (mode {mode:04o}); "
            f"run `chmod {'700' if what == 'directory' else '600'} {path}` or remove it"
        )


def ensure_private_directory(directory: str) -> None:
    """Create ``directory`` (and missing parents) ``0700``; refuse it unless it is private."""
    try:
        make_directories(directory)
        st = os.lstat(directory)
    except OSError as exc:
        raise CacheUnavailable(f"cannot create {directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CacheUnavailable(f"{directory} is not a directory; remove it")
    check_private(st, directory, "directory")


def make_directories(directory: str) -> None:
    """``mkdir -p`` with every directory it creates ``0700`` (``os.makedirs`` sets only the last)."""
    if os.path.isdir(directory):
        return
    parent = os.path.dirname(directory)
    if parent and parent != directory:
        make_directories(parent)
    with contextlib.suppress(FileExistsError):  # another plugin run made it first
        os.mkdir(directory, 0o700)


@contextlib.contextmanager
def exclusive_lock(path: str, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a private lock file) for the block.

    Raises `CacheUnavailable` when the file is not ours and private, or the lock
    is not had within ``timeout`` seconds (the caller then works without the cache).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CacheUnavailable(f"cannot open lock file {path}: {exc.strerror}") from None
    try:
        check_private(os.fstat(fd), path, "lock file")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise CacheUnavailable(f"cannot lock {path}: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                raise CacheUnavailable(f"timed out waiting for the lock on {path}")
            time.sleep(0.01)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def key_digest(kind: str, key: Mapping[str, object]) -> str:
    """The file name (without suffix) of ``key``'s entry of ``kind`` (``token``, ``credentials``)."""
    canonical = dumps_sorted({"kind": kind, **key}, compact=True)
    return sha256(canonical.encode("utf-8")).hexdigest()[:40]


def plain_key(key: Mapping[str, object]) -> dict[str, object]:
    """The key as it reads back from JSON (so a stored key compares equal)."""
    loaded = loads(dumps_sorted(dict(key), compact=False))
    assert isinstance(loaded, dict)  # a dictionary reads back as one
    return loaded


def read_file(path: str) -> tuple[bytes, os.stat_result]:
    """The first bytes of ``path`` (one more than a cache file may hold) and its ``fstat``.

    Never follows a symlink at ``path`` (``OSError`` with ``ELOOP``); raises the
    ``OSError`` of a missing or unreadable file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read(_MAX_FILE_BYTES + 1), os.fstat(fd)


def json_object(raw: bytes) -> dict[str, object] | None:
    """``raw`` as a JSON object; ``None`` when oversized, not JSON, or not an object."""
    if len(raw) > _MAX_FILE_BYTES:
        return None
    try:
        document = loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def read_private_json(path: str) -> dict[str, object] | None:
    """The JSON object in ``path``; ``None`` when missing, oversized or not a JSON object.

    Raises `CacheUnavailable` for a file that is not a regular, private file of
    ours (a symlink, another user's, readable by group or others): never read.
    """
    try:
        raw, st = read_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CacheUnavailable(f"cache file {path} is a symlink; remove it") from None
        raise CacheUnavailable(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CacheUnavailable(f"cache file {path} is not a regular file; remove it")
    check_private(st, path, "cache file")
    return json_object(raw)


def private_directory(directory: str) -> bool:
    """Is ``directory`` a real directory of ours that group and others cannot access?"""
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def cached_token(directory: str, key: Mapping[str, object], *, now: int) -> tuple[str, int] | None:
    """A ``--cache`` hit read without datetime or attrs: the token and its expiry (Unix seconds).

    The same rules as `TokenCache.get_or_create` (which writes the entries);
    ``None`` for anything else, including every file the token cache would
    refuse with a warning: that path then runs and says why.
    """
    from k8s_aws_auth._core.token_signer import TOKEN_PREFIX

    from ._epoch import parse_expiration

    if not private_directory(directory):
        return None
    try:
        document = read_private_json(os.path.join(directory, key_digest("token", key) + ".json"))
    except CacheUnavailable:
        return None
    if document is None or document.get("version") != FORMAT_VERSION:
        return None
    if document.get("kind") != "token" or document.get("key") != plain_key(key):
        return None
    value = document.get("token")
    expiration = parse_expiration(document.get("expiration"))
    signed_at = parse_expiration(document.get("signed_at"))
    if not isinstance(value, str) or not value.startswith(TOKEN_PREFIX):
        return None
    if expiration is None or signed_at is None or signed_at > now + TOKEN_MAX_FUTURE_SECONDS:
        return None
    if now + TOKEN_MIN_REMAINING_SECONDS < expiration:
        return value, expiration
    return None
