"""ARN parsing and canonicalisation for caller identities (pure).

Never substring-match ARNs: an IAM *user* with path ``/assumed-role/Admin/`` has
the ARN ``arn:aws:iam::111122223333:user/assumed-role/Admin/bob``, which a
``contains("assumed-role/Admin/")`` check mistakes for a role session.
"""

from __future__ import annotations

import attrs

from .partitions import PARTITIONS

__all__ = [
    "ArnParts",
    "ParsedArn",
    "arn_parts",
    "canonicalize_arn",
    "parse_arn",
    "strip_role_path",
]


@attrs.frozen(kw_only=True)
class ParsedArn:
    """The parts of an identity ARN, with the canonical (role, not session) form.

    ``principal_type`` is one of ``user``, ``root``, ``role``, ``assumed-role``,
    ``federated-user``. For ``assumed-role`` ``name`` is the role name and
    ``session_name`` the session; for ``user`` and ``role`` ``path`` keeps the
    IAM path (``/`` when there is none).
    """

    arn: str
    partition: str
    service: str
    account_id: str
    principal_type: str
    name: str
    path: str
    session_name: str
    canonical_arn: str


def parse_arn(arn: str) -> ParsedArn:
    """Parse an identity ARN as STS returns it; raise ``ValueError`` naming what is wrong.

    Accepted: ``iam`` ``user``/``role``/``root`` and ``sts``
    ``assumed-role``/``federated-user``, in a known partition, with a 12-digit
    account and an empty region.
    """
    partition, service, account, kind, name, path, session, canonical = arn_parts(arn)
    return ParsedArn(
        arn=arn,
        partition=partition,
        service=service,
        account_id=account,
        principal_type=kind,
        name=name,
        path=path,
        session_name=session,
        canonical_arn=canonical,
    )


ArnParts = tuple[str, str, str, str, str, str, str, str]


def arn_parts(arn: str) -> ArnParts:
    """`parse_arn()` as a plain tuple, for the per-verification path.

    ``(partition, service, account_id, principal_type, name, path, session_name,
    canonical_arn)``; raises the same ``ValueError``.
    """
    # [\x21-\x7e]+ without a regex: non-empty printable ASCII other than the space.
    if (
        not isinstance(arn, str)
        or not (arn.isascii() and arn.isprintable())
        or arn == ""
        or " " in arn
    ):
        raise ValueError("ARN must be non-empty printable ASCII")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError("ARN must have the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")
    _, partition, service, region, account, resource = parts
    if partition not in PARTITIONS:
        raise ValueError("ARN partition is not a known AWS partition")
    if region:
        raise ValueError("an identity ARN has an empty region")
    if not (len(account) == 12 and account.isdigit()):  # ASCII already: isdigit() is [0-9]
        raise ValueError("ARN account is not 12 digits")
    kind, _, rest = resource.partition("/")
    if service == "iam" and kind == "root" and resource == "root":
        return partition, service, account, "root", "root", "/", "", arn
    if service == "iam" and kind in ("user", "role"):
        segments = rest.split("/")
        if not rest or "" in segments:
            raise ValueError(f"{kind} ARN has an empty name or path segment")
        path = "/" + "/".join(segments[:-1]) + "/" if len(segments) > 1 else "/"
        return partition, service, account, kind, segments[-1], path, "", arn
    if service == "sts" and kind == "assumed-role":
        segments = rest.split("/")
        if len(segments) < 2 or "" in segments:
            raise ValueError("assumed-role ARN does not name a role and a session")
        role = "/".join(segments[:-1])
        canonical = f"arn:{partition}:iam::{account}:role/{role}"
        return partition, service, account, "assumed-role", role, "/", segments[-1], canonical
    if service == "sts" and kind == "federated-user":
        if not rest or "/" in rest:
            raise ValueError("federated-user ARN must name exactly one user")
        return partition, service, account, "federated-user", rest, "/", "", arn
    if service in ("iam", "sts"):
        raise ValueError(f"unrecognised resource type for service {service}")
    raise ValueError("ARN service is not valid for a caller identity")


def canonicalize_arn(arn: str) -> str:
    """The canonical form of an identity ARN: assumed-role sessions become their role ARN.

    ``arn:aws:sts::111122223333:assumed-role/Admin/alice`` →
    ``arn:aws:iam::111122223333:role/Admin``; other principals are unchanged.
    Raises ``ValueError`` for anything that is not an identity ARN.
    """
    return parse_arn(arn).canonical_arn


def strip_role_path(arn: str) -> str:
    """Drop the IAM path of a role ARN (``role/teams/x/Admin`` → ``role/Admin``).

    Assumed-role identities never carry the role's path, so a mapping written
    with the full role ARN matches only after this (upstream issue #268).
    """
    parsed = parse_arn(arn)
    if parsed.principal_type != "role":
        return arn
    return f"arn:{parsed.partition}:iam::{parsed.account_id}:role/{parsed.name}"
