"""Start-up of the kubectl exec plugin: whole processes, side by side, in one run.

kubectl starts the plugin for every command, so the process is the product:
``k8s-aws-auth token`` with static credentials in the environment against
``python -c pass`` (the floor), ``import k8s_aws_auth`` and the AWS CLI's
``aws eks get-token`` (the peer), all run here with ``subprocess.run`` (median
of 9 after a warm-up, wall time). Targets (DESIGN.md): at least 8x faster than
``aws eks get-token``, at most 3x ``python -c pass``.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 9
_STDLIB_FLOOR = (
    "import argparse, base64, binascii, datetime, hashlib, hmac, json, os, re, urllib.parse"
)
BIN = pathlib.Path(sys.executable).parent
ENV = {
    "PATH": f"{BIN}:/usr/bin:/bin",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_REGION": "us-west-2",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _commands() -> dict[str, list[str]]:
    plugin = BIN / "k8s-aws-auth"
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import k8s_aws_auth'": [sys.executable, "-c", "import k8s_aws_auth"],
        # What any argparse + SigV4 + JSON plugin must import: the floor of this design.
        "python -c 'import <stdlib of the token path>'": [sys.executable, "-c", _STDLIB_FLOOR],
        "k8s-aws-auth token -i c": [str(plugin), "token", "-i", "c"],
        "k8s-aws-auth get-token --cluster-name c": [
            str(plugin),
            "get-token",
            "--cluster-name",
            "c",
        ],
        "aws eks get-token --cluster-name c": [
            str(BIN / "aws"),
            "eks",
            "get-token",
            "--cluster-name",
            "c",
        ],
    }


def _time(argv: list[str], env: dict[str, str]) -> float:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm-up
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _importtime(env: dict[str, str], top: int = 12) -> list[tuple[int, str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "k8s-aws-auth"), "token", "-i", "c"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|"))
        rows.append((int(cumulative_us), name))
    return sorted(rows, reverse=True)[:top]


def main() -> str:
    """Measure and return the Markdown section."""
    with tempfile.TemporaryDirectory() as home:
        env = {**ENV, "HOME": home, "AWS_CONFIG_FILE": os.path.join(home, "none")}
        medians = {name: _time(argv, env) for name, argv in _commands().items()}
        imports = _importtime(env)
    floor = medians["python -c pass"]
    awscli = medians["aws eks get-token --cluster-name c"]
    ours = medians["k8s-aws-auth token -i c"]
    lines = [
        "### `k8s-aws-auth token` process start-up (exec plugin)",
        "",
        f"Wall time per process, median of {RUNS} after a warm-up; static credentials in the environment.",
        "",
        "| command | median | vs `python -c pass` | `aws eks get-token` / this |",
        "|---|---|---|---|",
    ]
    for name, median in medians.items():
        lines.append(
            f"| `{name}` | {median * 1000:.1f} ms | {median / floor:.2f}x | {awscli / median:.1f}x |"
        )
    lines += [
        "",
        f"Targets: `aws eks get-token` / `token` >= 8x (measured {awscli / ours:.1f}x); "
        f"`token` / `python -c pass` <= 3x (measured {ours / floor:.2f}x).",
        "",
        "Top `python -X importtime` entries of `k8s-aws-auth token -i c` (cumulative):",
        "",
        "| module | cumulative |",
        "|---|---|",
        *(f"| `{name}` | {us / 1000:.1f} ms |" for us, name in imports),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
