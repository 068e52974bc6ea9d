"""The entries of a mapping file as frozen values: ``mapRoles``, ``mapUsers``, ``mapAccounts``."""

from __future__ import annotations

import attrs

__all__ = ["AccountMapping", "RoleMapping", "SSORole", "UserMapping"]


@attrs.frozen(kw_only=True)
class SSORole:
    """Upstream's ``sso:`` entry form: the roles IAM Identity Center creates for a permission set.

    Matches ``arn:PARTITION:iam::ACCOUNT:role/AWSReservedSSO_<name>_<suffix>``.
    """

    permission_set_name: str
    account_id: str
    partition: str = "aws"


@attrs.frozen(kw_only=True)
class RoleMapping:
    """A ``mapRoles`` entry.

    ``arn`` is the role ARN as written (may carry an IAM path and ``*``/``?``
    wildcards); for the ``sso`` form it is the pattern the entry stands for.
    ``index`` is the entry's position among the roles of its file (file order).
    """

    arn: str
    username: str
    groups: tuple[str, ...] = ()
    user_id: str | None = None
    sso: SSORole | None = None
    location: str = ""
    index: int = 0


@attrs.frozen(kw_only=True)
class UserMapping:
    """A ``mapUsers`` entry (matched by exact canonical ARN, case-insensitively)."""

    arn: str
    username: str
    groups: tuple[str, ...] = ()
    user_id: str | None = None
    location: str = ""
    index: int = 0


@attrs.frozen(kw_only=True)
class AccountMapping:
    """A ``mapAccounts`` entry: every principal of the account maps to its canonical ARN."""

    account_id: str
    location: str = ""
    index: int = 0
