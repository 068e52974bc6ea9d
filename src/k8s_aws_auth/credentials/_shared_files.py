"""The shared ``config`` and ``credentials`` files, parsed as the AWS CLI parses them.

Pure text in: :func:`parse_ini` takes the file's text. The dialect is the one
botocore reads (Python's ``configparser`` in raw mode): ``=`` or ``:``
separators, ``#``/``;`` full-line comments, case-insensitive keys, indented
continuation lines, and one level of nested keys for ``s3 =``/``sts =`` blocks.
In the config file, profiles are ``[default]`` or ``[profile NAME]``, SSO
sessions ``[sso-session NAME]`` and endpoint blocks ``[services NAME]``; in the
credentials file every section is a profile name. Values from the credentials
file win over the config file's for the same profile, as in the AWS CLI.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Union

import attrs

from k8s_aws_auth.errors import CredentialProviderError

from ._base import ReadFile, expand_path

__all__ = [
    "SharedConfig",
    "config_file_path",
    "credentials_file_path",
    "load_shared_config",
    "parse_ini",
]

Value = Union[str, "dict[str, str]"]
Section = Mapping[str, Value]

PROVIDER = "shared-config"


def config_file_path(environ: Mapping[str, str]) -> str:
    """``AWS_CONFIG_FILE`` or ``~/.aws/config``, with ``~`` expanded from the injected environment."""
    return expand_path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config", environ)


def credentials_file_path(environ: Mapping[str, str]) -> str:
    """``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``."""
    return expand_path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", environ)


def _nested(value: str, path: str, line_hint: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for raw_line in value.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        key, sep, inner = line.partition("=")
        if not sep:
            raise CredentialProviderError(
                f"{path}: a nested setting under {line_hint} has no '='",
                provider=PROVIDER,
                reason="malformed-file",
            )
        parsed[key.strip()] = inner.strip()
    return parsed


def parse_ini(text: str, path: str) -> dict[str, dict[str, Value]]:
    """Parse one shared file into ``{section: {key: value or nested dict}}``.

    Errors name the file and line, never the offending line's text (it may hold a secret).
    """
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=path)
    except configparser.MissingSectionHeaderError as exc:
        raise CredentialProviderError(
            f"{path} line {exc.lineno}: a setting appears before any [section] header",
            provider=PROVIDER,
            reason="malformed-file",
        ) from None
    except configparser.DuplicateSectionError as exc:
        raise CredentialProviderError(
            f"{path} line {exc.lineno}: section [{exc.section}] appears twice",
            provider=PROVIDER,
            reason="malformed-file",
        ) from None
    except configparser.DuplicateOptionError as exc:
        raise CredentialProviderError(
            f"{path} line {exc.lineno}: {exc.option!r} is set twice in [{exc.section}]",
            provider=PROVIDER,
            reason="malformed-file",
        ) from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(lineno) for lineno, _line in exc.errors)
        raise CredentialProviderError(
            f"{path} line {lines}: not a 'key = value' line",
            provider=PROVIDER,
            reason="malformed-file",
        ) from None
    except configparser.Error as exc:
        raise CredentialProviderError(
            f"{path}: cannot be parsed ({type(exc).__name__})",
            provider=PROVIDER,
            reason="malformed-file",
        ) from None
    result: dict[str, dict[str, Value]] = {}
    for section in parser.sections():
        values: dict[str, Value] = {}
        for key in parser.options(section):
            value = parser.get(section, key)
            values[key] = _nested(value, path, f"{key!r}") if value.startswith("\n") else value
        result[section] = values
    return result


def _section_name(header: str) -> tuple[str, str] | None:
    """``profile foo`` → ("profile", "foo"); quoted names allowed; anything else → None."""
    try:
        parts = shlex.split(header)
    except ValueError:
        return None
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


@attrs.frozen(kw_only=True)
class SharedConfig:
    """Both shared files, parsed. Profile sections are plain ``{key: value}`` mappings."""

    profiles: Mapping[str, Mapping[str, Value]] = attrs.field(repr=False)
    """Merged view: config-file profiles updated with the credentials file's sections."""
    config_profiles: Mapping[str, Mapping[str, Value]] = attrs.field(repr=False)
    credentials_profiles: Mapping[str, Mapping[str, Value]] = attrs.field(repr=False)
    sso_sessions: Mapping[str, Mapping[str, Value]] = attrs.field(repr=False)
    services: Mapping[str, Mapping[str, Value]] = attrs.field(repr=False)
    config_path: str
    credentials_path: str

    def profile(self, name: str) -> Mapping[str, Value]:
        """The merged settings of profile ``name`` (empty when it does not exist)."""
        return self.profiles.get(name, {})

    def setting(self, profile: str, key: str) -> str | None:
        """A plain string setting of ``profile``, or ``None``."""
        value = self.profiles.get(profile, {}).get(key)
        return value if isinstance(value, str) else None


def build_shared_config(
    config_sections: Mapping[str, Mapping[str, Value]],
    credentials_sections: Mapping[str, Mapping[str, Value]],
    *,
    config_path: str = "config",
    credentials_path: str = "credentials",
) -> SharedConfig:
    """Sort config-file sections into profiles, sso-sessions and services; merge the credentials file."""
    profiles: dict[str, dict[str, Value]] = {}
    sso_sessions: dict[str, dict[str, Value]] = {}
    services: dict[str, dict[str, Value]] = {}
    for header, values in config_sections.items():
        if header == "default":
            profiles["default"] = dict(values)
            continue
        for prefix, target in (
            ("profile", profiles),
            ("sso-session", sso_sessions),
            ("services", services),
        ):
            if header.startswith(prefix):
                named = _section_name(header)
                if named is not None and named[0] == prefix:
                    target[named[1]] = dict(values)
                break
    config_profiles = {name: dict(values) for name, values in profiles.items()}
    for name, values in credentials_sections.items():
        profiles.setdefault(name, {}).update(values)
    return SharedConfig(
        profiles=profiles,
        config_profiles=config_profiles,
        credentials_profiles={name: dict(values) for name, values in credentials_sections.items()},
        sso_sessions=sso_sessions,
        services=services,
        config_path=config_path,
        credentials_path=credentials_path,
    )


def _read(path: str, read_file: ReadFile) -> str | None:
    try:
        return read_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialProviderError(
            f"cannot read {path} ({type(exc).__name__})",
            provider=PROVIDER,
            reason="unreadable-file",
        ) from None


def load_shared_config(environ: Mapping[str, str], read_file: ReadFile) -> SharedConfig:
    """Read and parse both shared files named by the environment (missing files are empty)."""
    config_path = config_file_path(environ)
    credentials_path = credentials_file_path(environ)
    config_text = _read(config_path, read_file)
    credentials_text = _read(credentials_path, read_file)
    return build_shared_config(
        parse_ini(config_text, config_path) if config_text else {},
        parse_ini(credentials_text, credentials_path) if credentials_text else {},
        config_path=config_path,
        credentials_path=credentials_path,
    )
