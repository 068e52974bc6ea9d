"""Temporary credentials kept across plugin runs, in the AWS CLI's format (and, where it has one, its cache).

kubectl starts the plugin for every command; without this an assumed role, an
SSO role or a ``credential_process`` would cost a network call or a process
(and an MFA profile a code) every time. What to cache where is a `CachePlan`
(`_credential_plans` makes them); this module is the store:

* every entry is the AWS CLI's JSON (``Credentials.{AccessKeyId,
  SecretAccessKey, SessionToken, Expiration}``, plus ``ProviderType: sso`` for
  SSO, as AWS CLI v2 writes it), so ``aws`` reads ours and we read its, and a
  field of our own, ``K8sAwsAuth.Fingerprint``: SHA-256 of everything that
  decided the credentials. An entry of ours is used only under the current
  fingerprint; an entry without one (the CLI's) only when the plan allows it
  and the entry is newer than every file the plan watches (the shared files),
  so that no profile edit came after the credentials were made;
* an entry is used while at least 15 minutes of it remain (the CLI's window;
  a token lives 14, so it never outlives its signing credentials);
* ``~/.aws/cli/cache`` must be ours and closed to writes by group and others
  (the CLI creates it ``0755``, which only reveals hashed names); our own
  directory must be private (``0700``); directories we create are ``0700``;
* files must be ours and private (``0600``): others are ignored and replaced;
  writes are atomic (temporary file, fsync, rename), so ``aws`` never reads half
  a file, and a corrupt file (which breaks ``aws``) is replaced by a good one;
* the check, the fetch and the write run under a lock file in our own
  directory, so a burst of concurrent kubectl commands makes one call.

A hit runs on the plugin's start-up path: ``os`` and ``stat`` only (no json,
attrs, typing, datetime or hashlib; `_core.small_json` reads the entry and
derives the file name, `_epoch` parses the times).
"""

from __future__ import annotations

import contextlib
import os
import stat

from ._cache_files import (
    CacheUnavailable,
    ensure_private_directory,
    exclusive_lock,
    json_object,
    make_directories,
    private_directory,
    read_file,
)
from ._epoch import format_expiration, parse_expiration

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    #: access key id, secret access key, session token, expiration (Unix seconds).
    CachedKeys = tuple[str, str, "str | None", int]
    FetchedKeys = tuple[str, str, "str | None", "int | None"]

__all__ = ["EXPIRY_WINDOW_SECONDS", "CachePlan", "cached_or_fetched", "lookup"]

#: An entry is used while at least this much of it remains: the AWS CLI's window, and
#: more than a token's 14 minutes, so a token never outlives its signing credentials.
EXPIRY_WINDOW_SECONDS = 15 * 60
_OUR_FIELD = "K8sAwsAuth"
_FORMAT_VERSION = 1
_LOCK_TIMEOUT_SECONDS = 10.0


class CachePlan:
    """Where one source's credentials are cached and what a usable entry must match."""

    __slots__ = (
        "accept_cli_entries",
        "directory",
        "extra_fields",
        "file_name",
        "fingerprint",
        "lock_directory",
        "shared_with_cli",
        "watched_files",
    )

    def __init__(
        self,
        *,
        directory: str,
        file_name: str,
        fingerprint: str,
        lock_directory: str,
        shared_with_cli: bool,
        accept_cli_entries: bool = False,
        watched_files: tuple[str, ...] = (),
        extra_fields: Mapping[str, object] | None = None,
    ) -> None:
        """See the attributes."""
        #: ``~/.aws/cli/cache`` (``shared_with_cli``) or our own cache directory.
        self.directory = directory
        #: The entry's name in ``directory``: the CLI's ``<sha1>.json`` when shared.
        self.file_name = file_name
        #: SHA-256 of everything that decided the credentials.
        self.fingerprint = fingerprint
        #: Our own (private) directory, where the lock file lives.
        self.lock_directory = lock_directory
        #: The directory is the AWS CLI's: ``0755`` is tolerated, never changed.
        self.shared_with_cli = shared_with_cli
        #: May an entry without our fingerprint (the CLI's own) be used?
        self.accept_cli_entries = accept_cli_entries
        #: Files whose edits invalidate the CLI's own entries.
        self.watched_files = watched_files
        #: Top-level fields written beside ``Credentials`` (``ProviderType``).
        self.extra_fields = dict(extra_fields or {})

    @property
    def path(self) -> str:
        """The entry's file."""
        return os.path.join(self.directory, self.file_name)

    def __repr__(self) -> str:
        return f"CachePlan(path={self.path!r})"


def _usable_directory(plan: CachePlan) -> bool:
    if not plan.shared_with_cli:
        return private_directory(plan.directory)
    try:
        st = os.stat(plan.directory)  # ~/.aws may be a symlink to a dotfiles checkout
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _newest_change(paths: tuple[str, ...]) -> int:
    newest = 0
    for path in paths:
        try:
            newest = max(newest, os.stat(path).st_mtime_ns)
        except OSError:
            continue
    return newest


def _read_entry(plan: CachePlan, now: int) -> CachedKeys | None:
    """The entry if it is private, well-formed, meant for ``plan`` and fresh at ``now``."""
    try:
        raw, st = read_file(plan.path)
    except OSError:
        return None  # missing, a symlink, unreadable: a miss (and replaced on write)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # it may have leaked, or been planted: never used, replaced
    document = json_object(raw)
    if document is None:
        return None
    ours = document.get(_OUR_FIELD)
    if isinstance(ours, dict):
        if ours.get("Fingerprint") != plan.fingerprint:
            return None  # made for another profile, source or endpoint
    elif ours is not None or not plan.accept_cli_entries:
        return None
    elif st.st_mtime_ns <= _newest_change(plan.watched_files):
        return None  # a profile may have changed after the CLI made these credentials
    credentials = document.get("Credentials")
    if not isinstance(credentials, dict):
        return None
    access_key_id = credentials.get("AccessKeyId")
    secret = credentials.get("SecretAccessKey")
    session_token = credentials.get("SessionToken")
    expiration = parse_expiration(credentials.get("Expiration"))
    if not (
        isinstance(access_key_id, str) and access_key_id and isinstance(secret, str) and secret
    ):
        return None
    if session_token is not None and not isinstance(session_token, str):
        return None
    if expiration is None or expiration - now < EXPIRY_WINDOW_SECONDS:
        return None
    return access_key_id, secret, session_token or None, expiration


def lookup(plan: CachePlan, *, now: int) -> CachedKeys | None:
    """A usable entry for ``plan`` at ``now`` (Unix seconds), else ``None``; takes no lock.

    Writers replace files atomically, so a reader sees a whole old or new entry.
    """
    if not _usable_directory(plan):
        return None
    return _read_entry(plan, now)


def _prepare_directory(plan: CachePlan) -> None:
    if not plan.shared_with_cli:
        ensure_private_directory(plan.directory)
        return
    try:
        make_directories(plan.directory)
    except OSError as exc:
        raise CacheUnavailable(f"cannot create {plan.directory}: {exc.strerror}") from None
    if not _usable_directory(plan):
        raise CacheUnavailable(
            f"{plan.directory} is not a directory of ours closed to writes by group/others; "
            f"run `chmod go-w {plan.directory}` or remove it"
        )


def _write_entry(plan: CachePlan, keys: CachedKeys) -> None:
    from k8s_aws_auth._runtime.private_file import write_private_file

    access_key_id, secret, session_token, expiration = keys
    document = {
        **plan.extra_fields,
        # The CLI reads exactly these four (SessionToken must be present, Expiration aware).
        "Credentials": {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": session_token,
            "Expiration": format_expiration(expiration),
        },
        _OUR_FIELD: {"Version": _FORMAT_VERSION, "Fingerprint": plan.fingerprint},
    }
    import json  # a miss: the fetch that came before it loaded far more

    write_private_file(plan.path, json.dumps(document))


def cached_or_fetched(
    plan: CachePlan, *, now: int, fetch: Callable[[], FetchedKeys], warn: Callable[[str], None]
) -> FetchedKeys:
    """The cached entry for ``plan``, else ``fetch()``'s credentials, stored for the next run.

    The check, the fetch and the write run under an exclusive lock: concurrent
    runs wait for the first one's credentials instead of calling STS (or asking
    for an MFA code) themselves. When the cache cannot be used safely, ``warn``
    hears why and the credentials are fetched without it. Credentials without
    an expiration (long-term keys) are never written.
    """
    lock_path = os.path.join(plan.lock_directory, f"credentials-{plan.file_name}.lock")
    with contextlib.ExitStack() as stack:
        try:
            _prepare_directory(plan)
            ensure_private_directory(plan.lock_directory)
            stack.enter_context(exclusive_lock(lock_path, timeout=_LOCK_TIMEOUT_SECONDS))
        except CacheUnavailable as exc:
            warn(f"not using the credential cache: {exc}")
            return fetch()
        cached = _read_entry(plan, now)
        if cached is not None:
            return cached
        keys = fetch()
        if keys[3] is not None:
            try:
                _write_entry(plan, (keys[0], keys[1], keys[2], keys[3]))
            except OSError as exc:
                warn(f"could not write the credential cache file {plan.path}: {exc.strerror}")
        return keys
