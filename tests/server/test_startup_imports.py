"""``serve`` loads only what its configuration uses (every module stays resident: see docs/performance.md)."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import signal
import sys
import textwrap
import time

from tests.support.ports import free_port
from tests.support.server import CLUSTER_ID, ServerProcess, run_cli, write_config

# Runs the CLI like `python -m k8s_aws_auth`; on SIGUSR1 (sent once it serves)
# it writes the names of the modules loaded so far to $MODULES_FILE.
_PROBE = textwrap.dedent(
    """
    import json, os, signal, sys

    def dump(*_):
        with open(os.environ["MODULES_FILE"], "w") as file:
            # A None entry is a module kept from loading, not a loaded one.
            json.dump(sorted(name for name, module in sys.modules.items() if module is not None), file)

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["k8s-aws-auth", *sys.argv[1:]]
    from k8s_aws_auth.cli import main
    sys.exit(main())
    """
)

#: What a server with only file and config mappings never needs: the
#: Kubernetes API client (the live backends' ``EKSConfigMap``/``CRD``), the EC2
#: lookup (node mappings by DNS name) and, with the certificate pair in place,
#: cryptography's X.509 and key code.
_LAZY = ("lightkube", "k8s_aws_auth._kube", "k8s_aws_auth._ec2.lookup", "cryptography.x509")

#: What no ``serve`` loads, whatever its configuration: HTTP/2 (nothing in the
#: server speaks it; httpcore would import it just because it is installed).
_NEVER = ("h2", "hpack", "hyperframe")


def _modules_while_serving(
    root: pathlib.Path, server_settings: dict[str, object], *flags: str
) -> list[str]:
    config = write_config(root / "config.yaml", CLUSTER_ID, server_settings)
    state, port = root / "state", str(free_port())
    init = run_cli("init", "-c", str(config), "--state-dir", str(state), "--port", port)
    assert init.returncode == 0, init.stderr
    report = root / "modules.json"
    server = ServerProcess(
        ["-c", str(config), "--state-dir", str(state), "--port", port, *flags],
        command=[sys.executable, "-c", _PROBE, "serve"],
        env={"MODULES_FILE": str(report)},
    )
    try:
        server.wait_serving()
        os.kill(server.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 20
        while not report.exists() or not report.read_text().endswith("]"):
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        modules: list[str] = json.loads(report.read_text())
    finally:
        assert server.stop() in (0, -signal.SIGTERM), server.log_text()
        server.close()
    assert "k8s_aws_auth.server._serve" in modules  # the probe saw a real server
    return modules


def _loaded(modules: list[str], name: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for module in modules)


def test_serve_without_live_backends_loads_no_kubernetes_client(tmp_path: pathlib.Path) -> None:
    modules = _modules_while_serving(tmp_path, {"mapUsers": []})
    assert [name for name in _LAZY + _NEVER if _loaded(modules, name)] == []
    # The HTTP/2 stack is installed (lightkube requires httpx's http2 extra) and
    # importable here, and httpcore, which imports it when it can, is loaded:
    # its absence is the server's doing, not the environment's.
    assert all(importlib.util.find_spec(name) is not None for name in _NEVER)
    assert _loaded(modules, "httpcore")


def test_serve_with_a_live_backend_loads_the_kubernetes_client(tmp_path: pathlib.Path) -> None:
    # The other side of the check above: the names it looks for are the ones the
    # live backends really load (a rename cannot make it vacuous).
    kubeconfig = tmp_path / "api-kubeconfig"
    kubeconfig.write_text(
        textwrap.dedent(
            """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
            users: [{name: u, user: {token: not-a-secret}}]
            contexts: [{name: c, context: {cluster: c, user: u}}]
            current-context: c
            """
        )
    )
    modules = _modules_while_serving(
        tmp_path, {"backendMode": ["EKSConfigMap"]}, "--kubeconfig", str(kubeconfig)
    )
    assert _loaded(modules, "lightkube")
    assert _loaded(modules, "k8s_aws_auth._kube")
    assert [name for name in _NEVER if _loaded(modules, name)] == []  # lightkube needs no h2
