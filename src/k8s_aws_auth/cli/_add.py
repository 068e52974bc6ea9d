"""``k8s-aws-auth add user|role``: add an entry to ``kube-system/aws-auth`` (upstream's ``add``).

Upstream's flags (``--userarn``, ``--rolearn``, ``--username``, ``--groups``,
``--kubeconfig``, ``--master-url``, ``--kubeconfig-context``, ``--prompt``) plus
``--dry-run``. The edit is a GET and a PUT carrying the resourceVersion read; a
``409 Conflict`` (someone else wrote in between) starts again from a fresh GET,
so neither write is lost. See ``_aws_auth`` for how the data is edited.
"""

from __future__ import annotations

import argparse

from ._aws_auth import KEYS, add_edit_flags, add_entry, confirm, edit

__all__ = ["configure", "run"]


def _groups(values: list[str] | None) -> list[str]:
    return [group.strip() for value in values or [] for group in value.split(",") if group.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``user`` and ``role`` actions."""
    entities = parser.add_subparsers(dest="entity", metavar="ENTITY", required=True)
    user = entities.add_parser("user", help="add a mapUsers entry to aws-auth")
    user.add_argument("--userarn", required=True, help="the IAM user ARN")
    role = entities.add_parser("role", help="add a mapRoles entry to aws-auth")
    role.add_argument("--rolearn", required=True, help="the IAM role ARN")
    for action in (user, role):
        action.add_argument("--username", required=True, help="the Kubernetes username")
        action.add_argument(
            "--groups",
            action="append",
            metavar="G1,G2",
            help="Kubernetes groups (comma-separated, or the flag repeated)",
        )
        add_edit_flags(action)


def run(args: argparse.Namespace) -> int:
    """Add the entry; the exit code."""
    field = KEYS[args.entity][1]
    arn = str(getattr(args, field)).strip()
    entry = {field: arn, "username": args.username, "groups": _groups(args.groups)}
    action = f"add {field} {arn}, username {args.username}, groups {entry['groups']}"
    if not args.dry_run and not confirm(action, prompt=args.prompt):
        return 0
    return edit(args, lambda data: add_entry(data, args.entity, entry), action)
