"""Errors of the identity mapping package, and the problem records a file check reports."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from k8s_aws_auth.errors import ConfigurationError, K8sAwsAuthError

__all__ = [
    "EC2LookupError",
    "MappingError",
    "MappingFileError",
    "Problem",
    "ReservedUsernameError",
]


@attrs.frozen
class Problem:
    """One problem found in a mapping file: where (``mapRoles[2].groups``) and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class MappingError(K8sAwsAuthError):
    """A matched entry could not be turned into a Kubernetes user: deny the request.

    Raised when a template cannot be rendered safely (a session name outside
    the characters AWS allows, a missing access key id) or the result is not
    an acceptable username or group.
    """

    reason = "mapping"


class ReservedUsernameError(MappingError):
    """The rendered username starts with a prefix reserved for its backend."""

    reason = "reserved-username"


class EC2LookupError(MappingError):
    """``{{EC2PrivateDNSName}}`` could not be resolved.

    ``retryable`` is true when EC2 could not be asked (network, throttling,
    5xx): a webhook should answer "try again", not "denied".
    """

    reason = "ec2-lookup"

    def __init__(self, message: str, *, reason: str | None = None, retryable: bool = False):
        super().__init__(message, reason=reason)
        self.retryable = retryable


class MappingFileError(ConfigurationError):
    """A mapping file is broken; ``problems`` lists every problem found, in file order."""

    reason = "mapping-file"

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{source}: {first}{more}")
