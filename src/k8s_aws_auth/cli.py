"""The ``k8s-aws-auth`` command line (argparse only, lazy imports).

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; this module imports only the one being run, so a
``token`` call never pays for httpx or the server extra.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: subcommand → (module, one-line help). Modules are imported only when chosen.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("k8s_aws_auth._cli_demo", "run the full loop against an embedded loopback STS"),
}


def _parser() -> tuple[
    argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]
]:
    parser = argparse.ArgumentParser(
        prog="k8s-aws-auth",
        description="Generate and verify Kubernetes AWS IAM (k8s-aws-v1.) tokens.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser, sub


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, sub = _parser()
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            importlib.import_module(module_name).configure(command_parser)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"k8s-aws-auth {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return code
