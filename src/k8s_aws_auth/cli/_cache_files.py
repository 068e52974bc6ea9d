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

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "CACHE_DIR_ENV",
    "CacheUnavailable",
    "cache_directory",
    "check_private",
    "ensure_private_directory",
    "exclusive_lock",
]

#: Overrides the cache directory (tests, shared machines with a private tmpfs).
CACHE_DIR_ENV = "K8S_AWS_AUTH_CACHE_DIR"


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
