"""The official kubernetes client against the loopback HTTPS API server stand-in, tokens refreshing themselves."""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Iterator

import pytest
import trustme

from k8s_aws_auth import TokenSource, TokenVerifier, VerifierConfig
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.api_server import APIServer, https_api_server

kubernetes = pytest.importorskip("kubernetes")  # a test-only dependency (the test extra has it)
from k8s_aws_auth.integrations.kubernetes import refreshing_configuration  # noqa: E402

CLUSTER = "k8s-client-cluster"
USER = "arn:aws:iam::111122223333:user/operator"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def fake(clock: FixedClock) -> FakeSTS:
    return FakeSTS(clock=clock)


@pytest.fixture
def api_server(fake: FakeSTS, clock: FixedClock) -> Iterator[tuple[APIServer, trustme.CA, str]]:
    ca = trustme.CA()
    with fake.serve() as sts_url:
        config = VerifierConfig(CLUSTER, sts_endpoint_url=sts_url)
        with (
            TokenVerifier(config, clock=clock) as verifier,
            https_api_server(ca, verifier) as server,
        ):
            yield server, ca, sts_url


def test_the_client_s_token_refreshes_itself_across_token_lifetimes(
    api_server: tuple[APIServer, trustme.CA, str],
    fake: FakeSTS,
    clock: FixedClock,
    tmp_path: pathlib.Path,
) -> None:
    server, ca, sts_url = api_server
    operator = fake.create_principal(USER)
    ca_file = tmp_path / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    source = TokenSource(
        CLUSTER,
        credentials=operator.credentials,
        region="us-west-2",
        environ={"AWS_ENDPOINT_URL_STS": sts_url},
        clock=clock,
    )
    configuration = refreshing_configuration(source, host=server.url, ssl_ca_cert=str(ca_file))
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    names = []
    for _ in range(3):  # 0, 20 and 40 minutes: each request past the previous token's life
        names.append([ns.metadata.name for ns in api.list_namespace().items])
        clock.advance(minutes=20)
    assert names == [["default"]] * 3
    assert server.denials == []
    assert server.identities == [USER] * 3
    assert len(set(server.tokens)) == 3  # a new token each time, none expired at the server
    # A deep copy (Configuration.set_default makes one) keeps working with the same source.
    copied = copy.deepcopy(configuration)
    assert copied.refresh_api_key_hook is configuration.refresh_api_key_hook
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(copied))
    assert [ns.metadata.name for ns in api.list_namespace().items] == ["default"]
    assert server.denials == []
