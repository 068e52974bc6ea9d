"""The identity mapper: an ordered chain of mapping backends (pure but for the EC2 callback).

Pipeline per backend, in order (upstream's ``doMapping``):

1. look the identity up: role entries first (only for IAM-role identities),
   then user entries; the first matching entry in file order wins;
2. on a match, render the username and groups, refuse a username starting
   with one of the backend's reserved prefixes, and return;
3. otherwise, if the identity's account is in the backend's ``mapAccounts``,
   return the canonical ARN as username with no groups;
4. otherwise try the next backend.

A lookup error of one backend (``userIDStrict`` ARN mismatch) is remembered
and raised if no later backend maps the identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import attrs

from k8s_aws_auth._core.models import Identity
from k8s_aws_auth._core.review_user import user_uid_and_extra

from ._entries import RoleMapping, UserMapping
from ._errors import MappingError, ReservedUsernameError
from ._formats import UPSTREAM_BACKEND_MODES
from ._match import identity_role_key
from ._model import (
    ExplainStep,
    Explanation,
    MappedUser,
    MappingSet,
    MatchedEntry,
)
from ._templates import render, template_values, validate_rendered

__all__ = ["Backend", "IdentityMapper", "MappingSource"]


@runtime_checkable
class MappingSource(Protocol):
    """Anything holding a current mapping set (a [`MappingLoader`][k8s_aws_auth.mapping.MappingLoader])."""

    @property
    def current(self) -> MappingSet | None:
        """The mapping set to use now (``None`` before a first successful load)."""


@attrs.frozen(kw_only=True)
class Backend:
    """One backend of the chain: a name, where its mappings come from, its reserved prefixes.

    ``source`` is a fixed [`MappingSet`][k8s_aws_auth.mapping.MappingSet] or a [`MappingSource`][k8s_aws_auth.mapping.MappingSource]
    (read on every lookup, so a reload takes effect at once).
    """

    name: str
    source: MappingSet | MappingSource
    reserved_prefixes: tuple[str, ...] = ()

    def mapping_set(self) -> MappingSet | None:
        """The mapping set to consult now."""
        if isinstance(self.source, MappingSet):
            return self.source
        return self.source.current


class _NeedsEC2(Exception):
    def __init__(self, instance_id: str) -> None:
        super().__init__(instance_id)
        self.instance_id = instance_id


def _probe(instance_id: str) -> str:
    raise _NeedsEC2(instance_id)


@attrs.frozen
class _Found:
    kind: str
    index: int
    how: str


def _as_backend(item: Backend | MappingSet | MappingSource) -> Backend:
    if isinstance(item, Backend):
        return item
    if isinstance(item, MappingSet):
        name = UPSTREAM_BACKEND_MODES.get(item.format, item.format)
        return Backend(
            name=name, source=item, reserved_prefixes=item.reserved_prefixes.get(name, ())
        )
    current = item.current
    name = UPSTREAM_BACKEND_MODES.get(current.format, current.format) if current else "file"
    return Backend(name=name, source=item)


class IdentityMapper:
    """Map a verified AWS [`Identity`][k8s_aws_auth.Identity] to a Kubernetes username and groups.

    Args:
        backends: tried in order; each a [`Backend`][k8s_aws_auth.mapping.Backend], a [`MappingSet`][k8s_aws_auth.mapping.MappingSet]
            or a [`MappingSource`][k8s_aws_auth.mapping.MappingSource] (e.g. a [`MappingLoader`][k8s_aws_auth.mapping.MappingLoader]).
        scrubbed_accounts: accounts whose users get an ``administrative`` uid and
            no ARN extras (upstream's ``scrubbedAccounts``); added to those the
            mapping files name.
        ec2_dns: default resolver for ``{{EC2PrivateDNSName}}``: a callable
            taking an instance id (e.g. ``EC2Resolver.resolve``).
    """

    def __init__(
        self,
        backends: Sequence[Backend | MappingSet | MappingSource],
        *,
        scrubbed_accounts: Iterable[str] = (),
        ec2_dns: Callable[[str], str] | None = None,
    ) -> None:
        self._backends = tuple(_as_backend(item) for item in backends)
        if not self._backends:
            raise ValueError("an IdentityMapper needs at least one backend")
        self._scrubbed = frozenset(scrubbed_accounts)
        self._ec2_dns = ec2_dns

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The backends, in the order they are tried."""
        return self._backends

    def map(
        self, identity: Identity, *, ec2_dns: str | Callable[[str], str] | None = None
    ) -> MappedUser | None:
        """The Kubernetes user for ``identity``, or ``None`` when no backend maps it.

        ``ec2_dns`` is the instance's private DNS name, or a callable resolving
        an instance id (default: the mapper's). Raises [`MappingError`][k8s_aws_auth.mapping.MappingError]
        (deny) when the matching entry cannot be rendered safely or yields a
        reserved username, and [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] when the DNS name is
        needed but cannot be had.
        """
        return self._run(identity, ec2_dns if ec2_dns is not None else self._ec2_dns, None)

    async def amap(
        self,
        identity: Identity,
        *,
        ec2_dns: Callable[[str], Awaitable[str]] | None = None,
    ) -> MappedUser | None:
        """Like [`map()`][k8s_aws_auth.mapping.IdentityMapper.map], resolving ``{{EC2PrivateDNSName}}`` with an async callable.

        EC2 is asked only when the entry that matches uses the placeholder.
        """
        try:
            return self._run(identity, _probe, None)
        except _NeedsEC2 as need:
            if ec2_dns is None:
                return self._run(identity, None, None)
            name = await ec2_dns(need.instance_id)
            return self._run(identity, name, None)

    def explain(
        self, identity: Identity, *, ec2_dns: str | Callable[[str], str] | None = None
    ) -> Explanation:
        """Which entry maps ``identity`` and how, or why none does (never raises a MappingError)."""
        steps: list[ExplainStep] = []
        result: MappedUser | None = None
        error: str | None = None
        try:
            result = self._run(identity, ec2_dns if ec2_dns is not None else self._ec2_dns, steps)
        except MappingError as exc:
            error = str(exc)
        return Explanation(
            canonical_arn=identity.canonical_arn, result=result, error=error, steps=tuple(steps)
        )

    # --- the pipeline -------------------------------------------------------------------------

    def _run(
        self,
        identity: Identity,
        ec2_dns: str | Callable[[str], str] | None,
        trace: list[ExplainStep] | None,
    ) -> MappedUser | None:
        role_key = identity_role_key(identity.canonical_arn)
        errors: list[str] = []
        for backend in self._backends:
            mapping_set = backend.mapping_set()
            if mapping_set is None:
                if trace is not None:
                    trace.append(ExplainStep(backend=backend.name, outcome="not-loaded"))
                continue
            try:
                found = _find(mapping_set, identity, role_key)
            except MappingError as exc:
                errors.append(f"{backend.name}: {exc}")
                found = None
                if trace is not None:
                    trace.append(
                        ExplainStep(backend=backend.name, outcome="error", details=(str(exc),))
                    )
            else:
                if found is not None:
                    try:
                        user = self._render(backend, mapping_set, identity, found, ec2_dns)
                    except MappingError as exc:
                        if trace is not None:
                            trace.append(
                                ExplainStep(
                                    backend=backend.name,
                                    outcome="error",
                                    details=(*_matched_text(mapping_set, found), str(exc)),
                                )
                            )
                        raise
                    if trace is not None:
                        trace.append(
                            ExplainStep(
                                backend=backend.name,
                                outcome="matched",
                                details=_matched_text(mapping_set, found),
                            )
                        )
                    return user
                if trace is not None:
                    trace.append(
                        ExplainStep(
                            backend=backend.name,
                            outcome="not-mapped",
                            details=_why_not(mapping_set, identity, role_key),
                        )
                    )
            if identity.account_id in mapping_set.compiled.accounts:
                account = next(
                    a for a in mapping_set.accounts if a.account_id == identity.account_id
                )
                matched = MatchedEntry(
                    backend=backend.name,
                    kind="account",
                    index=account.index,
                    location=account.location,
                    arn=account.account_id,
                    how="account",
                )
                if trace is not None:
                    trace.append(
                        ExplainStep(
                            backend=backend.name,
                            outcome="account",
                            details=(
                                f"account {identity.account_id} is listed in mapAccounts "
                                f"({account.location}): username is the canonical ARN, no groups",
                            ),
                        )
                    )
                return self._user(identity, identity.canonical_arn, (), matched, mapping_set)
        if errors:
            raise MappingError("; ".join(errors), reason="mapping-lookup")
        return None

    def _render(
        self,
        backend: Backend,
        mapping_set: MappingSet,
        identity: Identity,
        found: _Found,
        ec2_dns: str | Callable[[str], str] | None,
    ) -> MappedUser:
        compiled = mapping_set.compiled
        entry: RoleMapping | UserMapping
        if found.kind == "role":
            entry = mapping_set.roles[found.index]
            needed_user, needed_groups = compiled.role_templates[found.index]
        else:
            entry = mapping_set.users[found.index]
            needed_user, needed_groups = compiled.user_templates[found.index]
        needed = needed_user.union(*needed_groups)
        values = template_values(identity, needed, ec2_dns) if needed else {}
        username = validate_rendered(render(entry.username, needed_user, values), "username")
        groups = tuple(
            validate_rendered(render(group, wanted, values), "group")
            for group, wanted in zip(entry.groups, needed_groups, strict=True)
        )
        for prefix in backend.reserved_prefixes:
            if prefix and username.startswith(prefix):
                raise ReservedUsernameError(
                    f"username {username!r} of {entry.location} begins with {prefix!r}, "
                    f"a prefix reserved for backend {backend.name}"
                )
        matched = MatchedEntry(
            backend=backend.name,
            kind=found.kind,
            index=found.index,
            location=entry.location,
            arn=entry.arn,
            how=found.how,
        )
        return self._user(identity, username, groups, matched, mapping_set)

    def _user(
        self,
        identity: Identity,
        username: str,
        groups: tuple[str, ...],
        matched: MatchedEntry,
        mapping_set: MappingSet,
    ) -> MappedUser:
        scrubbed = (
            identity.account_id in self._scrubbed
            or identity.account_id in mapping_set.scrubbed_accounts
        )
        uid, extra = user_uid_and_extra(identity, username, scrubbed=scrubbed)
        return MappedUser(
            username=username,
            groups=groups,
            matched=matched,
            uid=uid,
            extra=extra,
            scrubbed=scrubbed,
        )


def _find(
    mapping_set: MappingSet, identity: Identity, role_key: tuple[str, str, str] | None
) -> _Found | None:
    compiled = mapping_set.compiled
    if mapping_set.user_id_strict:
        return _find_by_user_id(mapping_set, identity, role_key)
    if role_key is not None:
        index = compiled.roles.lookup(*role_key)
        if index is not None:
            return _Found("role", index, compiled.roles.how(index))
    index = compiled.users.lookup(identity.canonical_arn)
    if index is not None:
        return _Found("user", index, "exact")
    return None


def _find_by_user_id(
    mapping_set: MappingSet, identity: Identity, role_key: tuple[str, str, str] | None
) -> _Found | None:
    # Upstream's DynamicFile userIDStrict: the unique id (AROA…/AIDA…) picks the
    # entry, and the entry's ARN, when given, must name the same principal.
    compiled = mapping_set.compiled
    index = compiled.roles_by_user_id.get(identity.user_id)
    if index is not None:
        if role_key is None or not compiled.roles.matches(index, *role_key):
            raise MappingError(
                f"ARN does not match User ID ({mapping_set.roles[index].location})",
                reason="user-id-mismatch",
            )
        return _Found("role", index, "user-id")
    index = compiled.users_by_user_id.get(identity.user_id)
    if index is not None:
        entry = mapping_set.users[index]
        if compiled.users.lookup(identity.canonical_arn) != index and (
            entry.arn.lower() != identity.canonical_arn.lower()
        ):
            raise MappingError(
                f"ARN does not match User ID ({entry.location})", reason="user-id-mismatch"
            )
        return _Found("user", index, "user-id")
    return None


def _matched_text(mapping_set: MappingSet, found: _Found) -> tuple[str, ...]:
    entries: Sequence[RoleMapping | UserMapping] = (
        mapping_set.roles if found.kind == "role" else mapping_set.users
    )
    entry = entries[found.index]
    how = {
        "exact": "the canonical ARN equals the entry's ARN (case-insensitively)",
        "path-stripped": "the entry's role ARN matches once its IAM path is dropped "
        "(STS never reports role paths)",
        "wildcard": "the entry's ARN pattern matches (* any run, ? exactly one character)",
        "sso": "the entry's sso permission set matches the AWSReservedSSO_ role name",
        "user-id": "the entry's userid equals the identity's unique id (userIDStrict)",
    }[found.how]
    return (f"{entry.location} ({entry.arn}): {how}; first match in file order",)


def _why_not(
    mapping_set: MappingSet, identity: Identity, role_key: tuple[str, str, str] | None
) -> tuple[str, ...]:
    details: list[str] = []
    canonical = identity.canonical_arn
    if mapping_set.user_id_strict:
        details.append(f"userIDStrict: no entry has userid {identity.user_id!r}")
    elif role_key is not None:
        details.append(
            f"no role entry matches {canonical} ({len(mapping_set.roles)} role entries; "
            "role paths are ignored)"
        )
        name = role_key[2]
        for entry in mapping_set.roles:
            if entry.sso is None and entry.arn.lower().rsplit("/", 1)[-1] == name:
                details.append(
                    f"  {entry.location} names role {entry.arn.rsplit('/', 1)[-1]} in another "
                    f"account or partition: {entry.arn}"
                )
    else:
        details.append(f"{canonical} is not an IAM role, so role entries do not apply")
        resource = canonical.split(":", 5)[-1]
        if "assumed-role/" in resource:
            details.append(
                "  note: this is an IAM user whose path merely looks like a role session; "
                "it never matches a role entry"
            )
    if not mapping_set.user_id_strict:
        details.append(f"no user entry has the canonical ARN {canonical}")
    if mapping_set.accounts:
        details.append(f"account {identity.account_id} is not in mapAccounts")
    return tuple(details)
