"""The ``k8s-aws-auth`` command line (argparse only, lazy imports).

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; this module imports only the one being run, so a
``token`` call never pays for httpx or the server extra.

Exit codes: ``0`` success, ``1`` failure (for ``verify``: the token was denied),
``2`` could not decide (``verify`` only: STS unreachable or unusable), ``64``
usage error (sysexits ``EX_USAGE``), ``130`` interrupted. Errors are one line on
stderr naming the cause and the fix; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ._global_flags import (
    UPSTREAM_COMMANDS,
    add_global_flags,
    apply_global_flags,
    chosen_command,
)

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = [
    "EXIT_FAILURE",
    "EXIT_UNDECIDED",
    "EXIT_USAGE",
    "describe_error",
    "main",
    "parse_command_line",
]

EXIT_FAILURE = 1
EXIT_UNDECIDED = 2
EXIT_USAGE = 64

#: subcommand → (module, one-line help). Modules are imported only when chosen.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("k8s_aws_auth.cli._demo", "run the full loop against an embedded loopback STS"),
    "token": (
        "k8s_aws_auth.cli._token",
        "print an ExecCredential for kubectl (aws-iam-authenticator token)",
    ),
    "get-token": (
        "k8s_aws_auth.cli._token",
        "print an ExecCredential for kubectl (aws eks get-token)",
    ),
    "verify": ("k8s_aws_auth.cli._verify", "verify a token against STS and print the identity"),
    "kubeconfig": ("k8s_aws_auth.cli._kubeconfig", "print a kubeconfig wired to this exec plugin"),
    "serve": (
        "k8s_aws_auth.cli._server",
        "run the TokenReview webhook server (aws-iam-authenticator server)",
    ),
    "server": (
        "k8s_aws_auth.cli._server",
        "run the TokenReview webhook server (serve, under aws-iam-authenticator's name)",
    ),
    "init": ("k8s_aws_auth.cli._server", "write the webhook's TLS certificate, key and kubeconfig"),
    "mapping": (
        "k8s_aws_auth.cli._mapping",
        "check a mapping file or explain how it maps a caller ARN",
    ),
    "version": ("k8s_aws_auth.cli._version", "print the version (-s bare, -o json|yaml)"),
    # aws-auth and the IAMIdentityMapping CRD on the Kubernetes API (issue 13)
    "add": ("k8s_aws_auth.cli._add", "add a user or role entry to kube-system/aws-auth"),
    "remove": ("k8s_aws_auth.cli._remove", "remove a user or role entry from kube-system/aws-auth"),
    "list": ("k8s_aws_auth.cli._list", "list the entries of kube-system/aws-auth"),
    "crd": ("k8s_aws_auth.cli._crd", "print the IAMIdentityMapping CustomResourceDefinition"),
}


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


def describe_error(exc: BaseException) -> str:
    """One line for stderr: what went wrong and what to do about it.

    Library errors carry vetted messages (never a token or a secret); anything
    else is named by type only, because its text might quote a secret.
    """
    from k8s_aws_auth.errors import (
        ConfigurationError,
        CredentialsError,
        K8sAwsAuthError,
        NoCredentialsError,
        STSError,
        TokenError,
    )

    if isinstance(exc, K8sAwsAuthError):
        message = exc.message
        if isinstance(exc, NoCredentialsError):
            fix = (
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile "
                "for a profile in ~/.aws/config (run `aws sso login` for SSO profiles)"
            )
        elif isinstance(exc, CredentialsError):
            fix = "check the AWS profile or credential source named above"
        elif isinstance(exc, ConfigurationError):
            if exc.reason == "usage":  # the message already says what to pass
                return " ".join(message.split())
            fix = "correct the value on the command line or in the environment"
        elif isinstance(exc, STSError):
            fix = "retry later, or check the network path to STS (--sts-endpoint-url)"
        elif isinstance(exc, TokenError):
            fix = "get a fresh token for the right cluster id"
        else:
            fix = "rerun with --debug for details"
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"{exc.strerror or type(exc).__name__}{where}"
        fix = "check that the path exists and is accessible"
    else:
        message = f"internal error ({type(exc).__name__})"
        fix = "rerun with --debug and report the traceback"
    line = f"{message}; {fix}"
    return " ".join(line.split())


def parse_command_line(args_list: Sequence[str]) -> argparse.Namespace:
    """The parsed arguments, global flags handed to the command (``command`` is ``None`` without one).

    Raises:
        SystemExit: a usage error (code 64, message on stderr), or ``--help``.
    """
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args = parse_command_line(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        return EXIT_USAGE
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"k8s-aws-auth {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    return code
