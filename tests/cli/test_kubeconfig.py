"""``k8s-aws-auth kubeconfig``: a kubeconfig whose user runs this plugin (v1 exec API)."""

from __future__ import annotations

import base64
import pathlib
import subprocess
import sys
from collections.abc import Sequence

import trustme
import yaml


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "kubeconfig", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubeconfig_wires_the_exec_plugin(tmp_path: pathlib.Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    result = _run(
        [
            "-i", "prod cluster", "--server", "https://10.0.0.1:6443", "--ca", str(ca),
            "--name", "prod", "--region", "eu-west-1", "--role", "arn:aws:iam::111122223333:role/r",
            "--profile", "work", "--cache", "--env", "FOO=bar=baz",
        ]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert config["current-context"] == "prod"
    (cluster,) = config["clusters"]
    assert cluster["name"] == "prod"
    assert cluster["cluster"]["server"] == "https://10.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == ca.read_bytes()
    (context,) = config["contexts"]
    assert context == {"name": "prod", "context": {"cluster": "prod", "user": "prod"}}
    (user,) = config["users"]
    assert user["name"] == "prod"
    assert user["user"]["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "k8s-aws-auth",
        "args": [
            "token", "-i", "prod cluster", "--region", "eu-west-1",
            "--role", "arn:aws:iam::111122223333:role/r", "--cache",
        ],
        "env": [{"name": "FOO", "value": "bar=baz"}, {"name": "AWS_PROFILE", "value": "work"}],
        "interactiveMode": "IfAvailable",
        "provideClusterInfo": False,
    }  # fmt: skip


def test_defaults_and_this_python() -> None:
    result = _run(
        ["-i", "c", "--server", "https://h", "--this-python", "--exec-api-version", "v1beta1"]
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["current-context"] == "c"
    assert "certificate-authority-data" not in config["clusters"][0]["cluster"]
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["command"] == sys.executable
    assert exec_["args"] == ["-m", "k8s_aws_auth", "token", "-i", "c"]
    assert exec_["env"] is None


def test_odd_names_survive_yaml_quoting() -> None:
    name = 'a: "b" # c\\d ü'
    result = _run(["-i", name, "--server", "https://h"])
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["users"][0]["name"] == name
    assert config["users"][0]["user"]["exec"]["args"][-1] == name


def test_bad_inputs_are_one_line_errors(tmp_path: pathlib.Path) -> None:
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    cases = [
        (["-i", "c", "--server", "http://h"], "https://"),
        (["-i", "c", "--server", "https://h", "--ca", str(not_pem)], "no PEM certificate"),
        (["-i", "c", "--server", "https://h", "--ca", str(tmp_path / "missing")], "No such file"),
        (["-i", "c", "--server", "https://h", "--env", "NOVALUE"], "NAME=VALUE"),
        (["-i", "bad\nid", "--server", "https://h"], "cluster"),
    ]
    for args, message in cases:
        result = _run(args)
        assert result.returncode == 1, args
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert message in line, (args, line)


def test_a_malformed_env_entry_never_echoes_its_value() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "k8s_aws_auth",
            "kubeconfig",
            "--cluster-id",
            "c",
            "--server",
            "https://127.0.0.1:6443",
            "--env",
            "=s3cr3t-value",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "NAME=VALUE" in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout
