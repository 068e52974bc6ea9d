"""``token`` and ``get-token`` command lines read without argparse: the exec plugin's start-up path.

kubectl runs the plugin before every command with the same few flags, and
argparse (with the gettext and locale it loads to translate its messages) costs
that process about a fifth of its run. `token_args()` reads only what it can
read exactly as the full parser does: each option spelt out in full, as
``--option value``, ``--option=value`` or ``-o value``, with values that do not
start with ``-``; before the command only ``--debug`` and ``-i``/``--cluster-id``.
For anything else (help, prefix abbreviations, ``-oVALUE``, ``--``, an unknown
flag, a value outside its choices, two flags that exclude each other,
aws-iam-authenticator's other global flags or its log-verbosity variable) it
returns ``None`` and the caller hands the command line to argparse, so every
message and exit code stays argparse's. ``tests/cli/test_token_argv.py``
compares the two over a table of command lines.
"""

from __future__ import annotations

from ._global_flags import CLUSTER_ID_ENV, LOG_VERBOSITY_ENV

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Mapping, Sequence
else:

    class Namespace:
        """What argparse would return, without importing argparse: its attributes and equality."""

        __hash__ = None  # unhashable, as argparse's (mutable, compared by value)

        def __init__(self, **values: object) -> None:
            self.__dict__.update(values)

        def __eq__(self, other: object) -> bool:
            return vars(self) == vars(other)

        def __contains__(self, key: str) -> bool:
            return key in self.__dict__

        def __repr__(self) -> str:
            fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
            return f"Namespace({fields})"


__all__ = ["token_args"]

_FLAG = None  # store_true: takes no value
_VALUE: tuple[str, ...] = ()  # takes one value, any string (else: one of the tuple's)

#: Option → (dest, _FLAG, _VALUE or the tuple of accepted values), per command.
_SHARED_OPTIONS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "--region": ("region", _VALUE),
    "--profile": ("profile", _VALUE),
    "--imds-region": ("imds_region", _FLAG),
    "--sts-regional-endpoints": ("sts_regional_endpoints", ("regional", "legacy")),
    "--cache": ("cache", _FLAG),
    "--now": ("now", _VALUE),
    "--debug": ("debug", _FLAG),
}
_OPTIONS: dict[str, dict[str, tuple[str, tuple[str, ...] | None]]] = {
    "token": {
        "-i": ("cluster_id", _VALUE),
        "--cluster-id": ("cluster_id", _VALUE),
        "-r": ("role", _VALUE),
        "--role": ("role", _VALUE),
        "-e": ("external_id", _VALUE),
        "--external-id": ("external_id", _VALUE),
        "-s": ("session_name", _VALUE),
        "--session-name": ("session_name", _VALUE),
        "--forward-session-name": ("forward_session_name", _FLAG),
        "--token-only": ("token_only", _FLAG),
        **_SHARED_OPTIONS,
    },
    "get-token": {
        "--cluster-name": ("cluster_name", _VALUE),
        "--cluster-id": ("cluster_id", _VALUE),
        "--role-arn": ("role_arn", _VALUE),
        "-o": ("output", ("json", "text")),
        "--output": ("output", ("json", "text")),
        **_SHARED_OPTIONS,
    },
}
#: Each command's dests before parsing (argparse's defaults).
_DEFAULTS: dict[str, dict[str, object]] = {
    "token": {
        "cluster_id": None,
        "role": None,
        "external_id": None,
        "session_name": None,
        "forward_session_name": False,
        "token_only": False,
    },
    "get-token": {"cluster_name": None, "cluster_id": None, "role_arn": None, "output": "json"},
}
_SHARED_DEFAULTS: dict[str, object] = {
    "region": None,
    "profile": None,
    "imds_region": False,
    "sts_regional_endpoints": None,
    "cache": False,
    "now": None,
}
#: Pairs of dests argparse refuses together (its mutually exclusive groups).
_EXCLUSIVE = {
    "token": ("session_name", "forward_session_name"),
    "get-token": ("cluster_name", "cluster_id"),
}
_TOP_LEVEL_CLUSTER_ID = ("-i", "--cluster-id")


def _split(arg: str) -> tuple[str, str | None]:
    """``--option=value`` → (``--option``, ``value``); anything else → (arg, None)."""
    if arg.startswith("--") and "=" in arg:
        option, _, value = arg.partition("=")
        return option, value
    return arg, None


def _value(argv: Sequence[str], position: int, explicit: str | None) -> tuple[str | None, int]:
    """An option's value (after its ``=``, else the next argument) and the next position.

    ``None`` where argparse must decide: no value, an empty ``=`` value, or a
    next argument that starts with ``-`` (an option to argparse, or a negative number).
    """
    if explicit is not None:
        return explicit or None, position
    if position >= len(argv) or argv[position].startswith("-"):
        return None, position
    return argv[position], position + 1


def token_args(argv: Sequence[str], environ: Mapping[str, str]) -> Namespace | None:
    """The arguments argparse and `apply_global_flags` would give, or ``None``: use them.

    ``environ`` is read as `apply_global_flags` reads the process environment:
    the cluster id variable (``token`` only) and the log verbosity variable
    (whose presence alone sends the command line to argparse, which checks it).
    """
    if environ.get(LOG_VERBOSITY_ENV):
        return None
    values: dict[str, object] = {"debug": False}
    command: str | None = None
    position = 0
    while command is None:  # the top-level parser's part, up to the command
        if position >= len(argv):
            return None
        option, explicit = _split(argv[position])
        position += 1
        if option == "--debug" and explicit is None:
            values["debug"] = True
        elif option in _TOP_LEVEL_CLUSTER_ID:
            value, position = _value(argv, position, explicit)
            if value is None:
                return None
            values["_global_cluster_id"] = value
        elif option in _OPTIONS:
            command = option
        else:
            return None
    options = _OPTIONS[command]
    values.update(_DEFAULTS[command])
    values.update(_SHARED_DEFAULTS)
    given: set[str] = set()
    while position < len(argv):
        option, explicit = _split(argv[position])
        position += 1
        known = options.get(option)
        if known is None:
            return None
        dest, choices = known
        if choices is _FLAG:
            if explicit is not None:
                return None
            values[dest] = True
        else:
            value, position = _value(argv, position, explicit)
            if value is None or (choices and value not in choices):
                return None
            values[dest] = value
        given.add(dest)
    if given.issuperset(_EXCLUSIVE[command]):
        return None
    # apply_global_flags: the command's own flag wins, then the top-level one, then
    # (for aws-iam-authenticator's command) the environment.
    if values["cluster_id"] is None:
        values["cluster_id"] = values.get("_global_cluster_id")
    if values["cluster_id"] is None and command == "token":
        values["cluster_id"] = environ.get(CLUSTER_ID_ENV) or None
    values.update(
        command=command, config=None, log_format=None, log_verbosity=None, feature_gates=None
    )
    return Namespace(**values)
