"""Which cache entry a credential source uses: the AWS CLI's file names and our fingerprints.

The default chain's order decides the source, as the chain would (environment
keys first unless a profile is chosen, then the profile's ``role_arn``, web
identity, SSO, the credentials file's keys, ``credential_process``); a plan is
made only where the answer is a temporary credential worth keeping:

| source | where | file name (the AWS CLI's, where it has one) | CLI entries used |
|---|---|---|---|
| profile ``role_arn`` | ``~/.aws/cli/cache`` | ``sha1`` of ``{RoleArn, RoleSessionName?, ExternalId?, SerialNumber?, DurationSeconds?}`` | when the chain is ``source_profile`` hops ending in static keys |
| web identity | ``~/.aws/cli/cache`` | ``sha1`` of ``{RoleArn, RoleSessionName?, WebIdentityToken}`` (awscli ≥ 1.46.2) | yes (the token is in the name) |
| SSO | ``~/.aws/cli/cache`` | ``sha1`` of ``{accountId, roleName, sessionName \\| startUrl}``, compact (AWS CLI v2) | yes |
| ``credential_process`` | our directory | ``credential-process-<sha1 of the command and profile>.json`` | — |
| ``--role`` | our directory | ``assume-role-<sha1 of the role, its options and the source keys>.json`` | — |

The fingerprint hashes everything that decided the credentials: every profile
involved with all its settings (static keys included), the ``sso-session`` and
``services`` blocks they name, the environment's keys where they are the
source, the web identity token, and the environment's region and endpoint
settings. CLI entries are used only where the CLI's name covers the rest and
the plan watches the shared files for edits (see `_credential_cache`).

Attrs-free, typing-free and datetime-free: plans are made on the start-up path.
"""

from __future__ import annotations

import contextlib
import os

from k8s_aws_auth._core.digests import sha1, sha256
from k8s_aws_auth._core.small_json import dumps_sorted

from ._cache_files import cache_directory
from ._credential_cache import CachePlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from k8s_aws_auth.credentials.internal import SharedConfig, SharedFiles

__all__ = ["DISABLE_ENV", "explicit_role_plan", "source_plan"]

#: ``K8S_AWS_AUTH_CREDENTIAL_CACHE=off`` turns the credential cache off (read and write).
DISABLE_ENV = "K8S_AWS_AUTH_CREDENTIAL_CACHE"
_FINGERPRINT_VERSION = 1

#: The environment settings that choose the endpoint the credentials came from.
_ENDPOINT_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_WEB_IDENTITY_ENV = {
    "web_identity_token_file": "AWS_WEB_IDENTITY_TOKEN_FILE",
    "role_arn": "AWS_ROLE_ARN",
    "role_session_name": "AWS_ROLE_SESSION_NAME",
}
_SSO_KEYS = ("sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name")
#: A source profile with one of these is not decided by its static keys alone.
_OTHER_SOURCES = ("web_identity_token_file", "credential_process", *_SSO_KEYS)


def _sha1(arguments: Mapping[str, object], *, compact: bool = False) -> str:
    """The AWS CLI's cache key: SHA-1 of the sorted JSON (SSO's without spaces)."""
    text = dumps_sorted(dict(arguments), compact=compact)
    return sha1(text.encode("utf-8")).hexdigest()  # a file name, not a MAC


def _fingerprint(environ: Mapping[str, str], inputs: Mapping[str, object]) -> str:
    document = {
        "version": _FINGERPRINT_VERSION,
        "inputs": dict(inputs),
        "endpoint_environment": {name: environ.get(name) for name in _ENDPOINT_ENV},
    }
    canonical = dumps_sorted(document, compact=True)
    return sha256(canonical.encode("utf-8")).hexdigest()


def _text(section: Mapping[str, object], key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) else None


def _is_role(section: Mapping[str, object]) -> bool:
    return "role_arn" in section and "web_identity_token_file" not in section


def _has_static_keys(section: Mapping[str, object]) -> bool:
    return "aws_access_key_id" in section or "aws_secret_access_key" in section


def _cli_directory(environ: Mapping[str, str]) -> str:
    """``~/.aws/cli/cache`` (``HOME`` from ``environ``): the AWS CLI's fixed location."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".aws", "cli", "cache")


def _shared_plan(
    files: SharedFiles, file_key: str, fingerprint: str, *, accept: bool, **extra: object
) -> CachePlan:
    config = files.shared_config()
    return CachePlan(
        directory=_cli_directory(files.environ),
        file_name=file_key + ".json",
        fingerprint=fingerprint,
        lock_directory=cache_directory(files.environ),
        shared_with_cli=True,
        accept_cli_entries=accept,
        watched_files=(config.config_path, config.credentials_path),
        extra_fields=extra,
    )


def _own_plan(environ: Mapping[str, str], file_name: str, fingerprint: str) -> CachePlan:
    directory = cache_directory(environ)
    return CachePlan(
        directory=directory,
        file_name=file_name,
        fingerprint=fingerprint,
        lock_directory=directory,
        shared_with_cli=False,
    )


def _hop(config: SharedConfig, name: str, section: Mapping[str, object]) -> dict[str, object]:
    """One profile of a chain: all its settings and the blocks it names."""
    hop: dict[str, object] = {"profile": name, "settings": dict(section)}
    session = _text(section, "sso_session")
    if session is not None:
        hop["sso_session"] = dict(config.sso_sessions.get(session, {}))
    block = _text(section, "services")
    if block is not None:
        hop["services"] = dict(config.services.get(block, {}))
    return hop


# --- the sources ------------------------------------------------------------------------


def source_plan(files: SharedFiles) -> CachePlan | None:
    """The plan for the source the default chain would answer with, if it is cacheable.

    ``None`` for static keys, for sources with nothing to keep (IMDS and the
    container endpoint keep their own short-lived answers), when the cache is
    off, and for a broken profile: the chain then decides and reports.
    """
    environ = files.environ
    if environ.get(DISABLE_ENV, "").lower() in ("off", "0", "false", "no"):
        return None
    if files.profile is None and environ.get("AWS_ACCESS_KEY_ID"):
        return None  # the environment's keys come first in the chain
    config = files.shared_config()
    name = files.profile_name
    section = config.profile(name)
    if _is_role(section):
        return _role_profile_plan(files, config, name)
    web_identity = _web_identity_plan(files, config, name, section)
    if web_identity is not None or _web_identity_setting(files, section, "web_identity_token_file"):
        return web_identity
    if any(key in section for key in _SSO_KEYS):
        return _sso_plan(files, config, name, section)
    if _has_static_keys(config.credentials_profiles.get(name, {})):
        return None  # the credentials file's keys come before credential_process
    command = _text(section, "credential_process")
    if command:
        inputs = {"hops": [_hop(config, name, section)]}
        key = _sha1({"CredentialProcess": command, "Profile": name})
        return _own_plan(environ, f"credential-process-{key}.json", _fingerprint(environ, inputs))
    return None


def _role_arguments(section: Mapping[str, object]) -> dict[str, object] | None:
    """The arguments the AWS CLI keys a profile's AssumeRole on; ``None`` if it would not cache."""
    arguments: dict[str, object] = {"RoleArn": _text(section, "role_arn") or ""}
    session_name = _text(section, "role_session_name")
    if session_name is not None:
        if not session_name:
            return None  # the CLI would invent a name, the chain would send an empty one
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


def _role_profile_plan(files: SharedFiles, config: SharedConfig, top: str) -> CachePlan | None:
    arguments = _role_arguments(config.profile(top))
    if arguments is None:
        return None
    hops: list[dict[str, object]] = []
    accept = False
    current, visited = top, [top]
    while True:
        section = config.profile(current)
        hops.append(_hop(config, current, section))
        credential_source = _text(section, "credential_source")
        source_profile = _text(section, "source_profile")
        if credential_source is not None and source_profile is None:
            if credential_source == "Environment":
                hops.append({"environment": {key: files.environ.get(key) for key in _ENV_KEYS}})
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
            accept = _has_static_keys(source) and not any(key in source for key in _OTHER_SOURCES)
            break
        current = source_profile
    fingerprint = _fingerprint(files.environ, {"hops": hops})
    return _shared_plan(files, _sha1(arguments), fingerprint, accept=accept)


def _web_identity_setting(
    files: SharedFiles, section: Mapping[str, object], key: str
) -> str | None:
    """The environment first (unless a profile was chosen), then the profile: the provider's rule."""
    if files.profile is None:
        value = files.environ.get(_WEB_IDENTITY_ENV[key])
        if value is not None:
            return value
    return _text(section, key)


def _web_identity_plan(
    files: SharedFiles, config: SharedConfig, name: str, section: Mapping[str, object]
) -> CachePlan | None:
    token_file = _web_identity_setting(files, section, "web_identity_token_file")
    role_arn = _web_identity_setting(files, section, "role_arn")
    if not token_file or not role_arn:
        return None
    from k8s_aws_auth.credentials.internal import expand_path, read_text_file

    try:
        token = read_text_file(expand_path(token_file, files.environ))
    except (OSError, UnicodeDecodeError):
        return None  # the provider reports it
    if not token:
        return None
    arguments: dict[str, object] = {"RoleArn": role_arn, "WebIdentityToken": token}
    session_name = _web_identity_setting(files, section, "role_session_name")
    if session_name:
        arguments["RoleSessionName"] = session_name
    inputs = {"hops": [_hop(config, name, section)], "arguments": arguments}
    return _shared_plan(files, _sha1(arguments), _fingerprint(files.environ, inputs), accept=True)


def _sso_plan(
    files: SharedFiles, config: SharedConfig, name: str, section: Mapping[str, object]
) -> CachePlan | None:
    settings = {key: value for key in _SSO_KEYS if isinstance(value := section.get(key), str)}
    session_name = settings.get("sso_session")
    if session_name is not None:
        session = config.sso_sessions.get(session_name)
        if session is None:
            return None
        start_url = _text(session, "sso_start_url")
        if start_url is None or settings.get("sso_start_url", start_url) != start_url:
            return None  # missing or contradictory: the provider reports it
        settings["sso_start_url"] = start_url
    account, role = settings.get("sso_account_id"), settings.get("sso_role_name")
    if not (account and role and settings.get("sso_start_url")):
        return None
    # AWS CLI v2's key (v1 keeps SSO role credentials in memory only).
    arguments = {"accountId": account, "roleName": role}
    if session_name is not None:
        arguments["sessionName"] = session_name
    else:
        arguments["startUrl"] = settings["sso_start_url"]
    fingerprint = _fingerprint(files.environ, {"hops": [_hop(config, name, section)]})
    return _shared_plan(
        files, _sha1(arguments, compact=True), fingerprint, accept=True, ProviderType="sso"
    )


def explicit_role_plan(
    files: SharedFiles,
    *,
    source: tuple[str, str, str | None],
    role_arn: str,
    external_id: str | None,
    session_name: str | None,
    forward_session_name: bool,
    region: str | None,
) -> CachePlan | None:
    """``--role``: the AWS CLI has no cache for it (``eks get-token --role-arn`` calls STS each time).

    Kept in our own directory, keyed by the role, its options and a hash of the
    source keys (a rotated source key is another entry), and fingerprinted with
    the settings of the profile whose region and endpoint apply.
    """
    environ = files.environ
    if environ.get(DISABLE_ENV, "").lower() in ("off", "0", "false", "no"):
        return None
    source_digest = sha256("\0".join(part or "" for part in source).encode("utf-8"))
    arguments = {
        "RoleArn": role_arn,
        "ExternalId": external_id,
        "RoleSessionName": session_name,
        "ForwardSessionName": forward_session_name,
        "Source": source_digest.hexdigest(),
    }
    config = files.shared_config()
    name = files.settings_profile
    inputs = {
        "arguments": arguments,
        "region": region,
        "hops": [_hop(config, name, config.profile(name))],
    }
    return _own_plan(environ, f"assume-role-{_sha1(arguments)}.json", _fingerprint(environ, inputs))
