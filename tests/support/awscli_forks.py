"""The real awscli, imported once, run in a forked child per command: a test-only oracle.

An ``aws eks get-token`` process spends most of its CPU importing awscli (about
0.5 s of 0.8 s here), and the suite runs the peers some seventy times per Python.
This process imports awscli, its plugins and eks-token once, then forks a child for
each request. The child takes the request's environment, working directory and
files for stdin, stdout and stderr, optionally freezes awscli's clock
(tests/support/awscli_frozen.py), runs awscli's own entry point (what the ``aws``
script runs) or ``eks_token.get_token``, and exits with its exit code. The
children share nothing but the imported modules: each reads its environment,
configuration files and caches afresh, as a new ``aws`` process does.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout
(``{"returncode": N}``). tests/support/awscli_oracle.py is the client.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import signal
import sys
import traceback
import warnings
from typing import Any

# Run as a script: the project root makes tests/support importable as it is in the suite.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.support.awscli_frozen import freeze_awscli_clock

#: What every command imports, none of which reads the environment at import: awscli
#: first (it makes ``botocore`` its vendored copy), then the plugins every driver loads
#: (``awscli.handlers``: a third of a command's CPU), ``eks get-token`` and eks-token.
_PRELOADED = (
    "awscli",
    "awscli.clidriver",
    "awscli.handlers",
    "awscli.customizations.eks.get_token",
    "botocore.auth",
    "eks_token",
)


def _prepare() -> str:
    """Import :data:`_PRELOADED`; the data folder awscli's import put in ``AWS_DATA_PATH``."""
    os.environ.pop("AWS_DATA_PATH", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _PRELOADED:
            importlib.import_module(name)
    return os.environ["AWS_DATA_PATH"]


def _data_path(environ: dict[str, str], awscli_data: str) -> str:
    """``AWS_DATA_PATH`` as awscli's import leaves it in a new process with ``environ``.

    Its import appends its own data folder to the entries found there (each with
    variables and ``~`` expanded): the import happened here, before the command's
    environment was in place, so the child sets what it would have set.
    """
    given = environ.get("AWS_DATA_PATH")
    entries = [] if given is None else given.split(os.pathsep)
    expanded = [os.path.expanduser(os.path.expandvars(entry)) for entry in entries]
    return os.pathsep.join([*expanded, awscli_data])


def _run_child(request: dict[str, Any], awscli_data: str) -> object:
    """In the forked child: become the requested process, run the command, its exit code."""
    for target, (path, flags) in enumerate(
        (
            (request["stdin"], os.O_RDONLY),
            (request["stdout"], os.O_WRONLY | os.O_TRUNC),
            (request["stderr"], os.O_WRONLY | os.O_TRUNC),
        )
    ):
        descriptor = os.open(path, flags)
        os.dup2(descriptor, target)
        os.close(descriptor)
    os.environ.clear()
    os.environ.update(request["env"])
    # After the update: expandvars reads the command's environment, as awscli's import does.
    os.environ["AWS_DATA_PATH"] = _data_path(dict(os.environ), awscli_data)
    if request["cwd"] is not None:
        os.chdir(request["cwd"])
    signal.alarm(int(request["timeout"]))  # a hung command dies like a timed-out process
    if request["frozen"] is not None:
        freeze_awscli_clock(request["frozen"])
    if request["program"] == "eks-token":
        import eks_token

        cluster, region = request["args"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(json.dumps(eks_token.get_token(cluster, region_name=region or None)))
        return 0
    import awscli.clidriver

    sys.argv = ["aws", *request["args"]]
    # What the `aws` script hands to sys.exit: usually an int, sometimes a message.
    return awscli.clidriver.main()


def _exit_status(value: object) -> int:
    """The status ``sys.exit(value)`` gives a process: a message on stderr and 1 for a non-integer."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _fork(request: dict[str, Any], awscli_data: str) -> int:
    """Run ``request`` in a forked child; its exit code (``-N`` for a signal, as subprocess)."""
    pid = os.fork()
    if pid == 0:
        # The child never returns to the loop below, whatever happens.
        code = 1
        try:
            try:
                code = _exit_status(_run_child(request, awscli_data))
            except SystemExit as exit_:
                code = _exit_status(exit_.code)
            except BaseException:
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    """Serve requests from stdin until it closes."""
    awscli_data = _prepare()
    replies = sys.stdout.fileno()
    # Ready: the client waits for this line before its first request.
    os.write(replies, b'{"ready": true}\n')
    for line in sys.stdin:
        code = _fork(json.loads(line), awscli_data)
        os.write(replies, json.dumps({"returncode": code}).encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
