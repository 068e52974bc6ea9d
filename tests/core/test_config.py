"""``_config``: cluster-id normalisation, ``sts_endpoint_url`` and the other settings."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from k8s_aws_auth import VerifierConfig
from k8s_aws_auth._core.config import DEFAULT_MAX_TOKEN_SIZE, normalize_cluster_id
from k8s_aws_auth.errors import ConfigurationError

# --- cluster id (DESIGN.md "Decisions") -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("my-cluster", "my-cluster"),
        ("my cluster", "my cluster"),
        ("  my cluster  ", "my cluster"),
        ("my    cluster", "my cluster"),
        ("my \u00a0\u3000 cluster", "my cluster"),
        ("clüster", "clüster"),
        ("日本のクラスタ", "日本のクラスタ"),
        ("🙂", "🙂"),
        ("a/b+c=d&e%f~g", "a/b+c=d&e%f~g"),
        ("x" * 255, "x" * 255),
        ("  " + "x" * 255 + "  ", "x" * 255),
        ("a" + " " * 300 + "b", "a b"),
        # U+2028 is Unicode whitespace, not a control character: collapsed exactly as
        # botocore collapses it when signing (str.split()), so tokens stay identical.
        ("a\u2028b", "a b"),
    ],
)
def test_cluster_id_normalisation(raw: str, normalized: str) -> None:
    assert normalize_cluster_id(raw) == normalized
    assert VerifierConfig(raw).cluster_id == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "\u3000",
        "my\ncluster",
        "my\rcluster",
        "my\tcluster",
        "cluster\n",
        "\x00",
        "a\x1fb",
        "a\x7fb",
        "a\x85b",
        "a\ud800b",
        "a\u200bb",  # zero-width space: not printable
        "x" * 256,
        None,
        42,
        b"my-cluster",
    ],
)
def test_bad_cluster_ids(raw: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        normalize_cluster_id(raw)  # type: ignore[arg-type]
    assert info.value.reason == "cluster-id"
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigurationError):
        VerifierConfig(raw)  # type: ignore[arg-type]


# --- sts_endpoint_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://sts.us-east-1.amazonaws.com", "https://sts.us-east-1.amazonaws.com"),
        (
            "https://vpce-0123-abcd.sts.us-east-1.vpce.amazonaws.com/",
            "https://vpce-0123-abcd.sts.us-east-1.vpce.amazonaws.com",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://localhost:1/sts/", "http://localhost:1/sts"),
        ("http://[::1]:65535", "http://[::1]:65535"),
    ],
)
def test_good_endpoint_urls(url: str, stored: str) -> None:
    assert VerifierConfig("c", sts_endpoint_url=url).sts_endpoint_url == stored


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://127.0.0.1",
        "127.0.0.1:8080",
        "//127.0.0.1",
        "https://",
        "https://user:pass@sts.amazonaws.com",
        "https://sts.amazonaws.com/?x=1",
        "https://sts.amazonaws.com/#frag",
        "https://sts.amazonaws.com:0",
        "https://sts.amazonaws.com:65536",
        "https://sts.amazonaws.com:123456",
        "https://sts.amazonaws.com:",
        "https://sts.amazonaws.com\n",
        "https://sts.amazonaws.com /",
        "https://stś.amazonaws.com",
        "HTTPS://sts.amazonaws.com",
        "https://[::1",
        42,
    ],
)
def test_bad_endpoint_urls(url: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", sts_endpoint_url=url)  # type: ignore[arg-type]
    assert info.value.reason == "endpoint-url"


# --- partitions and hosts --------------------------------------------------------------------


@pytest.mark.parametrize(
    "partition",
    ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"],
)
def test_known_partitions(partition: str) -> None:
    config = VerifierConfig("c", partition=partition)
    assert config.partition == partition
    assert config.hosts
    assert ("sts.amazonaws.com" in config.hosts) == (partition == "aws")


@pytest.mark.parametrize("partition", ["AWS", "aws-mars", "", "aws ", "global"])
def test_unknown_partition(partition: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", partition=partition)
    assert info.value.reason == "partition"


def test_host_switches() -> None:
    everything = VerifierConfig("c").hosts
    assert everything["sts.amazonaws.com"] == "us-east-1"
    assert everything["sts-fips.us-east-1.amazonaws.com"] == "us-east-1"
    assert everything["sts.us-east-1.api.aws"] == "us-east-1"
    narrowed = VerifierConfig(
        "c",
        allow_global_endpoint=False,
        allow_fips_endpoints=False,
        allow_dualstack_endpoints=False,
    ).hosts
    assert "sts.amazonaws.com" not in narrowed
    assert not any(host.startswith("sts-fips.") for host in narrowed)
    assert not any(host.endswith(".api.aws") for host in narrowed)
    assert narrowed["sts.us-east-1.amazonaws.com"] == "us-east-1"
    assert set(narrowed) < set(everything)


def test_extra_regions() -> None:
    config = VerifierConfig("c", extra_regions=["xx-new-1", "xx-new-2"])
    assert config.extra_regions == frozenset({"xx-new-1", "xx-new-2"})
    assert config.hosts["sts.xx-new-2.amazonaws.com"] == "xx-new-2"
    single = VerifierConfig("c", extra_regions="xx-new-3")
    assert single.extra_regions == frozenset({"xx-new-3"})


@pytest.mark.parametrize(
    "region", ["XX-NEW-1", "xx-new-1\n", "xx_new_1", "evil.example", "", "xx-new", 42]
)
def test_bad_extra_regions(region: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", extra_regions=[region])  # type: ignore[list-item]
    assert info.value.reason == "region"


# --- the other settings ------------------------------------------------------------------------


def test_defaults() -> None:
    config = VerifierConfig("c")
    assert config.partition == "aws"
    assert config.max_token_size == DEFAULT_MAX_TOKEN_SIZE == 16384
    assert config.max_future_skew == timedelta(minutes=5)
    assert config.extra_regions == frozenset()
    assert config.sts_endpoint_url is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_token_size", 255),
        ("max_token_size", (1 << 20) + 1),
        ("max_token_size", True),
        ("max_token_size", 4096.0),
        ("max_future_skew", timedelta(minutes=16)),
        ("max_future_skew", timedelta(seconds=-1)),
        ("max_future_skew", 300),
        ("connect_timeout", 0),
        ("read_timeout", -1.0),
        ("deadline", 0.0),
        ("max_retries", -1),
        ("max_retries", True),
        ("max_response_bytes", -5),
        ("cache_size", 1.5),
        ("max_connections", -1),
    ],
)
def test_bad_settings(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", **{field: value})  # type: ignore[arg-type]
    assert info.value.reason == field


def test_frozen_and_hashable_by_value() -> None:
    config = VerifierConfig(" c ")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.cluster_id = "d"  # type: ignore[misc]
    assert config == VerifierConfig("c")
    assert hash(config) == hash(VerifierConfig("c"))
    assert config != VerifierConfig("c", partition="aws-cn")


@pytest.mark.parametrize(
    ("partition", "region", "home"),
    [
        ("aws", "us-gov-west-1", "aws-us-gov"),
        ("aws", "cn-north-1", "aws-cn"),
        ("aws-us-gov", "us-east-1", "aws"),
        ("aws-cn", "us-iso-east-1", "aws-iso"),
    ],
)
def test_extra_region_of_another_partition_is_refused(
    partition: str, region: str, home: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", partition=partition, extra_regions={region})
    assert info.value.reason == "region"
    assert home in str(info.value)


def test_unknown_extra_region_is_added_to_the_partition() -> None:
    config = VerifierConfig("c", partition="aws-cn", extra_regions={"cn-south-9"})
    assert config.hosts["sts.cn-south-9.amazonaws.com.cn"] == "cn-south-9"


@pytest.mark.parametrize("partition", [["aws"], None, 3, "nope"])
def test_partition_is_checked_before_anything_derived_from_it(partition: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("c", partition=partition, extra_regions={"us-east-1"})
    assert info.value.reason == "partition"
