"""Differential test: ``presign_token`` against botocore, the way ``aws eks get-token`` signs.

Over thousands of seeded random inputs (every partition, opt-in and unknown-but-
well-formed regions, no region, both endpoint modes, session tokens with ``/+=``,
odd cluster ids, random seconds) our token must equal botocore's byte for byte.
"""

from __future__ import annotations

import random
import string
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import Credentials, decode_token, presign_token
from k8s_aws_auth._core.partitions import PARTITIONS
from tests.support.botocore_oracle import BotocoreTokenOracle, frozen_botocore_clock
from tests.support.budget import examples, seed

#: A full run's draw; CI's per-Python runs each draw their share from a seed of their own.
CASES = examples(2000)
SEED = seed(20231128)

# Well-formed names that are in no table: both sides resolve them by partition regex.
UNLISTED_REGIONS = (
    "us-west-9",
    "ap-east-7",
    "cn-south-7",
    "us-gov-north-4",
    "us-iso-north-2",
    "us-isob-south-3",
    "eu-isoe-south-5",
    "us-isof-west-2",
    "eusc-de-west-4",
)
ALL_REGIONS: tuple[str | None, ...] = (
    None,
    "aws-global",
    *sorted(region for partition in PARTITIONS.values() for region in partition.regions),
    *UNLISTED_REGIONS,
)

_KEY_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits + "/+"
_SESSION_CHARS = string.ascii_letters + string.digits + "/+="
# Pieces a cluster id is built from: plain words, separators SigV4 encodes, blanks
# that get trimmed/collapsed (including Unicode spaces str.split() knows), non-ASCII.
_ID_PIECES = (
    "prod",
    "my-cluster",
    "c",
    "A1",
    " ",
    "   ",
    "%",
    "&",
    "=",
    "+",
    "~",
    "/",
    "?",
    "#",
    ":",
    "_",
    ".",
    "ü",
    "ß",
    "日本",
    "🙂",
    "\u00a0",
    "\u3000",
    "é",
)


def _random_cluster_id(rng: random.Random) -> str:
    while True:
        candidate = "".join(rng.choice(_ID_PIECES) for _ in range(rng.randint(1, 12)))
        if candidate.split() and len(" ".join(candidate.split())) <= 255:
            return candidate


def _random_credentials(rng: random.Random) -> Credentials:
    prefix = rng.choice(("AKIA", "ASIA"))
    access_key_id = prefix + "".join(rng.choices(_KEY_CHARS, k=16))
    secret = "".join(rng.choices(_SECRET_CHARS, k=40))
    session_token = None
    if rng.random() < 0.5:
        session_token = "".join(rng.choices(_SESSION_CHARS, k=rng.randint(16, 700)))
    return Credentials(access_key_id, secret, session_token)


def _random_moment(rng: random.Random) -> datetime:
    seconds = rng.randint(946_684_800, 4_102_444_799)  # 2000-01-01 .. 2099-12-31
    return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(
        microseconds=rng.randint(0, 999_999)
    )


@pytest.fixture(scope="module")
def oracle() -> BotocoreTokenOracle:
    return BotocoreTokenOracle()


def _compare(
    oracle: BotocoreTokenOracle,
    credentials: Credentials,
    *,
    region: str | None,
    mode: str,
    cluster_id: str,
    moment: datetime,
) -> tuple[str, str]:
    ours = presign_token(
        credentials,
        cluster_id=cluster_id,
        now=moment,
        region=region,
        sts_regional_endpoints=mode,
    ).value
    theirs = oracle.token(
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        region=region,
        mode=mode,
        cluster_id=cluster_id,
        moment=moment,
    )
    return ours, theirs


def test_random_inputs_match_botocore_byte_for_byte(oracle: BotocoreTokenOracle) -> None:
    rng = random.Random(SEED)
    credential_pool = [_random_credentials(rng) for _ in range(24)]
    mismatches: list[str] = []
    seen_partitions: set[str] = set()
    seen = {"session": 0, "no-session": 0, "legacy": 0, "regional": 0, "no-region": 0}
    for index in range(CASES):
        region = rng.choice(ALL_REGIONS)
        mode = rng.choice(("regional", "legacy"))
        credentials = rng.choice(credential_pool)
        cluster_id = _random_cluster_id(rng)
        moment = _random_moment(rng)
        ours, theirs = _compare(
            oracle, credentials, region=region, mode=mode, cluster_id=cluster_id, moment=moment
        )
        if ours != theirs:
            mismatches.append(
                f"case {index}: region={region!r} mode={mode} cluster_id={cluster_id!r} "
                f"at={moment.isoformat()}\n  ours:   {decode_token(ours)}\n"
                f"  theirs: {decode_token(theirs)}"
            )
        host = decode_token(ours)[len("https://") :].split("/", 1)[0]
        seen_partitions.update(
            name
            for name, partition in PARTITIONS.items()
            if any(f".{r}." in host for r in partition.regions)
        )
        seen["session" if credentials.session_token else "no-session"] += 1
        seen[mode] += 1
        seen["no-region"] += region is None
    assert not mismatches, f"{len(mismatches)} of {CASES} differ (seed {SEED}):\n" + "\n".join(
        mismatches[:5]
    )
    # The draw really covered what the test claims to cover.
    assert seen_partitions == set(PARTITIONS)
    assert all(count > 0 for count in seen.values()), seen


# The configurations peers.md §2 checked against the real `aws eks get-token`.
NAMED_CASES = [
    pytest.param("us-east-1", "regional", None, "my-cluster", id="us-east-1"),
    pytest.param(
        "eu-central-1", "regional", "FwoGZX/+IvYXdz==EPv//////AB+c=", "c1", id="session-token"
    ),
    pytest.param(None, "regional", None, "my-cluster", id="no-region-global"),
    pytest.param("us-west-2", "legacy", None, "my-cluster", id="legacy-global"),
    pytest.param("af-south-1", "legacy", None, "my-cluster", id="legacy-opt-in-regional"),
    pytest.param("cn-north-1", "regional", None, "my-cluster", id="china"),
    pytest.param("us-gov-west-1", "legacy", None, "my-cluster", id="govcloud"),
    pytest.param("us-iso-east-1", "regional", None, "c", id="iso"),
    pytest.param("us-isob-east-1", "regional", None, "c", id="iso-b"),
    pytest.param("eu-isoe-west-1", "regional", None, "c", id="iso-e"),
    pytest.param("us-isof-south-1", "regional", None, "c", id="iso-f"),
    pytest.param("eusc-de-east-1", "regional", None, "c", id="eusc"),
    pytest.param(
        "ap-southeast-1",
        "regional",
        None,
        "weird id/with spaces+plus&amp=eq%pct~tilde_ü",
        id="odd-cluster-id",
    ),
    pytest.param("us-east-2", "regional", None, "  spaced \u00a0  out  ", id="blank-runs"),
]


@pytest.mark.parametrize(("region", "mode", "session_token", "cluster_id"), NAMED_CASES)
def test_named_configurations_match_botocore(
    oracle: BotocoreTokenOracle,
    region: str | None,
    mode: str,
    session_token: str | None,
    cluster_id: str,
) -> None:
    credentials = Credentials(
        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", session_token
    )
    moment = datetime(2026, 11, 28, 11, 2, 49, 731_000, tzinfo=timezone.utc)
    ours, theirs = _compare(
        oracle, credentials, region=region, mode=mode, cluster_id=cluster_id, moment=moment
    )
    assert ours == theirs


def test_oracle_restores_botocore_clock(oracle: BotocoreTokenOracle) -> None:
    import botocore.auth

    before = botocore.auth.get_current_datetime
    oracle.token(
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="secret",
        session_token=None,
        region="us-east-1",
        mode="regional",
        cluster_id="c",
        moment=datetime(2020, 1, 1, tzinfo=timezone.utc),
    )
    assert botocore.auth.get_current_datetime is before


def test_concurrent_freezes_each_see_their_moment_and_restore_the_clock() -> None:
    # test_fake_sts signs from eight threads at once; unserialised, the freezes
    # restored each other's patches and left botocore at a fixed date for later tests.
    import botocore.auth

    before = botocore.auth.get_current_datetime
    seen: dict[int, datetime] = {}

    def freeze(index: int) -> None:
        moment = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(days=index)
        with frozen_botocore_clock(moment):
            time.sleep(0.01)  # overlap with the other threads if nothing serialises them
            seen[index] = botocore.auth.get_current_datetime().replace(tzinfo=timezone.utc)

    threads = [threading.Thread(target=freeze, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {
        index: datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(days=index)
        for index in range(8)
    }
    assert botocore.auth.get_current_datetime is before


def test_the_oracle_is_the_standalone_botocore() -> None:
    import botocore

    # awscli's vendored copy would live under .../awscli/botocore/.
    assert "awscli" not in (botocore.__file__ or "")


# FIPS and dual-stack (AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT for awscli) in the
# partitions where STS has such hosts and botocore's data agrees with the AWS SDK v2 rules.
# Not compared: GovCloud FIPS+dual-stack, the iso partitions' dual-stack and "no region"
# with FIPS, where botocore's v1 endpoint data names hosts that do not exist
# (sts-fips.aws-global.amazonaws.com, sts.us-iso-east-1.api.aws).
VARIANT_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1")


@pytest.mark.parametrize("region", VARIANT_REGIONS)
@pytest.mark.parametrize(
    ("use_fips", "use_dualstack"), [(True, False), (False, True), (True, True)]
)
def test_fips_and_dualstack_match_botocore(
    oracle: BotocoreTokenOracle, region: str, use_fips: bool, use_dualstack: bool
) -> None:
    credentials = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    moment = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)
    ours = presign_token(
        credentials,
        cluster_id="c",
        now=moment,
        region=region,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
    ).value
    theirs = oracle.token(
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=None,
        region=region,
        mode="regional",
        cluster_id="c",
        moment=moment,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
    )
    assert ours == theirs


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1", "eu-west-1", "ap-south-2"])
def test_dualstack_outside_the_us_matches_botocore(
    oracle: BotocoreTokenOracle, region: str
) -> None:
    credentials = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    moment = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)
    ours = presign_token(
        credentials, cluster_id="c", now=moment, region=region, use_dualstack=True
    ).value
    theirs = oracle.token(
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=None,
        region=region,
        mode="regional",
        cluster_id="c",
        moment=moment,
        use_dualstack=True,
    )
    assert ours == theirs
