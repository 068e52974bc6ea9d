"""The ``uid`` and ``extra`` of the Kubernetes user an STS identity maps to, as upstream fills them.

Shared by the webhook app and the identity mapper; imports nothing at run
time, so neither pulls in the other (or attrs) through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Identity

__all__ = ["user_uid_and_extra"]

_UID_PREFIX = "aws-iam-authenticator"
_PRINCIPAL_ID_KEY = "sigs.k8s.io/aws-iam-authenticator/principalId"


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
