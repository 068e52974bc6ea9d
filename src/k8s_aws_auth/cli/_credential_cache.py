"""Assumed-role credentials kept across plugin runs, in the AWS CLI's own cache (``~/.aws/cli/cache``).

A profile with ``role_arn`` would otherwise cost an AssumeRole (and, with
``mfa_serial``, an MFA code) on every kubectl command. The entries are the AWS
CLI's: the same directory, the same file name (``sha1`` of the AssumeRole
arguments the CLI keys on: ``RoleArn``, ``RoleSessionName`` when configured,
``ExternalId``, ``SerialNumber``, ``DurationSeconds``) and the same JSON, so
``aws`` and ``k8s-aws-auth`` warm each other.

The CLI's key leaves out the source profile, its keys, ``credential_source``,
the region and the STS endpoint: sharing it alone would serve a changed
profile the old credentials. So each entry we write also carries a
fingerprint (SHA-256) of everything that decided it: every profile of the
role chain with all its settings (the source's keys included), the
``sso-session`` and ``services`` blocks they name, the environment's keys for
``credential_source = Environment``, and the environment's region and endpoint
settings. An entry of ours is used only when its fingerprint is the current
one. An entry the CLI wrote has none; it is used only when the chain is one
the shared files alone decide (``source_profile`` hops ending in static keys)
and the entry is newer than both shared files, so that no edit of a profile
came after the credentials were made.

Rules: an entry is used while at least 15 minutes of it remain (the CLI's
window; a token lives 14), the directory must be ours and not writable by
group or others (the CLI creates it ``0755``; it only reveals hashed names),
files must be ours and private (``0600``) or they are ignored and replaced,
writes are atomic (temporary file, fsync, rename) so ``aws`` never reads half
a file, and concurrent plugin runs serialise on a lock file in our own cache
directory, so a burst of kubectl commands makes one STS call.

Only ``hashlib``, ``json``, ``os``, ``re`` and ``stat`` besides the locks: a
cache hit runs on the plugin's start-up path (no attrs, typing or datetime;
timestamps are parsed by hand into Unix seconds).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat

from ._cache_files import (
    CacheUnavailable,
    cache_directory,
    ensure_private_directory,
    exclusive_lock,
    make_directories,
)
from ._epoch import format_expiration, parse_expiration

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from k8s_aws_auth.credentials.internal import SharedFiles

    #: access key id, secret access key, session token, expiration (Unix seconds).
    CachedKeys = tuple[str, str, "str | None", int]
    FetchedKeys = tuple[str, str, "str | None", "int | None"]

__all__ = [
    "DISABLE_ENV",
    "EXPIRY_WINDOW_SECONDS",
    "CachePlan",
    "cached_or_fetched",
    "cli_cache_directory",
    "lookup",
    "role_profile_plan",
]

#: ``K8S_AWS_AUTH_CREDENTIAL_CACHE=off`` turns the credential cache off (read and write).
DISABLE_ENV = "K8S_AWS_AUTH_CREDENTIAL_CACHE"
#: An entry is used while at least this much of it remains: the AWS CLI's window, and
#: more than a token's 14 minutes, so a token never outlives its signing credentials.
EXPIRY_WINDOW_SECONDS = 15 * 60
_OUR_FIELD = "K8sAwsAuth"
_FINGERPRINT_VERSION = 1
_MAX_FILE_BYTES = 64 * 1024
_LOCK_TIMEOUT_SECONDS = 10.0

#: The environment settings that choose the STS endpoint AssumeRole goes to.
_ENDPOINT_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
#: A source profile with one of these is not decided by its static keys alone.
_OTHER_SOURCES = ("web_identity_token_file", "credential_process", "sso_session", "sso_start_url")


# --- what an entry is for -------------------------------------------------------------


class CachePlan:
    """Where a profile's role credentials are cached and what a usable entry must match."""

    __slots__ = ("accept_cli_entries", "cli_key", "fingerprint", "profile", "watched_files")

    def __init__(
        self,
        *,
        profile: str,
        cli_key: str,
        fingerprint: str,
        accept_cli_entries: bool,
        watched_files: tuple[str, ...],
    ) -> None:
        """See the attributes."""
        self.profile = profile
        #: The AWS CLI's file name (without ``.json``).
        self.cli_key = cli_key
        #: SHA-256 of everything that decided the credentials (see the module docstring).
        self.fingerprint = fingerprint
        #: May an entry without our fingerprint (the CLI's own) be used?
        self.accept_cli_entries = accept_cli_entries
        #: Files whose edits invalidate the CLI's own entries (the shared files).
        self.watched_files = watched_files

    def __repr__(self) -> str:
        return f"CachePlan(profile={self.profile!r}, cli_key={self.cli_key!r})"


def cli_cache_key(arguments: Mapping[str, object]) -> str:
    """The AWS CLI's file name for AssumeRole ``arguments``: SHA-1 of their sorted JSON."""
    text = json.dumps(dict(arguments), sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324 - the CLI's name, not a MAC


def _text(section: Mapping[str, object], key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) else None


def _is_role(section: Mapping[str, object]) -> bool:
    return "role_arn" in section and "web_identity_token_file" not in section


def _has_static_keys(section: Mapping[str, object]) -> bool:
    return "aws_access_key_id" in section or "aws_secret_access_key" in section


def _assume_role_arguments(section: Mapping[str, object]) -> dict[str, object] | None:
    """The arguments the AWS CLI keys a profile's AssumeRole on; ``None`` if it would not cache."""
    arguments: dict[str, object] = {"RoleArn": _text(section, "role_arn") or ""}
    session_name = _text(section, "role_session_name")
    if session_name is not None:
        if not session_name:
            return None  # the CLI would invent a name, we would send an empty one: no sharing
        arguments["RoleSessionName"] = session_name
    for setting, argument in (("external_id", "ExternalId"), ("mfa_serial", "SerialNumber")):
        value = _text(section, setting)
        if value is not None:
            arguments[argument] = value
    duration = _text(section, "duration_seconds")
    if duration is not None:
        # An unreadable duration: both the CLI and the chain leave it to STS.
        with contextlib.suppress(ValueError):
            arguments["DurationSeconds"] = int(duration)
    return arguments


def role_profile_plan(files: SharedFiles) -> CachePlan | None:
    """The cache plan for the profile the default chain would answer with AssumeRole.

    ``None`` when the chain would not (environment keys first, no ``role_arn``, a
    web identity profile) or when the profile is broken (a missing or looping
    ``source_profile``): the chain then decides and reports.
    """
    environ = files.environ
    if environ.get(DISABLE_ENV, "").lower() in ("off", "0", "false", "no"):
        return None
    if files.profile is None and environ.get("AWS_ACCESS_KEY_ID"):
        return None  # the environment's keys come first in the chain
    config = files.shared_config()
    top = files.profile_name
    section = config.profile(top)
    if not _is_role(section):
        return None
    arguments = _assume_role_arguments(section)
    if arguments is None:
        return None
    hops: list[dict[str, object]] = []
    accept_cli_entries = False
    current, visited = top, [top]
    while True:
        section = config.profile(current)
        hops.append(_hop(config, current, section))
        credential_source = _text(section, "credential_source")
        source_profile = _text(section, "source_profile")
        if credential_source is not None and source_profile is None:
            if credential_source == "Environment":
                hops.append({"environment": {name: environ.get(name) for name in _ENV_KEYS}})
            break  # the source's identity lives outside the files: only our own entries
        if source_profile is None or credential_source is not None:
            return None
        if source_profile not in config.profiles:
            return None
        source = config.profile(source_profile)
        is_self = source_profile == current and _has_static_keys(source)
        if source_profile in visited and not is_self:
            return None
        visited.append(source_profile)
        if _has_static_keys(source) or not _is_role(source):
            if not is_self:
                hops.append(_hop(config, source_profile, source))
            accept_cli_entries = _has_static_keys(source) and not any(
                key in source for key in _OTHER_SOURCES
            )
            break
        current = source_profile
    inputs = {
        "version": _FINGERPRINT_VERSION,
        "hops": hops,
        "endpoint_environment": {name: environ.get(name) for name in _ENDPOINT_ENV},
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return CachePlan(
        profile=top,
        cli_key=cli_cache_key(arguments),
        fingerprint=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        accept_cli_entries=accept_cli_entries,
        watched_files=(config.config_path, config.credentials_path),
    )


def _hop(config: object, name: str, section: Mapping[str, object]) -> dict[str, object]:
    """One profile of the chain: all its settings and the blocks it names."""
    hop: dict[str, object] = {"profile": name, "settings": dict(section)}
    sessions = getattr(config, "sso_sessions", {})
    services = getattr(config, "services", {})
    session = _text(section, "sso_session")
    if session is not None:
        hop["sso_session"] = dict(sessions.get(session, {}))
    block = _text(section, "services")
    if block is not None:
        hop["services"] = dict(services.get(block, {}))
    return hop


# --- the directory and its files --------------------------------------------------------


def cli_cache_directory(environ: Mapping[str, str]) -> str:
    """``~/.aws/cli/cache`` (``HOME`` from ``environ``), the AWS CLI's fixed location."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".aws", "cli", "cache")


def _usable_directory(directory: str) -> bool:
    """Ours and not writable by group/others (``0755`` is the CLI's own mode: allowed)."""
    try:
        st = os.stat(directory)
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


def _read_entry(path: str, plan: CachePlan, now: int) -> CachedKeys | None:
    """The entry at ``path`` if it is private, well-formed, meant for ``plan`` and fresh."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # missing, a symlink, unreadable: a miss (and replaced on write)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        raw = file.read(_MAX_FILE_BYTES + 1)
    if len(raw) > _MAX_FILE_BYTES:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict):
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


def lookup(plan: CachePlan, environ: Mapping[str, str], *, now: int) -> CachedKeys | None:
    """A usable cached entry for ``plan`` at ``now`` (Unix seconds), else ``None``; no lock."""
    directory = cli_cache_directory(environ)
    if not _usable_directory(directory):
        return None
    return _read_entry(os.path.join(directory, plan.cli_key + ".json"), plan, now)


def _prepare_directory(directory: str) -> None:
    try:
        make_directories(directory)
    except OSError as exc:
        raise CacheUnavailable(f"cannot create {directory}: {exc.strerror}") from None
    if not _usable_directory(directory):
        raise CacheUnavailable(
            f"{directory} is not a directory of ours closed to writes by group/others; "
            f"run `chmod go-w {directory}` or remove it"
        )


def _write_entry(path: str, plan: CachePlan, keys: CachedKeys) -> None:
    from k8s_aws_auth._runtime.private_file import write_private_file

    access_key_id, secret, session_token, expiration = keys
    document = {
        # The CLI reads exactly these four (SessionToken must be present, Expiration aware).
        "Credentials": {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": session_token,
            "Expiration": format_expiration(expiration),
        },
        _OUR_FIELD: {"Version": _FINGERPRINT_VERSION, "Fingerprint": plan.fingerprint},
    }
    write_private_file(path, json.dumps(document))


def cached_or_fetched(
    plan: CachePlan,
    environ: Mapping[str, str],
    *,
    now: int,
    fetch: Callable[[], FetchedKeys],
    warn: Callable[[str], None],
) -> FetchedKeys:
    """The cached entry for ``plan``, else ``fetch()``'s credentials, stored for the next run.

    The check, the fetch and the write run under an exclusive lock in our own
    cache directory: concurrent runs wait for the first one's credentials
    instead of calling STS (or asking for an MFA code) themselves. When the
    cache cannot be used safely, ``warn`` hears why and the credentials are
    fetched without it.
    """
    directory = cli_cache_directory(environ)
    lock_directory = cache_directory(environ)
    lock_path = os.path.join(lock_directory, f"aws-cli-cache-{plan.cli_key}.lock")
    with contextlib.ExitStack() as stack:
        try:
            _prepare_directory(directory)
            ensure_private_directory(lock_directory)
            stack.enter_context(exclusive_lock(lock_path, timeout=_LOCK_TIMEOUT_SECONDS))
        except CacheUnavailable as exc:
            warn(f"not using the credential cache: {exc}")
            return fetch()
        path = os.path.join(directory, plan.cli_key + ".json")
        cached = _read_entry(path, plan, now)
        if cached is not None:
            return cached
        keys = fetch()
        if keys[3] is not None:  # long-term keys are never written to disk
            try:
                _write_entry(path, plan, (keys[0], keys[1], keys[2], keys[3]))
            except OSError as exc:
                warn(f"could not write the credential cache file {path}: {exc.strerror}")
        return keys
