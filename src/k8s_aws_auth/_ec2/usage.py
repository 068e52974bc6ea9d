"""Whether a mapping needs ``{{EC2PrivateDNSName}}`` lookups at all.

Apart from `lookup`, so that a server without node mappings decides it without
importing the lookup and its credential chain (about 3 MiB of resident memory).
"""

from __future__ import annotations

from collections.abc import Iterable

from k8s_aws_auth.mapping import MappingSet

__all__ = ["PLACEHOLDER", "uses_ec2_dns_name"]

PLACEHOLDER = "EC2PrivateDNSName"


def uses_ec2_dns_name(mapping_sets: Iterable[MappingSet | None]) -> bool:
    """Whether any entry's username or groups use ``{{EC2PrivateDNSName}}``."""
    for mapping_set in mapping_sets:
        if mapping_set is None:
            continue
        compiled = mapping_set.compiled
        for user, groups in (*compiled.role_templates, *compiled.user_templates):
            if PLACEHOLDER in user or any(PLACEHOLDER in group for group in groups):
                return True
    return False
