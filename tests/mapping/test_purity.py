"""``k8s_aws_auth.mapping`` is pure: importing it loads no HTTP stack and no EC2 lookups.

The EC2 resolvers live in ``k8s_aws_auth._ec2``; the package's pinned public
names for them are lazy aliases, resolved on first use to the same objects.
"""

from __future__ import annotations

import json
import subprocess
import sys

import k8s_aws_auth.mapping
from k8s_aws_auth._ec2 import describe, limits, resolver

_PROBE = (
    "import json, sys; import k8s_aws_auth.mapping; "
    "print(json.dumps(sorted(m for m in sys.modules "
    "if m.split('.')[0] in ('httpx', 'httpcore', 'h11') "
    "or m.startswith(('k8s_aws_auth._ec2', 'k8s_aws_auth._runtime', 'k8s_aws_auth.credentials')))))"
)


def test_importing_mapping_loads_no_http_stack_no_drivers_and_no_ec2_lookups() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_public_ec2_names_are_the_ec2_homes_objects() -> None:
    mapping = k8s_aws_auth.mapping
    assert mapping.EC2Resolver is resolver.EC2Resolver
    assert mapping.AsyncEC2Resolver is resolver.AsyncEC2Resolver
    assert mapping.TokenBucket is limits.TokenBucket
    assert mapping.TTLCache is limits.TTLCache
    assert mapping.describe_instances_flow is describe.describe_instances_flow
    assert mapping.parse_describe_instances is describe.parse_describe_instances
    assert {"EC2Resolver", "TokenBucket", "describe_instances_flow"} <= set(dir(mapping))
