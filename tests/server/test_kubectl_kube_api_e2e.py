"""The whole chain with the real kubectl, the mapping read from the Kubernetes API.

kubectl → our exec plugin → a kube-apiserver stand-in that POSTs TokenReviews
→ ``k8s-aws-auth serve --backend-mode EKSConfigMap,CRD`` in its own process →
FakeSTS; the webhook's mapping comes from ``kube-system/aws-auth`` and the
IAMIdentityMappings of the Kubernetes API stand-in (loopback HTTPS, bearer
token), edited while kubectl keeps asking.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Iterator

import pytest
import trustme
import yaml

from k8s_aws_auth.testing import FakeSTS
from k8s_aws_auth.testing._values import Principal
from tests.support.kube_api import KubeAPIStandIn, kube_api, write_token_kubeconfig
from tests.support.kubectl import KUBECTL, run_kubectl, unauthorized
from tests.support.server import (
    APIServerStandIn,
    ServerProcess,
    live_backends_webhook,
    stand_in,
)

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH"),
]

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"


def aws_auth(username: str) -> dict[str, str]:
    return {
        "mapUsers": yaml.safe_dump([{"userarn": ALICE, "username": username, "groups": ["devs"]}])
    }


class Chain:
    def __init__(
        self,
        kube: KubeAPIStandIn,
        apiserver: APIServerStandIn,
        principals: dict[str, Principal],
        server: ServerProcess,
    ) -> None:
        self.kube, self.apiserver, self.principals, self.server = (
            kube,
            apiserver,
            principals,
            server,
        )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("kubectl-kube-api")
    sts = FakeSTS()
    principals = {arn: sts.create_principal(arn, seed=f"chain-{arn}") for arn in (ALICE, CAROL)}
    with kube_api(ca) as kube, sts.serve() as sts_url:
        kube.set_configmap("aws-auth", aws_auth("alice"))
        server, webhook_kubeconfig = live_backends_webhook(
            root, write_token_kubeconfig(root / "api-kubeconfig", kube), sts_url
        )
        try:
            server.wait_serving()
            with stand_in(ca, webhook_kubeconfig) as apiserver:
                yield Chain(kube, apiserver, principals, server)
        finally:
            server.close()


def whoami(
    tmp_path: pathlib.Path, ca: trustme.CA, chain: Chain, arn: str
) -> dict[str, object] | None:
    result = run_kubectl(
        tmp_path, ca, chain.apiserver.url, chain.principals[arn], "get", "--raw", "/whoami"
    )
    if unauthorized(result):
        return None
    assert result.returncode == 0, (result.stderr, chain.server.log_text()[-2000:])
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in time: {what}")
        time.sleep(0.1)


def test_kubectl_gets_the_user_of_the_live_aws_auth_and_follows_its_edits(
    tmp_path: pathlib.Path, ca: trustme.CA, chain: Chain
) -> None:
    eventually(
        lambda: whoami(tmp_path, ca, chain, ALICE) == {"username": "alice", "groups": ["devs"]},
        "alice mapped by the first sync",
    )
    chain.kube.set_configmap("aws-auth", aws_auth("alice-edited"))
    eventually(
        lambda: (
            whoami(tmp_path, ca, chain, ALICE) == {"username": "alice-edited", "groups": ["devs"]}
        ),
        "the edited aws-auth at kubectl",
    )


def test_kubectl_gets_the_user_of_an_iam_identity_mapping(
    tmp_path: pathlib.Path, ca: trustme.CA, chain: Chain
) -> None:
    assert whoami(tmp_path, ca, chain, CAROL) is None  # not mapped yet: 401 at kubectl
    chain.kube.set_mapping("carol", CAROL, "carol", ["ops"])
    eventually(
        lambda: whoami(tmp_path, ca, chain, CAROL) == {"username": "carol", "groups": ["ops"]},
        "carol mapped by her IAMIdentityMapping",
    )
