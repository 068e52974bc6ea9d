"""The full ``k8s-aws-auth`` parser: argparse, with every subcommand's flags.

Every command line but the exec plugin's common ones (`_token_argv`) is read
here; so is each of those the fast reader declines, so that help, usage errors
and their exit code (64) come from one place.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import EXIT_USAGE, SUBCOMMANDS
from ._global_flags import (
    UPSTREAM_COMMANDS,
    add_global_flags,
    apply_global_flags,
    chosen_command,
)

# `typing` would cost every command milliseconds; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

__all__ = ["parse_command_line"]


def _terminal_columns() -> int:
    """The width ``shutil.get_terminal_size`` reports: ``COLUMNS``, else the terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, minus its shutil import.

    argparse makes a formatter for every parser and argument, and the stock one
    imports shutil (and with it bz2 and lzma: about 2 ms of the exec plugin's
    start-up) only to read the terminal width, which this reads the same way.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse with the sysexits usage code, so ``verify``'s 1 and 2 stay unambiguous."""

    def __init__(
        self,
        *,
        formatter_class: type[argparse.HelpFormatter] = _HelpFormatter,
        **kwargs: Any,
    ) -> None:
        super().__init__(formatter_class=formatter_class, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[_Parser]]:
    parser = _Parser(
        prog="k8s-aws-auth",
        description="Generate and verify Kubernetes AWS IAM (k8s-aws-v1.) tokens.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version_line())
    add_global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    return parser, sub


def _version_line() -> str:
    from k8s_aws_auth._core.version import __version__

    return f"k8s-aws-auth {__version__}"


def parse_command_line(args_list: Sequence[str]) -> argparse.Namespace:
    """`k8s_aws_auth.cli.parse_command_line`'s work (see there)."""
    parser, sub = _parser()
    chosen = chosen_command(args_list)
    # A known command gets only its own parser (each costs the plugin's start-up
    # an ArgumentParser); the top-level help and an unknown command list them all.
    names = [chosen] if chosen in SUBCOMMANDS else list(SUBCOMMANDS)
    chosen_parser: argparse.ArgumentParser = parser
    for name in names:
        module_name, help_text = SUBCOMMANDS[name]
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command_parser.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,
                help="show tracebacks on errors",
            )
            importlib.import_module(module_name).configure(command_parser)
            if name in UPSTREAM_COMMANDS:
                add_global_flags(command_parser)
            chosen_parser = command_parser
    args, unknown = parser.parse_known_args(args_list)
    if unknown:
        # The subcommand's own usage, not the top-level one: that is where the flag was wrong.
        target = chosen_parser if args.command == chosen else parser
        target.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help(sys.stderr)
    else:
        apply_global_flags(args, parser)
    return args
