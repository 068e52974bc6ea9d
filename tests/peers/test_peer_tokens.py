"""Tokens made by the real peers verify end to end, with the right identity.

Peers: the real ``aws eks get-token`` (awscli 1.x) and ``eks-token`` (it imports
awscli), each run in a process of its own (tests/support/awscli_oracle.py), and aws-iam-authenticator's Go layouts built
by hand (SDK v1 ``X-Amz-Expires=0`` era, current ``=60``, SDK v2 parameter
order). Each token goes through ``validate_token`` and a ``TokenVerifier`` whose
client talks to :class:`FakeSTS` (which recomputes SigV4 from what it received)
with the principal registered and both clocks set to the token's X-Amz-Date.
What the tests expect is read from the token with the standard library
(``_peer_generators.read_token``), never from the code under test.
"""

from __future__ import annotations

import base64
import pathlib
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    Identity,
    TokenVerifier,
    VerifierConfig,
    validate_token,
)
from k8s_aws_auth.errors import AccessDeniedError
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.budget import examples
from tests.support.keys import (
    DOC_ACCESS_KEY_ID,
    DOC_SECRET,
    GOLDEN_ACCESS_KEY_ID,
    GOLDEN_SECRET,
    GOLDEN_TIME,
)
from tests.support.peer_generators import (
    PeerToken,
    awscli_token,
    eks_token_token,
    go_presigned_token,
    peer_env,
    read_token,
)

# One worker runs this module (xdist loadgroup): its module fixture runs every peer once.
pytestmark = pytest.mark.xdist_group("peer-tokens")

ACCOUNT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/team/alice"
# A realistic STS session token: base64 text, so every '+', '/' and '=' must
# survive percent-encoding in the URL and decoding at STS.
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def+ghi=="
    + base64.b64encode(bytes(range(256)) * 3).decode()
)
# A session token this long makes the token larger than upstream's old 4096 cap
# (aws-iam-authenticator #1106): real tokens this size exist and must verify.
LONG_SESSION_TOKEN = base64.b64encode(bytes(range(255, -1, -1)) * 9).decode()
ODD_ID = "weird id/with spaces+plus&amp=eq%pct~tilde_ü"
SPACED_ID = "  team a   prod  ü 東京 "

USER = Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET)
SESSION = Credentials("ASIAQEXAMPLESESSION1", "sessionSecret/Key+Example=", SESSION_TOKEN)
LONG_SESSION = Credentials("ASIAQEXAMPLESESSION2", "anotherSecret", LONG_SESSION_TOKEN)


@attrs.frozen(kw_only=True)
class Peer:
    """One peer invocation and the identity FakeSTS must confirm for its token."""

    name: str
    tool: str  # "awscli" or "eks-token"
    cluster: str
    credentials: Credentials
    arn: str
    region: str | None = None
    region_arg: str | None = None  # eks-token's region_name argument
    partition: str = "aws"
    extra_env: tuple[tuple[str, str], ...] = ()
    expected_host: str
    expected_scope_region: str


PEERS = [
    Peer(
        name="awscli-us-west-2",
        tool="awscli",
        cluster="prod",
        credentials=USER,
        arn=USER_ARN,
        region="us-west-2",
        expected_host="sts.us-west-2.amazonaws.com",
        expected_scope_region="us-west-2",
    ),
    Peer(
        name="awscli-session-token-eu-central-1",
        tool="awscli",
        cluster="prod",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@example.com",
        region="eu-central-1",
        expected_host="sts.eu-central-1.amazonaws.com",
        expected_scope_region="eu-central-1",
    ),
    Peer(
        name="awscli-long-session-token-over-4KiB",
        tool="awscli",
        cluster="prod",
        credentials=LONG_SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/i-0123456789abcdef0",
        region="ap-south-1",
        expected_host="sts.ap-south-1.amazonaws.com",
        expected_scope_region="ap-south-1",
    ),
    Peer(
        name="awscli-no-region-global-host",
        tool="awscli",
        cluster="c",
        credentials=USER,
        arn=USER_ARN,
        expected_host="sts.amazonaws.com",
        expected_scope_region="us-east-1",
    ),
    Peer(
        name="awscli-legacy-mode-global-host",
        tool="awscli",
        cluster="c",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob",
        region="us-west-2",
        extra_env=(("AWS_STS_REGIONAL_ENDPOINTS", "legacy"),),
        expected_host="sts.amazonaws.com",
        expected_scope_region="us-east-1",
    ),
    Peer(
        name="awscli-cn-north-1",
        tool="awscli",
        cluster="cn",
        credentials=USER,
        arn=f"arn:aws-cn:iam::{ACCOUNT}:user/alice",
        region="cn-north-1",
        partition="aws-cn",
        expected_host="sts.cn-north-1.amazonaws.com.cn",
        expected_scope_region="cn-north-1",
    ),
    Peer(
        name="awscli-us-gov-west-1-session",
        tool="awscli",
        cluster="gov",
        credentials=SESSION,
        arn=f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/Ops/carol",
        region="us-gov-west-1",
        partition="aws-us-gov",
        expected_host="sts.us-gov-west-1.amazonaws.com",
        expected_scope_region="us-gov-west-1",
    ),
    Peer(
        name="awscli-fips",
        tool="awscli",
        cluster="c",
        credentials=USER,
        arn=USER_ARN,
        region="us-east-1",
        extra_env=(("AWS_USE_FIPS_ENDPOINT", "true"),),
        expected_host="sts-fips.us-east-1.amazonaws.com",
        expected_scope_region="us-east-1",
    ),
    Peer(
        name="awscli-dualstack",
        tool="awscli",
        cluster="c",
        credentials=USER,
        arn=USER_ARN,
        region="us-east-1",
        extra_env=(("AWS_USE_DUALSTACK_ENDPOINT", "true"),),
        expected_host="sts.us-east-1.api.aws",
        expected_scope_region="us-east-1",
    ),
    Peer(
        name="awscli-fips-dualstack",
        tool="awscli",
        cluster="c",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/gina",
        region="ca-central-1",
        extra_env=(("AWS_USE_FIPS_ENDPOINT", "true"), ("AWS_USE_DUALSTACK_ENDPOINT", "true")),
        expected_host="sts-fips.ca-central-1.api.aws",
        expected_scope_region="ca-central-1",
    ),
    Peer(
        name="awscli-govcloud-dualstack",
        tool="awscli",
        cluster="gov",
        credentials=USER,
        arn=f"arn:aws-us-gov:iam::{ACCOUNT}:user/hank",
        region="us-gov-east-1",
        partition="aws-us-gov",
        extra_env=(("AWS_USE_DUALSTACK_ENDPOINT", "true"),),
        expected_host="sts.us-gov-east-1.api.aws",
        expected_scope_region="us-gov-east-1",
    ),
    Peer(
        name="awscli-govcloud-fips-is-the-regional-host",
        tool="awscli",
        cluster="gov",
        credentials=USER,
        arn=f"arn:aws-us-gov:iam::{ACCOUNT}:user/hank",
        region="us-gov-west-1",
        partition="aws-us-gov",
        extra_env=(("AWS_USE_FIPS_ENDPOINT", "true"),),
        expected_host="sts.us-gov-west-1.amazonaws.com",
        expected_scope_region="us-gov-west-1",
    ),
    Peer(
        name="awscli-spaced-unicode-cluster-name",
        tool="awscli",
        cluster=SPACED_ID,
        credentials=USER,
        arn=USER_ARN,
        region="eu-west-1",
        expected_host="sts.eu-west-1.amazonaws.com",
        expected_scope_region="eu-west-1",
    ),
    Peer(
        name="awscli-odd-cluster-name",
        tool="awscli",
        cluster=ODD_ID,
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/dave",
        region="ap-southeast-1",
        expected_host="sts.ap-southeast-1.amazonaws.com",
        expected_scope_region="ap-southeast-1",
    ),
    Peer(
        name="eks-token-us-west-2",
        tool="eks-token",
        cluster="prod",
        credentials=USER,
        arn=USER_ARN,
        region="us-west-2",
        expected_host="sts.us-west-2.amazonaws.com",
        expected_scope_region="us-west-2",
    ),
    Peer(
        name="eks-token-no-region",
        tool="eks-token",
        cluster="prod",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/erin",
        expected_host="sts.amazonaws.com",
        expected_scope_region="us-east-1",
    ),
    Peer(
        name="eks-token-region-argument-cn-dualstack",
        tool="eks-token",
        cluster="cn cluster ü",
        credentials=SESSION,
        arn=f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/Admin/frank",
        region_arg="cn-northwest-1",
        partition="aws-cn",
        extra_env=(("AWS_USE_DUALSTACK_ENDPOINT", "true"),),
        expected_host="sts.cn-northwest-1.api.amazonwebservices.com.cn",
        expected_scope_region="cn-northwest-1",
    ),
]


def _make(peer: Peer, home: pathlib.Path) -> str:
    env = peer_env(home, peer.credentials, region=peer.region, extra=dict(peer.extra_env))
    if peer.tool == "awscli":
        return awscli_token(peer.cluster, env)
    return eks_token_token(peer.cluster, env, peer.region_arg)


@pytest.fixture(scope="module")
def peer_tokens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run every peer once (each in a process forked from one that imported it)."""
    home = tmp_path_factory.mktemp("peer-home")
    return {peer.name: _make(peer, home) for peer in PEERS}


def _fake_sts(peer: Peer, clock: FixedClock) -> FakeSTS:
    fake = FakeSTS(clock=clock)
    fake.register(peer.credentials, peer.arn)
    return fake


def _verify(token: str, config: VerifierConfig, fake: FakeSTS, clock: FixedClock) -> Identity:
    with (
        httpx.Client(transport=fake) as client,
        TokenVerifier(config, client=client, clock=clock) as verifier,
    ):
        return verifier.verify(token)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [
        (name, unquote(value))
        for name, _, value in (component.partition("=") for component in query.split("&"))
    ]


@pytest.mark.parametrize("peer", [pytest.param(p, id=p.name) for p in PEERS])
def test_peer_token_verifies_with_the_right_identity(
    peer: Peer, peer_tokens: dict[str, str]
) -> None:
    token = peer_tokens[peer.name]
    seen = read_token(token)
    assert seen.host == peer.expected_host  # the peer really made the variant under test
    assert seen.param("X-Amz-Credential").split("/")[2] == peer.expected_scope_region
    assert seen.param("X-Amz-Expires") == "60"
    assert ("X-Amz-Security-Token" in seen.names) == (peer.credentials.session_token is not None)

    clock = FixedClock(seen.signed_at + timedelta(seconds=30))
    config = VerifierConfig(peer.cluster, partition=peer.partition)

    validated = validate_token(token, config, now=clock())
    assert validated.host == seen.host
    assert validated.region == peer.expected_scope_region
    assert validated.access_key_id == peer.credentials.access_key_id
    assert validated.signed_at == seen.signed_at
    assert validated.security_token == peer.credentials.session_token
    # The rebuilt query holds exactly the token's parameters and values.
    assert sorted(_query_pairs(validated.query)) == sorted(seen.params)

    fake = _fake_sts(peer, clock)
    identity = _verify(token, config, fake, clock)
    assert identity.arn == peer.arn
    assert identity.account_id == ACCOUNT
    assert identity.partition == peer.partition
    assert identity.access_key_id == peer.credentials.access_key_id
    assert identity.sts_endpoint == peer.expected_host
    if ":assumed-role/" in peer.arn:
        role, session = peer.arn.split("/", 1)[1].split("/")
        assert identity.principal_type == "assumed-role"
        assert identity.session_name == session
        assert identity.canonical_arn == f"arn:{peer.partition}:iam::{ACCOUNT}:role/{role}"
    else:
        assert identity.principal_type == "user"
        assert identity.canonical_arn == peer.arn

    (request,) = fake.requests
    assert request.outcome == "ok"
    assert request.header("host") == peer.expected_host
    assert request.header("x-k8s-aws-id") == " ".join(peer.cluster.split())


def test_long_session_token_exceeds_upstreams_old_cap(peer_tokens: dict[str, str]) -> None:
    assert len(peer_tokens["awscli-long-session-token-over-4KiB"]) > 4096


@pytest.mark.parametrize(
    ("peer_name", "other_cluster"),
    [
        ("awscli-us-west-2", "staging"),
        ("awscli-spaced-unicode-cluster-name", "team a prod u 東京"),
        ("eks-token-no-region", "prod2"),
    ],
)
def test_peer_token_for_another_cluster_is_denied_by_sts(
    peer_name: str, other_cluster: str, peer_tokens: dict[str, str]
) -> None:
    peer = next(p for p in PEERS if p.name == peer_name)
    token = peer_tokens[peer_name]
    clock = FixedClock(read_token(token).signed_at)
    config = VerifierConfig(other_cluster, partition=peer.partition)
    validate_token(token, config, now=clock())  # the cluster id is not a local check
    fake = _fake_sts(peer, clock)
    with pytest.raises(AccessDeniedError) as info:
        _verify(token, config, fake, clock)
    assert info.value.sts_code == "SignatureDoesNotMatch"
    assert [r.outcome for r in fake.requests] == ["SignatureDoesNotMatch"]


def test_peer_token_verifies_over_loopback_http(peer_tokens: dict[str, str]) -> None:
    peer = next(p for p in PEERS if p.name == "awscli-odd-cluster-name")
    token = peer_tokens[peer.name]
    clock = FixedClock(read_token(token).signed_at)
    fake = _fake_sts(peer, clock)
    with fake.serve() as base_url:
        config = VerifierConfig(peer.cluster, sts_endpoint_url=base_url)
        with TokenVerifier(config, clock=clock) as verifier:
            identity = verifier.verify(token)
    assert identity.arn == peer.arn
    assert identity.sts_endpoint == peer.expected_host


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_peer_token_verifies_with_the_async_verifier(
    anyio_backend: str, peer_tokens: dict[str, str]
) -> None:
    peer = next(p for p in PEERS if p.name == "awscli-session-token-eu-central-1")
    token = peer_tokens[peer.name]
    clock = FixedClock(read_token(token).signed_at)
    fake = _fake_sts(peer, clock)
    async with (
        httpx.AsyncClient(transport=fake) as client,
        AsyncTokenVerifier(VerifierConfig(peer.cluster), client=client, clock=clock) as verifier,
    ):
        identity = await verifier.verify(token)
    assert identity.arn == peer.arn


# ---- aws-iam-authenticator (Go) layouts --------------------------------------------------------

GOLDEN = Credentials(GOLDEN_ACCESS_KEY_ID, GOLDEN_SECRET)
# reference/upstream.md §1.6: signatures re-derived independently from upstream's test.
GOLDEN_SIGNATURES = {
    60: "e211dba77aba9dc44b0b6be38b8eaad092599c5157f6314444c5b9d85747f5ce",
    0: "4d7abfde96725eb8a7738248416e4b5d08d9dbd718b4f6dd690f8fb7501329d5",
}


@pytest.mark.parametrize("expires", [60, 0], ids=["current-60", "sdk-v1-era-0"])
def test_go_builder_reproduces_upstreams_golden_signatures(expires: int) -> None:
    token = go_presigned_token(
        GOLDEN,
        cluster_id="test-cluster",
        host="sts.us-west-2.amazonaws.com",
        region="us-west-2",
        now=GOLDEN_TIME,
        expires=expires,
    )
    seen = read_token(token)
    assert seen.param("X-Amz-Signature") == GOLDEN_SIGNATURES[expires]
    assert seen.param("X-Amz-Expires") == str(expires)


@pytest.mark.parametrize("expires", [60, 0], ids=["current-60", "sdk-v1-era-0"])
def test_upstream_golden_tokens_verify(expires: int) -> None:
    token = go_presigned_token(
        GOLDEN,
        cluster_id="test-cluster",
        host="sts.us-west-2.amazonaws.com",
        region="us-west-2",
        now=GOLDEN_TIME,
        expires=expires,
    )
    clock = FixedClock(GOLDEN_TIME + timedelta(minutes=14))
    fake = FakeSTS(clock=clock)
    fake.register(GOLDEN, USER_ARN)
    config = VerifierConfig("test-cluster")
    assert validate_token(token, config, now=clock()).x_amz_expires == expires
    assert _verify(token, config, fake, clock).arn == USER_ARN


@attrs.frozen(kw_only=True)
class GoCase:
    name: str
    credentials: Credentials
    arn: str
    host: str
    region: str
    expires: int
    partition: str = "aws"
    cluster: str = "eks-cluster"


GO_CASES = [
    GoCase(
        name="sdk-v2-order-session-token",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Node/i-0abc",
        host="sts.us-east-1.amazonaws.com",
        region="us-east-1",
        expires=60,
    ),
    GoCase(
        name="sdk-v1-era-expires-0-session-token",
        credentials=SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Node/i-0abc",
        host="sts.amazonaws.com",
        region="us-east-1",
        expires=0,
    ),
    GoCase(
        name="sdk-v1-era-expires-0-opt-in-region",
        credentials=USER,
        arn=USER_ARN,
        host="sts.af-south-1.amazonaws.com",
        region="af-south-1",
        expires=0,
    ),
    GoCase(
        name="sdk-v2-china",
        credentials=USER,
        arn=f"arn:aws-cn:iam::{ACCOUNT}:user/alice",
        host="sts.cn-north-1.amazonaws.com.cn",
        region="cn-north-1",
        expires=60,
        partition="aws-cn",
    ),
    GoCase(
        name="sdk-v2-fips-dualstack",
        credentials=LONG_SESSION,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Node/i-0def",
        host="sts-fips.us-west-2.api.aws",
        region="us-west-2",
        expires=60,
    ),
    GoCase(
        name="sdk-v2-govcloud-unicode-cluster",
        credentials=USER,
        arn=f"arn:aws-us-gov:iam::{ACCOUNT}:root",
        host="sts.us-gov-east-1.amazonaws.com",
        region="us-gov-east-1",
        expires=60,
        partition="aws-us-gov",
        cluster="Ünïcode cluster",
    ),
]

NOW = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)


def _go_token(case: GoCase, cluster: str | None = None) -> str:
    return go_presigned_token(
        case.credentials,
        cluster_id=cluster or case.cluster,
        host=case.host,
        region=case.region,
        now=NOW,
        expires=case.expires,
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in GO_CASES])
def test_go_layout_tokens_verify(case: GoCase) -> None:
    token = _go_token(case)
    seen = read_token(token)
    names = seen.names
    assert names[-1] == "X-Amz-Signature"
    assert names[:-1] == sorted(names[:-1])  # Go's layout, not awscli's
    if case.credentials.session_token:
        assert names.index("X-Amz-Security-Token") < names.index("X-Amz-SignedHeaders")
    clock = FixedClock(NOW + timedelta(minutes=10))
    fake = FakeSTS(clock=clock)
    fake.register(case.credentials, case.arn)
    config = VerifierConfig(case.cluster, partition=case.partition)
    validated = validate_token(token, config, now=clock())
    assert validated.x_amz_expires == case.expires
    identity = _verify(token, config, fake, clock)
    assert identity.arn == case.arn
    assert identity.sts_endpoint == case.host
    assert identity.partition == case.partition


def test_go_layout_token_for_another_cluster_is_denied() -> None:
    case = GO_CASES[1]
    token = _go_token(case, cluster="other-cluster")
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(case.credentials, case.arn)
    with pytest.raises(AccessDeniedError):
        _verify(token, VerifierConfig(case.cluster), fake, clock)


def test_same_token_is_denied_after_sts_window(peer_tokens: dict[str, str]) -> None:
    # Sanity of the harness: FakeSTS's own clock decides too, so the positive
    # results above are not an artefact of a clock that ignores time.
    peer = PEERS[0]
    token = peer_tokens[peer.name]
    signed = read_token(token).signed_at
    verifier_clock = FixedClock(signed)
    sts_clock = FixedClock(signed + timedelta(minutes=16))
    fake = _fake_sts(peer, sts_clock)
    with pytest.raises(AccessDeniedError) as info:
        _verify(token, VerifierConfig(peer.cluster), fake, verifier_clock)
    assert "expired" in str(info.value)


def test_peer_names_are_unique() -> None:
    names = [p.name for p in PEERS]
    assert len(names) == len(set(names))


def test_read_token_is_independent_of_the_library() -> None:
    # The oracle reader must agree with a hand-written URL, not with our decoder.
    url = "https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Date=20260101T000000Z"
    token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    seen: PeerToken = read_token(token)
    assert seen.host == "sts.amazonaws.com"
    assert seen.signed_at == datetime(2026, 1, 1, tzinfo=timezone.utc)


# ---- any parameter order a client may choose ---------------------------------------------------


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(list(range(9))))
def test_any_parameter_order_verifies(order: list[int]) -> None:
    # The signature covers the sorted canonical query, so a client may lay the
    # parameters out in any order (awscli, Go SDK v1/v2 and others all differ).
    token = go_presigned_token(
        SESSION,
        cluster_id="eks-cluster",
        host="sts.eu-west-1.amazonaws.com",
        region="eu-west-1",
        now=NOW,
        expires=60,
    )
    body = token[len("k8s-aws-v1.") :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    head, _, query = url.partition("/?")
    components = query.split("&")
    shuffled = "&".join(components[i] for i in order)
    reordered = "k8s-aws-v1." + base64.urlsafe_b64encode(
        f"{head}/?{shuffled}".encode()
    ).decode().rstrip("=")
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/Node/i-0abc"
    fake.register(SESSION, arn)
    assert _verify(reordered, VerifierConfig("eks-cluster"), fake, clock).arn == arn
