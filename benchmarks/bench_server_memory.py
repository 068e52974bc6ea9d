"""Resident memory of ``k8s-aws-auth serve``: idle, and after 10,000 reviews with the default cache.

The server runs as its own process with the default settings (cache on: 60 s,
10,000 entries), FakeSTS in another process (``bench_server.py --fake-sts``).
RSS is read from ``/proc/<pid>/status``: ``VmRSS`` once the server is serving
and has answered one review (idle), ``VmRSS`` and the peak ``VmHWM`` after
10,000 reviews of 10,000 distinct tokens (so the cache ends full), sent by four
keep-alive clients. Beside them: the 20Mi memory limit of aws-iam-authenticator's
example DaemonSet (``deploy/example.yaml``), the number a drop-in is compared
with, and the design target (≤ 40 MiB after 10,000 reviews).
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import bench_server
import httpx
import yaml

REVIEWS = 10_000
CLIENTS = 4
UPSTREAM_LIMIT_MIB = 20
TARGET_MIB = 40


def _rss_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) for key in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def _tokens(sts: Any) -> list[bytes]:
    principals = bench_server._principals(sts)
    now = sts.clock()
    tokens: list[bytes] = []
    second = 0
    while len(tokens) < REVIEWS:
        for principal in principals:
            token = sts.make_token(
                principal, cluster_id=bench_server.CLUSTER_ID, now=now - timedelta(seconds=second)
            )
            review = {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
            tokens.append(json.dumps(review).encode())
        second += 1
    return tokens[:REVIEWS]


def _review_all(url: str, ca: Path, bodies: list[bytes]) -> int:
    failures = 0
    lock = threading.Lock()

    def work(part: list[bytes]) -> None:
        nonlocal failures
        context = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(verify=context, timeout=30) as client:
            for body in part:
                response = client.post(
                    f"{url}/authenticate",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                if response.status_code != 200 or not response.json()["status"].get(
                    "authenticated"
                ):
                    with lock:
                        failures += 1

    threads = [threading.Thread(target=work, args=(bodies[n::CLIENTS],)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@contextlib.contextmanager
def serving(
    python: list[str], first_review: bytes, settings: dict[str, Any] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``serve`` with the default settings (plus ``settings``) run by ``python``, FakeSTS beside it.

    Yields the server's process, its URL and the CA file once it has answered
    ``first_review``; stops both on exit.
    """
    fake_sts, sts_url = bench_server.start_fake_sts([])
    assert fake_sts.stdin is not None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config = root / "config.yaml"
            server_settings = {
                "mapAccounts": [bench_server.ACCOUNT],
                "logLevel": "warning",
                "stsEndpointURL": sts_url,
                "healthPort": 0,
                **(settings or {}),
            }
            config.write_text(
                yaml.safe_dump({"clusterID": bench_server.CLUSTER_ID, "server": server_settings})
            )
            port = bench_server._free_port()
            state = root / "state"
            command = [sys.executable, "-m", "k8s_aws_auth"]
            init = [*command, "init", "-c", str(config), "--state-dir", str(state)]
            subprocess.run(init, check=True, capture_output=True)
            server = subprocess.Popen(
                [
                    *python,
                    "serve",
                    "-c",
                    str(config),
                    "--state-dir",
                    str(state),
                    "--port",
                    str(port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                url = f"https://localhost:{port}"
                bench_server._wait_ready(url, state / "ca.pem", server)
                # Not an assert: under python -O (a variant measured) it would not run.
                if _review_all(url, state / "ca.pem", [first_review]) != 0:
                    raise RuntimeError("the first review failed")
                yield server, url, state / "ca.pem"
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        fake_sts.stdin.close()
        fake_sts.wait(timeout=30)


def main(settings: dict[str, Any] | None = None) -> str:
    """Measure and return the Markdown section (``settings``: server config keys to add)."""
    from k8s_aws_auth.testing import FakeSTS

    bodies = _tokens(FakeSTS())
    command = [sys.executable, "-m", "k8s_aws_auth"]
    with serving(command, bodies[0], settings) as (server, url, ca):
        time.sleep(1.0)
        idle = _rss_kib(server.pid)
        started = time.perf_counter()
        failures = _review_all(url, ca, bodies)
        seconds = time.perf_counter() - started
        loaded = _rss_kib(server.pid)
    return _report(idle, loaded, failures, seconds)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _report(idle: dict[str, int], loaded: dict[str, int], failures: int, seconds: float) -> str:
    after = loaded["VmRSS"] / 1024
    return "\n".join(
        [
            "## Webhook server memory",
            "",
            "| `serve` (default cache: 60 s, 10,000 entries) | resident (VmRSS) |",
            "|---|---:|",
            f"| idle, after one review | {_mib(idle['VmRSS'])} |",
            f"| after {REVIEWS:,} reviews of distinct tokens (cache full) | {_mib(loaded['VmRSS'])} |",
            f"| peak (VmHWM) | {_mib(loaded['VmHWM'])} |",
            f"| aws-iam-authenticator's example limit (`deploy/example.yaml`) | {UPSTREAM_LIMIT_MIB} MiB |",
            "",
            f"{REVIEWS:,} reviews by {CLIENTS} keep-alive clients in {seconds:.1f} s,"
            f" {failures} failed; target ≤ {TARGET_MIB} MiB after them:"
            f" {'met' if after <= TARGET_MIB else 'not met'}. Python {sys.version.split()[0]}.",
        ]
    )


def _settings(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs as config keys (values read as YAML: ``loop=asyncio``)."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        settings[key] = yaml.safe_load(value)
    return settings


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="resident memory of k8s-aws-auth serve")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server config key to add (loop=asyncio, http=h11, cacheSize=0 ...)",
    )
    print(main(_settings(parser.parse_args().set)))
