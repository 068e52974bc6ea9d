"""Frozen values of the mapping package: mapping sets, results, explanations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

# One MappedUser for the mapper and the webhook app: it lives beside the uid/extra
# rules both share, so the app does not import this package.
from k8s_aws_auth._core.review_user import MappedUser, MatchedEntry

from ._entries import AccountMapping, RoleMapping, UserMapping
from ._errors import MappingFileError, Problem
from ._match import CompiledMappings, compile_mappings

__all__ = [
    "ExplainStep",
    "Explanation",
    "MappedUser",
    "MappingSet",
    "MatchedEntry",
]


@attrs.frozen(kw_only=True)
class ExplainStep:
    """What one backend did with the identity: ``outcome`` is ``matched``, ``account``,
    ``not-mapped`` or ``error``; ``details`` are human sentences."""

    backend: str
    outcome: str
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"backend": self.backend, "outcome": self.outcome, "details": list(self.details)}


@attrs.frozen(kw_only=True)
class Explanation:
    """Why an identity maps to what it maps to, or why it maps to nothing.

    ``result`` is what [`IdentityMapper.map()`][k8s_aws_auth.mapping.IdentityMapper.map] would return; ``error`` the
    message of the error it would raise; ``steps`` one record per backend tried.
    """

    canonical_arn: str
    result: MappedUser | None
    error: str | None
    steps: tuple[ExplainStep, ...]

    @property
    def summary(self) -> str:
        """One line: the user and groups, the error, or "not mapped"."""
        if self.result is not None:
            groups = ", ".join(self.result.groups) or "no groups"
            return f"{self.canonical_arn} -> {self.result.username} ({groups})"
        if self.error is not None:
            return f"{self.canonical_arn} -> error: {self.error}"
        return f"{self.canonical_arn} -> not mapped"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the shape ``mapping explain -o json`` prints."""
        if self.result is not None:
            return {**self.result.to_dict(), "steps": [s.to_dict() for s in self.steps]}
        return {
            "username": None,
            "groups": [],
            "matched": None,
            "error": self.error,
            "reason": self.error or "no entry of any backend matches this identity",
            "steps": [s.to_dict() for s in self.steps],
        }


@attrs.frozen(kw_only=True)
class MappingSet:
    """One validated mapping file: roles, users and accounts in file order, compiled for lookup.

    Constructing a ``MappingSet`` validates every entry (ARNs, patterns,
    templates, account ids) and raises [`MappingFileError`][k8s_aws_auth.mapping.MappingFileError] listing all
    problems; ``warnings`` holds what is legal but suspicious (duplicates).
    ``format`` names the file format it was read from; ``reserved_prefixes``
    and ``scrubbed_accounts`` carry settings an upstream server config file
    may hold (backend name → username prefixes).
    """

    roles: tuple[RoleMapping, ...] = ()
    users: tuple[UserMapping, ...] = ()
    accounts: tuple[AccountMapping, ...] = ()
    format: str = "native"
    source: str = "<memory>"
    user_id_strict: bool = False
    scrubbed_accounts: frozenset[str] = frozenset()
    reserved_prefixes: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    warnings: tuple[Problem, ...] = ()
    compiled: CompiledMappings = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        compiled, problems, warnings = compile_mappings(
            self.roles, self.users, self.accounts, user_id_strict=self.user_id_strict
        )
        if compiled is None:
            raise MappingFileError(self.source, problems)
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "warnings", (*self.warnings, *warnings))

    def __len__(self) -> int:
        return len(self.roles) + len(self.users) + len(self.accounts)
