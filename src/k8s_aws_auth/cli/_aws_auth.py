"""What ``add``, ``remove`` and ``list`` share: reaching aws-auth, and editing its ``data``.

The edits are pure functions of the ConfigMap's ``data`` (strings in, strings
out), so they can be tested without an API: an entry is added by appending it
to the YAML list of its key (the rest of the text, comments included, stays as
written; upstream re-serialises all three keys), removed by re-serialising that
one key, and the whole new ``data`` goes through the mapping loader
(``eks-configmap`` format) before anything is written. ARNs are compared
case-insensitively, as the webhook matches them (upstream's duplicate check is
exact, so it lets a shadowed entry in).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from k8s_aws_auth.errors import ConfigurationError

if TYPE_CHECKING:
    from lightkube import Client

    from k8s_aws_auth._kube import Connection
    from k8s_aws_auth.mapping import MappingSet

__all__ = [
    "KEYS",
    "NAME",
    "NAMESPACE",
    "add_connection_flags",
    "add_edit_flags",
    "add_entry",
    "confirm",
    "connect",
    "connection",
    "data_diff",
    "edit",
    "parse_data",
    "prompt_flag",
    "remove_entries",
]

NAMESPACE, NAME = "kube-system", "aws-auth"
#: entity → (data key, ARN field of its entries)
KEYS = {"role": ("mapRoles", "rolearn"), "user": ("mapUsers", "userarn")}
_EMPTY_VALUES = frozenset({"", "``", '""', "''"})


def _usage(message: str) -> ConfigurationError:
    return ConfigurationError(message, reason="usage")


def add_connection_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--kubeconfig``, ``--kubeconfig-context`` and ``--master-url`` (upstream's ``add`` flags)."""
    parser.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument(
        "--kubeconfig-context", dest="kubeconfig_context", help="kubeconfig context to use"
    )
    parser.add_argument(
        "--master-url",
        "--master",
        dest="master_url",
        help="kube-apiserver URL, overriding the kubeconfig's",
    )


def connection(args: argparse.Namespace) -> Connection:
    """The API the flags of ``add_connection_flags`` name (kubectl's fallbacks included)."""
    from k8s_aws_auth._kube import KubeSettings, resolve_connection

    settings = KubeSettings(
        kubeconfig=args.kubeconfig,
        master=args.master_url,
        context=args.kubeconfig_context,
        default_kubeconfig=True,
    )
    return resolve_connection(settings)


def connect(args: argparse.Namespace) -> Client:
    """A lightkube ``Client`` for the flags of ``add_connection_flags``."""
    from k8s_aws_auth._kube import sync_client

    return sync_client(connection(args))


def confirm(action: str, *, prompt: bool, stdin: Any = None) -> bool:
    """Upstream's ``[y/N]`` question (skipped with ``--prompt=false``); EOF is an error."""
    if not prompt:
        return True
    print(f"Ready to {action}, should we continue? [y/N]: ", end="", flush=True)
    line = (stdin or sys.stdin).readline()
    if not line:
        raise _usage("no answer on stdin; pass --prompt=false to run without asking")
    if line.strip().lower() in ("y", "yes"):
        return True
    print(f'cancelled "{action}"')
    return False


def _load(text: str | None, key: str) -> list[Any]:
    import yaml

    if text is None or text.strip() in _EMPTY_VALUES:
        return []
    try:
        items = yaml.safe_load(text)
    except yaml.YAMLError:
        raise _usage(f"aws-auth data.{key} is not valid YAML; fix it first") from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise _usage(f"aws-auth data.{key} is not a YAML list; fix it first")
    return items


def _arn_of(item: Any, field: str) -> str | None:
    if not isinstance(item, dict):
        return None
    for key, value in item.items():
        if isinstance(key, str) and key.lower() == field and isinstance(value, str):
            return value.strip()
    return None


def parse_data(data: Mapping[str, Any] | None) -> MappingSet:
    """Validate aws-auth ``data`` with the mapping loader; ``ConfigurationError`` lists the problems."""
    from k8s_aws_auth.mapping import MappingFileError, parse_document

    try:
        return parse_document(
            {"kind": "ConfigMap", "data": dict(data or {})},
            source=f"{NAMESPACE}/{NAME}",
            format="eks-configmap",
        )
    except MappingFileError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        raise _usage(f"aws-auth is invalid: {problems}") from None


def _dump(items: list[Any]) -> str:
    import yaml

    return yaml.safe_dump(items, sort_keys=False, default_flow_style=False) if items else ""


def add_entry(data: Mapping[str, str], entity: str, entry: dict[str, Any]) -> dict[str, str]:
    """``data`` with ``entry`` appended to ``mapRoles``/``mapUsers``; validated.

    Raises:
        ConfigurationError: aws-auth is already invalid, the ARN is there
            already (any case), or the result does not validate.
    """
    key, field = KEYS[entity]
    parse_data(data)  # refuse to build on a broken ConfigMap (as upstream)
    text = data.get(key)
    items = _load(text, key)
    arn = str(entry[field])
    if any((_arn_of(item, field) or "").lower() == arn.lower() for item in items):
        raise _usage(f"cannot add duplicate {entity} ARN {arn!r}")
    new_text = _dump([*items, entry])
    if text is not None and text.strip() not in _EMPTY_VALUES:
        appended = text.rstrip("\n") + "\n" + _dump([entry])
        # Keep the operator's text (comments, order, spelling) when appending reads back right.
        if _load(appended, key) == [*items, entry]:
            new_text = appended
    result = {**data, key: new_text}
    parse_data(result)
    return result


def remove_entries(data: Mapping[str, str], entity: str, arn: str) -> tuple[dict[str, str], int]:
    """``data`` without the entries of ``arn`` (any case), and how many there were.

    Raises:
        ConfigurationError: no entry has that ARN, or aws-auth is invalid.
    """
    key, field = KEYS[entity]
    items = _load(data.get(key), key)
    kept = [item for item in items if (_arn_of(item, field) or "").lower() != arn.strip().lower()]
    removed = len(items) - len(kept)
    if not removed:
        raise _usage(f"no {entity} entry of aws-auth has the ARN {arn!r}")
    result = {**data, key: _dump(kept)}
    parse_data(result)
    return result, removed


def data_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A unified diff of two aws-auth ``data`` mappings, key by key ("" when equal)."""
    chunks: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, ""), after.get(key, "")
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{NAMESPACE}/{NAME} data.{key}",
                tofile=f"b/{NAMESPACE}/{NAME} data.{key}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def edit(
    args: argparse.Namespace, change: Callable[[dict[str, str]], dict[str, str]], verb: str
) -> int:
    """GET aws-auth, apply ``change`` to its data, PUT it back (409 → again); print the diff."""
    from k8s_aws_auth._kube import CONFIG_MAP, EditPolicy, edit_object

    def modify(body: dict[str, Any] | None) -> dict[str, Any] | None:
        assert body is not None  # a missing aws-auth is an error (create_missing=False)
        data = {str(k): str(v) for k, v in (body.get("data") or {}).items()}
        new = change(data)
        if new == data:
            return None
        body["data"] = new
        return body

    result = edit_object(
        connect(args),
        CONFIG_MAP,
        NAME,
        modify,
        namespace=NAMESPACE,
        policy=EditPolicy(dry_run=args.dry_run),
    )
    before = dict((result.before.body.get("data") or {}) if result.before else {})
    after = dict(result.after.body.get("data") or {}) if result.after else before
    sys.stdout.write(data_diff(before, after))
    if args.dry_run:
        print(f"dry run: {NAMESPACE}/{NAME} not changed ({verb})")
    elif result.after is not None:
        print(
            f"updated configmap {NAMESPACE}/{NAME} ({verb}; resourceVersion "
            f"{result.after.resource_version}, {result.attempts} attempt(s))"
        )
    return 0


def prompt_flag(value: str) -> bool:
    """``--prompt`` / ``--prompt=false`` (upstream's boolean flag)."""
    lowered = value.strip().lower()
    if lowered in ("true", "t", "1", "yes"):
        return True
    if lowered in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


def add_edit_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every aws-auth edit takes: the connection, ``--prompt``, ``--dry-run``."""
    add_connection_flags(parser)
    parser.add_argument(
        "--prompt",
        type=prompt_flag,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="ask before writing (default true; --prompt=false to disable)",
    )
    parser.add_argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="print the change as a diff, write nothing",
    )
