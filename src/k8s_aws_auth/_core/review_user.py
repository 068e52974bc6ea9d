"""The Kubernetes user an STS identity maps to: [`MappedUser`][k8s_aws_auth.mapping.MappedUser], and upstream's ``uid``/``extra``.

Shared by the webhook app and the identity mapper (``k8s_aws_auth.mapping``
and ``k8s_aws_auth.server`` both export [`MappedUser`][k8s_aws_auth.mapping.MappedUser] from here), so
neither package imports the other: the webhook app loads without the mapping
package's EC2 and file machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .models import Identity

__all__ = ["MappedUser", "MatchedEntry", "user_uid_and_extra"]

_UID_PREFIX = "aws-iam-authenticator"
_PRINCIPAL_ID_KEY = "sigs.k8s.io/aws-iam-authenticator/principalId"


@attrs.frozen(kw_only=True)
class MatchedEntry:
    """Which entry produced a mapping: ``kind`` is ``role``, ``user`` or ``account``."""

    backend: str
    kind: str
    index: int
    location: str
    arn: str
    """The entry's ARN or pattern (the account id for ``account``)."""
    how: str
    """``exact``, ``path-stripped``, ``wildcard``, ``sso``, ``user-id`` or ``account``."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class MappedUser:
    """The Kubernetes user an identity maps to.

    `IdentityMapper` fills every field:
    ``uid`` and ``extra`` follow aws-iam-authenticator's TokenReview answer
    (``aws-iam-authenticator:ACCOUNT:USERID`` and the ARN, session name and key
    id), or ``aws-iam-authenticator:administrative:USERNAME`` with no extras
    when the account is scrubbed (``scrubbed`` is then true).

    Built by hand for a `TokenReviewApp`
    (``MappedUser(username=..., groups=...)``), ``matched`` and ``uid`` stay
    ``None``: the app then derives upstream's uid and extras from the identity,
    with any ``extra`` given added to them. Whoever sets ``scrubbed`` has the
    last word: a scrubbed user is never answered with more than the
    administrative uid.
    """

    username: str
    groups: tuple[str, ...] = ()
    matched: MatchedEntry | None = None
    uid: str | None = None
    extra: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    scrubbed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``username``, ``groups``, ``uid``, ``extra``, ``matched``."""
        return {
            "username": self.username,
            "groups": list(self.groups),
            "uid": self.uid,
            "extra": {k: list(v) for k, v in self.extra.items()},
            "matched": None if self.matched is None else self.matched.to_dict(),
        }


def user_uid_and_extra(
    identity: Identity, username: str, *, scrubbed: bool
) -> tuple[str, dict[str, tuple[str, ...]]]:
    """aws-iam-authenticator's TokenReview ``uid`` and ``extra`` for ``identity``.

    The uid is ``aws-iam-authenticator:ACCOUNT:USERID``; for a scrubbed account
    it is ``aws-iam-authenticator:administrative:USERNAME`` and ``extra`` is
    empty, so the ARN, session name and key id are not disclosed.
    """
    if scrubbed:
        return f"{_UID_PREFIX}:administrative:{username}", {}
    principal = (identity.user_id,)
    return f"{_UID_PREFIX}:{identity.account_id}:{identity.user_id}", {
        "arn": (identity.arn,),
        "canonicalArn": (identity.canonical_arn,),
        "sessionName": (identity.session_name,),
        "accessKeyId": (identity.access_key_id,),
        "principalId": principal,
        _PRINCIPAL_ID_KEY: principal,
    }
