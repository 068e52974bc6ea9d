"""The EKSConfigMap and CRD backends on the live API, in a real ``serve`` process.

``k8s-aws-auth serve --backend-mode EKSConfigMap,CRD --kubeconfig ...`` runs in
its own process; the Kubernetes API is the loopback HTTPS stand-in
(``tests/support/kube_api.py``: bearer token, its own CA) and STS is FakeSTS,
both served from this process. Every wait polls a condition under a generous
deadline: nothing here asserts on how long anything took.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme
import yaml

from k8s_aws_auth.testing import FakeSTS
from k8s_aws_auth.testing._values import Principal
from tests.support.child_env import child_env
from tests.support.kube_api import (
    CONFIGMAPS,
    IAM_MAPPINGS,
    KubeAPIStandIn,
    SeenRequest,
    kube_api,
    write_token_kubeconfig,
)
from tests.support.server import (
    CLUSTER_ID,
    ServerProcess,
    live_backends_webhook,
    review,
    webhook_client,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/Carol"
DEV_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/dana"
DEADLINE = 30.0


def aws_auth(username: str, *, role_user: str = "dev") -> dict[str, str]:
    """aws-auth ``data`` mapping ALICE to ``username`` and the Dev role to ``role_user``."""
    return {
        "mapUsers": yaml.safe_dump([{"userarn": ALICE, "username": username, "groups": ["devs"]}]),
        "mapRoles": yaml.safe_dump(
            [
                {
                    "rolearn": f"arn:aws:iam::{ACCOUNT}:role/Dev",
                    "username": role_user,
                    "groups": ["developers"],
                }
            ]
        ),
    }


def poll(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in time: {what}")
        time.sleep(0.02)


class World:
    """The stand-in API, FakeSTS, and a running ``serve`` following them."""

    def __init__(
        self,
        api: KubeAPIStandIn,
        sts: FakeSTS,
        principals: dict[str, Principal],
        server: ServerProcess,
        client: httpx.Client,
        url: str,
    ) -> None:
        self.api, self.sts, self.principals = api, sts, principals
        self.server, self.client, self.url = server, client, url
        self.base = url.rsplit("/", 1)[0]

    def review(self, arn: str) -> dict[str, Any]:
        """The ``status`` of a TokenReview for ``arn``'s token."""
        token = self.sts.make_token(self.principals[arn], cluster_id=CLUSTER_ID)
        response = self.client.post(self.url, json=review(token))
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()["status"]
        return status

    def username(self, arn: str) -> str | None:
        status = self.review(arn)
        return status["user"]["username"] if status.get("authenticated") else None

    def served(self, arn: str, username: str | None) -> bool:
        return self.username(arn) == username

    def ready(self) -> int:
        return self.client.get(f"{self.base}/readyz").status_code

    def metric(self, name: str) -> float:
        text = self.client.get(f"{self.base}/metrics").text
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"metric {name} not exported")

    def configmap_watches(self) -> list[SeenRequest]:
        return [r for r in self.api.watches() if CONFIGMAPS in r.path]

    def cut(self) -> None:
        """Cut the open watches and wait until the ConfigMap's stream is gone."""
        before = self.api.open_streams(CONFIGMAPS)
        assert before
        self.api.cut_watches()
        poll(lambda: not before & self.api.open_streams(CONFIGMAPS), "the ConfigMap watch cut")

    def logged(self, message: str) -> int:
        return sum(1 for record in self.server.logs() if record.get("message") == message)

    def lists(self) -> int:
        return len(
            self.api.seen(lambda r: r.method == "GET" and not r.is_watch and "configmaps" in r.path)
        )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[World]:
    root = tmp_path_factory.mktemp("kube-backends")
    sts = FakeSTS()
    principals = {
        arn: sts.create_principal(arn, seed=f"kube-{arn}") for arn in (ALICE, CAROL, DEV_SESSION)
    }
    with kube_api(ca) as api, sts.serve() as sts_url:
        api.set_configmap("aws-auth", aws_auth("alice-0"))
        server, webhook_kubeconfig = live_backends_webhook(
            root, write_token_kubeconfig(root / "api-kubeconfig", api), sts_url
        )
        try:
            server.wait_serving()
            client, url = webhook_client(webhook_kubeconfig, timeout=10.0)
            with client:
                world = World(api, sts, principals, server, client, url)
                poll(lambda: world.ready() == 200, "readiness after the first sync")
                yield world
        finally:
            server.close()


def test_a_configmap_edit_is_served(world: World) -> None:
    assert world.username(ALICE) == "alice-0"
    world.api.set_configmap("aws-auth", aws_auth("alice-1"))
    # The bound is 2 s; under a loaded CI machine this polls longer, and the
    # latency itself is measured by benchmarks/bench_kube_watch.py.
    poll(lambda: world.served(ALICE, "alice-1"), "the edited mapping served")
    assert world.username(DEV_SESSION) == "dev"


def test_a_watch_cut_mid_stream_resumes_without_losing_an_event(world: World) -> None:
    world.api.set_configmap("aws-auth", aws_auth("before-cut"))
    poll(lambda: world.served(ALICE, "before-cut"), "the mapping before the cut")
    lists, watches = world.lists(), len(world.configmap_watches())
    resume_from = str(world.api.resource_version)
    world.cut()
    world.api.set_configmap("aws-auth", aws_auth("during-cut"))  # while the watch is down
    poll(lambda: world.served(ALICE, "during-cut"), "the edit made during the cut")
    assert world.lists() == lists  # resumed, not relisted
    resumed = world.configmap_watches()[watches:]
    assert resumed
    assert resumed[0].query.get("resourceVersion") == resume_from


def test_410_gone_relists(world: World) -> None:
    world.api.set_configmap("aws-auth", aws_auth("before-410"))
    poll(lambda: world.served(ALICE, "before-410"), "the mapping before the 410")
    lists = world.lists()
    world.api.compact()  # the resume point leaves the history
    world.cut()
    world.api.set_configmap("aws-auth", aws_auth("after-410"))
    poll(lambda: world.served(ALICE, "after-410"), "the mapping the relist found")
    assert world.lists() > lists
    assert world.metric("k8s_aws_auth_kube_configmap_expired_total") >= 1


def test_garbage_keeps_the_last_good_mapping(world: World) -> None:
    world.api.set_configmap("aws-auth", aws_auth("good"))
    poll(lambda: world.served(ALICE, "good"), "the good mapping")
    rejected = world.metric("k8s_aws_auth_kube_configmap_mapping_rejected_total")
    invalid = "the aws-auth ConfigMap is invalid: the last good mapping stays in force"
    seen = world.logged(invalid)
    world.api.set_configmap("aws-auth", {"mapUsers": "- userarn: [not, an, arn\n  username: x"})
    poll(lambda: world.logged(invalid) > seen, "the invalid edit logged")
    assert world.username(ALICE) == "good"
    assert world.metric("k8s_aws_auth_kube_configmap_mapping_rejected_total") == rejected + 1
    # A valid entry next to an invalid one is not half-applied (upstream keeps the half).
    half = aws_auth("half")
    half["mapRoles"] = "- rolearn: not-an-arn\n  username: x\n"
    world.api.set_configmap("aws-auth", half)
    poll(lambda: world.logged(invalid) > seen + 1, "the half-valid edit logged")
    assert world.username(ALICE) == "good"
    assert world.ready() == 200


def test_deletion_keeps_the_last_good_mapping(world: World) -> None:
    world.api.set_configmap("aws-auth", aws_auth("kept"))
    poll(lambda: world.served(ALICE, "kept"), "the mapping before the deletion")
    deleted = "the aws-auth ConfigMap was deleted: the last good mapping stays in force"
    seen = world.logged(deleted)
    world.api.delete(CONFIGMAPS, "aws-auth", "kube-system")
    poll(lambda: world.logged(deleted) > seen, "the deletion logged")
    assert world.username(ALICE) == "kept"
    world.api.set_configmap("aws-auth", aws_auth("recreated"))
    poll(lambda: world.served(ALICE, "recreated"), "the recreated ConfigMap served")


def test_the_crd_backend_maps_writes_status_and_follows_adds_and_deletes(world: World) -> None:
    assert world.username(CAROL) is None
    world.api.set_mapping("carol", CAROL, "carol", ["ops"])
    poll(lambda: world.served(CAROL, "carol"), "the new IAMIdentityMapping served")
    assert world.review(CAROL)["user"]["groups"] == ["ops"]

    def status() -> Any:
        found = world.api.get(IAM_MAPPINGS, "carol")
        return (found or {}).get("status", {}).get("canonicalARN")

    poll(lambda: status() is not None, "status.canonicalARN written")
    assert status() == CAROL.lower()
    writes = world.api.seen(lambda r: r.method == "PUT" and r.path.endswith("/carol/status"))
    assert len(writes) == 1  # written once: the MODIFIED event of our own write changes nothing
    world.api.set_mapping("carol", CAROL, "carol-2", ["ops"])
    poll(lambda: world.served(CAROL, "carol-2"), "the edited IAMIdentityMapping served")
    world.api.delete(IAM_MAPPINGS, "carol")
    poll(lambda: world.served(CAROL, None), "the deleted IAMIdentityMapping unmapped")


def test_backend_order_the_first_match_wins(world: World) -> None:
    world.api.set_configmap("aws-auth", aws_auth("from-configmap"))
    world.api.set_mapping("alice", ALICE, "from-crd")
    poll(lambda: world.served(ALICE, "from-configmap"), "the ConfigMap's entry first")
    world.api.delete(IAM_MAPPINGS, "alice")


def test_the_upstream_watch_failure_metric_counts_a_broken_watch(world: World) -> None:
    name = "aws_iam_authenticator_configmap_watch_failures_total"
    before = world.metric(name)
    world.cut()
    poll(lambda: world.metric(name) > before, "the cut counted")


def test_readiness_is_false_until_the_first_sync(tmp_path: pathlib.Path, ca: trustme.CA) -> None:
    sts = FakeSTS()
    with kube_api(ca, tokens=set()) as api, sts.serve() as sts_url:  # every request: 401
        server, webhook_kubeconfig = live_backends_webhook(
            tmp_path, write_token_kubeconfig(tmp_path / "api-kubeconfig", api), sts_url
        )
        try:
            server.wait_serving()
            client, url = webhook_client(webhook_kubeconfig, timeout=10.0)
            with client:
                readyz = url.rsplit("/", 1)[0] + "/readyz"
                poll(lambda: bool(api.seen(lambda r: r.status == 401)), "a refused list")
                assert client.get(readyz).status_code == 503
                api.tokens = {"stand-in-token"}
                poll(lambda: client.get(readyz).status_code == 200, "ready after the first sync")
            failures = [r for r in server.logs() if r.get("logger") == "k8s_aws_auth.kube"]
        finally:
            server.close()
    assert failures  # the refused list was logged
    assert all("stand-in-token" not in json.dumps(record) for record in failures)


def test_no_api_to_reach_is_a_start_up_error_naming_the_fix(tmp_path: pathlib.Path) -> None:
    config = write_config(tmp_path / "config.yaml", CLUSTER_ID, {"backendMode": ["EKSConfigMap"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    result = subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "serve", "-c", str(config)],
        cwd=tmp_path,
        env=child_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "KUBERNETES_SERVICE_HOST" in result.stderr
    assert "--kubeconfig" in result.stderr or "kubeconfig" in result.stderr
