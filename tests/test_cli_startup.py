"""The ``token`` start-up path imports only what it needs (kubectl runs it for every command)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import DOC_ACCESS_KEY_ID, DOC_SECRET

_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.argv = ["k8s-aws-auth", *sys.argv[1:]]
    from k8s_aws_auth.cli import main
    code = main()
    sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """
)

#: Never on the static-credential token path: the HTTP stack, async runtimes, the
#: verifier, the credential chain, the server extra and YAML.
FORBIDDEN_PREFIXES = (
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "trio",
    "ssl",
    "yaml",
    "k8s_aws_auth._verifier",
    "k8s_aws_auth._validate",
    "k8s_aws_auth._drivers",
    "k8s_aws_auth._arn",
    "k8s_aws_auth.credentials",
    "k8s_aws_auth._cli_credentials",
    "k8s_aws_auth.server",
    "k8s_aws_auth.testing",
)


def _modules(*args: str) -> list[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_REGION": "us-west-2",
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr)
    assert report["code"] == 0
    assert json.loads(result.stdout)["kind"] == "ExecCredential"
    modules: list[str] = report["modules"]
    return modules


def test_static_credential_token_path_imports_nothing_heavy() -> None:
    modules = _modules("token", "-i", "c")
    heavy = [m for m in modules if m.startswith(FORBIDDEN_PREFIXES)]
    assert heavy == []
    assert "k8s_aws_auth._cli_token" in modules  # the probe really ran the command


def test_get_token_path_is_as_light() -> None:
    modules = _modules("get-token", "--cluster-name", "c")
    assert [m for m in modules if m.startswith(FORBIDDEN_PREFIXES)] == []


def test_importing_the_package_alone_is_light() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, k8s_aws_auth; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = result.stdout.split()
    assert "k8s_aws_auth" in modules
    assert [m for m in modules if m.startswith(("httpx", "attr", "k8s_aws_auth._"))] == [
        "k8s_aws_auth._version"
    ]
