"""The ``k8s-aws-auth`` command line (argparse, lazy imports; kubectl's lines without it).

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; this module imports only the one being run, so a
``token`` call never pays for httpx or the server extra.

Exit codes: ``0`` success, ``1`` failure (for ``verify``: the token was denied),
``2`` could not decide (``verify`` only: STS unreachable or unusable), ``64``
usage error (sysexits ``EX_USAGE``), ``130`` interrupted. Errors are one line on
stderr naming the cause and the fix; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = [
    "EXIT_FAILURE",
    "EXIT_UNDECIDED",
    "EXIT_USAGE",
    "describe_error",
    "main",
    "parse_command_line",
    "process_main",
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
    from ._parser import parse_command_line as parse

    return parse(args_list)


#: What httpx and httpcore import whenever it is installed, though no command runs it:
#: trio (httpcore's locks for trio programs; every command is sync or asyncio) and
#: httpx's own command line (``httpx._main``: click, pygments and rich). On a machine
#: that has them, they cost a command's first network call about 0.2 s of start-up.
_UNUSED_BY_ANY_COMMAND = ("trio", "httpx._main")


def process_main() -> int:
    """The ``k8s-aws-auth`` process (the console script, ``python -m k8s_aws_auth``): :func:`main`.

    Before anything is imported, it marks the modules no command uses as absent (a
    ``None`` in `sys.modules`, which httpx and httpcore take as "not installed"). Only
    here, in a process the command owns: :func:`main` called from a program leaves
    that program's modules alone.
    """
    for name in _UNUSED_BY_ANY_COMMAND:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # kubectl's command lines are read without argparse (`_token_argv`); any
    # other goes to the full parser, whose messages and exit codes are the CLI's.
    from ._token_argv import token_args

    args = token_args(args_list, os.environ)
    if args is not None:
        from . import _token as module
    else:
        args = parse_command_line(args_list)
        if args.command is None:
            return EXIT_USAGE
        import importlib

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
