"""The embedded partition table: host choice for tokens and the verifier's host allowlist."""

from __future__ import annotations

import pytest

from k8s_aws_auth._core.partitions import (
    GLOBAL_HOST,
    PARTITIONS,
    allowed_hosts,
    partition_for_region,
    regional_host,
    sts_host_for,
)
from k8s_aws_auth.errors import ConfigurationError

# (region, mode) -> (host, signing region); peers.md §1 "Endpoint choice", upstream.md §1.3.
HOST_CHOICE = [
    (None, "regional", "sts.amazonaws.com", "us-east-1"),
    (None, "legacy", "sts.amazonaws.com", "us-east-1"),
    ("", "regional", "sts.amazonaws.com", "us-east-1"),
    ("aws-global", "regional", "sts.amazonaws.com", "us-east-1"),
    ("us-east-1", "regional", "sts.us-east-1.amazonaws.com", "us-east-1"),
    ("us-east-1", "legacy", "sts.amazonaws.com", "us-east-1"),
    ("us-west-2", "legacy", "sts.amazonaws.com", "us-east-1"),
    ("eu-central-1", "legacy", "sts.amazonaws.com", "us-east-1"),
    ("ap-southeast-1", "legacy", "sts.amazonaws.com", "us-east-1"),
    ("eu-central-1", "regional", "sts.eu-central-1.amazonaws.com", "eu-central-1"),
    ("af-south-1", "regional", "sts.af-south-1.amazonaws.com", "af-south-1"),
    ("af-south-1", "legacy", "sts.af-south-1.amazonaws.com", "af-south-1"),
    ("mx-central-1", "legacy", "sts.mx-central-1.amazonaws.com", "mx-central-1"),
    ("cn-north-1", "regional", "sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("cn-northwest-1", "legacy", "sts.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"),
    ("us-gov-west-1", "legacy", "sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("us-gov-east-1", "regional", "sts.us-gov-east-1.amazonaws.com", "us-gov-east-1"),
    ("us-iso-east-1", "regional", "sts.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"),
    ("us-isob-east-1", "regional", "sts.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"),
    ("eu-isoe-west-1", "regional", "sts.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1"),
    ("us-isof-south-1", "regional", "sts.us-isof-south-1.csp.hci.ic.gov", "us-isof-south-1"),
    ("eusc-de-east-1", "regional", "sts.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1"),
    ("xx-west-9", "regional", "sts.xx-west-9.amazonaws.com", "xx-west-9"),
]


@pytest.mark.parametrize(("region", "mode", "host", "signing_region"), HOST_CHOICE)
def test_sts_host_for(region: str | None, mode: str, host: str, signing_region: str) -> None:
    assert sts_host_for(region, sts_regional_endpoints=mode) == (host, signing_region)


@pytest.mark.parametrize(
    ("region", "fips", "dualstack", "host", "signing_region"),
    [
        ("us-east-1", True, False, "sts-fips.us-east-1.amazonaws.com", "us-east-1"),
        ("us-east-1", False, True, "sts.us-east-1.api.aws", "us-east-1"),
        ("us-east-1", True, True, "sts-fips.us-east-1.api.aws", "us-east-1"),
        ("ca-west-1", True, False, "sts-fips.ca-west-1.amazonaws.com", "ca-west-1"),
        ("cn-north-1", False, True, "sts.cn-north-1.api.amazonwebservices.com.cn", "cn-north-1"),
        ("us-gov-west-1", True, False, "sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("us-gov-west-1", False, True, "sts.us-gov-west-1.api.aws", "us-gov-west-1"),
        (
            "eusc-de-east-1",
            False,
            True,
            "sts.eusc-de-east-1.api.amazonwebservices.eu",
            "eusc-de-east-1",
        ),
        # There is no FIPS or dual-stack global host: use the us-east-1 one.
        (None, True, False, "sts-fips.us-east-1.amazonaws.com", "us-east-1"),
        (None, False, True, "sts.us-east-1.api.aws", "us-east-1"),
    ],
)
def test_sts_host_for_variants(
    region: str | None, fips: bool, dualstack: bool, host: str, signing_region: str
) -> None:
    assert sts_host_for(region, use_fips=fips, use_dualstack=dualstack) == (host, signing_region)
    # Legacy mode never sends a FIPS or dual-stack request to the global host.
    assert sts_host_for(
        region, sts_regional_endpoints="legacy", use_fips=fips, use_dualstack=dualstack
    ) == (host, signing_region)


@pytest.mark.parametrize(
    "region", ["us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-east-1"]
)
def test_no_dualstack_in_iso_partitions(region: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        sts_host_for(region, use_dualstack=True)
    assert info.value.reason == "region"


@pytest.mark.parametrize("mode", ["Regional", "LEGACY", "", "global", "regional "])
def test_unknown_endpoint_mode(mode: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        sts_host_for("us-east-1", sts_regional_endpoints=mode)
    assert info.value.reason == "endpoint-mode"


@pytest.mark.parametrize(
    "region",
    [
        "US-EAST-1",
        "us-east-1\n",
        " us-east-1",
        "us_east_1",
        "us-east",
        "useast1",
        "us-east-1.evil.com",
        "us-east-1/x",
        "ｕs-east-1",
        "us-east-١",
        "sts.us-east-1",
    ],
)
def test_malformed_region(region: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        sts_host_for(region)
    assert info.value.reason == "region"


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("il-central-1", "aws"),
        ("us-west-9", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-east-8", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-south-7", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-iso-north-3", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("us-isob-north-3", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("eu-isoe-east-4", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
        ("us-isof-west-5", "aws-iso-f"),
        ("eusc-de-east-1", "aws-eusc"),
        ("eusc-de-west-2", "aws-eusc"),
        # Unknown shapes fall back to the commercial partition, as the SDK resolvers do.
        ("xx-west-9", "aws"),
    ],
)
def test_partition_for_region(region: str, partition: str) -> None:
    assert partition_for_region(region).name == partition


def test_the_eight_partitions() -> None:
    assert set(PARTITIONS) == {
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    }


EXPECTED_HOSTS = {
    "aws": {
        "sts.amazonaws.com": "us-east-1",
        "sts.us-east-1.amazonaws.com": "us-east-1",
        "sts-fips.us-east-1.amazonaws.com": "us-east-1",
        "sts.us-east-1.api.aws": "us-east-1",
        "sts-fips.us-east-1.api.aws": "us-east-1",
        "sts.ap-southeast-7.amazonaws.com": "ap-southeast-7",
        "sts.ap-southeast-7.api.aws": "ap-southeast-7",
        "sts.mx-central-1.amazonaws.com": "mx-central-1",
        "sts-fips.ca-central-1.amazonaws.com": "ca-central-1",
    },
    "aws-cn": {
        "sts.cn-north-1.amazonaws.com.cn": "cn-north-1",
        "sts.cn-northwest-1.amazonaws.com.cn": "cn-northwest-1",
        "sts.cn-north-1.api.amazonwebservices.com.cn": "cn-north-1",
    },
    "aws-us-gov": {
        "sts.us-gov-west-1.amazonaws.com": "us-gov-west-1",
        "sts.us-gov-east-1.amazonaws.com": "us-gov-east-1",
        "sts.us-gov-east-1.api.aws": "us-gov-east-1",
    },
    "aws-iso": {"sts.us-iso-east-1.c2s.ic.gov": "us-iso-east-1"},
    "aws-iso-b": {"sts.us-isob-east-1.sc2s.sgov.gov": "us-isob-east-1"},
    "aws-iso-e": {"sts.eu-isoe-west-1.cloud.adc-e.uk": "eu-isoe-west-1"},
    "aws-iso-f": {"sts.us-isof-south-1.csp.hci.ic.gov": "us-isof-south-1"},
    "aws-eusc": {
        "sts.eusc-de-east-1.amazonaws.eu": "eusc-de-east-1",
        "sts.eusc-de-east-1.api.amazonwebservices.eu": "eusc-de-east-1",
    },
}

NOT_HOSTS = {
    "aws": [
        "sts.not-a-region.amazonaws.com",
        "sts.s3.amazonaws.com",
        "sts.us-gov-west-1.amazonaws.com",
        "sts.cn-north-1.amazonaws.com.cn",
        "sts-fips.eu-west-1.amazonaws.com",
        "sts.amazonaws.com.cn",
        "sts.us-east-1.amazonaws.com.",
        "STS.US-EAST-1.AMAZONAWS.COM",
    ],
    "aws-cn": ["sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "sts.amazonaws.com.cn"],
    "aws-us-gov": [
        "sts.amazonaws.com",
        "sts.us-east-1.amazonaws.com",
        "sts-fips.us-gov-west-1.amazonaws.com",
    ],
    "aws-iso": ["sts.amazonaws.com", "sts.us-iso-east-1.api.aws"],
    "aws-iso-b": ["sts.amazonaws.com"],
    "aws-iso-e": ["sts.amazonaws.com"],
    "aws-iso-f": ["sts.amazonaws.com"],
    "aws-eusc": ["sts.amazonaws.com", "sts.eusc-de-east-1.amazonaws.com"],
}


@pytest.mark.parametrize("partition", sorted(EXPECTED_HOSTS))
def test_allowed_hosts(partition: str) -> None:
    hosts = allowed_hosts(partition)
    for host, region in EXPECTED_HOSTS[partition].items():
        assert hosts.get(host) == region, host
    for host in NOT_HOSTS[partition]:
        assert host not in hosts
    assert (GLOBAL_HOST in hosts) == (partition == "aws")
    # Every host is lower-case ASCII without port or trailing dot.
    for host in hosts:
        assert host == host.lower()
        assert host.isascii()
        assert ":" not in host
        assert not host.endswith(".")


def test_allowed_hosts_extra_regions() -> None:
    hosts = allowed_hosts("aws", ["xx-new-1"])
    assert hosts["sts.xx-new-1.amazonaws.com"] == "xx-new-1"
    assert hosts["sts.xx-new-1.api.aws"] == "xx-new-1"
    assert "sts.xx-new-1.amazonaws.com" not in allowed_hosts("aws")


def test_allowed_hosts_unknown_partition() -> None:
    with pytest.raises(ConfigurationError) as info:
        allowed_hosts("aws-mars")
    assert info.value.reason == "partition"


def test_every_listed_region_is_in_its_own_partition() -> None:
    for partition in PARTITIONS.values():
        for region in partition.regions:
            assert partition_for_region(region) is partition


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1", "us-iso-east-1"]
)
def test_regional_service_hosts_match_botocore(region: str) -> None:
    # EC2 (DescribeInstances), the SSO portal and SSO OIDC: botocore is the oracle.
    import botocore.session

    from k8s_aws_auth._ec2.describe import default_ec2_endpoint

    session = botocore.session.Session()

    def botocore_url(service: str) -> str:
        client = session.create_client(
            service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b"
        )
        url: str = client.meta.endpoint_url
        return url

    assert default_ec2_endpoint(region) == botocore_url("ec2")
    assert f"https://{regional_host('portal.sso', region)}" == botocore_url("sso")
    assert f"https://{regional_host('oidc', region)}" == botocore_url("sso-oidc")


def test_is_region_name_equals_the_regular_expression() -> None:
    import random
    import re

    from k8s_aws_auth._core.partitions import is_region_name

    pattern = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+-[0-9]+", re.ASCII)
    chooser = random.Random(15)
    alphabet = "ab9-Z٣ é"
    samples = [
        "us-east-1",
        "us-gov-west-1",
        "eu-isoe-west-1",
        "cn-north-1",
        "a-b-1",
        "ab-1",
        "ab--1",
        "ab-c-",
        "ab-c-1x",
        "ab-c-١",
        "AB-c-1",
        "ab-c-1\n",
        "",
        "-",
        "ab-c-1-2",
        "ab-cd-ef-12",
    ]
    samples += [
        "".join(chooser.choice(alphabet) for _ in range(chooser.randint(0, 9)))
        for _ in range(20000)
    ]
    for sample in samples:
        assert is_region_name(sample) == bool(pattern.fullmatch(sample)), sample
