"""End to end with the real kubectl: our CLI as its exec plugin, a loopback HTTPS API server.

The API server is a small threaded HTTPS server (certificate from trustme) that
checks each bearer token with :class:`TokenVerifier` against :class:`FakeSTS`
(served on loopback HTTP, reached through ``sts_endpoint_url``) and answers ``/version`` and ``/api``. The kubeconfig comes from our own
``kubeconfig`` command; the plugin runs as ``<this python> -m k8s_aws_auth token``
with static credentials in the exec ``env``. kubectl runs with a temporary HOME,
an explicit ``--kubeconfig`` and stdin from /dev/null, as in a script or CI job.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import trustme

from k8s_aws_auth import TokenVerifier, VerifierConfig
from k8s_aws_auth.testing import FakeSTS
from tests.support.api_server import API_VERSIONS, APIServer, https_api_server
from tests.support.child_env import child_env

pytestmark = pytest.mark.kubectl

CLUSTER_ID = "e2e-cluster"
USER_ARN = "arn:aws:iam::111122223333:user/alice"
KUBECTL = shutil.which("kubectl")
KUBECTL_401_MESSAGES = (
    "You must be logged in to the server (Unauthorized)",
    "the server has asked for the client to provide credentials",
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority for the loopback API server."""
    return trustme.CA()


@pytest.fixture
def fake_sts_with_alice() -> tuple[FakeSTS, dict[str, str]]:
    """FakeSTS knowing one IAM user, and that user's keys as plugin environment."""
    fake = FakeSTS()
    alice = fake.create_principal(USER_ARN, seed="kubectl-e2e")
    env = {
        "AWS_ACCESS_KEY_ID": alice.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": alice.credentials.secret_access_key,
        "AWS_REGION": "us-west-2",
    }
    return fake, env


@pytest.fixture
def api_server(
    ca: trustme.CA, fake_sts_with_alice: tuple[FakeSTS, dict[str, str]]
) -> Iterator[APIServer]:
    """The HTTPS API server on 127.0.0.1, verifying tokens for CLUSTER_ID against FakeSTS."""
    fake, _ = fake_sts_with_alice
    with (
        fake.serve() as sts_url,
        TokenVerifier(VerifierConfig(CLUSTER_ID, sts_endpoint_url=sts_url)) as verifier,
        https_api_server(ca, verifier) as server,
    ):
        yield server


def _kubeconfig(
    tmp_path: pathlib.Path,
    ca: trustme.CA,
    server: APIServer,
    env: dict[str, str],
    *,
    plugin_cluster_id: str,
    exec_api_version: str,
) -> pathlib.Path:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = server.server_address[1]
    host = "127.0.0.1"  # where APIServer binds (and what the certificate names)
    argv = [
        sys.executable,
        "-m",
        "k8s_aws_auth",
        "kubeconfig",
        "--cluster-id",
        plugin_cluster_id,
        "--server",
        f"https://{host}:{port}",
        "--ca",
        str(ca_file),
        "--name",
        "e2e",
        "--this-python",
        "--exec-api-version",
        exec_api_version,
    ]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "kubeconfig"
    path.write_text(result.stdout)
    return path


def _kubectl(
    kubeconfig: pathlib.Path, home: pathlib.Path, *args: str
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    home.mkdir(exist_ok=True)
    with open("/dev/null") as devnull:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
            stdin=devnull,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=child_env({"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}),
        )


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("exec_api_version", ["v1", "v1beta1"])
def test_kubectl_authenticates_with_our_plugin(
    tmp_path: pathlib.Path,
    ca: trustme.CA,
    api_server: APIServer,
    fake_sts_with_alice: tuple[FakeSTS, dict[str, str]],
    exec_api_version: str,
) -> None:
    _, env = fake_sts_with_alice
    kubeconfig = _kubeconfig(
        tmp_path,
        ca,
        api_server,
        env,
        plugin_cluster_id=CLUSTER_ID,
        exec_api_version=exec_api_version,
    )
    result = _kubectl(kubeconfig, tmp_path / "home", "get", "--raw", "/api")
    assert result.returncode == 0, (result.stderr, api_server.reasons)
    assert json.loads(result.stdout) == API_VERSIONS
    assert api_server.identities, "the server never saw a verified request"
    assert set(api_server.identities) == {USER_ARN}
    assert api_server.denials == []


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("exec_api_version", ["v1", "v1beta1"])
def test_kubectl_gets_401_for_a_token_bound_to_another_cluster(
    tmp_path: pathlib.Path,
    ca: trustme.CA,
    api_server: APIServer,
    fake_sts_with_alice: tuple[FakeSTS, dict[str, str]],
    exec_api_version: str,
) -> None:
    _, env = fake_sts_with_alice
    kubeconfig = _kubeconfig(
        tmp_path,
        ca,
        api_server,
        env,
        plugin_cluster_id="other-cluster",
        exec_api_version=exec_api_version,
    )
    result = _kubectl(kubeconfig, tmp_path / "home", "get", "--raw", "/api")
    assert result.returncode != 0
    # kubectl's words for a 401: with a Status body, or without one (peers.md §5).
    assert any(message in result.stderr for message in KUBECTL_401_MESSAGES), result.stderr
    assert api_server.identities == []
    # STS refused the signature: the cluster id is bound into it.
    assert api_server.denials
    assert set(api_server.denials) == {"AccessDeniedError"}
