"""``k8s-aws-auth serve`` takes its start-up objects out of the collector's walks once it serves."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import textwrap
import time

from tests.support.ports import free_port
from tests.support.server import CLUSTER_ID, ServerProcess, run_cli, write_config

# Runs the CLI like `python -m k8s_aws_auth`; on SIGUSR1 it writes the collector's
# frozen and tracked object counts to $GC_FILE, and the frozen count before the CLI
# was imported (not 0 on every Python: 3.12 freezes a few hundred at start-up).
_PROBE = textwrap.dedent(
    """
    import gc, json, os, signal, sys

    before = gc.get_freeze_count()

    def dump(*_):
        report = {
            "before": before,
            "frozen": gc.get_freeze_count(),
            "tracked": len(gc.get_objects()),
        }
        with open(os.environ["GC_FILE"] + ".tmp", "w") as file:
            json.dump(report, file)
        os.replace(os.environ["GC_FILE"] + ".tmp", os.environ["GC_FILE"])

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["k8s-aws-auth", *sys.argv[1:]]
    from k8s_aws_auth.cli import main
    sys.exit(main())
    """
)


def test_a_serving_process_has_its_start_up_objects_frozen(tmp_path: pathlib.Path) -> None:
    config = write_config(tmp_path / "config.yaml", CLUSTER_ID, {"mapAccounts": ["111122223333"]})
    state, port = tmp_path / "state", str(free_port())
    init = run_cli("init", "-c", str(config), "--state-dir", str(state), "--port", port)
    assert init.returncode == 0, init.stderr
    report_file = tmp_path / "gc.json"
    server = ServerProcess(
        ["-c", str(config), "--state-dir", str(state), "--port", port],
        command=[sys.executable, "-c", _PROBE, "serve"],
        env={"GC_FILE": str(report_file)},
    )
    try:
        server.wait_serving()
        # The freeze follows the "serving" line: ask until it shows (or the deadline).
        deadline = time.monotonic() + 20
        report: dict[str, float] = {"before": 0, "frozen": 0}
        while report["frozen"] <= report["before"]:
            assert time.monotonic() < deadline, (report, server.log_text())
            os.kill(server.process.pid, signal.SIGUSR1)
            time.sleep(0.1)
            if report_file.exists():
                report = json.loads(report_file.read_text())
    finally:
        server.close()
    # Imports and start-up leave tens of thousands of objects (httpx, uvicorn, the
    # metrics, our modules); what the collector still walks is what came after.
    assert report["frozen"] - report["before"] > 10_000
    assert report["tracked"] < report["frozen"] / 4
