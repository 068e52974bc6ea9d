"""The shared ``config`` and ``credentials`` files, parsed as the AWS CLI parses them.

Pure text in: `parse_ini()` takes the file's text. The dialect is the one
botocore reads (Python's ``configparser`` in raw mode): ``=`` or ``:``
separators, ``#``/``;`` full-line comments, case-insensitive keys, indented
continuation lines, and one level of nested keys for ``s3 =``/``sts =`` blocks.
In the config file, profiles are ``[default]`` or ``[profile NAME]``, SSO
sessions ``[sso-session NAME]`` and endpoint blocks ``[services NAME]``; in the
credentials file every section is a profile name. Values from the credentials
file win over the config file's for the same profile, as in the AWS CLI.

This module is also the exec plugin's way into the shared files: it imports no
attrs, typing or datetime (``configparser`` and ``shlex`` load only for a file
`_simple_ini` does not read: continuation lines, quoted names), so
``k8s-aws-auth token`` reads region settings and a profile's static keys with
the same code as the credential chain, without the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from k8s_aws_auth._core.frozen import Frozen
from k8s_aws_auth.errors import CredentialProviderError

from ._simple_ini import read_simple_ini, split_section_name

__all__ = [
    "MAX_FILE_SIZE",
    "ReadFile",
    "SharedConfig",
    "SharedFiles",
    "config_file_path",
    "credentials_file_path",
    "expand_path",
    "load_shared_config",
    "parse_ini",
    "profile_from_environ",
    "profile_static_keys",
    "read_file_checked",
    "read_text_file",
    "section_keys",
]

#: ``read_file(path)`` returns the file's text, ``None`` when it does not exist,
#: and raises ``OSError`` when it exists but cannot be read.
ReadFile = Callable[[str], "str | None"]

Value = str | dict[str, str]
Section = Mapping[str, Value]

PROVIDER = "shared-config"

#: Shared files and token files larger than this are refused.
MAX_FILE_SIZE = 1024 * 1024


def read_text_file(path: str) -> str | None:
    """Read a small UTF-8 file; ``None`` if it does not exist (the default ``read_file``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(data) > MAX_FILE_SIZE:
        raise OSError(f"file larger than {MAX_FILE_SIZE} bytes")
    return data.decode("utf-8")


def expand_path(path: str, environ: Mapping[str, str]) -> str:
    """Expand a leading ``~`` with the injected ``HOME`` (``USERPROFILE`` on Windows)."""
    if path == "~" or path.startswith(("~/", "~\\")):
        home = environ.get("HOME") or environ.get("USERPROFILE")
        if home:
            return home + path[1:]
    return path


def profile_from_environ(environ: Mapping[str, str]) -> str:
    """The profile the AWS CLI would use: ``AWS_DEFAULT_PROFILE``, then ``AWS_PROFILE``, then ``default``."""
    for name in ("AWS_DEFAULT_PROFILE", "AWS_PROFILE"):
        value = environ.get(name)
        if value:
            return value
    return "default"


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


def _ini_problem(exc: Exception, path: str) -> str:
    """What is wrong with the file, by file and line, without the line's text."""
    import configparser

    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{path} line {exc.lineno}: a setting appears before any [section] header"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{path} line {exc.lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{path} line {exc.lineno}: {exc.option!r} is set twice in [{exc.section}]"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _line in exc.errors)
        return f"{path} line {lines}: not a 'key = value' line"
    return f"{path}: cannot be parsed ({type(exc).__name__})"


def parse_ini(text: str, path: str) -> dict[str, dict[str, Value]]:
    """Parse one shared file into ``{section: {key: value or nested dict}}``.

    Errors name the file and line, never the offending line's text (it may hold a secret).
    """
    simple = read_simple_ini(text)
    if simple is not None:
        return {name: dict(values) for name, values in simple.items()}
    return _parse_with_configparser(text, path)


def _parse_with_configparser(text: str, path: str) -> dict[str, dict[str, Value]]:
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        problem: str | None = _ini_problem(exc, path)
    else:
        problem = None
    if problem is not None:
        # Raised here, not in the handler: the parser's exception quotes the
        # offending line (a secret key, perhaps) and would stay as __context__.
        raise CredentialProviderError(problem, provider=PROVIDER, reason="malformed-file")
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
    parts = split_section_name(header)
    if parts is None:
        import shlex

        try:
            parts = shlex.split(header)
        except ValueError:
            return None
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


class SharedConfig(Frozen):
    """Both shared files, parsed. Profile sections are plain ``{key: value}`` mappings.

    ``profiles`` is the merged view: config-file profiles updated with the
    credentials file's sections. The sections stay out of ``repr`` (they hold keys).
    """

    __slots__ = (  # noqa: RUF023 - the field order, shown by repr
        "profiles",
        "config_profiles",
        "credentials_profiles",
        "sso_sessions",
        "services",
        "config_path",
        "credentials_path",
    )
    repr_hidden = frozenset(
        ("profiles", "config_profiles", "credentials_profiles", "sso_sessions", "services")
    )
    profiles: Mapping[str, Mapping[str, Value]]
    config_profiles: Mapping[str, Mapping[str, Value]]
    credentials_profiles: Mapping[str, Mapping[str, Value]]
    sso_sessions: Mapping[str, Mapping[str, Value]]
    services: Mapping[str, Mapping[str, Value]]
    config_path: str
    credentials_path: str

    def __init__(
        self,
        *,
        profiles: Mapping[str, Mapping[str, Value]],
        config_profiles: Mapping[str, Mapping[str, Value]],
        credentials_profiles: Mapping[str, Mapping[str, Value]],
        sso_sessions: Mapping[str, Mapping[str, Value]],
        services: Mapping[str, Mapping[str, Value]],
        config_path: str,
        credentials_path: str,
    ) -> None:
        self._init(
            profiles=profiles,
            config_profiles=config_profiles,
            credentials_profiles=credentials_profiles,
            sso_sessions=sso_sessions,
            services=services,
            config_path=config_path,
            credentials_path=credentials_path,
        )

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


def read_file_checked(
    read_file: ReadFile, path: str, provider: str, *, what: str = ""
) -> str | None:
    """``read_file(path)``, ``None`` for a missing file; an unreadable one is ``provider``'s error.

    The message names ``what`` (e.g. ``"the token file "``), the path and the
    exception class, never the file's text or the exception's (either may quote a secret).
    """
    try:
        return read_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        failure = type(exc).__name__
    # Raised outside the handler: a UnicodeDecodeError holds the file's bytes.
    raise CredentialProviderError(
        f"cannot read {what}{path} ({failure})", provider=provider, reason="unreadable-file"
    )


def load_shared_config(environ: Mapping[str, str], read_file: ReadFile) -> SharedConfig:
    """Read and parse both shared files named by the environment (missing files are empty)."""
    config_path = config_file_path(environ)
    credentials_path = credentials_file_path(environ)
    config_text = read_file_checked(read_file, config_path, PROVIDER)
    credentials_text = read_file_checked(read_file, credentials_path, PROVIDER)
    return build_shared_config(
        parse_ini(config_text, config_path) if config_text else {},
        parse_ini(credentials_text, credentials_path) if credentials_text else {},
        config_path=config_path,
        credentials_path=credentials_path,
    )


def section_keys(section: Mapping[str, Value]) -> tuple[str, str, str | None] | None:
    """A section's static keys: key id, secret (``""`` when missing) and session token.

    ``None`` when the section has no ``aws_access_key_id``. The session token is
    ``aws_security_token`` if set (the AWS CLI prefers the older name), else
    ``aws_session_token``; empty means none. What a missing secret means is the
    caller's call (the providers raise, the exec plugin runs the chain).
    """
    access_key_id = section.get("aws_access_key_id")
    if not isinstance(access_key_id, str):
        return None
    secret = section.get("aws_secret_access_key")
    token = section.get("aws_security_token")
    if not isinstance(token, str):
        token = section.get("aws_session_token")
    return (
        access_key_id,
        secret if isinstance(secret, str) else "",
        token if isinstance(token, str) and token else None,
    )


class SharedFiles:
    """The shared files as one environment and profile see them, parsed on first use.

    The part of a [`ProviderContext`][k8s_aws_auth.credentials.ProviderContext] that region
    settings and static profile keys read (environment, file reader, chosen
    profile), for a caller that must not import the credential chain: the exec
    plugin's start-up path. ``profile=None`` means ``AWS_DEFAULT_PROFILE`` /
    ``AWS_PROFILE`` / ``default``, and, as in the SDKs, a profile given here is an
    explicit choice that turns the environment's credentials off.
    """

    __slots__ = ("_config", "environ", "profile", "read_file")

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        profile: str | None = None,
        read_file: ReadFile = read_text_file,
    ) -> None:
        self.environ = environ
        self.profile = profile
        self.read_file = read_file
        self._config: SharedConfig | None = None

    def __repr__(self) -> str:
        return f"SharedFiles(profile={self.profile!r})"

    @property
    def profile_name(self) -> str:
        """The profile to read: explicit, else from the environment, else ``default``."""
        return self.profile if self.profile is not None else profile_from_environ(self.environ)

    @property
    def settings_profile(self) -> str:
        """The profile whose region and endpoint settings apply (here: `profile_name`)."""
        return self.profile_name

    def shared_config(self) -> SharedConfig:
        """Both files, read and parsed once."""
        if self._config is None:
            self._config = load_shared_config(self.environ, self.read_file)
        return self._config


#: Profile settings that put a source before the profile's static keys in the default
#: chain, or make it the profile's only source: AssumeRole (``role_arn``, which
#: ``credential_source`` and ``source_profile`` serve), web identity, SSO (``sso_*``)
#: and ``credential_process`` (before the config file's keys).
_CHAIN_ONLY_SETTINGS = (
    "role_arn",
    "credential_source",
    "source_profile",
    "web_identity_token_file",
    "credential_process",
)


def profile_static_keys(files: SharedFiles) -> tuple[str, str, str | None] | None:
    """The static keys the default chain answers with, when the shared files alone decide it.

    That is when no earlier source of the chain can apply: no environment keys or
    web identity token file (unless a profile was chosen explicitly), and a
    profile without ``role_arn``, ``credential_source``, ``source_profile``,
    ``web_identity_token_file``, ``sso_*`` or ``credential_process``. Then the
    credentials file's section wins over the config file's, as in the chain.
    ``None`` means "run the chain": it decides every other case, errors included
    (a key id without a secret, a missing profile).
    """
    environ = files.environ
    if files.profile is None and (
        environ.get("AWS_ACCESS_KEY_ID") or environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    ):
        return None
    config = files.shared_config()
    name = files.profile_name
    merged = config.profile(name)
    if any(key in merged for key in _CHAIN_ONLY_SETTINGS) or any(
        key.startswith("sso_") for key in merged
    ):
        return None
    for sections in (config.credentials_profiles, config.config_profiles):
        keys = section_keys(sections.get(name, {}))
        if keys is not None:
            access_key_id, secret, _token = keys
            return keys if access_key_id and secret else None
    return None
