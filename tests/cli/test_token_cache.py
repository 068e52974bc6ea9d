"""``--cache``: permissions, expiry margin, corrupt files, locking across processes."""

from __future__ import annotations

import base64
import json
import pathlib
import stat
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from k8s_aws_auth import Token
from k8s_aws_auth.cli._token_cache import TokenCache, default_cache_dir
from tests.support.child_env import child_env
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

T0 = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _env(home: pathlib.Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_REGION": "us-west-2",
        **extra,
    }


def _token(
    home: pathlib.Path, now: datetime, *args: str, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Run ``token --cache`` at ``now``; return (token, stderr)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "k8s_aws_auth",
            "token",
            "-i",
            "c",
            "--cache",
            "--now",
            _iso(now),
            *args,
        ],
        env=child_env(env if env is not None else _env(home)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token: str = json.loads(result.stdout)["status"]["token"]
    return token, result.stderr


def _signed_at(token: str) -> str:
    payload = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    return url.split("X-Amz-Date=", 1)[1][:16]


def _cache_dir(home: pathlib.Path) -> pathlib.Path:
    return home / ".kube" / "cache" / "k8s-aws-auth"


def _entries(home: pathlib.Path) -> list[pathlib.Path]:
    return sorted(_cache_dir(home).glob("*.json"))


def test_default_location_is_under_kube_cache(tmp_path: pathlib.Path) -> None:
    assert default_cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".kube/cache/k8s-aws-auth"
    assert default_cache_dir(
        {"HOME": "/x", "K8S_AWS_AUTH_CACHE_DIR": "/elsewhere"}
    ) == pathlib.Path("/elsewhere")


def test_second_call_is_served_from_the_cache_with_private_files(tmp_path: pathlib.Path) -> None:
    first, _ = _token(tmp_path, T0)
    second, _ = _token(tmp_path, T0 + timedelta(minutes=5))
    assert second == first
    assert _signed_at(first) == "20261128T110249Z"
    directory = _cache_dir(tmp_path)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert {f.suffix for f in files} == {".json", ".lock"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_never_serves_a_token_within_a_minute_of_its_expiry(tmp_path: pathlib.Path) -> None:
    first, _ = _token(tmp_path, T0)
    # expiry is T0 + 14 min: still served 61 s before it, re-signed 59 s before it.
    assert _token(tmp_path, T0 + timedelta(minutes=12, seconds=59))[0] == first
    later = T0 + timedelta(minutes=13, seconds=1)
    renewed, _ = _token(tmp_path, later)
    assert renewed != first
    assert _signed_at(renewed) == "20261128T111550Z"
    assert _token(tmp_path, later + timedelta(seconds=30))[0] == renewed


def test_key_covers_cluster_region_and_access_key(tmp_path: pathlib.Path) -> None:
    base, _ = _token(tmp_path, T0)
    later = T0 + timedelta(seconds=10)
    assert _token(tmp_path, later, "-i", "other")[0] != base
    assert _token(tmp_path, later, "--region", "eu-west-1")[0] != base
    other_keys = _env(tmp_path, AWS_ACCESS_KEY_ID="AKIAI44QH8DHBEXAMPLE")
    assert _token(tmp_path, later, env=other_keys)[0] != base
    assert _token(tmp_path, later)[0] == base


def test_corrupt_file_is_ignored_and_rewritten(tmp_path: pathlib.Path) -> None:
    first, _ = _token(tmp_path, T0)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(b'{"version": 1, "token": trunc')
    later = T0 + timedelta(seconds=30)
    renewed, stderr = _token(tmp_path, later)
    assert renewed != first
    assert _signed_at(renewed) == "20261128T110319Z"
    assert stderr == ""
    assert json.loads(entry.read_text())["token"] == renewed
    assert _token(tmp_path, later + timedelta(seconds=5))[0] == renewed


def test_wrong_shape_entry_is_treated_as_corrupt(tmp_path: pathlib.Path) -> None:
    _token(tmp_path, T0)
    (entry,) = _entries(tmp_path)
    document = json.loads(entry.read_text())
    document["expiration"] = 12345
    entry.write_text(json.dumps(document))
    renewed, _ = _token(tmp_path, T0 + timedelta(seconds=30))
    assert _signed_at(renewed) == "20261128T110319Z"


def test_refuses_a_group_or_world_readable_file(tmp_path: pathlib.Path) -> None:
    first, _ = _token(tmp_path, T0)
    (entry,) = _entries(tmp_path)
    entry.chmod(0o644)
    before = entry.read_bytes()
    fresh, stderr = _token(tmp_path, T0 + timedelta(seconds=30))
    assert fresh != first
    assert "accessible to group/others (mode 0644)" in stderr
    assert "chmod 600" in stderr
    assert entry.read_bytes() == before, "a refused file is neither read nor overwritten"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644


def test_refuses_an_open_directory(tmp_path: pathlib.Path) -> None:
    directory = _cache_dir(tmp_path)
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    token, stderr = _token(tmp_path, T0)
    assert "mode 0755" in stderr
    assert "chmod 700" in stderr
    assert list(directory.iterdir()) == []
    assert token.startswith("k8s-aws-v1.")


def test_refuses_a_symlinked_entry(tmp_path: pathlib.Path) -> None:
    _token(tmp_path, T0)
    (entry,) = _entries(tmp_path)
    target = tmp_path / "elsewhere.json"
    entry.rename(target)
    entry.symlink_to(target)
    _, stderr = _token(tmp_path, T0 + timedelta(seconds=30))
    assert "symlink" in stderr


def test_stored_secrets_never_reach_stderr(tmp_path: pathlib.Path) -> None:
    _token(tmp_path, T0)
    (entry,) = _entries(tmp_path)
    entry.chmod(0o640)
    _, stderr = _token(tmp_path, T0 + timedelta(seconds=1))
    assert DOC_SECRET not in stderr
    assert "k8s-aws-v1." not in stderr


def test_eight_concurrent_plugin_runs_sign_once(tmp_path: pathlib.Path) -> None:
    """Each run has its own --now: had two of them signed, their tokens would differ."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: _token(tmp_path, T0 + timedelta(seconds=i))[0], range(8)))
    assert len(set(results)) == 1
    assert len(_entries(tmp_path)) == 1


_CREATE_UNDER_LOCK = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from k8s_aws_auth import Token
    from k8s_aws_auth.cli._token_cache import TokenCache

    directory, log, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    now = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)
    while time.time() < start:
        time.sleep(0.001)

    def create():
        # Slow signer: without the lock, every process would get here.
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(0.3)
        return Token(f"k8s-aws-v1.signed-by-{os.getpid()}", now + timedelta(minutes=14))

    print(TokenCache(directory).get_or_create({"cluster_id": "c"}, now=now, create=create).value)
    """
)


def test_lock_serialises_signing_across_processes(tmp_path: pathlib.Path) -> None:
    import time

    log = tmp_path / "signings.log"
    start = time.time() + 1.0  # every process is up before any of them starts
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CREATE_UNDER_LOCK,
                str(tmp_path / "cache"),
                str(log),
                str(start),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    signers = log.read_text().split()
    assert len(signers) == 1
    assert set(outputs) == {f"k8s-aws-v1.signed-by-{signers[0]}"}


def test_lock_timeout_falls_back_to_signing_without_the_cache(tmp_path: pathlib.Path) -> None:
    import fcntl

    warnings: list[str] = []
    cache = TokenCache(tmp_path / "cache", warn=warnings.append, lock_timeout=0.05)
    token = Token("k8s-aws-v1.first", T0 + timedelta(minutes=14))
    assert cache.get_or_create({"k": 1}, now=T0, create=lambda: token) == token
    (lock_path,) = (tmp_path / "cache").glob("*.lock")
    with open(lock_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        other = Token("k8s-aws-v1.second", T0 + timedelta(minutes=14))
        assert cache.get_or_create({"k": 1}, now=T0, create=lambda: other) == other
    assert len(warnings) == 1
    assert "timed out waiting for the lock" in warnings[0]


def test_unusable_directory_is_reported_and_skipped(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    warnings: list[str] = []
    cache = TokenCache(blocker / "cache", warn=warnings.append)
    token = Token("k8s-aws-v1.x", T0 + timedelta(minutes=14))
    assert cache.get_or_create({"k": 1}, now=T0, create=lambda: token) == token
    assert len(warnings) == 1
    assert "cannot create" in warnings[0]
