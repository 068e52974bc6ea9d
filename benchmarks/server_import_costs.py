"""What each group of ``serve``'s imports costs resident, measured by leaving it out.

Usage (from this folder, with the Python whose environment is measured, for
example a clean virtual environment holding only ``k8s-aws-auth[server]``)::

    python server_import_costs.py

A ``serve`` (default settings, FakeSTS beside it) answers one review, then
lists the modules it has loaded (on SIGUSR1). Fresh interpreters then import
those modules (all but ``k8s_aws_auth``'s own, which would pull every group
back in) in the order the server loaded them: once all of them, then once
without each group below. A group's cost is the difference in ``VmRSS``, median
of three runs each: what dropping it from the serving path would save, with
everything else the server loads still there (a module shared with another
group stays, as it would). Not a bench_*.py module: it prints a table for
docs/performance.md's "Webhook server memory", not a target.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_server_memory import _tokens, serving

#: Modules per group: a listed name and its submodules.
GROUPS: dict[str, tuple[str, ...]] = {
    "httpx with httpcore, anyio (and its asyncio backend), idna, certifi, sniffio, "
    "typing_extensions, http.cookiejar, urllib.request": (
        "httpx",
        "httpcore",
        "anyio",
        "idna",
        "certifi",
        "sniffio",
        "typing_extensions",
        "http.cookiejar",
        "urllib.request",
    ),
    "prometheus-client with wsgiref, http.server": ("prometheus_client", "wsgiref", "http.server"),
    "uvloop": ("uvloop",),
    "httptools": ("httptools",),
    "PyYAML": ("yaml", "_yaml"),
}

_PROBE = textwrap.dedent(
    """
    import json, os, signal, sys

    def dump(*_):
        names = [name for name, module in sys.modules.items() if module is not None]
        with open(os.environ["MODULES_FILE"], "w") as file:
            json.dump(names, file)

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["k8s-aws-auth", *sys.argv[1:]]
    from k8s_aws_auth.cli import main
    sys.exit(main())
    """
)

_IMPORTER = textwrap.dedent(
    """
    import importlib, json, re, sys
    sys.modules.setdefault("h2", None)  # as serve does
    for name in json.loads(sys.stdin.read()):
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:
                pass  # a platform-specific module the server did not import by name
    status = open("/proc/self/status").read()
    print(int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)))
    """
)


def _served_modules() -> list[str]:
    from k8s_aws_auth.testing import FakeSTS

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "modules.json"
        os.environ["MODULES_FILE"] = str(report)
        try:
            first = _tokens(FakeSTS())[0]
            with serving([sys.executable, "-c", _PROBE], first) as (server, _, _):
                os.kill(server.pid, signal.SIGUSR1)
                deadline = time.monotonic() + 30
                while not report.exists() or not report.read_text().endswith("]"):
                    assert time.monotonic() < deadline, "the server wrote no module list"
                    time.sleep(0.05)
                names: list[str] = json.loads(report.read_text())
        finally:
            del os.environ["MODULES_FILE"]
    return [name for name in names if name.split(".")[0] not in ("k8s_aws_auth", "__main__")]


def _in_group(name: str, group: tuple[str, ...]) -> bool:
    return any(name == part or name.startswith(f"{part}.") for part in group)


def _resident_kib(modules: list[str]) -> int:
    runs = [
        int(
            subprocess.run(
                [sys.executable, "-c", _IMPORTER],
                input=json.dumps(modules),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(3)
    ]
    return int(statistics.median(runs))


def main() -> str:
    """Measure and return the Markdown table."""
    modules = _served_modules()
    everything = _resident_kib(modules)
    rows = [
        "| left out of the serving process's imports | saves (resident) |",
        "|---|---:|",
    ]
    for label, group in GROUPS.items():
        without = _resident_kib([name for name in modules if not _in_group(name, group)])
        rows.append(f"| {label} | {(everything - without) / 1024:.2f} MiB |")
    rows.append(
        f"| (all {len(modules)} modules, none left out) | {everything / 1024:.1f} MiB resident |"
    )
    return "\n".join([*rows, "", f"Python {sys.version.split()[0]}."])


if __name__ == "__main__":
    print(main())
