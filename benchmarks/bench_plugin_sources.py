"""The exec plugin's second and later runs, per credential source, against ``aws eks get-token``.

Issue 15's rows: environment keys, profile static keys, a ``role_arn`` +
``source_profile`` profile, ``--role``, SSO (``sso_session``),
``credential_process``, web identity, and the ``--cache`` token hit. Both tools
run as whole processes with one temporary ``HOME`` (so they share
``~/.aws/cli/cache`` as users' do), against the same loopback stand-ins through
``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL_SSO``: FakeSTS and a small SSO
portal. Every command runs once to warm its caches, then the commands take
turns, one run each per round (wall time, median). ``python -c pass`` is the
floor, measured in the same rounds. The "calls" columns count what each tool
asked of the stand-ins (STS, the portal, the process) during the measured
rounds: 0 means every run was a cache hit.

Targets (issue 15): each row ≤ 2.5× ``python -c pass`` and ≥ 10× faster than
``aws eks get-token`` on the same profile with the AWS CLI's cache warm.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from k8s_aws_auth.testing import FakeSTS

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BIN = pathlib.Path(sys.executable).parent
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/demo"
WEB_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/webid"
WEB_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdWItMSJ9.sig-AAA"
PROCESS = """import json, sys, time
open(sys.argv[1], "a").write("run\\n")
print(json.dumps({"Version": 1, "AccessKeyId": "ASIAPROCESSEXAMPLE01", "SecretAccessKey": "s",
    "SessionToken": "processToken",
    "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}))
"""


class _Portal(BaseHTTPRequestHandler):
    """IAM Identity Center's GetRoleCredentials, as the SDKs call it (rest-json)."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        body = json.dumps(
            {
                "roleCredentials": {
                    "accessKeyId": "ASIASSOEXAMPLE000001",
                    "secretAccessKey": "sso-secret",
                    "sessionToken": "ssoSessionToken",
                    "expiration": int((time.time() + 3600) * 1000),
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _portal() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _home(home: pathlib.Path, fake: FakeSTS) -> dict[str, str]:
    """Profiles for every row; returns the environment keys (an IAM user FakeSTS knows)."""
    alice = fake.create_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", seed="alice").credentials
    fake.register_role(ROLE_ARN)
    fake.register_web_identity(WEB_ROLE_ARN, WEB_TOKEN)
    aws = home / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    (home / "web-token").write_text(WEB_TOKEN, encoding="utf-8")
    (home / "process.py").write_text(PROCESS, encoding="utf-8")
    process = f"{sys.executable} {home / 'process.py'} {home / 'process-runs'}"
    (aws / "config").write_text(
        "[default]\nregion = us-west-2\n"
        "[profile static]\nregion = us-west-2\n"
        f"[profile role]\nrole_arn = {ROLE_ARN}\nsource_profile = static\nregion = us-west-2\n"
        f"[profile sso]\nsso_session = corp\nsso_account_id = {ACCOUNT}\n"
        "sso_role_name = Admin\nregion = us-west-2\n"
        "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-west-2\n"
        f"[profile process]\ncredential_process = {process}\nregion = us-west-2\n"
        f"[profile webid]\nrole_arn = {WEB_ROLE_ARN}\n"
        f"web_identity_token_file = {home / 'web-token'}\nrole_session_name = bench\n"
        "region = us-west-2\n",
        encoding="utf-8",
    )
    (aws / "credentials").write_text(
        f"[static]\naws_access_key_id = {alice.access_key_id}\n"
        f"aws_secret_access_key = {alice.secret_access_key}\n",
        encoding="utf-8",
    )
    login = {
        "startUrl": "https://example.awsapps.com/start",
        "region": "us-west-2",
        "accessToken": "sso-access-token",
        "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 8 * 3600)),
    }
    import hashlib

    name = hashlib.sha1(b"corp").hexdigest() + ".json"
    (aws / "sso" / "cache" / name).write_text(json.dumps(login), encoding="utf-8")
    return {
        "AWS_ACCESS_KEY_ID": alice.access_key_id,
        "AWS_SECRET_ACCESS_KEY": alice.secret_access_key,
    }


#: row -> (our argv tail, the peer's argv tail, environment keys?)
ROWS: dict[str, tuple[list[str], list[str], bool]] = {
    "environment keys": ([], [], True),
    "profile static keys": (["--profile", "static"], ["--profile", "static"], False),
    "profile role_arn + source_profile": (["--profile", "role"], ["--profile", "role"], False),
    "--role (environment keys)": (["--role", ROLE_ARN], ["--role-arn", ROLE_ARN], True),
    "SSO (sso_session)": (["--profile", "sso"], ["--profile", "sso"], False),
    "credential_process": (["--profile", "process"], ["--profile", "process"], False),
    "web identity (profile)": (["--profile", "webid"], ["--profile", "webid"], False),
    "--cache token hit (environment keys)": (["--cache"], [], True),
}


def _calls(fake: FakeSTS, home: pathlib.Path) -> int:
    runs = home / "process-runs"
    process = len(runs.read_text().splitlines()) if runs.exists() else 0
    return fake.count("AssumeRole") + fake.count("AssumeRoleWithWebIdentity") + process


def main() -> str:
    """Measure and return the Markdown section."""
    _Portal.calls = 0
    fake = FakeSTS()
    with tempfile.TemporaryDirectory() as tmp, fake.serve() as sts_url, _portal() as sso_url:
        home = pathlib.Path(tmp)
        keys = _home(home, fake)
        base = {
            "HOME": tmp,
            "PATH": f"{BIN}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL_STS": sts_url,
            "AWS_ENDPOINT_URL_SSO": sso_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-west-2",
        }
        plugin = [str(BIN / "k8s-aws-auth"), "token", "-i", "c"]
        peer = [str(BIN / "aws"), "eks", "get-token", "--cluster-name", "c"]
        commands: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {
            ("floor", "python -c pass"): ([sys.executable, "-c", "pass"], base)
        }
        for row, (ours, theirs, env_keys) in ROWS.items():
            env = {**base, **(keys if env_keys else {})}
            commands[(row, "ours")] = ([*plugin, *ours], env)
            if row.startswith("--cache"):
                continue  # the peer has no token cache: its row is "environment keys"
            commands[(row, "aws")] = ([*peer, *theirs], env)
        for argv, env in commands.values():  # warm-up: .pyc files, both tools' caches
            subprocess.run(argv, env=env, capture_output=True, check=True)
        samples: dict[tuple[str, str], list[float]] = {name: [] for name in commands}
        calls: dict[tuple[str, str], int] = dict.fromkeys(commands, 0)
        for _ in range(RUNS):
            for name, (argv, env) in commands.items():
                before = _calls(fake, home) + _Portal.calls
                start = time.perf_counter()
                subprocess.run(argv, env=env, capture_output=True, check=True)
                samples[name].append(time.perf_counter() - start)
                calls[name] += _calls(fake, home) + _Portal.calls - before
    medians = {name: statistics.median(times) for name, times in samples.items()}
    floor = medians[("floor", "python -c pass")]
    lines = [
        "### The exec plugin per credential source, second and later runs",
        "",
        f"Wall time per process, median of {RUNS} interleaved rounds after a warm-up run of "
        "each command; both tools share one `HOME` and the loopback stand-ins (FakeSTS, an "
        f"SSO portal). `python -c pass`: {floor * 1000:.1f} ms in the same rounds. Calls: "
        "AssumeRole, AssumeRoleWithWebIdentity, portal requests and process runs during "
        "the measured rounds.",
        "",
        "| credential source | `k8s-aws-auth token` | vs `python -c pass` | calls | "
        "`aws eks get-token` | calls | aws / ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        mine = medians[(row, "ours")]
        peer_name = ("environment keys", "aws") if row.startswith("--cache") else (row, "aws")
        peer_median = medians[peer_name]
        peer_calls = "—" if row.startswith("--cache") else str(calls[peer_name])
        lines.append(
            f"| {row} | {mine * 1000:.1f} ms | {mine / floor:.2f}x | {calls[(row, 'ours')]} | "
            f"{peer_median * 1000:.0f} ms | {peer_calls} | {peer_median / mine:.1f}x |"
        )
    lines += [
        "",
        "Targets: ≤ 2.5x `python -c pass` and ≥ 10x faster than `aws eks get-token` per row. "
        "The `--cache` row's peer is `aws eks get-token` with environment keys (the AWS CLI "
        "keeps no tokens).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
