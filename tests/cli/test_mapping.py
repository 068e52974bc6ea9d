"""``k8s-aws-auth mapping check`` / ``mapping explain`` in a real subprocess, every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ACCT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCT}:role/teams/platform/Admin"

FILES = {
    "mounted-file": (
        "config.yaml",
        f"clusterID: c\nserver:\n  mapRoles:\n  - rolearn: {ADMIN}\n"
        "    username: admin:{{SessionName}}\n    groups: [system:masters]\n",
    ),
    "eks-configmap": (
        "aws-auth.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\n"
        f"data:\n  mapRoles: |\n    - rolearn: {ADMIN}\n      username: admin:{{{{SessionName}}}}\n"
        "      groups: [system:masters]\n",
    ),
    "dynamic-file": (
        "dynamic.json",
        json.dumps(
            {
                "mapRoles": [
                    {
                        "rolearn": ADMIN,
                        "username": "admin:{{SessionName}}",
                        "groups": ["system:masters"],
                    }
                ]
            }
        ),
    ),
    "native": (
        "native.yaml",
        f"roles:\n  - arn: {ADMIN}\n    username: admin:{{{{SessionName}}}}\n    groups: [system:masters]\n",
    ),
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "mapping", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=sorted(FILES))
def mapping_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    name, text = FILES[request.param]
    path = tmp_path / name
    path.write_text(text)
    return request.param, path


def test_check_accepts_every_format(mapping_file: tuple[str, Path]) -> None:
    fmt, path = mapping_file
    result = _cli("check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: ok ({fmt}: 1 roles, 0 users, 0 accounts)"


def test_explain_json_with_every_format(mapping_file: tuple[str, Path]) -> None:
    _, path = mapping_file
    caller = f"arn:aws:sts::{ACCT}:assumed-role/Admin/alice@example.com"
    result = _cli("explain", str(path), "--arn", caller, "--user-id", "AROAADMIN", "-o", "json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["username"] == "admin:alice-example.com"
    assert answer["groups"] == ["system:masters"]
    assert answer["matched"]["arn"] == ADMIN
    assert answer["matched"]["how"] == "path-stripped"
    assert answer["uid"] == f"aws-iam-authenticator:{ACCT}:AROAADMIN"


def test_explain_no_match_exits_1_and_says_why(mapping_file: tuple[str, Path]) -> None:
    _, path = mapping_file
    look_alike = f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob"
    result = _cli("explain", str(path), "--arn", look_alike, "-o", "json")
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["username"] is None
    assert answer["matched"] is None
    assert any("not an IAM role" in d for step in answer["steps"] for d in step["details"])


def test_explain_text_output(tmp_path: Path) -> None:
    path = tmp_path / "native.yaml"
    path.write_text(FILES["native"][1])
    result = _cli("explain", str(path), "--arn", f"arn:aws:sts::{ACCT}:assumed-role/Admin/bob")
    assert result.returncode == 0
    assert (
        result.stdout.splitlines()[0]
        == f"arn:aws:iam::{ACCT}:role/Admin -> admin:bob (system:masters)"
    )


def test_explain_access_key_template(tmp_path: Path) -> None:
    path = tmp_path / "native.yaml"
    path.write_text(f"roles:\n  - arn: {ADMIN}\n    username: 'key:{{{{AccessKeyID}}}}'\n")
    caller = f"arn:aws:sts::{ACCT}:assumed-role/Admin/bob"
    missing = _cli("explain", str(path), "--arn", caller, "-o", "json")
    assert missing.returncode == 1
    assert "AccessKeyID" in json.loads(missing.stdout)["error"]
    given = _cli(
        "explain",
        str(path),
        "--arn",
        caller,
        "--access-key-id",
        "ASIAEXAMPLEEXAMPLE1",
        "-o",
        "json",
    )
    assert json.loads(given.stdout)["username"] == "key:ASIAEXAMPLEEXAMPLE1"


def test_check_reports_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "roles:\n"
        f"  - arn: arn:aws:iam::{ACCT}:role/A\n    username: a\n    grups: [x]\n"
        "  - arn: arn:aws:iam::12:role/B\n    username: b\n"
    )
    result = _cli("check", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: error: roles[0]: unknown field 'grups'")
    assert lines[1].startswith(
        f"{path}: error: roles[1]: rolearn 'arn:aws:iam::12:role/B' is not a valid ARN"
    )


def test_check_yaml_error_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  mapRoles: [\n")
    result = _cli("check", str(path))
    assert result.returncode == 1
    assert "YAML error" in result.stderr
    assert "line" in result.stderr
    missing = _cli("check", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert "file not found" in missing.stderr


def test_check_warnings_and_strict(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/A\n    username: a\n"
        f"  - arn: arn:aws:iam::{ACCT}:role/A\n    username: b\n"
    )
    relaxed = _cli("check", str(path))
    assert relaxed.returncode == 0
    assert "duplicate of roles[0]" in relaxed.stderr
    assert _cli("check", "--strict", str(path)).returncode == 1


def test_check_mounted_configmap_directory(tmp_path: Path) -> None:
    (tmp_path / "mapRoles").write_text(f"- rolearn: {ADMIN}\n  username: admin\n")
    result = _cli("check", str(tmp_path))
    assert result.returncode == 0
    assert "eks-configmap: 1 roles" in result.stdout


def test_explain_rejects_an_invalid_caller_arn(tmp_path: Path) -> None:
    path = tmp_path / "native.yaml"
    path.write_text(FILES["native"][1])
    result = _cli("explain", str(path), "--arn", "arn:aws:s3:::bucket")
    assert result.returncode == 64
    assert "--arn" in result.stderr
