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

from ._ec2 import (
    AsyncEC2Resolver,
    EC2Resolver,
    TokenBucket,
    TTLCache,
    describe_instances_flow,
    parse_describe_instances,
)
from ._entries import AccountMapping, RoleMapping, SSORole, UserMapping
from ._errors import EC2LookupError, MappingError, MappingFileError, Problem, ReservedUsernameError
from ._formats import FORMATS, detect_format, parse_document, parse_mapping_path, parse_mapping_text
from ._loader import LoadResult, MappingLoader
from ._mapper import Backend, IdentityMapper, MappingSource
from ._model import ExplainStep, Explanation, MappedUser, MappingSet, MatchedEntry
from ._templates import PLACEHOLDERS

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
