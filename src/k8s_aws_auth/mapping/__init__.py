"""Identity mapping: verified AWS identities → Kubernetes usernames and groups.

Reads the mapping files aws-iam-authenticator operators already have (its
server config file, the EKS ``aws-auth`` ConfigMap, its DynamicFile JSON)
and a native YAML schema, keeps upstream's semantics and fixes its pitfalls
(see ``docs/mapping.md`` and ``docs/migrating.md``)::

    from k8s_aws_auth.mapping import IdentityMapper, MappingLoader

    loader = MappingLoader("/etc/k8s-aws-auth/aws-auth.yaml")
    loader.load().raise_for_error()
    loader.start_polling(5.0)
    mapper = IdentityMapper([loader])
    user = mapper.map(identity)          # MappedUser or None

YAML needs PyYAML (``pip install 'k8s-aws-auth[server]'``); this package is
not imported by ``import k8s_aws_auth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from k8s_aws_auth._core.lazy import lazy_exports

from ._entries import AccountMapping, RoleMapping, SSORole, UserMapping
from ._errors import EC2LookupError, MappingError, MappingFileError, Problem, ReservedUsernameError
from ._formats import FORMATS, detect_format, parse_document, parse_mapping_path, parse_mapping_text
from ._loader import LoadResult, MappingLoader
from ._mapper import Backend, IdentityMapper, MappingSource
from ._model import ExplainStep, Explanation, MappedUser, MappingSet, MatchedEntry
from ._templates import PLACEHOLDERS

if TYPE_CHECKING:
    from k8s_aws_auth._ec2.describe import describe_instances_flow, parse_describe_instances
    from k8s_aws_auth._ec2.limits import TokenBucket, TTLCache
    from k8s_aws_auth._ec2.resolver import AsyncEC2Resolver, EC2Resolver

# The EC2 lookups behind {{EC2PrivateDNSName}} do network I/O, so they live in
# k8s_aws_auth._ec2, outside this pure package; these public names are lazy
# aliases: importing the package never imports them (nor httpx).
_EC2 = {
    "AsyncEC2Resolver": "k8s_aws_auth._ec2.resolver",
    "EC2Resolver": "k8s_aws_auth._ec2.resolver",
    "TTLCache": "k8s_aws_auth._ec2.limits",
    "TokenBucket": "k8s_aws_auth._ec2.limits",
    "describe_instances_flow": "k8s_aws_auth._ec2.describe",
    "parse_describe_instances": "k8s_aws_auth._ec2.describe",
}

__all__ = [
    "FORMATS",
    "PLACEHOLDERS",
    "AccountMapping",
    "AsyncEC2Resolver",
    "Backend",
    "EC2LookupError",
    "EC2Resolver",
    "ExplainStep",
    "Explanation",
    "IdentityMapper",
    "LoadResult",
    "MappedUser",
    "MappingError",
    "MappingFileError",
    "MappingLoader",
    "MappingSet",
    "MappingSource",
    "MatchedEntry",
    "Problem",
    "ReservedUsernameError",
    "RoleMapping",
    "SSORole",
    "TTLCache",
    "TokenBucket",
    "UserMapping",
    "describe_instances_flow",
    "detect_format",
    "parse_describe_instances",
    "parse_document",
    "parse_mapping_path",
    "parse_mapping_text",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EC2, __all__)
