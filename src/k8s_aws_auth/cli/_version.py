"""``version``: the version in aws-iam-authenticator's formats.

``{"Version":"0.1.0"}`` by default and with ``-o json`` (empty fields left out,
as upstream's encoder does), ``version``/``commit``/``date`` keys with
``-o yaml``, and the bare version with ``-s`` (which wins over ``-o``). There is
no commit or build date in a Python distribution, so those are empty.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["configure", "run", "version_text"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add upstream's ``-s/--short`` and ``-o/--output``."""
    parser.add_argument("-s", "--short", action="store_true", help="print just the version number")
    parser.add_argument(
        "-o",
        "--output",
        choices=("json", "yaml"),
        default="json",
        help="output format (default: json)",
    )


def version_text(version: str, *, short: bool = False, output: str = "json") -> str:
    """What ``version`` prints for ``version`` (with its final newline)."""
    if short:
        return f"{version}\n"
    if output == "yaml":
        return f'version: {version}\ncommit: ""\ndate: ""\n'
    return json.dumps({"Version": version}, separators=(",", ":")) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the version."""
    import sys

    from k8s_aws_auth._core.version import __version__

    sys.stdout.write(version_text(__version__, short=args.short, output=args.output))
    return 0
