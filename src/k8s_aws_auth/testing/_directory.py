"""What a FakeSTS knows: the principals, roles and web identities registered with it (thread-safe)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import attrs

from k8s_aws_auth._core.arn import ParsedArn, parse_arn
from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.errors import ConfigurationError

from ._credentials import unique_id
from ._params import MAX_DURATION
from ._values import Principal

__all__ = ["Directory", "Entry", "MfaCheck", "Role", "identity_arn", "parse_role_arn"]

_MIN_ROLE_MAX_DURATION = 3600

MfaCheck = Callable[[str], bool]


@attrs.frozen(kw_only=True)
class Entry:
    """A registered caller: its principal and its parsed ARN."""

    principal: Principal
    parsed: ParsedArn


@attrs.frozen(kw_only=True)
class Role:
    """A role ``AssumeRole`` may assume, and what it demands."""

    parsed: ParsedArn
    role_id: str
    trusted: frozenset[str] | None
    external_id: str | None = attrs.field(repr=False)
    mfa_serial: str | None
    mfa_code: str | MfaCheck | None = attrs.field(repr=False)
    max_duration: int


class Directory:
    """The registrations of one emulator, behind one lock (see the ``FakeSTS.register*`` methods)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._principals: dict[str, Entry] = {}
        self._roles: dict[str, Role] = {}
        self._web_identities: dict[str, frozenset[str] | None] = {}

    def register(self, credentials: Credentials, arn: str, user_id: str | None) -> Principal:
        """Make ``credentials`` sign as ``arn`` (see ``FakeSTS.register``)."""
        if not isinstance(credentials, Credentials):
            raise ConfigurationError("credentials must be a Credentials value", reason="fake-sts")
        if not credentials.access_key_id or not credentials.secret_access_key:
            raise ConfigurationError(
                "credentials need an access key id and a secret", reason="fake-sts"
            )
        parsed = identity_arn(arn)
        if parsed.principal_type in ("assumed-role", "federated-user") and not (
            credentials.session_token
        ):
            raise ConfigurationError(
                f"{parsed.principal_type} credentials are temporary and need a session token",
                reason="fake-sts",
            )
        if user_id is None:
            user_id = _default_user_id(parsed)
        principal = Principal(
            arn=arn, user_id=user_id, account_id=parsed.account_id, credentials=credentials
        )
        with self._lock:
            self._principals[credentials.access_key_id] = Entry(principal=principal, parsed=parsed)
        return principal

    def register_role(
        self,
        role_arn: str,
        *,
        trusted: Iterable[str] | None,
        external_id: str | None,
        mfa_serial: str | None,
        mfa_code: str | MfaCheck | None,
        max_duration: int,
        role_id: str | None,
    ) -> None:
        """Make ``role_arn`` assumable (see ``FakeSTS.register_role``)."""
        parsed = parse_role_arn(role_arn)
        if not _MIN_ROLE_MAX_DURATION <= max_duration <= MAX_DURATION:
            raise ConfigurationError(
                "max_duration must be between 3600 and 43200 seconds", reason="fake-sts"
            )
        if mfa_serial is not None and mfa_code is None:
            raise ConfigurationError("mfa_serial needs mfa_code", reason="fake-sts")
        role = Role(
            parsed=parsed,
            role_id=role_id or unique_id("AROA", role_arn),
            trusted=None if trusted is None else frozenset(trusted),
            external_id=external_id,
            mfa_serial=mfa_serial,
            mfa_code=mfa_code,
            max_duration=max_duration,
        )
        with self._lock:
            self._roles[role_arn] = role

    def register_web_identity(self, role_arn: str, token: str | None) -> None:
        """Accept ``token`` for ``role_arn`` (see ``FakeSTS.register_web_identity``)."""
        parse_role_arn(role_arn)
        if token is not None and not token:
            raise ConfigurationError("token must be non-empty (or None for any)", reason="fake-sts")
        with self._lock:
            known = self._web_identities.get(role_arn, frozenset())
            if token is None or known is None:
                self._web_identities[role_arn] = None
            else:
                self._web_identities[role_arn] = known | {token}

    def principal(self, access_key_id: str) -> Entry | None:
        """The caller registered with ``access_key_id``."""
        with self._lock:
            return self._principals.get(access_key_id)

    def role(self, role_arn: str) -> Role | None:
        """The role registered as ``role_arn``."""
        with self._lock:
            return self._roles.get(role_arn)

    def web_identity(self, role_arn: str) -> tuple[bool, frozenset[str] | None]:
        """Whether ``role_arn`` takes web identities, and which tokens (``None``: any)."""
        with self._lock:
            return role_arn in self._web_identities, self._web_identities.get(role_arn)


def identity_arn(arn: str) -> ParsedArn:
    """``arn`` parsed, if it can be a caller's identity (a ``ConfigurationError`` for the test author)."""
    try:
        parsed = parse_arn(arn)
    except ValueError as exc:
        raise ConfigurationError(f"not a caller identity ARN: {exc}", reason="fake-sts") from None
    if parsed.principal_type == "role":
        raise ConfigurationError(
            "an IAM role ARN is never a caller identity: register its session ARN "
            "(arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), or use register_role",
            reason="fake-sts",
        )
    return parsed


def parse_role_arn(role_arn: str) -> ParsedArn:
    """``role_arn`` parsed, if it is an IAM role's ARN (a ``ConfigurationError`` otherwise)."""
    try:
        parsed = parse_arn(role_arn)
    except ValueError as exc:
        raise ConfigurationError(f"not a role ARN: {exc}", reason="fake-sts") from None
    if parsed.principal_type != "role":
        raise ConfigurationError(
            "expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", reason="fake-sts"
        )
    return parsed


def _default_user_id(parsed: ParsedArn) -> str:
    if parsed.principal_type == "root":
        return parsed.account_id
    if parsed.principal_type == "federated-user":
        return f"{parsed.account_id}:{parsed.name}"
    if parsed.principal_type == "assumed-role":
        return f"{unique_id('AROA', parsed.canonical_arn)}:{parsed.session_name}"
    return unique_id("AIDA", parsed.arn)
