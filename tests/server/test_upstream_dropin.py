"""aws-iam-authenticator's own DaemonSet command lines run ``k8s-aws-auth server`` unchanged.

Each variant starts ``python -m k8s_aws_auth`` with *exactly* the container args
of upstream's ``deploy/example.yaml`` (and its two commented variants), so the
paths are upstream's too: a private mount namespace (``unshare -m``) bind-mounts
the test's directories at ``/etc/aws-iam-authenticator`` (the config
ConfigMap), ``/var/aws-iam-authenticator`` (the state dir, **read-only**, holding
the pair ``init`` made) and ``/etc/kubernetes/aws-iam-authenticator`` (the
kubeconfig output), and the server runs as ``nobody`` (``setpriv``). Then the
real kubectl → our exec plugin → the apiserver stand-in → that server → FakeSTS,
as in ``test_kubectl_e2e.py``.

Needs root (mount namespaces, setpriv); elsewhere the tests skip and say why.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator

import pytest
import trustme
import yaml

from k8s_aws_auth.testing import FakeSTS
from tests.support.kubectl import run_kubectl
from tests.support.ports import free_port
from tests.support.server import (
    CLUSTER_ID,
    ServerProcess,
    run_cli,
    stand_in,
)

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/Alice"
ADMIN_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/KubernetesAdmin/ops-session"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
NOBODY = 65534

CONFIG_DIR = pathlib.Path("/etc/aws-iam-authenticator")
STATE_DIR = pathlib.Path("/var/aws-iam-authenticator")
OUTPUT_DIR = pathlib.Path("/etc/kubernetes/aws-iam-authenticator")
#: deploy/example.yaml's container args, verbatim (research notes §8.1).
UPSTREAM_ARGS = [
    "server",
    "--config=/etc/aws-iam-authenticator/config.yaml",
    "--state-dir=/var/aws-iam-authenticator",
    "--generate-kubeconfig=/etc/kubernetes/aws-iam-authenticator/kubeconfig.yaml",
]
EKS_CONFIGMAP_ARGS = [UPSTREAM_ARGS[0], "--backend-mode=EKSConfigMap", *UPSTREAM_ARGS[1:]]
KOPS_ARGS = [*UPSTREAM_ARGS, "--kubeconfig-pregenerated=true"]

#: bind-mount the three directories (state read-only), then become nobody and exec.
_NAMESPACE_SCRIPT = """
set -e
mount --make-rprivate /
mount --bind "$1" /etc/aws-iam-authenticator
mount --bind "$2" /var/aws-iam-authenticator
mount -o remount,ro,bind /var/aws-iam-authenticator
mount --bind "$3" /etc/kubernetes/aws-iam-authenticator
if [ -n "$4" ]; then
    # The interpreter lives below a directory nobody may not enter ($4, e.g. a 0700
    # /root holding pyenv): in this namespace only, a 0755 tmpfs covers $4 and the
    # interpreter's tree ($5, bind-moved away first) is put back at its own path.
    mount --bind "$5" "$6"
    mount -t tmpfs -o mode=0755 tmpfs "$4"
    mkdir -p "$5"
    mount --move "$6" "$5"
fi
shift 6
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
"""


def _why_not_possible() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a mount namespace and setpriv"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if shutil.which("kubectl") is None:
        return "kubectl is not on PATH"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --make-rprivate /"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"mount namespaces are not allowed here: {probe.stderr.decode(errors='replace')}"
    return None


WHY_NOT = _why_not_possible()
pytestmark.append(pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""))


@pytest.fixture(scope="module")
def mount_points() -> Iterator[None]:
    """Upstream's three paths exist as (empty) mount points; the ones made here go afterwards."""
    made = []
    for path in (CONFIG_DIR, STATE_DIR, OUTPUT_DIR):
        missing = [p for p in (*reversed(path.parents), path) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        made.extend(missing)
    yield
    for path in reversed(made):
        with contextlib.suppress(OSError):  # something else uses it now: leave it
            path.rmdir()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The stand-in apiserver's CA."""
    return trustme.CA()


@pytest.fixture(scope="module")
def sts() -> Iterator[tuple[FakeSTS, str]]:
    """FakeSTS over loopback HTTP, and its URL."""
    fake = FakeSTS()
    with fake.serve() as url:
        yield fake, url


class Deployment:
    """The host-side directories behind upstream's three paths, for one variant."""

    def __init__(self, root: pathlib.Path, sts_url: str) -> None:
        self.root = root
        self.config = root / "config"
        self.state = root / "state"
        self.output = root / "output"
        self.webhook_port = free_port()
        self.health_port = free_port()
        for directory in (self.config, self.output):
            directory.mkdir(parents=True)
        # The config keys of upstream's README / example ConfigMap; plus ours that the
        # test needs: STS is FakeSTS, and the ports must not collide with other tests.
        document = {
            "clusterID": CLUSTER_ID,
            "server": {
                "port": self.webhook_port,
                "mapRoles": [
                    {
                        "roleARN": f"arn:aws:iam::{ACCOUNT}:role/KubernetesAdmin",
                        "username": "kubernetes-admin",
                        "groups": ["system:masters"],
                    }
                ],
                "mapUsers": [{"userARN": ALICE, "username": "alice", "groups": ["system:masters"]}],
                "mapAccounts": None,
                "stsEndpointURL": sts_url,
                "healthPort": self.health_port,
                # for the EKSConfigMap variant: the aws-auth ConfigMap as mounted
                "awsAuthConfigMapFile": str(CONFIG_DIR / "aws-auth"),
            },
        }
        (self.config / "config.yaml").write_text(yaml.safe_dump(document))
        aws_auth = self.config / "aws-auth"
        aws_auth.mkdir()
        (aws_auth / "mapUsers").write_text(
            yaml.safe_dump([{"userarn": ALICE, "username": "alice", "groups": ["configmap"]}])
        )
        init = run_cli(
            "init",
            "-c",
            str(self.config / "config.yaml"),
            "--state-dir",
            str(self.state),
            "--port",
            str(self.webhook_port),
        )
        assert init.returncode == 0, init.stderr
        # as docs/deploy.md says: the CA's key stays with whoever renews, not on the node
        (self.state / "ca-key.pem").unlink()
        for path in (self.config, self.state, self.output, *self.state.iterdir()):
            os.chown(path, NOBODY, NOBODY)
        self.state.chmod(0o555)

    def interpreter_mounts(self) -> tuple[str, str, str]:
        """``(blocked, tree, scratch)`` when nobody cannot reach the interpreter, else blanks.

        ``blocked`` is the first ancestor of the interpreter's real prefix that others
        may not enter; ``tree`` its child on the way there (made reachable in the
        namespace); ``scratch`` an empty mount point to park ``tree`` on meanwhile.
        """
        prefix = pathlib.Path(os.path.realpath(sys.base_prefix))
        for ancestor in reversed(prefix.parents):
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                tree = ancestor / prefix.relative_to(ancestor).parts[0]
                scratch = self.root / "interpreter-view"
                scratch.mkdir(exist_ok=True)
                return str(ancestor), str(tree), str(scratch)
        return "", "", ""

    def start(self, args: list[str]) -> ServerProcess:
        """Run ``python -m k8s_aws_auth ARGS`` as nobody with the three mounts."""
        command = [
            "unshare",
            "-m",
            "sh",
            "-c",
            _NAMESPACE_SCRIPT,
            "sh",
            str(self.config),
            str(self.state),
            str(self.output),
            *self.interpreter_mounts(),
            sys.executable,
            "-m",
            "k8s_aws_auth",
        ]
        server = ServerProcess(args, command=command, env={"HOME": "/nonexistent"})
        try:
            assert server.wait_serving(timeout=60) == self.webhook_port
        except BaseException:
            server.close()
            raise
        return server


def _uid(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def _whoami(
    tmp_path: pathlib.Path, ca: trustme.CA, api_url: str, sts: FakeSTS, arn: str
) -> subprocess.CompletedProcess[str]:
    principal = sts.create_principal(arn, seed=f"dropin-{arn}")
    return run_kubectl(tmp_path, ca, api_url, principal, "get", "--raw", "/whoami")


@pytest.mark.usefixtures("mount_points")
def test_upstream_daemonset_args_serve_kubectl_as_nobody_with_a_read_only_state_dir(
    tmp_path: pathlib.Path, ca: trustme.CA, sts: tuple[FakeSTS, str]
) -> None:
    fake, url = sts
    deployment = Deployment(tmp_path / "deploy", url)
    server = deployment.start(UPSTREAM_ARGS)
    try:
        assert _uid(server.process.pid) == NOBODY
        # --generate-kubeconfig wrote the webhook kubeconfig at upstream's path...
        kubeconfig = deployment.output / "kubeconfig.yaml"
        assert kubeconfig.is_file()
        # ...and the read-only state directory was only read.
        assert sorted(p.name for p in deployment.state.iterdir()) == [
            "ca.pem",
            "cert.pem",
            "key.pem",
            "kubeconfig.yaml",
        ]
        with stand_in(ca, kubeconfig) as api:
            result = _whoami(tmp_path, ca, api.url, fake, ALICE)
            assert result.returncode == 0, (result.stderr, server.log_text()[-3000:])
            assert json.loads(result.stdout) == {"username": "alice", "groups": ["system:masters"]}
            result = _whoami(tmp_path, ca, api.url, fake, ADMIN_SESSION)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["username"] == "kubernetes-admin"
            result = _whoami(tmp_path, ca, api.url, fake, MALLORY)
            assert result.returncode != 0
            assert api.reviews[-1][1] is not None
            assert api.reviews[-1][1]["status"]["authenticated"] is False
        # upstream's health port: plain HTTP, any path, "ok"
        health = subprocess.run(
            ["curl", "-s", f"http://127.0.0.1:{deployment.health_port}/any/path"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert health.stdout == "ok"
    finally:
        assert server.stop() == 0
        server.close()


@pytest.mark.usefixtures("mount_points")
def test_eks_configmap_variant_maps_from_the_mounted_aws_auth(
    tmp_path: pathlib.Path, ca: trustme.CA, sts: tuple[FakeSTS, str]
) -> None:
    fake, url = sts
    deployment = Deployment(tmp_path / "deploy", url)
    server = deployment.start(EKS_CONFIGMAP_ARGS)
    try:
        with stand_in(ca, deployment.output / "kubeconfig.yaml") as api:
            result = _whoami(tmp_path, ca, api.url, fake, ALICE)
            assert result.returncode == 0, (result.stderr, server.log_text()[-3000:])
            # the ConfigMap's groups, not the config file's: EKSConfigMap is the only backend
            assert json.loads(result.stdout) == {"username": "alice", "groups": ["configmap"]}
    finally:
        server.close()


@pytest.mark.usefixtures("mount_points")
def test_kops_variant_writes_no_kubeconfig_and_serves_with_the_one_init_made(
    tmp_path: pathlib.Path, ca: trustme.CA, sts: tuple[FakeSTS, str]
) -> None:
    fake, url = sts
    deployment = Deployment(tmp_path / "deploy", url)
    server = deployment.start(KOPS_ARGS)
    try:
        assert list(deployment.output.iterdir()) == []
        with stand_in(ca, deployment.state / "kubeconfig.yaml") as api:
            result = _whoami(tmp_path, ca, api.url, fake, ALICE)
            assert result.returncode == 0, (result.stderr, server.log_text()[-3000:])
            assert json.loads(result.stdout)["username"] == "alice"
    finally:
        server.close()
