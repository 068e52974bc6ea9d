"""``k8s-aws-auth remove user|role``: remove entries from ``kube-system/aws-auth``.

Not in upstream (its issue #545 asked for it). ``remove user --userarn ARN`` and
``remove role --rolearn ARN`` drop every entry of that ARN (compared
case-insensitively, as the webhook matches); no such entry is an error. Same
flags, optimistic concurrency and ``--dry-run`` as ``add``.
"""

from __future__ import annotations

import argparse

from ._aws_auth import KEYS, add_edit_flags, confirm, edit, remove_entries

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``user`` and ``role`` actions."""
    entities = parser.add_subparsers(dest="entity", metavar="ENTITY", required=True)
    user = entities.add_parser("user", help="remove the mapUsers entries of an ARN")
    user.add_argument("--userarn", required=True, help="the IAM user ARN")
    role = entities.add_parser("role", help="remove the mapRoles entries of an ARN")
    role.add_argument("--rolearn", required=True, help="the IAM role ARN")
    for action in (user, role):
        add_edit_flags(action)


def run(args: argparse.Namespace) -> int:
    """Remove the entries; the exit code."""
    field = KEYS[args.entity][1]
    arn = str(getattr(args, field)).strip()
    action = f"remove {field} {arn}"
    if not args.dry_run and not confirm(action, prompt=args.prompt):
        return 0
    return edit(args, lambda data: remove_entries(data, args.entity, arn)[0], action)
