"""Start-up of the kubectl exec plugin: whole processes, side by side, in one run.

kubectl starts the plugin for every command, so the process is the product:
``k8s-aws-auth token`` with static credentials in the environment (and, as most
users have them, with a ``~/.aws/config`` file, or with the keys in
``~/.aws/credentials`` instead of the environment) against
``python -c pass`` (the floor), ``import k8s_aws_auth`` and the AWS CLI's
``aws eks get-token`` (the peer), all run here with ``subprocess.run`` (wall
time, median of 15 after a warm-up). The commands take turns, one run each per
round, so a burst of load on the shared machine hits every command alike instead
of skewing one ratio. Targets (DESIGN.md): at least 10x faster than
``aws eks get-token``, at most 2.5x ``python -c pass``.

The ``k8s-aws-auth`` script pip (and pipx) writes starts with ``import re``
(about 4 ms with the enum and functools it loads), which the plugin itself no
longer needs; the row "without pip's script" runs the same entry point the way
uv's script does, without it.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 15
# The standard library the static-credential token path imports: SigV4 (the
# builtin SHA-256 module, binascii, time) and functools (its memo caches).
_STDLIB_FLOOR = (
    "import binascii, functools, time\n"
    "try:\n    import _sha2\nexcept ImportError:\n    import _sha256"
)
#: The entry point as uv's console script runs it (pip's adds `import re`).
_WITHOUT_PIP_SCRIPT = "import sys\nfrom k8s_aws_auth.cli import main\nsys.exit(main())"
BIN = pathlib.Path(sys.executable).parent
ENV = {
    "PATH": f"{BIN}:/usr/bin:/bin",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_REGION": "us-west-2",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: What kubectl adds to the plugin's environment (client-go, exec credential v1beta1).
KUBECTL_ENV = {
    "KUBERNETES_EXEC_INFO": '{"kind":"ExecCredential",'
    '"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}'
}
PLUGIN = "k8s-aws-auth token -i c"
PEER = "aws eks get-token --cluster-name c"
FLOOR = "python -c pass"


#: A command's argv and its changes to :data:`ENV` (``None``: the variable is unset).
Command = tuple[list[str], dict[str, "str | None"]]


def _commands(config_file: str, credentials_file: str) -> dict[str, Command]:
    """Each command's argv and the variables it adds to (or removes from) :data:`ENV`."""
    plugin = str(BIN / "k8s-aws-auth")
    return {
        FLOOR: ([sys.executable, "-c", "pass"], {}),
        "python -c 'import k8s_aws_auth'": ([sys.executable, "-c", "import k8s_aws_auth"], {}),
        # What the token path imports of the standard library: the floor of this design.
        "python -c 'import <stdlib of the token path>'": (
            [sys.executable, "-c", _STDLIB_FLOOR],
            {},
        ),
        PLUGIN: ([plugin, "token", "-i", "c"], {}),
        "k8s-aws-auth token -i c, without pip's script (no `import re`)": (
            [sys.executable, "-c", _WITHOUT_PIP_SCRIPT, "token", "-i", "c"],
            {},
        ),
        "k8s-aws-auth token -i c, as kubectl runs it (KUBERNETES_EXEC_INFO)": (
            [plugin, "token", "-i", "c"],
            {**KUBECTL_ENV},
        ),
        # What `aws configure` leaves behind: a config file that may hold the region
        # and STS endpoint settings (read without the credential chain).
        "k8s-aws-auth token -i c, with a ~/.aws/config file": (
            [plugin, "token", "-i", "c"],
            {"AWS_CONFIG_FILE": config_file},
        ),
        # The keys in ~/.aws/credentials rather than the environment (a plain profile:
        # signed without the chain too).
        "k8s-aws-auth token -i c, keys in ~/.aws/credentials": (
            [plugin, "token", "-i", "c"],
            {
                "AWS_CONFIG_FILE": config_file,
                "AWS_SHARED_CREDENTIALS_FILE": credentials_file,
                "AWS_ACCESS_KEY_ID": None,
                "AWS_SECRET_ACCESS_KEY": None,
            },
        ),
        "k8s-aws-auth get-token --cluster-name c": (
            [plugin, "get-token", "--cluster-name", "c"],
            {},
        ),
        PEER: ([str(BIN / "aws"), "eks", "get-token", "--cluster-name", "c"], {}),
    }


def _environment(env: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    merged: dict[str, str | None] = {**env, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def _medians(commands: dict[str, Command], env: dict[str, str]) -> dict[str, float]:
    """Median wall time per command, the commands interleaved round by round."""
    runs = {name: (argv, _environment(env, extra)) for name, (argv, extra) in commands.items()}
    for argv, run_env in runs.values():  # warm-up: page cache, and .pyc files written
        subprocess.run(argv, env=run_env, capture_output=True, check=True)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(RUNS):
        for name, (argv, run_env) in runs.items():
            start = time.perf_counter()
            subprocess.run(argv, env=run_env, capture_output=True, check=True)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def _importtime(env: dict[str, str], top: int = 12, runs: int = 5) -> list[tuple[int, str]]:
    """The heaviest imports of the token path: per module, the least of ``runs`` runs."""
    best: dict[str, int] = {}
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", str(BIN / "k8s-aws-auth"), "token", "-i", "c"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|"))
            best[name] = min(int(cumulative_us), best.get(name, int(cumulative_us)))
    return sorted(((us, name) for name, us in best.items()), reverse=True)[:top]


def main() -> str:
    """Measure and return the Markdown section."""
    with tempfile.TemporaryDirectory() as home:
        env = {**ENV, "HOME": home, "AWS_CONFIG_FILE": os.path.join(home, "none")}
        config_file = os.path.join(home, "config")
        pathlib.Path(config_file).write_text("[default]\nregion = us-west-2\n", encoding="utf-8")
        credentials_file = os.path.join(home, "credentials")
        pathlib.Path(credentials_file).write_text(
            f"[default]\naws_access_key_id = {ENV['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {ENV['AWS_SECRET_ACCESS_KEY']}\n",
            encoding="utf-8",
        )
        medians = _medians(_commands(config_file, credentials_file), env)
        imports = _importtime(env)
    floor = medians[FLOOR]
    awscli = medians[PEER]
    ours = medians[PLUGIN]
    lines = [
        "### `k8s-aws-auth token` process start-up (exec plugin)",
        "",
        f"Wall time per process, median of {RUNS} interleaved runs after a warm-up; "
        "static credentials in the environment unless the row says otherwise.",
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
        f"Targets: `aws eks get-token` / `token` >= 10x (measured {awscli / ours:.1f}x); "
        f"`token` / `python -c pass` <= 2.5x (measured {ours / floor:.2f}x).",
        "",
        "Top `python -X importtime` entries of `k8s-aws-auth token -i c` "
        "(cumulative, least of 5 runs):",
        "",
        "| module | cumulative |",
        "|---|---|",
        *(f"| `{name}` | {us / 1000:.1f} ms |" for us, name in imports),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
