"""Every flag and environment variable of aws-iam-authenticator's commands is accepted.

The table is upstream's flag list (``server``, ``init``, ``token``, ``verify``,
``version`` and the persistent flags, short and long forms; research notes
§1), each row parsed by the real command line, asserting the setting it lands
in. Global flags go before or after the subcommand, as cobra allows. The
``version`` formats and a few whole commands run as real processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from k8s_aws_auth._core.version import __version__
from k8s_aws_auth.cli import EXIT_USAGE, parse_command_line
from tests.support.child_env import child_env

#: (argv, {setting: expected value}); global flags appear in both positions.
UPSTREAM_FLAGS: list[tuple[list[str], dict[str, Any]]] = [
    # persistent flags, after the subcommand
    (["server", "-c", "f.yaml"], {"config": pathlib.Path("f.yaml")}),
    (["server", "--config=f.yaml"], {"config": pathlib.Path("f.yaml")}),
    (["server", "-i", "c1"], {"cluster_id": "c1"}),
    (["server", "--cluster-id=c1"], {"cluster_id": "c1"}),
    (["server", "-l", "text"], {"log_format": "text"}),
    (["server", "--log-format=json"], {"log_format": "json"}),
    (["server", "-v", "debug"], {"log_verbosity": "debug"}),
    (["server", "--log-verbosity=WARNING"], {"log_verbosity": "warning"}),
    (
        ["server", "--feature-gates=ConfiguredInitDirectories=true,SSORoleMatch=false"],
        {"feature_gates": {"ConfiguredInitDirectories": True, "SSORoleMatch": False}},
    ),
    # persistent flags, before the subcommand
    (["-c", "f.yaml", "server"], {"config": "f.yaml"}),
    (["--config", "f.yaml", "init"], {"config": "f.yaml"}),
    (["-i", "c1", "server"], {"cluster_id": "c1"}),
    (["--cluster-id", "c1", "token"], {"cluster_id": "c1"}),
    (["-l", "text", "server"], {"log_format": "text"}),
    (["-v", "trace", "verify"], {"log_verbosity": "trace"}),
    (["--log-verbosity", "panic", "version"], {"log_verbosity": "panic"}),
    (
        ["--feature-gates", "IAMIdentityMappingCRD=true", "server"],
        {"feature_gates": {"IAMIdentityMappingCRD": True}},
    ),
    # server
    (["server", "--partition", "aws-cn"], {"partition": "aws-cn"}),
    (
        ["server", "--generate-kubeconfig=/k/kc.yaml"],
        {"generate_kubeconfig": pathlib.Path("/k/kc.yaml")},
    ),
    (["server", "--kubeconfig-pregenerated"], {"kubeconfig_pregenerated": True}),
    (["server", "--kubeconfig-pregenerated=true"], {"kubeconfig_pregenerated": True}),
    (["server", "--kubeconfig-pregenerated=false"], {"kubeconfig_pregenerated": False}),
    (
        ["server", "--state-dir=/var/aws-iam-authenticator"],
        {"state_dir": pathlib.Path("/var/aws-iam-authenticator")},
    ),
    (
        ["server", "--kubeconfig", "/root/.kube/config"],
        {"kubeconfig": pathlib.Path("/root/.kube/config")},
    ),
    (["server", "--master", "https://10.0.0.1:6443"], {"master": "https://10.0.0.1:6443"}),
    (["server", "--address", "0.0.0.0"], {"address": "0.0.0.0"}),
    (["server", "--backend-mode=EKSConfigMap"], {"backend_mode": ["EKSConfigMap"]}),
    (
        ["server", "--backend-mode", "MountedFile,DynamicFile"],
        {"backend_mode": ["MountedFile,DynamicFile"]},
    ),
    (
        ["server", "--backend-mode=MountedFile", "--backend-mode=CRD"],
        {"backend_mode": ["MountedFile", "CRD"]},
    ),
    (["server", "--port", "21362"], {"port": 21362}),
    (["server", "--ec2-describeInstances-qps", "20"], {"ec2_qps": 20}),
    (["server", "--ec2-describeInstances-burst=8"], {"ec2_burst": 8}),
    (
        ["serve", "--generate-kubeconfig", "kc.yaml"],
        {"generate_kubeconfig": pathlib.Path("kc.yaml")},
    ),
    # init
    (["init", "--hostname", "auth.example.com"], {"hostname": "auth.example.com"}),
    (["init", "--address=10.0.0.5"], {"address": "10.0.0.5"}),
    (
        ["init", "-i", "c1", "--feature-gates=ConfiguredInitDirectories=true"],
        {"cluster_id": "c1", "feature_gates": {"ConfiguredInitDirectories": True}},
    ),
    # token
    (["token", "-i", "c1", "--region", "eu-west-1"], {"region": "eu-west-1"}),
    (["token", "-i", "c1", "-r", "arn:aws:iam::1:role/R"], {"role": "arn:aws:iam::1:role/R"}),
    (["token", "-i", "c1", "--role=arn:aws:iam::1:role/R"], {"role": "arn:aws:iam::1:role/R"}),
    (["token", "-i", "c1", "-e", "ext"], {"external_id": "ext"}),
    (["token", "-i", "c1", "--external-id=ext"], {"external_id": "ext"}),
    (["token", "-i", "c1", "-s", "me"], {"session_name": "me"}),
    (["token", "-i", "c1", "--session-name=me"], {"session_name": "me"}),
    (["token", "-i", "c1", "--token-only"], {"token_only": True}),
    (["token", "-i", "c1", "--forward-session-name"], {"forward_session_name": True}),
    (["token", "-i", "c1", "--cache"], {"cache": True}),
    # verify
    (["verify", "-i", "c1", "-t", "tok"], {"token": "tok"}),
    (["verify", "-i", "c1", "--token=tok"], {"token": "tok"}),
    (["verify", "-i", "c1", "-o", "json"], {"output": "json"}),
    (["verify", "-i", "c1", "--output=json"], {"output": "json"}),
    (["verify", "-i", "c1", "--partition", "aws-us-gov"], {"partition": "aws-us-gov"}),
    # version
    (["version", "-s"], {"short": True}),
    (["version", "--short"], {"short": True}),
    (["version", "-o", "yaml"], {"output": "yaml"}),
    (["version", "--output=json"], {"output": "json"}),
]


@pytest.mark.parametrize(
    ("argv", "expected"), UPSTREAM_FLAGS, ids=[" ".join(argv) for argv, _ in UPSTREAM_FLAGS]
)
def test_upstream_flag_is_accepted(
    argv: list[str], expected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID", "AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    args = parse_command_line(argv)
    assert args.command == next(
        a for a in argv if a in ("server", "serve", "init", "token", "verify", "version")
    )
    for name, value in expected.items():
        assert getattr(args, name) == value, name


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID", "from-env", "cluster_id"),
        ("AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY", "debug", "log_verbosity"),
    ],
)
@pytest.mark.parametrize("command", ["server", "init", "verify", "token"])
def test_upstream_environment_variables_are_read(
    variable: str, value: str, setting: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(parse_command_line([command]), setting) == value


def test_a_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID", "from-env")
    monkeypatch.setenv("AWS_IAM_AUTHENTICATOR_LOG_VERBOSITY", "debug")
    args = parse_command_line(["-i", "from-flag", "server", "-v", "error"])
    assert (args.cluster_id, args.log_verbosity) == ("from-flag", "error")


def test_the_subcommands_own_flag_beats_the_global_one() -> None:
    assert parse_command_line(["-i", "before", "token", "-i", "after"]).cluster_id == "after"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-v", "loud", "version"], "invalid log level 'loud'"),
        (["server", "--feature-gates=NoSuchGate=true"], "unrecognized feature gate: NoSuchGate"),
        (
            ["server", "--feature-gates=SSORoleMatch=maybe"],
            "feature gate SSORoleMatch needs true or false",
        ),
        (["server", "-l", "xml"], "invalid log format 'xml'"),
        (["server", "--kubeconfig-pregenerated=yes"], "'yes' is not true or false"),
        (["version", "-o", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_bad_values_of_upstream_flags_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line(argv)
    assert exit_info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_token_and_verify_read_the_cluster_id_of_the_config_file(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# upstream's config\nclusterID: 'from-file'\nserver:\n  port: 1\n")
    for command in ("token", "verify"):
        assert parse_command_line(["-c", str(config), command]).cluster_id == "from-file"


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env=child_env({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}),
    )


@pytest.mark.parametrize(
    ("argv", "stdout"),
    [
        (["version"], json.dumps({"Version": __version__}, separators=(",", ":")) + "\n"),
        (
            ["version", "-o", "json"],
            json.dumps({"Version": __version__}, separators=(",", ":")) + "\n",
        ),
        (["version", "-o", "yaml"], f'version: {__version__}\ncommit: ""\ndate: ""\n'),
        (["version", "-s"], f"{__version__}\n"),
        (["version", "--short", "-o", "yaml"], f"{__version__}\n"),  # -s wins, as upstream
        (["-v", "debug", "version", "-s"], f"{__version__}\n"),
    ],
)
def test_version_output_formats(argv: list[str], stdout: str) -> None:
    result = _cli(*argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout == stdout
    if "-s" not in argv and "--short" not in argv and "yaml" not in argv:
        assert json.loads(result.stdout) == {"Version": __version__}


def test_verify_without_a_cluster_id_is_a_usage_error_naming_the_ways_to_give_one() -> None:
    result = _cli("verify", "-t", "k8s-aws-v1.abc")
    assert result.returncode == EXIT_USAGE
    assert "cluster ID not specified" in result.stderr
    assert "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID" in result.stderr


def test_token_takes_the_cluster_id_from_upstreams_environment_variable() -> None:
    result = _cli(
        "token",
        "--token-only",
        env={
            "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID": "env-cluster",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_REGION": "us-east-1",
            "HOME": "/nonexistent",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("k8s-aws-v1.")
