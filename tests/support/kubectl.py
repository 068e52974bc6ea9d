"""The real kubectl, authenticating through our exec plugin against a kube-apiserver stand-in."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import trustme
import yaml

from k8s_aws_auth.testing._values import Principal
from tests.support.child_env import child_env
from tests.support.server import CLUSTER_ID

KUBECTL = shutil.which("kubectl")
KUBECTL_401_MESSAGES = (
    "You must be logged in to the server (Unauthorized)",
    "the server has asked for the client to provide credentials",
)


def run_kubectl(
    tmp_path: pathlib.Path,
    ca: trustme.CA,
    api_url: str,
    principal: Principal,
    *args: str,
    cluster_id: str = CLUSTER_ID,
) -> subprocess.CompletedProcess[str]:
    """``kubectl ARGS`` with a kubeconfig for ``api_url`` whose user is our exec plugin (static keys)."""
    assert KUBECTL is not None
    ca_file = tmp_path / "apiserver-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    credentials = principal.credentials
    env = [
        {"name": "AWS_ACCESS_KEY_ID", "value": credentials.access_key_id},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": credentials.secret_access_key},
        {"name": "AWS_REGION", "value": "us-west-2"},
    ]
    if credentials.session_token:
        env.append({"name": "AWS_SESSION_TOKEN", "value": credentials.session_token})
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "e2e",
                "cluster": {"server": api_url, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [
            {
                "name": "e2e",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": ["-m", "k8s_aws_auth", "token", "-i", cluster_id],
                        "env": env,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
        "current-context": "e2e",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=child_env({"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}),
    )


def unauthorized(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether kubectl failed with the apiserver's 401."""
    return result.returncode != 0 and any(m in result.stderr for m in KUBECTL_401_MESSAGES)
