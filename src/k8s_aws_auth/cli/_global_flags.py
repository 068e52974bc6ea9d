"""aws-iam-authenticator's persistent flags, accepted before or after the subcommand.

cobra lets ``aws-iam-authenticator -i X server`` and ``server -i X`` mean the
same; argparse only knows options of the parser that reads them. So each flag
is added twice — to the top-level parser and to the chosen subcommand's, both
writing ``_global_<dest>`` — and `apply_global_flags` hands the value to the
command's own setting afterwards (a subcommand's own flag of the same name wins).

Imported on the exec plugin's start-up path (for its names), so it imports only
``os`` at load time, argparse and ``re`` when used (hence the level names
repeated here rather than imported from the server's config).
"""

from __future__ import annotations

import os

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = [
    "CLUSTER_ID_ENV",
    "FEATURE_GATES",
    "GLOBAL_FLAGS",
    "LOG_VERBOSITY_ENV",
    "UPSTREAM_COMMANDS",
    "add_global_flags",
    "apply_global_flags",
    "chosen_command",
    "config_cluster_id",
    "parse_feature_gates",
]

#: aws-iam-authenticator's persistent flags, all taking a value: (option strings, dest, help).
GLOBAL_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("-c", "--config"), "config", "config file (YAML, aws-iam-authenticator's keys)"),
    (
        ("-i", "--cluster-id"),
        "cluster_id",
        "cluster id (default: $KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID)",
    ),
    (("-l", "--log-format"), "log_format", "log format of the server: json (default) or text"),
    (
        ("-v", "--log-verbosity"),
        "log_verbosity",
        "log level: panic, fatal, error, warning, info, debug, trace "
        "(default: $AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY, else info)",
    ),
    (
        ("--feature-gates",),
        "feature_gates",
        "upstream's feature gates, e.g. ConfiguredInitDirectories=true",
    ),
)
_GLOBAL_OPTIONS_WITH_VALUE = frozenset(o for options, _, _ in GLOBAL_FLAGS for o in options)
LOG_VERBOSITY_ENV = "AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY"
CLUSTER_ID_ENV = "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID"
#: The commands upstream has (ours take its global flags and environment variables too).
UPSTREAM_COMMANDS = frozenset({"token", "verify", "server", "serve", "init", "version"})
_LOG_LEVELS = ("panic", "fatal", "error", "warn", "warning", "info", "debug", "trace")
#: upstream's feature gates (component-base adds AllAlpha and AllBeta).
FEATURE_GATES = (
    "AllAlpha",
    "AllBeta",
    "ConfiguredInitDirectories",
    "IAMIdentityMappingCRD",
    "SSORoleMatch",
)
_TRUE = ("1", "t", "true")
_FALSE = ("0", "f", "false")
_CLUSTER_ID_LINE = r"clusterid\s*:\s*[\"']?([^\"'\s#]+)"


def config_cluster_id(path: str, parser: argparse.ArgumentParser) -> str | None:
    """``clusterID`` of an upstream config file (what ``token``/``verify`` read of it).

    A line scan, not a YAML parser: the exec plugin has no YAML dependency, and
    upstream's files write the key as a plain top-level ``clusterID: <id>``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1 << 20)
    except OSError as exc:
        parser.error(f"cannot read configuration file {path!r}: {exc.strerror}")
    import re

    for line in text.splitlines():
        match = re.match(_CLUSTER_ID_LINE, line, re.IGNORECASE)
        if match:
            return match.group(1)
    return None


def parse_feature_gates(value: str) -> dict[str, bool]:
    """``A=true,B=false`` → ``{"A": True, "B": False}``.

    Raises:
        ValueError: an unknown gate (upstream refuses those too) or a value that
            is not a boolean; the message names it.
    """
    gates: dict[str, bool] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        name, _, flag = (piece.strip() for piece in part.partition("="))
        if name not in FEATURE_GATES:
            raise ValueError(
                f"unrecognized feature gate: {name}; known: {', '.join(FEATURE_GATES)}"
            )
        if flag.lower() not in _TRUE + _FALSE:
            raise ValueError(f"feature gate {name} needs true or false, as {name}=true")
        gates[name] = flag.lower() in _TRUE
    return gates


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """Add the persistent flags the parser does not define itself (as ``_global_<dest>``)."""
    import argparse

    group = parser.add_argument_group("aws-iam-authenticator's global flags")
    for options, dest, help_text in GLOBAL_FLAGS:
        free = [o for o in options if o not in parser._option_string_actions]
        if free:
            group.add_argument(
                *free,
                dest=f"_global_{dest}",
                metavar=dest.upper(),
                default=argparse.SUPPRESS,
                help=help_text,
            )


def chosen_command(args: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor the value of a global flag."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def apply_global_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Give the command the global flags' values: its own flag wins, then the global one, then the environment."""
    for _, dest, _ in GLOBAL_FLAGS:
        value = getattr(args, f"_global_{dest}", None)
        if value is not None and getattr(args, dest, None) is None:
            setattr(args, dest, value)
        elif not hasattr(args, dest):
            setattr(args, dest, None)
    if args.cluster_id is None and args.command in UPSTREAM_COMMANDS:
        args.cluster_id = os.environ.get(CLUSTER_ID_ENV) or None
    if args.cluster_id is None and args.config and args.command in ("token", "verify"):
        args.cluster_id = config_cluster_id(args.config, parser)
    verbosity = args.log_verbosity or os.environ.get(LOG_VERBOSITY_ENV) or None
    if verbosity is not None and verbosity.lower() not in _LOG_LEVELS:
        # upstream fails every command on a bad level, before running it
        parser.error(
            f"invalid log level {verbosity!r}; valid values are: panic, fatal, error, "
            "warning, info, debug, trace"
        )
    # None when neither the flag nor the environment set it: the config file may.
    args.log_verbosity = verbosity.lower() if verbosity else None
    if args.log_format is not None and args.log_format.lower() not in ("json", "text"):
        parser.error(f"invalid log format {args.log_format!r}; use text or json")
    if args.feature_gates is not None:
        try:
            args.feature_gates = parse_feature_gates(args.feature_gates)
        except ValueError as exc:
            parser.error(str(exc))
