"""AWS partitions, their regions and STS hosts: pure, embedded data.

The table follows the AWS SDK partition data (botocore ``partitions.json`` and
``endpoints.json``). Hosts are accepted from an explicit list, never by shape or
suffix: ``sts.<anything>.amazonaws.com`` would admit S3 website and API Gateway
names that AWS customers control (reference/security.md §6).
"""

from __future__ import annotations

from functools import cache

from k8s_aws_auth.errors import ConfigurationError

from .frozen import Frozen

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable

__all__ = [
    "is_known_region",
    "GLOBAL_HOST",
    "LEGACY_GLOBAL_REGIONS",
    "PARTITIONS",
    "Partition",
    "allowed_hosts",
    "is_region_name",
    "partition_for_region",
    "regional_host",
    "sts_host_for",
]


class Partition(Frozen):
    """One AWS partition: its DNS suffixes, regions and which STS host variants exist.

    ``fips_regions`` are the regions with an ``sts-fips.`` host (US and Canada in
    ``aws``); ``fips_is_regional`` marks GovCloud, whose regular regional host is
    already FIPS (there is no ``sts-fips.`` host). A plain frozen value, not attrs:
    the exec plugin chooses its STS host at start-up.
    """

    __slots__ = (  # noqa: RUF023 - the field order, shown by repr
        "name",
        "dns_suffix",
        "dualstack_suffix",
        "region_regex",
        "regions",
        "fips_regions",
        "fips_is_regional",
    )
    name: str
    dns_suffix: str
    dualstack_suffix: str | None
    region_regex: str
    regions: frozenset[str]
    fips_regions: frozenset[str]
    fips_is_regional: bool

    def __init__(
        self,
        *,
        name: str,
        dns_suffix: str,
        dualstack_suffix: str | None,
        region_regex: str,
        regions: frozenset[str],
        fips_regions: frozenset[str] = frozenset(),
        fips_is_regional: bool = False,
    ) -> None:
        self._init(
            name=name,
            dns_suffix=dns_suffix,
            dualstack_suffix=dualstack_suffix,
            region_regex=region_regex,
            regions=regions,
            fips_regions=fips_regions,
            fips_is_regional=fips_is_regional,
        )


#: The global endpoint: commercial partition only, signed with the us-east-1 scope.
GLOBAL_HOST = "sts.amazonaws.com"
GLOBAL_SIGNING_REGION = "us-east-1"

#: Regions that botocore's ``legacy`` STS endpoint mode sends to the global host.
LEGACY_GLOBAL_REGIONS = frozenset(
    {
        "aws-global",
        "ap-northeast-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

_AWS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "me-west-1",
        "mx-central-1",
        "sa-east-1",
        "sa-west-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

PARTITIONS: dict[str, Partition] = {
    p.name: p
    for p in (
        Partition(
            name="aws",
            dns_suffix="amazonaws.com",
            dualstack_suffix="api.aws",
            region_regex=r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+",
            regions=_AWS_REGIONS,
            fips_regions=frozenset(
                {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1"}
            ),
        ),
        Partition(
            name="aws-cn",
            dns_suffix="amazonaws.com.cn",
            dualstack_suffix="api.amazonwebservices.com.cn",
            region_regex=r"cn-\w+-\d+",
            regions=frozenset({"cn-north-1", "cn-northwest-1"}),
        ),
        Partition(
            name="aws-us-gov",
            dns_suffix="amazonaws.com",
            dualstack_suffix="api.aws",
            region_regex=r"us-gov-\w+-\d+",
            regions=frozenset({"us-gov-east-1", "us-gov-west-1"}),
            fips_is_regional=True,
        ),
        Partition(
            name="aws-iso",
            dns_suffix="c2s.ic.gov",
            dualstack_suffix=None,
            region_regex=r"us-iso-\w+-\d+",
            regions=frozenset({"us-iso-east-1", "us-iso-west-1"}),
        ),
        Partition(
            name="aws-iso-b",
            dns_suffix="sc2s.sgov.gov",
            dualstack_suffix=None,
            region_regex=r"us-isob-\w+-\d+",
            regions=frozenset({"us-isob-east-1", "us-isob-west-1"}),
        ),
        Partition(
            name="aws-iso-e",
            dns_suffix="cloud.adc-e.uk",
            dualstack_suffix=None,
            region_regex=r"eu-isoe-\w+-\d+",
            regions=frozenset({"eu-isoe-west-1"}),
        ),
        Partition(
            name="aws-iso-f",
            dns_suffix="csp.hci.ic.gov",
            dualstack_suffix=None,
            region_regex=r"us-isof-\w+-\d+",
            regions=frozenset({"us-isof-east-1", "us-isof-south-1"}),
        ),
        Partition(
            name="aws-eusc",
            dns_suffix="amazonaws.eu",
            dualstack_suffix="api.amazonwebservices.eu",
            region_regex=r"eusc-(de)-\w+-\d+",
            regions=frozenset({"eusc-de-east-1"}),
        ),
    )
}

# The most specific regexes first: "us-gov-west-1" also matches the commercial pattern.
_REGEX_ORDER = (
    "aws-us-gov",
    "aws-iso-b",
    "aws-iso-f",
    "aws-iso-e",
    "aws-iso",
    "aws-cn",
    "aws-eusc",
    "aws",
)
_PARTITION_OF_REGION = {
    region: partition for partition in PARTITIONS.values() for region in partition.regions
}

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_LOWER_OR_DIGITS = _LOWER | _DIGITS


def is_region_name(region: str) -> bool:
    """Whether ``region`` looks like a region name at all: ``[a-z]{2,}(-[a-z0-9]+)+-[0-9]+``.

    Lower-case ASCII labels joined by ``-``, the first of two letters or more,
    the last all digits. Checked by hand: ``re`` costs the exec plugin's start-up
    more than the rest of this module.
    """
    labels = region.split("-")
    return (
        len(labels) >= 3
        and len(labels[0]) >= 2
        and _LOWER.issuperset(labels[0])
        and all(label and _LOWER_OR_DIGITS.issuperset(label) for label in labels[1:-1])
        and bool(labels[-1])
        and _DIGITS.issuperset(labels[-1])
    )


@cache
def _region_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    # Compiled on first use: only names outside the embedded lists need them, and
    # compiling all eight would cost the exec plugin's start-up half a millisecond.
    import re

    return tuple(
        (name, re.compile(PARTITIONS[name].region_regex, re.ASCII)) for name in _REGEX_ORDER
    )


def is_known_region(region: str) -> bool:
    """Whether ``region`` is in the embedded region table (or is ``aws-global``).

    The table the verifier's STS hosts come from: a token signed for a region
    outside it is refused by every verifier of this version (unless configured
    with ``extra_regions``).
    """
    return region == "aws-global" or region in _PARTITION_OF_REGION


def partition_for_region(region: str) -> Partition:
    """The partition a region belongs to: by the embedded lists, then the SDKs' regexes.

    Unknown names fall back to ``aws``, as the AWS SDKs' resolvers do.
    """
    partition = _PARTITION_OF_REGION.get(region)
    if partition is not None:
        return partition
    for name, pattern in _region_patterns():
        if pattern.fullmatch(region):
            return PARTITIONS[name]
    return PARTITIONS["aws"]


def regional_host(service: str, region: str) -> str:
    """A service's default host in ``region``: ``<service>.<region>.<partition DNS suffix>``.

    For EC2 (``ec2``), the SSO portal (``portal.sso``) and SSO OIDC (``oidc``);
    STS hosts have their own rules (`sts_host_for()`).
    """
    return f"{service}.{region}.{partition_for_region(region).dns_suffix}"


def sts_host_for(
    region: str | None,
    *,
    sts_regional_endpoints: str = "regional",
    use_fips: bool = False,
    use_dualstack: bool = False,
) -> tuple[str, str]:
    """Choose ``(host, signing region)`` for a token the way the AWS CLI does.

    No region, or ``aws-global``, means the global host with the us-east-1 scope;
    ``legacy`` mode maps the classic commercial regions to the global host.
    """
    if sts_regional_endpoints not in ("regional", "legacy"):
        raise ConfigurationError(
            "sts_regional_endpoints must be 'regional' or 'legacy'", reason="endpoint-mode"
        )
    if not region or region == "aws-global":
        if use_fips or use_dualstack:
            region = GLOBAL_SIGNING_REGION
        else:
            return GLOBAL_HOST, GLOBAL_SIGNING_REGION
    if not is_region_name(region):
        raise ConfigurationError("region is not a valid AWS region name", reason="region")
    if (
        sts_regional_endpoints == "legacy"
        and region in LEGACY_GLOBAL_REGIONS
        and not (use_fips or use_dualstack)
    ):
        return GLOBAL_HOST, GLOBAL_SIGNING_REGION
    partition = partition_for_region(region)
    suffix = partition.dns_suffix
    if use_dualstack:
        if partition.dualstack_suffix is None:
            raise ConfigurationError(
                f"partition {partition.name} has no dual-stack STS endpoints", reason="region"
            )
        suffix = partition.dualstack_suffix
    service = "sts-fips" if use_fips and not partition.fips_is_regional else "sts"
    return f"{service}.{region}.{suffix}", region


def allowed_hosts(partition_name: str, extra_regions: Iterable[str] = ()) -> dict[str, str]:
    """Every STS host a verifier of ``partition_name`` accepts, mapped to its signing region.

    Regular and dual-stack hosts for each region (plus ``extra_regions``), FIPS
    hosts where they exist, and the global host in ``aws`` only.
    """
    try:
        partition = PARTITIONS[partition_name]
    except KeyError:
        raise ConfigurationError(
            f"unknown partition {partition_name!r}; expected one of {', '.join(PARTITIONS)}",
            reason="partition",
        ) from None
    hosts: dict[str, str] = {}
    if partition.name == "aws":
        hosts[GLOBAL_HOST] = GLOBAL_SIGNING_REGION
    for region in sorted(partition.regions | frozenset(extra_regions)):
        hosts[f"sts.{region}.{partition.dns_suffix}"] = region
        if partition.dualstack_suffix:
            hosts[f"sts.{region}.{partition.dualstack_suffix}"] = region
        if region in partition.fips_regions:
            hosts[f"sts-fips.{region}.{partition.dns_suffix}"] = region
            if partition.dualstack_suffix:
                hosts[f"sts-fips.{region}.{partition.dualstack_suffix}"] = region
    return hosts
