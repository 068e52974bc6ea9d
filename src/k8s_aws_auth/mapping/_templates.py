"""Username and group templates: checked once at load, rendered per request (pure).

Placeholders are upstream's five, substituted in upstream's order by plain
replacement. Two of them carry values the caller chooses: the role session
name (``sts:AssumeRole`` ``RoleSessionName``) and the access key id. They are
substituted only when they consist of the characters AWS itself allows in
them, so a caller can never smuggle a ``:``, a space or a control character
into a username and change its prefix. Since no substituted value can contain
``{`` the order of substitution cannot change the result either.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from k8s_aws_auth._core.models import Identity

from ._errors import EC2LookupError, MappingError

__all__ = [
    "ACCESS_KEY_ID",
    "EC2_DNS_NAME",
    "INSTANCE_ID",
    "PLACEHOLDERS",
    "SESSION_NAME",
    "check_template",
    "placeholders_in",
    "render",
    "template_values",
    "validate_rendered",
]

#: Upstream's placeholders, in the order upstream substitutes them.
PLACEHOLDERS = ("EC2PrivateDNSName", "AccountID", "SessionName", "SessionNameRaw", "AccessKeyID")

#: What AWS accepts as a ``RoleSessionName``.
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
#: What AWS issues as an access key id.
ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}", re.ASCII)
#: The session name of an EC2 instance role: the instance id.
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
#: A private DNS name as EC2 reports it (``ip-10-0-0-1.ec2.internal``, custom DHCP domains).
EC2_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.ASCII,
)
_ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_RENDERED = 1024


def placeholders_in(text: str) -> frozenset[str]:
    """The placeholder names used in ``text`` (known or not)."""
    return frozenset(_PLACEHOLDER.findall(text))


def check_template(text: object, what: str) -> frozenset[str]:
    """Check a username or group template; return its placeholders or raise ``ValueError``.

    Rejected: non-strings, empty values, control characters, unknown
    placeholders (upstream leaves ``{{AccountId}}`` in the username literally)
    and unbalanced braces.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string")
    if not text.strip():
        raise ValueError(f"{what} must not be empty")
    if _CONTROL.search(text):
        raise ValueError(f"{what} contains a control character")
    if len(text) > _MAX_RENDERED:
        raise ValueError(f"{what} is longer than {_MAX_RENDERED} characters")
    names = placeholders_in(text)
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        known = ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
        raise ValueError(f"{what} uses unknown placeholder {{{{{unknown[0]}}}}} (known: {known})")
    if "{{" in _PLACEHOLDER.sub("", text) or "}}" in _PLACEHOLDER.sub("", text):
        raise ValueError(f"{what} has an unbalanced '{{{{' or '}}}}'")
    return names


def template_values(
    identity: Identity,
    needed: frozenset[str],
    ec2_dns: str | Callable[[str], str] | None,
) -> dict[str, str]:
    """The validated substitution values for the placeholders in ``needed``.

    Raises [`MappingError`][k8s_aws_auth.mapping.MappingError] when a value is missing or outside what AWS
    allows (the message names the field, never echoes the caller's value), and
    [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] when the instance's DNS name cannot be had.
    """
    values: dict[str, str] = {}
    if "AccountID" in needed:
        if not _ACCOUNT_ID.fullmatch(identity.account_id):
            raise MappingError("the identity's account id is not 12 digits", reason="bad-account")
        values["AccountID"] = identity.account_id
    if needed & {"SessionName", "SessionNameRaw", "EC2PrivateDNSName"}:
        session = identity.session_name
        if not SESSION_NAME.fullmatch(session):
            raise MappingError(
                "the template uses the role session name, but the identity has no session name "
                "made of the characters AWS allows ([A-Za-z0-9_+=,.@-], 2-64)",
                reason="bad-session-name",
            )
        values["SessionName"] = session.replace("@", "-")
        values["SessionNameRaw"] = session
    if "AccessKeyID" in needed:
        if not ACCESS_KEY_ID.fullmatch(identity.access_key_id):
            raise MappingError(
                "the template uses {{AccessKeyID}}, but the identity has no valid access key id",
                reason="bad-access-key-id",
            )
        values["AccessKeyID"] = identity.access_key_id
    if "EC2PrivateDNSName" in needed:
        values["EC2PrivateDNSName"] = _ec2_dns_name(identity.session_name, ec2_dns)
    return values


def _ec2_dns_name(session: str, ec2_dns: str | Callable[[str], str] | None) -> str:
    if not INSTANCE_ID.fullmatch(session):
        raise EC2LookupError(
            "the template uses {{EC2PrivateDNSName}}, but the session name is not an "
            "EC2 instance id",
            reason="not-an-instance",
        )
    if ec2_dns is None:
        raise EC2LookupError(
            "the template uses {{EC2PrivateDNSName}}, but no EC2 resolver is configured",
            reason="no-ec2-resolver",
        )
    name = ec2_dns if isinstance(ec2_dns, str) else ec2_dns(session)
    if not isinstance(name, str) or not EC2_DNS_NAME.fullmatch(name):
        raise EC2LookupError(
            f"EC2 reported no usable private DNS name for instance {session}",
            reason="ec2-no-dns-name",
        )
    return name


def render(template: str, needed: frozenset[str], values: dict[str, str]) -> str:
    """Substitute ``values`` into ``template`` in upstream's placeholder order."""
    if not needed:
        return template
    for name in PLACEHOLDERS:
        if name in needed:
            template = template.replace("{{" + name + "}}", values[name])
    return template


def validate_rendered(value: str, what: str) -> str:
    """Refuse an empty or over-long result, or one with control characters."""
    if not value.strip() or _CONTROL.search(value) or len(value) > _MAX_RENDERED:
        raise MappingError(f"the rendered {what} is empty, too long or has control characters")
    return value
