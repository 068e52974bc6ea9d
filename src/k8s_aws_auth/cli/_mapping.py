"""``k8s-aws-auth mapping``: check a mapping file, or explain how it maps one caller.

``mapping check FILE`` validates a file of any supported format (detected)
and prints one line per problem; ``mapping explain FILE --arn CALLER_ARN``
shows which entry maps a caller (as STS returns it) and to what.

``mapping explain [FILE] --arn CALLER_ARN --backend-mode EKSConfigMap,CRD``
explains across the live backends too, read once from the Kubernetes API
(``--kubeconfig``, ``--master-url``; as ``add``): the file first, then the
live backends in the order given, first match wins as in the server.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from k8s_aws_auth._core.arn import parse_arn
from k8s_aws_auth._core.models import Identity

if TYPE_CHECKING:
    from k8s_aws_auth.mapping import Backend, MappingSet

__all__ = ["configure", "run"]

_FORMAT_CHOICES = ("auto", "mounted-file", "eks-configmap", "dynamic-file", "native")


_LIVE_MODES = ("EKSConfigMap", "CRD")


def _live_modes(value: str) -> tuple[str, ...]:
    modes = tuple(mode.strip() for mode in value.split(",") if mode.strip())
    for mode in modes:
        if mode not in _LIVE_MODES:
            raise argparse.ArgumentTypeError(
                f"{mode!r}: the live backends are EKSConfigMap and CRD"
            )
    return modes


def _common(parser: argparse.ArgumentParser, *, optional_file: bool = False) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?" if optional_file else None,
        help="mapping file, or a directory where aws-auth is mounted",
    )
    parser.add_argument(
        "--format", choices=_FORMAT_CHOICES, default="auto", help="file format (default: detect)"
    )
    parser.add_argument(
        "--user-id-strict",
        action="store_true",
        default=None,
        help="match entries by userid (upstream's dynamicfileUserIDStrict)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` and ``explain`` actions."""
    actions = parser.add_subparsers(dest="mapping_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a mapping file; exit 1 on problems")
    _common(check)
    check.add_argument("--strict", action="store_true", help="treat warnings as problems")
    explain = actions.add_parser("explain", help="show how a caller ARN maps")
    _common(explain, optional_file=True)
    explain.add_argument(
        "--arn",
        required=True,
        metavar="CALLER_ARN",
        help="the ARN STS returns, e.g. arn:aws:sts::111122223333:assumed-role/Admin/alice",
    )
    explain.add_argument("--access-key-id", default="", metavar="K", help="for {{AccessKeyID}}")
    explain.add_argument("--user-id", default="", metavar="U", help="unique id (AROA…/AIDA…)")
    explain.add_argument(
        "--ec2-dns", default=None, metavar="NAME", help="private DNS name for {{EC2PrivateDNSName}}"
    )
    explain.add_argument("-o", "--output", choices=("text", "json"), default="text")
    live = explain.add_argument_group("live backends (read once from the Kubernetes API)")
    live.add_argument(
        "--backend-mode",
        dest="backend_mode",
        type=_live_modes,
        default=(),
        metavar="EKSConfigMap,CRD",
        help="live backends tried after FILE, in order",
    )
    from ._aws_auth import add_connection_flags

    add_connection_flags(live)


def _load(args: argparse.Namespace) -> MappingSet | list[str]:
    from k8s_aws_auth.mapping import MappingFileError, parse_mapping_path

    try:
        return parse_mapping_path(args.file, format=args.format, user_id_strict=args.user_id_strict)
    except FileNotFoundError:
        return [f"{args.file}: error: file not found"]
    except MappingFileError as exc:
        return [f"{args.file}: error: {problem}" for problem in exc.problems]
    except OSError as exc:
        return [f"{args.file}: error: {exc.strerror or type(exc).__name__}"]


def _live(args: argparse.Namespace) -> tuple[list[Backend], list[str]]:
    """The live backends of ``--backend-mode``, read once; or the problems found."""
    from k8s_aws_auth.mapping import Backend, MappingFileError
    from k8s_aws_auth.server.internal import read_mapping_once

    from ._aws_auth import connection

    backends: list[Backend] = []
    where = connection(args)
    for mode in args.backend_mode:
        try:
            backends.append(Backend(name=mode, source=read_mapping_once(where, mode)))
        except MappingFileError as exc:
            return [], [f"{mode}: error: {problem}" for problem in exc.problems]
    return backends, []


def run(args: argparse.Namespace) -> int:
    """Run ``mapping check`` or ``mapping explain``; return the exit code."""
    from k8s_aws_auth.mapping import MappingSet

    backends: list[Backend | MappingSet] = []
    if args.file is not None:
        loaded = _load(args)
        if not isinstance(loaded, MappingSet):
            for line in loaded:
                print(line, file=sys.stderr)
            return 1
        if args.mapping_action == "check":
            return _check(args, loaded)
        backends.append(loaded)  # named by its format, its reserved prefixes kept
    if getattr(args, "backend_mode", ()):
        live, problems = _live(args)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        backends.extend(live)
    if not backends:
        print(
            "k8s-aws-auth mapping explain: error: give a FILE, --backend-mode, or both",
            file=sys.stderr,
        )
        return 64
    return _explain(args, backends)


def _check(args: argparse.Namespace, mapping_set: MappingSet) -> int:
    for warning in mapping_set.warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    print(
        f"{args.file}: {'problems' if args.strict and mapping_set.warnings else 'ok'} "
        f"({mapping_set.format}: {len(mapping_set.roles)} roles, {len(mapping_set.users)} users, "
        f"{len(mapping_set.accounts)} accounts)"
    )
    return 1 if args.strict and mapping_set.warnings else 0


def _identity(args: argparse.Namespace) -> Identity:
    parsed = parse_arn(args.arn)
    user_id = args.user_id
    if not user_id and parsed.principal_type == "root":
        user_id = parsed.account_id
    return Identity(
        arn=args.arn,
        canonical_arn=parsed.canonical_arn,
        account_id=parsed.account_id,
        user_id=user_id,
        session_name=parsed.session_name,
        access_key_id=args.access_key_id,
        sts_endpoint="",
        partition=parsed.partition,
        principal_type=parsed.principal_type,
    )


def _explain(args: argparse.Namespace, backends: list[Backend | MappingSet]) -> int:
    from k8s_aws_auth.mapping import IdentityMapper

    try:
        identity = _identity(args)
    except ValueError as exc:
        print(f"k8s-aws-auth mapping explain: error: --arn: {exc}", file=sys.stderr)
        return 64  # EX_USAGE, as the CLI uses for usage errors
    explanation = IdentityMapper(backends).explain(identity, ec2_dns=args.ec2_dns)
    if args.output == "json":
        print(json.dumps(explanation.to_dict(), indent=2))
    else:
        print(explanation.summary)
        for step in explanation.steps:
            print(f"  {step.backend}: {step.outcome}")
            for detail in step.details:
                print(f"    {detail}")
    return 0 if explanation.result is not None else 1
