"""``k8s-aws-auth list``: the entries of ``kube-system/aws-auth``, as the webhook reads them.

Not in upstream (its issue #602 asked for it). The ConfigMap goes through the
mapping loader, so what is listed is what the webhook maps, and an invalid
aws-auth is reported as such (exit 1). ``-o json``/``-o yaml`` always print one
object with three lists (``roles``, ``users``, ``accounts``), empty when none.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._aws_auth import NAME, NAMESPACE, add_connection_flags, connect, parse_data

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the connection and output flags."""
    add_connection_flags(parser)
    parser.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text")


def _document(data: dict[str, Any]) -> dict[str, list[Any]]:
    mapping_set = parse_data(data)
    roles = [
        {"rolearn": r.arn, "username": r.username, "groups": list(r.groups)}
        for r in mapping_set.roles
    ]
    users = [
        {"userarn": u.arn, "username": u.username, "groups": list(u.groups)}
        for u in mapping_set.users
    ]
    return {
        "roles": roles,
        "users": users,
        "accounts": [a.account_id for a in mapping_set.accounts],
    }


def run(args: argparse.Namespace) -> int:
    """Print the entries; the exit code."""
    from k8s_aws_auth._kube import CONFIG_MAP, read_object

    found = read_object(connect(args), CONFIG_MAP, NAME, namespace=NAMESPACE)
    document = _document(dict(found.body.get("data") or {}))
    if args.output == "json":
        print(json.dumps(document, indent=2))
    elif args.output == "yaml":
        import yaml

        print(yaml.safe_dump(document, sort_keys=False), end="")
    else:
        for role in document["roles"]:
            print(f"role     {role['rolearn']}  {role['username']}  {','.join(role['groups'])}")
        for user in document["users"]:
            print(f"user     {user['userarn']}  {user['username']}  {','.join(user['groups'])}")
        for account in document["accounts"]:
            print(f"account  {account}")
    return 0
