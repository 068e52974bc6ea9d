"""``_arn``: strict identity-ARN parsing and canonicalisation."""

from __future__ import annotations

import pytest

from k8s_aws_auth import canonicalize_arn
from k8s_aws_auth._core.arn import parse_arn, strip_role_path

# arn -> (principal_type, name, path, session_name, canonical)
TABLE = [
    (
        "arn:aws:iam::111122223333:user/alice",
        "user",
        "alice",
        "/",
        "",
        "arn:aws:iam::111122223333:user/alice",
    ),
    (
        "arn:aws:iam::111122223333:user/div/team/alice",
        "user",
        "alice",
        "/div/team/",
        "",
        "arn:aws:iam::111122223333:user/div/team/alice",
    ),
    # The look-alike: an IAM *user* whose path is /assumed-role/Admin/ (CUDly #1667).
    (
        "arn:aws:iam::111122223333:user/assumed-role/Admin/bob",
        "user",
        "bob",
        "/assumed-role/Admin/",
        "",
        "arn:aws:iam::111122223333:user/assumed-role/Admin/bob",
    ),
    (
        "arn:aws:iam::111122223333:role/Admin",
        "role",
        "Admin",
        "/",
        "",
        "arn:aws:iam::111122223333:role/Admin",
    ),
    (
        "arn:aws:iam::111122223333:role/teams/x/Admin",
        "role",
        "Admin",
        "/teams/x/",
        "",
        "arn:aws:iam::111122223333:role/teams/x/Admin",
    ),
    ("arn:aws:iam::111122223333:root", "root", "root", "/", "", "arn:aws:iam::111122223333:root"),
    (
        "arn:aws:sts::111122223333:assumed-role/Admin/alice",
        "assumed-role",
        "Admin",
        "/",
        "alice",
        "arn:aws:iam::111122223333:role/Admin",
    ),
    (
        "arn:aws:sts::111122223333:assumed-role/Admin/i-0123456789abcdef0",
        "assumed-role",
        "Admin",
        "/",
        "i-0123456789abcdef0",
        "arn:aws:iam::111122223333:role/Admin",
    ),
    # SSO roles and session names with e-mail characters.
    (
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com",
        "assumed-role",
        "AWSReservedSSO_Admin_0123456789abcdef",
        "/",
        "alice@example.com",
        "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef",
    ),
    (
        "arn:aws:sts::111122223333:federated-user/bob",
        "federated-user",
        "bob",
        "/",
        "",
        "arn:aws:sts::111122223333:federated-user/bob",
    ),
    (
        "arn:aws-cn:sts::111122223333:assumed-role/R/s",
        "assumed-role",
        "R",
        "/",
        "s",
        "arn:aws-cn:iam::111122223333:role/R",
    ),
    (
        "arn:aws-us-gov:iam::111122223333:user/u",
        "user",
        "u",
        "/",
        "",
        "arn:aws-us-gov:iam::111122223333:user/u",
    ),
    (
        "arn:aws-iso:sts::111122223333:assumed-role/R/s",
        "assumed-role",
        "R",
        "/",
        "s",
        "arn:aws-iso:iam::111122223333:role/R",
    ),
    (
        "arn:aws-iso-b:iam::111122223333:root",
        "root",
        "root",
        "/",
        "",
        "arn:aws-iso-b:iam::111122223333:root",
    ),
    (
        "arn:aws-iso-e:iam::111122223333:role/R",
        "role",
        "R",
        "/",
        "",
        "arn:aws-iso-e:iam::111122223333:role/R",
    ),
    (
        "arn:aws-iso-f:sts::111122223333:federated-user/f",
        "federated-user",
        "f",
        "/",
        "",
        "arn:aws-iso-f:sts::111122223333:federated-user/f",
    ),
    (
        "arn:aws-eusc:sts::111122223333:assumed-role/R/s",
        "assumed-role",
        "R",
        "/",
        "s",
        "arn:aws-eusc:iam::111122223333:role/R",
    ),
]


@pytest.mark.parametrize(("arn", "kind", "name", "path", "session", "canonical"), TABLE)
def test_parse_and_canonicalise(
    arn: str, kind: str, name: str, path: str, session: str, canonical: str
) -> None:
    parsed = parse_arn(arn)
    assert parsed.arn == arn
    assert parsed.principal_type == kind
    assert parsed.name == name
    assert parsed.path == path
    assert parsed.session_name == session
    assert parsed.canonical_arn == canonical
    assert parsed.account_id == "111122223333"
    assert parsed.partition == arn.split(":")[1]
    assert canonicalize_arn(arn) == canonical


INVALID = [
    "",
    "arn",
    "arn:aws:iam::111122223333",
    "ARN:aws:iam::111122223333:user/a",
    "urn:aws:iam::111122223333:user/a",
    "arn:aws-mars:iam::111122223333:user/a",
    "arn:AWS:iam::111122223333:user/a",
    "arn::iam::111122223333:user/a",
    "arn:aws:iam:us-east-1:111122223333:user/a",
    "arn:aws:iam::11112222333:user/a",
    "arn:aws:iam::1111222233334:user/a",
    "arn:aws:iam::aaaabbbbcccc:user/a",
    "arn:aws:iam:::user/a",
    "arn:aws:s3:::bucket",
    "arn:aws:ec2::111122223333:instance/i-1",
    "arn:aws:iam::111122223333:group/g",
    "arn:aws:iam::111122223333:policy/p",
    "arn:aws:iam::111122223333:user",
    "arn:aws:iam::111122223333:user/",
    "arn:aws:iam::111122223333:user//a",
    "arn:aws:iam::111122223333:user/a/",
    "arn:aws:iam::111122223333:root/x",
    "arn:aws:iam::111122223333:rootx",
    "arn:aws:sts::111122223333:root",
    "arn:aws:sts::111122223333:user/a",
    "arn:aws:sts::111122223333:assumed-role/OnlyRole",
    "arn:aws:sts::111122223333:assumed-role//s",
    "arn:aws:sts::111122223333:assumed-role/R/",
    "arn:aws:sts::111122223333:federated-user/",
    "arn:aws:sts::111122223333:federated-user/a/b",
    "arn:aws:iam::111122223333:user/al ice",
    "arn:aws:iam::111122223333:user/alicé",
    "arn:aws:iam::111122223333:user/a\n",
    "arn:aws:iam::111122223333:user/a\x00",
]


@pytest.mark.parametrize("arn", INVALID)
def test_invalid_identity_arns(arn: str) -> None:
    # Any message will do, as long as there is one naming the problem.
    with pytest.raises(ValueError, match=r"\S"):
        parse_arn(arn)
    with pytest.raises(ValueError, match=r"\S"):
        canonicalize_arn(arn)


@pytest.mark.parametrize("value", [None, 42, b"arn:aws:iam::111122223333:root"])
def test_non_strings_are_value_errors(value: object) -> None:
    with pytest.raises(ValueError, match="printable"):
        parse_arn(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arn", "stripped"),
    [
        ("arn:aws:iam::111122223333:role/teams/x/Admin", "arn:aws:iam::111122223333:role/Admin"),
        ("arn:aws:iam::111122223333:role/Admin", "arn:aws:iam::111122223333:role/Admin"),
        ("arn:aws-cn:iam::111122223333:role/p/R", "arn:aws-cn:iam::111122223333:role/R"),
        # Only roles lose their path; users keep theirs.
        ("arn:aws:iam::111122223333:user/p/u", "arn:aws:iam::111122223333:user/p/u"),
        (
            "arn:aws:sts::111122223333:assumed-role/R/s",
            "arn:aws:sts::111122223333:assumed-role/R/s",
        ),
    ],
)
def test_strip_role_path(arn: str, stripped: str) -> None:
    assert strip_role_path(arn) == stripped


def test_strip_role_path_rejects_garbage() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        strip_role_path("arn:aws:s3:::bucket")
