"""Replace a file atomically with a private (0600) one: the token cache and the SSO token cache.

Only ``os`` and ``contextlib``: the token cache runs in the exec plugin.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["write_private_file"]


def write_private_file(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8) atomically, mode 0600.

    The data goes to a new temporary file beside ``path`` (created exclusively,
    so never a leftover or a planted symlink), is flushed to disk, then renamed
    over ``path``: a reader (another ``kubectl`` run, the AWS CLI) sees the old
    file or the new one, never half of one, even after a crash. The directory is
    created (0700) when missing. On failure the temporary file is removed and
    the error raised.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.fspath(path)
    directory, name = os.path.split(path)
    os.makedirs(directory or ".", mode=0o700, exist_ok=True)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
    )
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(fd, 0o600)  # exactly 0600: the umask applies to O_CREAT's mode
            stream.write(data)
            stream.flush()
            os.fsync(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
