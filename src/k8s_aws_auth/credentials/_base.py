"""What every credential provider shares: the context it reads, the effects it yields, its result.

A provider is a frozen config object whose ``flow(ctx)`` is a generator: it
yields `HttpRequest` / ``Sleep`` (run by the
drivers), `RunProcess` (``credential_process``), `Prompt` (an
MFA code) or `WriteFile` (a refreshed SSO token), and returns
[`Credentials`][k8s_aws_auth.Credentials] or [`Skip`][k8s_aws_auth.credentials.Skip] (this source is not
configured here, and why). A *configured* source that
fails raises [`CredentialProviderError`][k8s_aws_auth.errors.CredentialProviderError].

The context carries the environment, a file reader and a clock, all injected:
providers never read ``os.environ``, the clock or the filesystem themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.errors import CredentialProviderError

# Path and profile-name rules live with the shared files (importable without attrs).
from ._shared_files import ReadFile, expand_path, profile_from_environ

if TYPE_CHECKING:
    from typing import TypeAlias

    from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, Sleep, TransportFailure

    from ._local_effects import (
        ProcessFailure,
        ProcessResult,
        Prompt,
        RunProcess,
        WriteFailure,
        WriteFile,
    )
    from ._shared_files import SharedConfig

__all__ = [
    "CredentialFlow",
    "CredentialProvider",
    "ProviderContext",
    "ReadFile",
    "Skip",
    "expand_path",
    "http",
    "parse_timestamp",
    "printable",
]

T = TypeVar("T")


@attrs.frozen
class Skip:
    """The provider is not configured in this environment; ``reason`` says why (for the attempt log)."""

    reason: str


if TYPE_CHECKING:
    CredentialEffect: TypeAlias = HttpRequest | Sleep | RunProcess | Prompt | WriteFile
    CredentialOutcome: TypeAlias = (
        HttpResponse | TransportFailure | ProcessResult | ProcessFailure | WriteFailure | str | None
    )
    CredentialFlow: TypeAlias = Generator[CredentialEffect, CredentialOutcome, T]
else:
    # Only annotations use these; at run time the names just have to exist, and
    # the effect classes are not imported until a provider needs one (fast start).
    CredentialEffect = CredentialOutcome = object
    CredentialFlow = Generator


class CredentialProvider(Protocol):
    """A source of credentials: a frozen config object with a flow."""

    @property
    def name(self) -> str:
        """Short name used in errors and in the attempt log."""
        ...

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Find credentials, or return [`Skip`][k8s_aws_auth.credentials.Skip] when this source is not configured."""
        ...


@attrs.define(kw_only=True)
class ProviderContext:
    """Everything a provider may read: environment, files, clock and the profile in use.

    ``profile`` is the explicitly chosen profile (``None``: from ``AWS_PROFILE``,
    else ``default``); an explicit profile also turns off the environment
    providers, as in the AWS SDKs. ``session_profile`` is the profile whose
    region and endpoint settings the STS calls use (the top of a
    ``source_profile`` chain). Parsed shared files are cached per context.
    """

    environ: Mapping[str, str] = attrs.field(repr=False)
    read_file: ReadFile = attrs.field(repr=False)
    clock: Callable[[], datetime] = attrs.field(repr=False)
    profile: str | None = None
    session_profile: str | None = None
    _config_cache: list[SharedConfig] = attrs.field(factory=list, repr=False, alias="config_cache")

    @property
    def profile_name(self) -> str:
        """The profile to read: explicit, else ``AWS_DEFAULT_PROFILE``/``AWS_PROFILE``, else ``default``."""
        if self.profile is not None:
            return self.profile
        return profile_from_environ(self.environ)

    @property
    def env_disabled(self) -> bool:
        """True when a profile was chosen explicitly: environment credentials are then ignored."""
        return self.profile is not None

    def shared_config(self) -> SharedConfig:
        """The parsed ``config`` and ``credentials`` files (read once per context)."""
        if not self._config_cache:
            from ._shared_files import load_shared_config

            self._config_cache.append(load_shared_config(self.environ, self.read_file))
        return self._config_cache[0]

    def for_profile(self, profile: str) -> ProviderContext:
        """A context reading ``profile`` (a ``source_profile``), sharing files and session settings."""
        return ProviderContext(
            environ=self.environ,
            read_file=self.read_file,
            clock=self.clock,
            profile=profile,
            session_profile=self.session_profile
            if self.session_profile is not None
            else self.profile_name,
            config_cache=self._config_cache,
        )

    @property
    def settings_profile(self) -> str:
        """The profile whose region/endpoint settings apply to the calls of this context."""
        return self.session_profile if self.session_profile is not None else self.profile_name


def http(request: HttpRequest) -> CredentialFlow[HttpResponse | TransportFailure]:
    """Yield one request and return what the driver sent back."""
    from k8s_aws_auth._core.effects import HttpResponse, TransportFailure

    outcome = yield request
    if isinstance(outcome, HttpResponse | TransportFailure):
        return outcome
    return TransportFailure(kind="error", detail="the driver returned no HTTP response")


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(?:([Zz]|UTC)|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 / RFC 3339 timestamp (``Z``, ``UTC``, offsets; naive means UTC) or ``None``."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _utc, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # the offset puts the instant off the calendar in UTC
        return None


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def printable(text: str, limit: int = 160) -> str:
    """``text`` squeezed to one printable line of at most ``limit`` characters (for messages)."""
    squeezed = _UNPRINTABLE.sub(" ", text).strip()
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 3] + "..."


#: What ``loads_json`` returns for text that is not JSON.
NOT_JSON: Any = object()


def loads_json(data: str | bytes) -> Any:
    """The JSON document in ``data``, or ``NOT_JSON``; never raises.

    The caller raises its error about a bad document outside any ``except``
    block: the decoder's exception holds the whole input (``doc``, ``object``),
    which for a credentials document is the secret, and would otherwise stay
    attached to the error as its ``__context__``.
    """
    import json

    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return NOT_JSON


def provider_error(provider: str, message: str, reason: str) -> CredentialProviderError:
    """A [`CredentialProviderError`][k8s_aws_auth.errors.CredentialProviderError] (shorthand used by every provider)."""
    return CredentialProviderError(message, provider=provider, reason=reason)


def transport_message(failure: TransportFailure, what: str) -> str:
    """Describe a transport failure without a URL: ``could not reach <what>: timeout (ConnectTimeout)``."""
    return f"could not reach {what}: {failure.kind} ({failure.detail})"
