"""The DaemonSet of docs/deploy.md is consistent with what the server needs to run as written.

Its ``args`` go through the real command line; the state directory they name
is the read-only Secret mount; the pod runs as a non-root user whose group
(``fsGroup``) can read the Secret's files; the probes hit the health port and
``/readyz``. ``tests/server/test_upstream_dropin.py`` runs a server that way.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import yaml

from k8s_aws_auth.cli import parse_command_line

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _documents() -> list[Any]:
    blocks = re.findall(r"```yaml\n(.*?)\n```", DEPLOY.read_text(encoding="utf-8"), re.DOTALL)
    # a block may hold several documents (the RBAC objects)
    return [document for block in blocks for document in yaml.safe_load_all(block)]


def _daemonset() -> dict[str, Any]:
    found = [d for d in _documents() if isinstance(d, dict) and d.get("kind") == "DaemonSet"]
    assert len(found) == 1
    return found[0]


def test_the_daemonset_args_parse_and_write_nothing_to_the_state_dir() -> None:
    pod = _daemonset()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["k8s-aws-auth"]
    args = parse_command_line(container["args"])
    assert args.command == "server"
    assert args.kubeconfig_pregenerated is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    state = mounts[str(args.state_dir)]
    assert state["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    secret = volumes[state["name"]]["secret"]
    assert secret["defaultMode"] == 0o440  # group-readable: fsGroup below
    config_mount = next(m for path, m in mounts.items() if str(args.config).startswith(path))
    assert "configMap" in volumes[config_mount["name"]]


def test_the_pod_runs_as_a_non_root_user_that_can_read_the_secret() -> None:
    pod = _daemonset()["spec"]["template"]["spec"]
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] != 0
    assert context["fsGroup"] == context["runAsGroup"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_probes_use_the_health_port_and_readyz() -> None:
    (container,) = _daemonset()["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": 21363,
        "scheme": "HTTP",
    }
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": 21362,
        "scheme": "HTTPS",
    }
    ports = {p["containerPort"] for p in container["ports"]}
    assert ports == {21362, 21363}
