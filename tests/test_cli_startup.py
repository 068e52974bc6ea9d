"""The ``token`` start-up path imports only what it needs (kubectl runs it for every command)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from conftest import DOC_ACCESS_KEY_ID, DOC_SECRET
from k8s_aws_auth import VerifierConfig, validate_token

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

#: Not on it either, though lighter: attrs and typing (about 20 ms together), datetime
#: (the signing path works in Unix seconds), shutil (argparse's stock help formatter
#: imports it for the terminal width), urllib, and the attrs-based core modules. `re`
#: stays allowed: argparse imports it. Matched as modules or packages, not prefixes.
START_UP_FORBIDDEN = (
    "attr",
    "attrs",
    "typing",
    "typing_extensions",
    "datetime",
    "_datetime",
    "shutil",
    "urllib",
    "k8s_aws_auth._models",
    "k8s_aws_auth._config",
    "k8s_aws_auth._token",  # the datetime wrapper (k8s_aws_auth._token_signer signs)
    "k8s_aws_auth._generate",
)


def _is_forbidden_at_start_up(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in START_UP_FORBIDDEN)


#: What kubectl puts in the plugin's environment (client-go, v1beta1).
KUBECTL_EXEC_INFO = (
    '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1",'
    '"spec":{"interactive":false}}'
)


def _run(*args: str, extra_env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run the CLI in a fresh interpreter; return its stdout and the modules it loaded."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_REGION": "us-west-2",
        **(extra_env or {}),
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
    assert "k8s-aws-v1." in result.stdout  # it printed a token
    modules: list[str] = report["modules"]
    return result.stdout, modules


def _modules(*args: str, extra_env: dict[str, str] | None = None) -> list[str]:
    return _run(*args, extra_env=extra_env)[1]


def test_static_credential_token_path_imports_nothing_heavy() -> None:
    modules = _modules("token", "-i", "c")
    heavy = [m for m in modules if m.startswith(FORBIDDEN_PREFIXES)]
    assert heavy == []
    assert "k8s_aws_auth._cli_token" in modules  # the probe really ran the command


def test_get_token_path_is_as_light() -> None:
    modules = _modules("get-token", "--cluster-name", "c")
    assert [m for m in modules if m.startswith(FORBIDDEN_PREFIXES)] == []


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (("token", "-i", "c"), {}),
        (("token", "-i", "c"), {"KUBERNETES_EXEC_INFO": KUBECTL_EXEC_INFO}),
        (("get-token", "--cluster-name", "c"), {}),
        (("get-token", "--cluster-name", "c", "--output", "text"), {}),
        (("token", "-i", "c", "--token-only"), {"AWS_SESSION_TOKEN": "session/token+="}),
    ],
)
def test_static_credential_path_skips_attrs_typing_and_datetime(
    args: tuple[str, ...], extra_env: dict[str, str]
) -> None:
    modules = _modules(*args, extra_env=extra_env)
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    assert "k8s_aws_auth._token_signer" in modules  # it signed on the fast path


def test_now_flag_path_avoids_attrs_and_typing() -> None:
    # --now parses an RFC 3339 time (so datetime loads) but still signs on the fast path.
    modules = _modules("token", "-i", "c", "--now", "2026-11-28T11:02:49Z")
    assert [m for m in modules if m.startswith(("attr", "typing"))] == []
    assert "k8s_aws_auth._token_signer" in modules


def test_clock_read_on_the_fast_path_is_the_signing_second() -> None:
    # Without --now the fast path reads time.time(): X-Amz-Date is the current
    # second and the expiration 14 minutes after it, as presign_token sets them.
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stdout, _ = _run("token", "-i", "my-cluster")
    document = json.loads(stdout)
    after = datetime.now(timezone.utc)
    status = document["status"]
    assert isinstance(status, dict)
    validated = validate_token(
        status["token"], VerifierConfig("my-cluster"), now=after
    )  # an independent parser: the verifier side
    assert before <= validated.signed_at <= after
    assert validated.host == "sts.us-west-2.amazonaws.com"
    expires = validated.signed_at + timedelta(minutes=14)
    assert status["expirationTimestamp"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")


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
