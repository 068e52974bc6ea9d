"""Reading the entries of a mapping file: one role, user or account entry → a checked value.

Every problem is collected (with where it is) rather than raised, so one reload
reports all of them. Upstream formats read field names case-insensitively;
unknown fields are errors (a typo such as ``grups`` silently dropping
``system:masters`` is worse than a refused reload).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from k8s_aws_auth._core.partitions import PARTITIONS

from ._entries import AccountMapping, RoleMapping, SSORole, UserMapping
from ._errors import Problem

__all__ = ["Collector", "Entries", "account_id", "entry_fields"]

_PERMISSION_SET = re.compile(r"[\w+=,.@-]{1,32}", re.ASCII)
_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)


class Collector:
    """Accumulates problems and warnings while entries are read."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(Problem(where, message))


def entry_fields(
    raw: Any,
    allowed: tuple[str, ...],
    where: str,
    out: Collector,
    *,
    case_insensitive: bool,
) -> dict[str, Any] | None:
    """An entry's fields by their canonical names; ``None`` (problems collected) for unknown or repeated ones."""
    if not isinstance(raw, dict):
        out.error(where, "entry must be a mapping")
        return None
    by_key = _field_names(allowed, case_insensitive)
    fields: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        lookup = key.lower() if case_insensitive and isinstance(key, str) else key
        name = by_key.get(lookup) if isinstance(lookup, str) else None
        if name is None:
            out.error(where, f"unknown field {key!r} (allowed: {', '.join(allowed)})")
            ok = False
        elif name in fields:
            out.error(where, f"field {name!r} given twice (field names are case-insensitive)")
            ok = False
        else:
            fields[name] = value
    return fields if ok else None


@cache
def _field_names(allowed: tuple[str, ...], case_insensitive: bool) -> dict[str, str]:
    # Built once per field list, not once per entry (callers only read it).
    return {(name.lower() if case_insensitive else name): name for name in allowed}


def _string(value: Any, what: str, where: str, out: Collector) -> str | None:
    if isinstance(value, str):
        return value
    out.error(where, f"{what} must be a string")
    return None


def _groups(value: Any, where: str, out: Collector) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list):
        out.error(where, "groups must be a list of strings")
        return None
    if not all(isinstance(group, str) for group in value):
        out.error(where, "groups must be a list of strings")
        return None
    return tuple(value)


def account_id(value: Any, what: str, where: str, out: Collector) -> str | None:
    """A 12-digit account id (an unquoted YAML number of 12 digits too); ``None`` with a problem otherwise."""
    # YAML reads an unquoted 111122223333 as an int; accept it when it has 12 digits
    # (a leading zero would have been lost, so those must be quoted).
    if isinstance(value, int) and not isinstance(value, bool) and 10**11 <= value < 10**12:
        return str(value)
    if isinstance(value, str) and _ACCOUNT.fullmatch(value):
        return value
    out.error(where, f"{what} must be a 12-digit account id, quoted in YAML")
    return None


_SSO_FIELDS = ("permissionSetName", "accountID", "partition")


def _sso(value: Any, where: str, out: Collector, *, case_insensitive: bool) -> SSORole | None:
    fields = entry_fields(
        value, _SSO_FIELDS, f"{where}.sso", out, case_insensitive=case_insensitive
    )
    if fields is None:
        return None
    name = fields.get("permissionSetName")
    if not isinstance(name, str) or not _PERMISSION_SET.fullmatch(name):
        out.error(f"{where}.sso", "permissionSetName must match [A-Za-z0-9_+=,.@-]{1,32}")
        return None
    account = account_id(fields.get("accountID"), "accountID", f"{where}.sso", out)
    if account is None:
        return None
    partition = fields.get("partition") or "aws"
    if partition not in PARTITIONS:
        out.error(f"{where}.sso", f"partition {partition!r} is not a known AWS partition")
        return None
    return SSORole(permission_set_name=name, account_id=account, partition=partition)


def _role(raw: Any, where: str, index: int, out: Collector, *, native: bool) -> RoleMapping | None:
    arn_field = "arn" if native else "rolearn"
    uid_field = "userID" if native else "userid"
    allowed = (arn_field, "sso", "username", "groups", uid_field)
    fields = entry_fields(raw, allowed, where, out, case_insensitive=not native)
    if fields is None:
        return None
    sso: SSORole | None = None
    if (arn_field in fields) == ("sso" in fields):
        out.error(where, f"give exactly one of {arn_field!r} and 'sso'")
        return None
    if "sso" in fields:
        sso = _sso(fields["sso"], where, out, case_insensitive=not native)
        if sso is None:
            return None
        arn = f"arn:{sso.partition}:iam::{sso.account_id}:role/AWSReservedSSO_{sso.permission_set_name}_*"
    else:
        arn_value = _string(fields[arn_field], arn_field, where, out)
        if arn_value is None:
            return None
        arn = arn_value.strip()
    entry: RoleMapping | None = _entry_common(
        RoleMapping, fields, where, index, out, arn=arn, sso=sso, uid=uid_field
    )
    return entry


def _user(raw: Any, where: str, index: int, out: Collector, *, native: bool) -> UserMapping | None:
    arn_field = "arn" if native else "userarn"
    uid_field = "userID" if native else "userid"
    allowed = (arn_field, "username", "groups", uid_field)
    fields = entry_fields(raw, allowed, where, out, case_insensitive=not native)
    if fields is None:
        return None
    if arn_field not in fields:
        out.error(where, f"{arn_field!r} is required")
        return None
    arn = _string(fields[arn_field], arn_field, where, out)
    if arn is None:
        return None
    entry: UserMapping | None = _entry_common(
        UserMapping, fields, where, index, out, arn=arn.strip(), uid=uid_field
    )
    return entry


def _entry_common(
    cls: Callable[..., Any],
    fields: dict[str, Any],
    where: str,
    index: int,
    out: Collector,
    *,
    arn: str,
    uid: str,
    **extra: Any,
) -> Any:
    if "username" not in fields:
        out.error(where, "'username' is required")
        return None
    username = _string(fields["username"], "username", where, out)
    groups = _groups(fields.get("groups"), where, out)
    user_id = fields.get(uid)
    if user_id is not None and not isinstance(user_id, str):
        out.error(where, f"{uid} must be a string")
        return None
    if username is None or groups is None:
        return None
    return cls(
        arn=arn,
        username=username,
        groups=groups,
        user_id=user_id or None,
        location=where,
        index=index,
        **extra,
    )


class Entries:
    """Role, user and account entries in file order (the formats add their lists here)."""

    def __init__(self) -> None:
        self.roles: list[RoleMapping] = []
        self.users: list[UserMapping] = []
        self.accounts: list[AccountMapping] = []

    def add_roles(self, raw: Any, where: str, out: Collector, *, native: bool) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of role entries")
            return
        for position, item in enumerate(raw):
            entry = _role(item, f"{where}[{position}]", len(self.roles), out, native=native)
            if entry is not None:
                self.roles.append(entry)

    def add_users(self, raw: Any, where: str, out: Collector, *, native: bool) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of user entries")
            return
        for position, item in enumerate(raw):
            entry = _user(item, f"{where}[{position}]", len(self.users), out, native=native)
            if entry is not None:
                self.users.append(entry)

    def add_accounts(self, raw: Any, where: str, out: Collector) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            out.error(where, "must be a list of account ids")
            return
        for position, item in enumerate(raw):
            account = account_id(item, "account", f"{where}[{position}]", out)
            if account is not None:
                self.accounts.append(
                    AccountMapping(
                        account_id=account,
                        location=f"{where}[{position}]",
                        index=len(self.accounts),
                    )
                )
