"""Matching an identity's canonical ARN against role and user entries (pure).

The index is built once per mapping file:

* exact role entries live in a dict keyed by ``partition:account:rolename``
  (lower-case, IAM path dropped: role names are unique per account whatever
  their path, and STS never reports the path of an assumed role);
* wildcard entries (``*``/``?`` in the account or role name, and ``sso``
  entries) are bucketed by their account and the literal prefix of their role
  name, so a lookup tests only the few patterns that can possibly match;
* user entries live in a dict keyed by the lower-cased canonical ARN.

Among all entries that match, the one that comes first in the file wins.
Role entries only ever match identities whose canonical ARN is an IAM
*role*: an IAM user named ``user/assumed-role/Admin/bob`` is never a role.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from k8s_aws_auth._core.arn import arn_parts
from k8s_aws_auth._core.partitions import PARTITIONS

from ._entries import AccountMapping, RoleMapping, SSORole, UserMapping
from ._errors import Problem
from ._templates import check_template

__all__ = [
    "CompiledMappings",
    "RoleIndex",
    "RoleTarget",
    "UserIndex",
    "compile_mappings",
    "compile_role",
    "identity_role_key",
]

_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
_ACCOUNT_GLOB = re.compile(r"[0-9*?]{1,12}", re.ASCII)
_PARTITION_GLOB = re.compile(r"[a-z*?-]+", re.ASCII)
_NAME_GLOB = re.compile(r"[\w+=,.@*?-]{1,64}", re.ASCII)
_PATH_SEGMENT = re.compile(r"[\x21-\x7e]+", re.ASCII)
_WILDCARDS = frozenset("*?")


@attrs.frozen
class RoleTarget:
    """How one role entry matches: an exact key, or a compiled pattern.

    ``key`` is ``partition:account:rolename`` for exact entries. For patterns,
    ``account`` is the literal account (``None`` when it has wildcards),
    ``prefix`` the literal start of the role name and ``regex`` matches the
    whole ``partition:account:rolename`` string.
    """

    how: str
    key: str | None = None
    account: str | None = None
    prefix: str = ""
    regex: re.Pattern[str] | None = None


def _glob(text: str) -> str:
    """IAM ``ArnLike`` glob → regex: ``*`` any run, ``?`` exactly one character (never ``:``)."""
    out = []
    for char in text:
        if char == "*":
            out.append("[^:]*")
        elif char == "?":
            out.append("[^:]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _literal_prefix(text: str) -> str:
    for position, char in enumerate(text):
        if char in _WILDCARDS:
            return text[:position]
    return text


def compile_role(entry: RoleMapping) -> RoleTarget:
    """Compile a role entry's ARN (or ``sso`` form); raise ``ValueError`` naming what is wrong."""
    if entry.sso is not None:
        return _compile_sso(entry.sso)
    arn = entry.arn
    if not isinstance(arn, str) or not arn:
        raise ValueError("rolearn must be a non-empty string")
    if _WILDCARDS.isdisjoint(arn):
        return _compile_exact(arn)
    return _compile_pattern(arn)


def _compile_exact(arn: str) -> RoleTarget:
    try:
        # Upstream lower-cases mapping ARNs before parsing: ``ROLE/Admin`` works there too.
        # (arn_parts: parse_arn's checks without building a ParsedArn per entry.)
        partition, _, account, kind, name, path, _, _ = arn_parts(arn.lower())
    except ValueError as exc:
        raise ValueError(f"rolearn {arn!r} is not a valid ARN: {exc}") from None
    if kind not in ("role", "assumed-role"):
        raise ValueError(f"rolearn {arn!r} is not a role ARN (an IAM {kind}: use mapUsers)")
    name = name.rsplit("/", 1)[-1]
    how = "path-stripped" if path != "/" else "exact"
    return RoleTarget(how=how, key=f"{partition}:{account}:{name}".lower())


def _compile_pattern(arn: str) -> RoleTarget:
    parts = arn.lower().split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(
            f"rolearn pattern {arn!r} must have the form arn:PARTITION:iam::ACCOUNT:role/NAME"
        )
    _, partition, service, region, account, resource = parts
    if service != "iam" or region:
        raise ValueError(
            f"rolearn pattern {arn!r} must be an IAM role ARN (arn:PARTITION:iam::...)"
        )
    if not _PARTITION_GLOB.fullmatch(partition):
        raise ValueError(f"rolearn pattern {arn!r} has an invalid partition")
    if _WILDCARDS.isdisjoint(partition) and partition not in PARTITIONS:
        raise ValueError(f"rolearn pattern {arn!r} names an unknown partition")
    if not _ACCOUNT_GLOB.fullmatch(account) or (
        _WILDCARDS.isdisjoint(account) and not _ACCOUNT.fullmatch(account)
    ):
        raise ValueError(f"rolearn pattern {arn!r} has an invalid account (12 digits, * or ?)")
    kind, slash, rest = resource.partition("/")
    if kind != "role" or not slash or not rest:
        raise ValueError(f"rolearn pattern {arn!r} must name a role (…:role/NAME)")
    segments = rest.split("/")
    name = segments[-1]
    for segment in segments[:-1]:
        if not _PATH_SEGMENT.fullmatch(segment) or not _WILDCARDS.isdisjoint(segment):
            raise ValueError(
                f"rolearn pattern {arn!r}: wildcards may appear in the account and the role "
                "name, not in the IAM path (STS does not report role paths)"
            )
    if not _NAME_GLOB.fullmatch(name):
        raise ValueError(f"rolearn pattern {arn!r} has an invalid role name pattern")
    lowered = name.lower()
    regex = re.compile(
        f"{_glob(partition.lower())}:{_glob(account)}:{_glob(lowered)}", re.ASCII | re.DOTALL
    )
    literal_account = account if _WILDCARDS.isdisjoint(account) else None
    return RoleTarget(
        how="wildcard", account=literal_account, prefix=_literal_prefix(lowered), regex=regex
    )


def _compile_sso(sso: SSORole) -> RoleTarget:
    prefix = f"awsreservedsso_{sso.permission_set_name.lower()}_"
    # The suffix IAM Identity Center appends is hex: requiring "no underscore" keeps
    # permission set "Admin" from also matching permission set "Admin_ReadOnly".
    regex = re.compile(
        f"{re.escape(sso.partition)}:{sso.account_id}:{re.escape(prefix)}[^_:]+", re.ASCII
    )
    return RoleTarget(how="sso", account=sso.account_id, prefix=prefix, regex=regex)


def identity_role_key(canonical_arn: str) -> tuple[str, str, str] | None:
    """``(partition, account, lower role name)`` when the canonical ARN is an IAM role, else None."""
    parts = canonical_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    resource = parts[5]
    if not resource.startswith("role/") or len(resource) == 5:
        return None
    return parts[1].lower(), parts[4], resource.rsplit("/", 1)[1].lower()


class RoleIndex:
    """Role entries compiled for lookup; ``duplicates`` lists ``(first, later)`` index pairs."""

    def __init__(self, roles: Sequence[RoleMapping], targets: Sequence[RoleTarget]) -> None:
        self._exact: dict[str, int] = {}
        self._by_length: dict[
            int, dict[tuple[str | None, str], list[tuple[int, re.Pattern[str]]]]
        ] = {}
        self.duplicates: list[tuple[int, int]] = []
        seen_patterns: dict[str, int] = {}
        for entry, target in zip(roles, targets, strict=True):
            if target.key is not None:
                first = self._exact.setdefault(target.key, entry.index)
                if first != entry.index:
                    self.duplicates.append((first, entry.index))
                continue
            assert target.regex is not None
            first = seen_patterns.setdefault(target.regex.pattern, entry.index)
            if first != entry.index:
                self.duplicates.append((first, entry.index))
                continue
            bucket = self._by_length.setdefault(len(target.prefix), {})
            bucket.setdefault((target.account, target.prefix), []).append(
                (entry.index, target.regex)
            )
        self._lengths = tuple(sorted(self._by_length))
        self._targets = tuple(targets)

    def matches(self, index: int, partition: str, account: str, name: str) -> bool:
        """Whether entry ``index`` alone matches the lower-cased role key."""
        target = self._targets[index]
        full = f"{partition}:{account}:{name}"
        if target.key is not None:
            return target.key == full
        return target.regex is not None and target.regex.fullmatch(full) is not None

    def how(self, index: int) -> str:
        """How entry ``index`` matches (``exact``, ``path-stripped``, ``wildcard``, ``sso``)."""
        return self._targets[index].how

    def lookup(self, partition: str, account: str, name: str) -> int | None:
        """The index of the first entry (file order) matching the lower-cased role key."""
        full = f"{partition}:{account}:{name}"
        best = self._exact.get(full)
        if not self._lengths:
            return best
        candidates: list[tuple[int, re.Pattern[str]]] = []
        size = len(name)
        for length in self._lengths:
            if length > size:
                break
            bucket = self._by_length[length]
            prefix = name[:length]
            found = bucket.get((account, prefix))
            if found:
                candidates.extend(found)
            found = bucket.get((None, prefix))
            if found:
                candidates.extend(found)
        if not candidates:
            return best
        candidates.sort(key=_first)
        for index, regex in candidates:
            if best is not None and index > best:
                break
            if regex.fullmatch(full):
                return index
        return best


def _first(item: tuple[int, re.Pattern[str]]) -> int:
    return item[0]


class UserIndex:
    """User entries keyed by lower-cased canonical ARN (first entry wins)."""

    def __init__(self, users: Sequence[UserMapping], canonical: Sequence[str]) -> None:
        self._exact: dict[str, int] = {}
        self.duplicates: list[tuple[int, int]] = []
        for entry, arn in zip(users, canonical, strict=True):
            first = self._exact.setdefault(arn.lower(), entry.index)
            if first != entry.index:
                self.duplicates.append((first, entry.index))

    def lookup(self, canonical_arn: str) -> int | None:
        """The index of the first user entry for this canonical ARN."""
        return self._exact.get(canonical_arn.lower())


@attrs.frozen(kw_only=True)
class CompiledMappings:
    """Everything a lookup needs, built once per mapping set."""

    roles: RoleIndex
    users: UserIndex
    role_templates: tuple[tuple[frozenset[str], tuple[frozenset[str], ...]], ...]
    user_templates: tuple[tuple[frozenset[str], tuple[frozenset[str], ...]], ...]
    roles_by_user_id: dict[str, int]
    users_by_user_id: dict[str, int]
    accounts: frozenset[str]


class _TemplateChecks:
    """`check_template()` once per distinct template.

    Big files repeat the same groups (``system:masters``, ``devs``) thousands of
    times; the check is pure, so its outcome (placeholders or error message) is
    remembered for the one mapping set being compiled.
    """

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str], frozenset[str] | str] = {}

    def check(self, text: object, what: str, where: str, problems: list[Problem]) -> frozenset[str]:
        """The placeholders of ``text``; a problem at ``where`` (and none) when it is invalid."""
        key = (text, what) if type(text) is str else None
        outcome = self._outcomes.get(key) if key is not None else None
        if outcome is None:
            try:
                outcome = check_template(text, what)
            except ValueError as exc:
                outcome = str(exc)
            if key is not None:
                self._outcomes[key] = outcome
        if isinstance(outcome, str):
            problems.append(Problem(where, outcome))
            return frozenset()
        return outcome

    def entry(
        self, username: str, groups: Sequence[str], where: str, problems: list[Problem]
    ) -> tuple[frozenset[str], tuple[frozenset[str], ...]]:
        """The placeholders of an entry's username and of each of its groups."""
        needed_user = self.check(username, "username", where, problems)
        needed_groups = tuple(
            self.check(group, f"groups[{position}]", where, problems)
            for position, group in enumerate(groups)
        )
        return needed_user, needed_groups


def compile_mappings(
    roles: Sequence[RoleMapping],
    users: Sequence[UserMapping],
    accounts: Sequence[AccountMapping],
    *,
    user_id_strict: bool,
) -> tuple[CompiledMappings | None, list[Problem], list[Problem]]:
    """Validate and compile entries: ``(compiled or None, problems, warnings)``.

    Problems make the whole set unusable; warnings (duplicates, odd but legal
    entries) do not.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    targets: list[RoleTarget] = []
    templates = _TemplateChecks()
    role_templates = []
    for position, role in enumerate(roles):
        where = role.location or f"roles[{position}]"
        if role.index != position:
            problems.append(Problem(where, f"index is {role.index}, expected {position}"))
        try:
            targets.append(compile_role(role))
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            targets.append(RoleTarget(how="invalid", key=f"\x00invalid{position}"))
        role_templates.append(templates.entry(role.username, role.groups, where, problems))
    canonical_users: list[str] = []
    user_templates = []
    for position, user in enumerate(users):
        where = user.location or f"users[{position}]"
        if user.index != position:
            problems.append(Problem(where, f"index is {user.index}, expected {position}"))
        canonical = f"\x00invalid{position}"
        if not isinstance(user.arn, str) or not _WILDCARDS.isdisjoint(user.arn):
            problems.append(Problem(where, "userarn must be an ARN without wildcards"))
        else:
            try:
                _, _, _, kind, _, _, _, canonical = arn_parts(user.arn.lower())
            except ValueError as exc:
                problems.append(Problem(where, f"userarn {user.arn!r} is not a valid ARN: {exc}"))
            else:
                if kind in ("role", "assumed-role"):
                    warnings.append(
                        Problem(
                            where,
                            f"userarn {user.arn!r} is a role: it is matched exactly (no path "
                            "stripping, no wildcards) and only after every role entry",
                        )
                    )
        canonical_users.append(canonical)
        user_templates.append(templates.entry(user.username, user.groups, where, problems))
    account_ids: list[str] = []
    seen_accounts: set[str] = set()  # a set, not the list: a scan per entry is quadratic
    for position, account in enumerate(accounts):
        where = account.location or f"accounts[{position}]"
        if not isinstance(account.account_id, str) or not _ACCOUNT.fullmatch(account.account_id):
            problems.append(Problem(where, "account id must be 12 digits (quote it in YAML)"))
        elif account.account_id in seen_accounts:
            warnings.append(Problem(where, f"duplicate account {account.account_id}"))
        account_ids.append(str(account.account_id))
        seen_accounts.add(str(account.account_id))
    role_index = RoleIndex(roles, targets)
    user_index = UserIndex(users, canonical_users)
    for first, later in role_index.duplicates:
        warnings.append(
            Problem(
                roles[later].location or f"roles[{later}]",
                f"duplicate of {roles[first].location or f'roles[{first}]'} "
                f"(same role; the first entry wins)",
            )
        )
    for first, later in user_index.duplicates:
        warnings.append(
            Problem(
                users[later].location or f"users[{later}]",
                f"duplicate of {users[first].location or f'users[{first}]'} "
                f"(same user; the first entry wins)",
            )
        )
    roles_by_uid: dict[str, int] = {}
    users_by_uid: dict[str, int] = {}
    if user_id_strict:
        _index_user_ids("role", roles, roles_by_uid, problems, warnings)
        _index_user_ids("user", users, users_by_uid, problems, warnings)
    if problems:
        return None, problems, warnings
    compiled = CompiledMappings(
        roles=role_index,
        users=user_index,
        role_templates=tuple(role_templates),
        user_templates=tuple(user_templates),
        roles_by_user_id=roles_by_uid,
        users_by_user_id=users_by_uid,
        accounts=frozenset(account_ids),
    )
    return compiled, problems, warnings


def _index_user_ids(
    kind: str,
    entries: Sequence[RoleMapping | UserMapping],
    table: dict[str, int],
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    for position, entry in enumerate(entries):
        where = entry.location or f"{kind}s[{position}]"
        if not entry.user_id:
            problems.append(Problem(where, "userid is required in userIDStrict mode"))
        elif table.setdefault(entry.user_id, position) != position:
            warnings.append(Problem(where, f"duplicate userid {entry.user_id}"))
