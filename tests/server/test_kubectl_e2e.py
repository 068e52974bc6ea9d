"""The webhook end to end with the real kubectl, every hop over real loopback sockets.

kubectl → our exec plugin (``python -m k8s_aws_auth token``, static keys in the
exec env) → a kube-apiserver stand-in (HTTPS, trustme) that turns the bearer
token into a TokenReview POSTed with the kubeconfig ``init`` wrote →
``k8s-aws-auth serve`` in its own process (TLS from ``init``) → FakeSTS served
over loopback HTTP in this process.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
import trustme

from k8s_aws_auth.testing import FakeSTS
from k8s_aws_auth.testing._values import Principal
from tests.support.kubectl import KUBECTL, run_kubectl, unauthorized
from tests.support.ports import free_port
from tests.support.server import (
    CLUSTER_ID,
    APIServerStandIn,
    ServerProcess,
    run_cli,
    stand_in,
    write_config,
)

# One worker runs this module (xdist loadgroup): its module fixture starts the webhook once.
pytestmark = [pytest.mark.kubectl, pytest.mark.slow, pytest.mark.xdist_group("server-kubectl-e2e")]

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"
DEV_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/dana@example.com"


class Webhook:
    """The running pieces shared by the tests of this module."""

    def __init__(
        self,
        sts: FakeSTS,
        principals: dict[str, Principal],
        api: APIServerStandIn,
        server: ServerProcess,
    ) -> None:
        self.sts = sts
        self.principals = principals
        self.api = api
        self.server = server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The stand-in apiserver's CA."""
    return trustme.CA()


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Webhook]:
    """FakeSTS, ``init`` + ``serve`` (separate process) and the apiserver stand-in."""
    root = tmp_path_factory.mktemp("webhook")
    sts = FakeSTS()
    principals = {
        arn: sts.create_principal(arn, seed=f"e2e-{arn}")
        for arn in (ALICE, MALLORY, CAROL, DEV_SESSION)
    }
    config = write_config(
        root / "config.yaml",
        CLUSTER_ID,
        {
            "mapUsers": [
                {"userARN": ALICE, "username": "alice", "groups": ["devs", "viewers"]},
                {"userARN": CAROL, "username": "carol", "groups": ["ops"]},
            ],
            "mapRoles": [
                {
                    "roleARN": f"arn:aws:iam::{ACCOUNT}:role/Dev",
                    "username": "dev:{{SessionName}}",
                    "groups": ["developers"],
                }
            ],
        },
    )
    port = free_port()
    state = root / "state"
    init = run_cli("init", "-c", str(config), "--state-dir", str(state), "--port", str(port))
    assert init.returncode == 0, init.stderr
    with sts.serve() as sts_url:
        server = ServerProcess(
            [
                "-c",
                str(config),
                "--state-dir",
                str(state),
                "--port",
                str(port),
                "--sts-endpoint-url",
                sts_url,
            ]
        )
        try:
            assert server.wait_serving() == port
            with stand_in(ca, state / "kubeconfig.yaml") as api:
                yield Webhook(sts, principals, api, server)
        finally:
            server.close()


needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


@needs_kubectl
def test_mapped_user_and_groups_come_back_to_kubectl(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    result = run_kubectl(
        tmp_path, ca, webhook.api.url, webhook.principals[ALICE], "get", "--raw", "/whoami"
    )
    assert result.returncode == 0, (result.stderr, webhook.server.log_text()[-2000:])
    assert json.loads(result.stdout) == {"username": "alice", "groups": ["devs", "viewers"]}
    status, body = webhook.api.reviews[-1]
    assert status == 200
    assert body is not None
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    user = body["status"]["user"]
    principal = webhook.principals[ALICE]
    assert user["uid"] == f"aws-iam-authenticator:{ACCOUNT}:{principal.user_id}"
    assert user["extra"]["arn"] == [ALICE]
    assert user["extra"]["accessKeyId"] == [principal.credentials.access_key_id]


@needs_kubectl
def test_role_session_maps_through_the_role_template(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    result = run_kubectl(
        tmp_path, ca, webhook.api.url, webhook.principals[DEV_SESSION], "get", "--raw", "/whoami"
    )
    assert result.returncode == 0, (result.stderr, webhook.server.log_text()[-2000:])
    # {{SessionName}} replaces "@" with "-", like upstream.
    assert json.loads(result.stdout) == {
        "username": "dev:dana-example.com",
        "groups": ["developers"],
    }


@needs_kubectl
def test_unmapped_identity_gets_401_at_kubectl(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    before = len(webhook.api.reviews)
    result = run_kubectl(
        tmp_path, ca, webhook.api.url, webhook.principals[MALLORY], "get", "--raw", "/whoami"
    )
    assert unauthorized(result), result.stderr
    answers = webhook.api.reviews[before:]
    assert answers
    for status, body in answers:
        assert status == 200
        assert body is not None
        assert body["status"] == {"authenticated": False, "error": "identity is not mapped"}


@needs_kubectl
def test_token_for_another_cluster_gets_401_at_kubectl(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    before = len(webhook.api.reviews)
    result = run_kubectl(
        tmp_path,
        ca,
        webhook.api.url,
        webhook.principals[ALICE],
        "get",
        "--raw",
        "/whoami",
        cluster_id="some-other-cluster",
    )
    assert unauthorized(result), result.stderr
    answers = webhook.api.reviews[before:]
    assert answers
    for status, body in answers:
        assert status == 200
        assert body is not None
        assert body["status"]["authenticated"] is False
        # STS refused the signature: the cluster id is part of what is signed.
        assert body["status"]["error"] == "token rejected: sts-denied"


@needs_kubectl
def test_sts_outage_is_a_retryable_answer_never_authenticated(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    # Carol is mapped but was never verified, so no cached identity can answer.
    webhook.sts.fail_next(100, status=503)
    try:
        before = len(webhook.api.reviews)
        result = run_kubectl(
            tmp_path, ca, webhook.api.url, webhook.principals[CAROL], "get", "--raw", "/whoami"
        )
    finally:
        webhook.sts.reset()
    assert unauthorized(result), result.stderr
    answers = webhook.api.reviews[before:]
    assert answers
    for status, body in answers:
        assert status == 500
        assert body is not None
        assert body["status"]["authenticated"] is False
    # After the outage, the same user gets in.
    result = run_kubectl(
        tmp_path, ca, webhook.api.url, webhook.principals[CAROL], "get", "--raw", "/whoami"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"username": "carol", "groups": ["ops"]}


@needs_kubectl
def test_the_server_logs_never_contain_a_token(
    tmp_path: pathlib.Path, ca: trustme.CA, webhook: Webhook
) -> None:
    # A review of its own: under xdist the module's other tests may run elsewhere.
    result = run_kubectl(
        tmp_path, ca, webhook.api.url, webhook.principals[ALICE], "get", "--raw", "/whoami"
    )
    assert result.returncode == 0, result.stderr
    text = webhook.server.log_text()
    assert "k8s-aws-v1." not in text
    assert "X-Amz-Signature" not in text
    granted = [r for r in webhook.server.logs() if r.get("message") == "access granted"]
    assert granted
    assert {"username", "uid", "groups", "result"} <= set(granted[0])
