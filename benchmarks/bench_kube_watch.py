"""aws-auth from the Kubernetes API: update-to-review latency, and the cost of a big relist.

1. **Update → first review that sees it.** ``k8s-aws-auth serve --backend-mode
   EKSConfigMap`` (its own process, ``--cache-ttl 0``) follows the Kubernetes
   API stand-in of the tests (``tests/support/kube_api.py``: loopback HTTPS,
   chunked watch stream). Each round edits ``aws-auth`` (a new username for
   the same ARN), then POSTs TokenReviews (FakeSTS, loopback HTTP) until the
   answer carries the new name: the time from the edit to that answer. The
   peer in the same run is the same server on a mounted file (``MountedFile``,
   the config file rewritten atomically, ``reloadInterval`` 1 s): what a file
   volume gives at best (a kubelet-projected ConfigMap adds its sync period,
   about a minute, on top).
2. **A 5,000-entry aws-auth relist.** The LIST of that ConfigMap over HTTPS
   (lightkube through our transport, in this process), and its parse and
   validation by the mapping loader (what the backend does with a relist whose
   resourceVersion changed; an unchanged one is not parsed again). The peer is
   ``kubectl get --raw`` of the same LIST against the same stand-in
   (a process start included), when kubectl is installed.

Nothing is pinned: both sides are loopback servers in or next to this process;
the numbers are latencies, not throughput.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLUSTER_ID = "bench-kube"
ALICE = "arn:aws:iam::111122223333:user/alice"
UPDATES = int(os.environ.get("BENCH_KUBE_UPDATES", "100"))
FILE_UPDATES = max(5, UPDATES // 5)
RELIST_ENTRIES = 5000
RELIST_ROUNDS = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _users(username: str) -> list[dict[str, Any]]:
    return [{"userarn": ALICE, "username": username, "groups": ["devs"]}]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class _Webhook:
    """A ``serve`` process and a client POSTing reviews for one token."""

    def __init__(
        self, root: pathlib.Path, server: dict[str, Any], sts_url: str, token: str, *flags: str
    ) -> None:
        self.config = root / "config.yaml"
        self._write(server)
        port = _free_port()
        state = root / "state"
        python = sys.executable
        init = [python, "-m", "k8s_aws_auth", "init", "-c", str(self.config)]
        subprocess.run(
            [*init, "--state-dir", str(state), "--port", str(port)], check=True, capture_output=True
        )
        argv = [
            python,
            "-m",
            "k8s_aws_auth",
            "serve",
            "-c",
            str(self.config),
            "--state-dir",
            str(state),
        ]
        argv += ["--port", str(port), "--sts-endpoint-url", sts_url, "--cache-ttl", "0", *flags]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.client = httpx.Client(verify=str(state / "ca.pem"), timeout=10.0)
        self.url = f"https://localhost:{port}"
        self.body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.client.get(f"{self.url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the webhook did not become ready")
            time.sleep(0.05)

    def _write(self, server: dict[str, Any]) -> None:
        temporary = self.config.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump({"clusterID": CLUSTER_ID, "server": server}))
        temporary.replace(self.config)

    def username(self) -> str | None:
        status = self.client.post(f"{self.url}/authenticate", json=self.body).json()["status"]
        return status["user"]["username"] if status.get("authenticated") else None

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def _latencies(count: int, update: Callable[[str], object], webhook: _Webhook) -> list[float]:
    latencies = []
    for round_number in range(count):
        name = f"user-{round_number}"
        started = time.perf_counter()
        update(name)
        deadline = started + 60
        while webhook.username() != name:
            if time.perf_counter() > deadline:
                raise RuntimeError("an update was not served within 60 s")
        latencies.append(time.perf_counter() - started)
    return latencies


def _relist(api: Any, kubeconfig: pathlib.Path) -> tuple[list[float], list[float], list[float]]:
    from k8s_aws_auth._kube import (
        CONFIG_MAP,
        KubeSettings,
        list_objects,
        resolve_connection,
        sync_client,
    )
    from k8s_aws_auth.mapping import parse_document

    users = [
        {"userarn": f"arn:aws:iam::111122223333:user/u{i}", "username": f"u{i}", "groups": ["devs"]}
        for i in range(RELIST_ENTRIES)
    ]
    api.set_configmap("aws-auth", {"mapUsers": yaml.safe_dump(users)})
    client = sync_client(resolve_connection(KubeSettings(kubeconfig=str(kubeconfig))))
    lists, parses, kubectl = [], [], []
    for _ in range(RELIST_ROUNDS):
        started = time.perf_counter()
        (found,) = [
            o
            for o in list_objects(client, CONFIG_MAP, namespace="kube-system")
            if o.name == "aws-auth"
        ]
        lists.append(time.perf_counter() - started)
        started = time.perf_counter()
        mapping_set = parse_document(
            {"kind": "ConfigMap", "data": found.body["data"]}, format="eks-configmap"
        )
        parses.append(time.perf_counter() - started)
        assert len(mapping_set.users) == RELIST_ENTRIES
        if shutil.which("kubectl"):
            started = time.perf_counter()
            subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    str(kubeconfig),
                    "get",
                    "--raw",
                    "/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3Daws-auth",
                ],
                check=True,
                capture_output=True,
            )
            kubectl.append(time.perf_counter() - started)
    return lists, parses, kubectl


def main() -> str:
    """Run the measurements and return the Markdown section."""
    sys.path.insert(0, str(ROOT))  # the Kubernetes API stand-in lives with the tests
    import trustme

    from k8s_aws_auth.testing import FakeSTS
    from tests.support.kube_api import kube_api, write_token_kubeconfig

    sts = FakeSTS()
    token = sts.make_token(sts.create_principal(ALICE, seed="bench-kube"), cluster_id=CLUSTER_ID)
    with (
        tempfile.TemporaryDirectory() as tmp,
        kube_api(trustme.CA()) as api,
        sts.serve() as sts_url,
    ):
        root = pathlib.Path(tmp)
        kubeconfig = write_token_kubeconfig(root / "api-kubeconfig", api)
        api.set_configmap("aws-auth", {"mapUsers": yaml.safe_dump(_users("start"))})
        (root / "watch").mkdir()
        webhook = _Webhook(
            root / "watch",
            {"backendMode": ["EKSConfigMap"], "logLevel": "warning"},
            sts_url,
            token,
            "--kubeconfig",
            str(kubeconfig),
        )
        try:
            watch = _latencies(
                UPDATES,
                lambda name: api.set_configmap(
                    "aws-auth", {"mapUsers": yaml.safe_dump(_users(name))}
                ),
                webhook,
            )
        finally:
            webhook.close()
        (root / "file").mkdir()
        settings: dict[str, Any] = {
            "mapUsers": [{"userARN": ALICE, "username": "start"}],
            "reloadInterval": "1s",
            "logLevel": "warning",
        }
        file_webhook = _Webhook(root / "file", settings, sts_url, token)
        try:
            polled = _latencies(
                FILE_UPDATES,
                lambda name: file_webhook._write(
                    {**settings, "mapUsers": [{"userARN": ALICE, "username": name}]}
                ),
                file_webhook,
            )
        finally:
            file_webhook.close()
        lists, parses, kubectl = _relist(api, kubeconfig)
    return _report(watch, polled, lists, parses, kubectl)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _report(
    watch: list[float],
    polled: list[float],
    lists: list[float],
    parses: list[float],
    kubectl: list[float],
) -> str:
    watch_p50, polled_p50 = _percentile(watch, 0.5), _percentile(polled, 0.5)
    lines = [
        "## aws-auth from the Kubernetes API",
        "",
        "| update → first review that sees it | updates | p50 | p99 |",
        "|---|---|---|---|",
        f"| `EKSConfigMap` watch (this server) | {len(watch)} | {_ms(watch_p50)} | {_ms(_percentile(watch, 0.99))} |",
        f"| `MountedFile`, `reloadInterval` 1 s (peer) | {len(polled)} | {_ms(polled_p50)} | {_ms(_percentile(polled, 0.99))} |",
        "",
        f"The watch serves an edit in {watch_p50 / polled_p50:.2f}× the file poll's median time.",
        "",
        f"| {RELIST_ENTRIES:,}-entry aws-auth relist | median of {len(lists)} |",
        "|---|---|",
        f"| LIST over HTTPS (lightkube + our transport, in process) | {_ms(statistics.median(lists))} |",
        f"| parse + validate + compile (mapping loader) | {_ms(statistics.median(parses))} |",
    ]
    if kubectl:
        lines.append(
            f"| `kubectl get --raw` of the same LIST (peer, process start included) | {_ms(statistics.median(kubectl))} |"
        )
    lines += [
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, nothing pinned; the API is the "
        "test stand-in (threaded `http.server`), not kube-apiserver.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
