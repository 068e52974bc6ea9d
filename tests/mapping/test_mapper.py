"""The identity mapper: templates, precedence, backends and upstream pitfalls (tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from k8s_aws_auth import Identity
from k8s_aws_auth._core.arn import parse_arn
from k8s_aws_auth.mapping import (
    Backend,
    EC2LookupError,
    IdentityMapper,
    MappingError,
    MappingSet,
    ReservedUsernameError,
    parse_mapping_text,
)

ACCT = "111122223333"
OTHER = "444455556666"
AKID = "ASIAQWERTYUIOPASDFGH"


def identity(
    arn: str,
    *,
    user_id: str = "AROAEXAMPLEID",
    access_key_id: str = AKID,
    session: str | None = None,
) -> Identity:
    """An Identity as the verifier builds it from an STS answer (session override for tests)."""
    parsed = parse_arn(arn)
    return Identity(
        arn=arn,
        canonical_arn=parsed.canonical_arn,
        account_id=parsed.account_id,
        user_id=user_id,
        session_name=parsed.session_name if session is None else session,
        access_key_id=access_key_id,
        sts_endpoint="sts.us-east-1.amazonaws.com",
        partition=parsed.partition,
        principal_type=parsed.principal_type,
    )


def native(
    roles: Sequence[Mapping[str, Any]] = (),
    users: Sequence[Mapping[str, Any]] = (),
    accounts: Sequence[str] = (),
    **extra: object,
) -> MappingSet:
    """A native mapping set from entry dicts."""
    document = {"roles": list(roles), "users": list(users), "accounts": list(accounts), **extra}
    return parse_mapping_text(json.dumps(document))


def assumed(role: str, session: str = "alice", account: str = ACCT) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


# --- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "session", "expected"),
    [
        ("{{AccountID}}", "alice", ACCT),
        ("u:{{SessionName}}", "alice@example.com", "u:alice-example.com"),
        ("u:{{SessionNameRaw}}", "alice@example.com", "u:alice@example.com"),
        ("u:{{AccessKeyID}}", "alice", f"u:{AKID}"),
        ("{{AccountID}}:{{SessionName}}:{{SessionNameRaw}}", "a@b", f"{ACCT}:a-b:a@b"),
        (
            "system:node:{{EC2PrivateDNSName}}",
            "i-0123456789abcdef0",
            "system:node:ip-10-0-0-1.ec2.internal",
        ),
        ("plain", "alice", "plain"),
        ("x-{{SessionName}}-{{SessionName}}", "a@@b", "x-a--b-a--b"),
    ],
)
def test_username_templates(template: str, session: str, expected: str) -> None:
    mapper = IdentityMapper(
        [native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": template}])]
    )
    user = mapper.map(identity(assumed("R", session)), ec2_dns="ip-10-0-0-1.ec2.internal")
    assert user is not None
    assert user.username == expected


def test_templates_in_groups() -> None:
    entry = {
        "arn": f"arn:aws:iam::{ACCT}:role/R",
        "username": "u",
        "groups": [
            "team-{{SessionName}}",
            "acct-{{AccountID}}",
            "system:masters",
            "{{AccessKeyID}}",
        ],
    }
    user = IdentityMapper([native([entry])]).map(identity(assumed("R", "bob@corp")))
    assert user is not None
    assert user.groups == ("team-bob-corp", f"acct-{ACCT}", "system:masters", AKID)


@pytest.mark.parametrize(
    ("template", "who", "reason"),
    [
        ("u:{{SessionName}}", identity(assumed("R"), session="a:b"), "bad-session-name"),
        ("u:{{SessionName}}", identity(assumed("R"), session="a b"), "bad-session-name"),
        ("u:{{SessionName}}", identity(assumed("R"), session="x"), "bad-session-name"),
        ("u:{{SessionNameRaw}}", identity(assumed("R"), session="a\nb"), "bad-session-name"),
        ("u:{{SessionName}}", identity(assumed("R"), session="a" * 65), "bad-session-name"),
        ("u:{{AccessKeyID}}", identity(assumed("R"), access_key_id=""), "bad-access-key-id"),
        (
            "u:{{AccessKeyID}}",
            identity(assumed("R"), access_key_id="AKIA,system:masters"),
            "bad-access-key-id",
        ),
        ("n:{{EC2PrivateDNSName}}", identity(assumed("R", "alice")), "not-an-instance"),
        ("n:{{EC2PrivateDNSName}}", identity(assumed("R", "i-0123456")), "not-an-instance"),
        (
            "n:{{EC2PrivateDNSName}}",
            identity(assumed("R", "i-0123456789abcdefg")),
            "not-an-instance",
        ),
    ],
)
def test_attacker_influenced_values_outside_the_aws_charset_are_refused(
    template: str, who: Identity, reason: str
) -> None:
    mapper = IdentityMapper(
        [native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": template}])]
    )
    with pytest.raises(MappingError) as caught:
        mapper.map(who, ec2_dns="ip-10-0-0-1.ec2.internal")
    assert caught.value.reason == reason
    assert "system:masters" not in str(caught.value)


def test_session_name_with_comma_stays_inside_one_group() -> None:
    entry = {
        "arn": f"arn:aws:iam::{ACCT}:role/R",
        "username": "u:{{SessionName}}",
        "groups": ["g:{{SessionName}}"],
    }
    user = IdentityMapper([native([entry])]).map(identity(assumed("R", "x,system-masters")))
    assert user is not None
    assert user.groups == ("g:x,system-masters",)
    assert user.username == "u:x,system-masters"


@pytest.mark.parametrize("dns", ["", "IP-10.EC2.INTERNAL", "a b", "x..y", "ip-1\n", "-bad.example"])
def test_ec2_dns_name_is_validated(dns: str) -> None:
    entry = {
        "arn": f"arn:aws:iam::{ACCT}:role/Node",
        "username": "system:node:{{EC2PrivateDNSName}}",
    }
    mapper = IdentityMapper([native([entry])])
    with pytest.raises(EC2LookupError):
        mapper.map(identity(assumed("Node", "i-0123456789abcdef0")), ec2_dns=dns)


def test_ec2_lookup_without_resolver_is_an_error() -> None:
    entry = {
        "arn": f"arn:aws:iam::{ACCT}:role/Node",
        "username": "system:node:{{EC2PrivateDNSName}}",
    }
    with pytest.raises(EC2LookupError, match="no EC2 resolver"):
        IdentityMapper([native([entry])]).map(identity(assumed("Node", "i-01234567")))


def test_ec2_resolver_callable_gets_the_instance_id() -> None:
    asked: list[str] = []

    def resolve(instance_id: str) -> str:
        asked.append(instance_id)
        return "ip-10-1-2-3.eu-west-1.compute.internal"

    entry = {
        "arn": f"arn:aws:iam::{ACCT}:role/Node",
        "username": "system:node:{{EC2PrivateDNSName}}",
    }
    mapper = IdentityMapper([native([entry])], ec2_dns=resolve)
    user = mapper.map(identity(assumed("Node", "i-0123abcd")))
    assert user is not None
    assert user.username == "system:node:ip-10-1-2-3.eu-west-1.compute.internal"
    assert asked == ["i-0123abcd"]


def test_no_ec2_call_when_the_matching_entry_does_not_need_it() -> None:
    def resolve(instance_id: str) -> str:
        raise AssertionError("EC2 must not be asked")

    entry = {"arn": f"arn:aws:iam::{ACCT}:role/Node", "username": "node"}
    user = IdentityMapper([native([entry])], ec2_dns=resolve).map(
        identity(assumed("Node", "i-0123abcd"))
    )
    assert user is not None
    assert user.username == "node"


@pytest.mark.anyio
async def test_amap_resolves_ec2_asynchronously_only_when_needed() -> None:
    asked: list[str] = []

    async def resolve(instance_id: str) -> str:
        asked.append(instance_id)
        return "ip-10-0-0-9.ec2.internal"

    mapping = native(
        [
            {
                "arn": f"arn:aws:iam::{ACCT}:role/Node",
                "username": "system:node:{{EC2PrivateDNSName}}",
            },
            {"arn": f"arn:aws:iam::{ACCT}:role/Admin", "username": "admin"},
        ]
    )
    mapper = IdentityMapper([mapping])
    node = await mapper.amap(identity(assumed("Node", "i-0123abcd")), ec2_dns=resolve)
    admin = await mapper.amap(identity(assumed("Admin", "i-0123abcd")), ec2_dns=resolve)
    assert node is not None
    assert admin is not None
    assert (node.username, admin.username) == ("system:node:ip-10-0-0-9.ec2.internal", "admin")
    assert asked == ["i-0123abcd"]


# --- matching and precedence --------------------------------------------------------------


ROLE_TABLE = [
    # (entry ARN, caller ARN, matches?)
    (f"arn:aws:iam::{ACCT}:role/Admin", assumed("Admin"), True),
    (f"arn:aws:iam::{ACCT}:role/admin", assumed("ADMIN"), True),
    (f"ARN:AWS:IAM::{ACCT}:ROLE/Admin", assumed("admin"), True),
    (f"arn:aws:iam::{ACCT}:role/teams/x/Admin", assumed("Admin"), True),
    (f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/R", assumed("R"), True),
    (f"arn:aws:sts::{ACCT}:assumed-role/Admin/someone", assumed("Admin"), True),
    (f"arn:aws:iam::{ACCT}:role/Admin", assumed("Admin", account=OTHER), False),
    (f"arn:aws:iam::{ACCT}:role/Admin", assumed("Admin2"), False),
    (f"arn:aws:iam::{ACCT}:role/Admin", f"arn:aws-cn:sts::{ACCT}:assumed-role/Admin/a", False),
    # the look-alike: an IAM *user* whose path is /assumed-role/Admin/
    (f"arn:aws:iam::{ACCT}:role/Admin", f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob", False),
    (f"arn:aws:iam::{ACCT}:role/*", f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob", False),
    ("arn:aws:iam::*:role/*Admin*", f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob", False),
    (f"arn:aws:iam::{ACCT}:role/bob", f"arn:aws:iam::{ACCT}:user/bob", False),
    (f"arn:aws:iam::{ACCT}:role/Admin", f"arn:aws:sts::{ACCT}:federated-user/Admin", False),
    # wildcards: * any run, ? exactly one character
    (f"arn:aws:iam::{ACCT}:role/ci-?", assumed("ci-1"), True),
    (f"arn:aws:iam::{ACCT}:role/ci-?", assumed("ci-"), False),
    (f"arn:aws:iam::{ACCT}:role/ci-?", assumed("ci-12"), False),
    (f"arn:aws:iam::{ACCT}:role/ci-*", assumed("ci-"), True),
    (f"arn:aws:iam::{ACCT}:role/ci-*", assumed("ci-anything.at_all"), True),
    (f"arn:aws:iam::{ACCT}:role/*-deploy", assumed("team-a-deploy"), True),
    (f"arn:aws:iam::{ACCT}:role/*-deploy", assumed("team-a-deployer"), False),
    ("arn:aws:iam::*:role/Admin", assumed("Admin", account=OTHER), True),
    ("arn:aws:iam::1111222233??:role/Admin", assumed("Admin"), True),
    ("arn:aws:iam::1111222233??:role/Admin", assumed("Admin", account=OTHER), False),
    (f"arn:*:iam::{ACCT}:role/Admin*", f"arn:aws-us-gov:sts::{ACCT}:assumed-role/AdminX/a", True),
    (
        f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Dev_*",
        assumed("AWSReservedSSO_Dev_0123456789abcdef"),
        True,
    ),
    (f"arn:aws:iam::{ACCT}:role/Adm.n", assumed("Admin"), False),  # "." is literal, not a regex
    (f"arn:aws:iam::{ACCT}:role/Ad*n+", assumed("Admin"), False),
]


@pytest.mark.parametrize(("entry_arn", "caller", "matches"), ROLE_TABLE)
def test_role_matching(entry_arn: str, caller: str, matches: bool) -> None:
    mapper = IdentityMapper([native([{"arn": entry_arn, "username": "matched"}])])
    user = mapper.map(identity(caller))
    assert (user is not None) is matches
    if user is not None:
        assert user.username == "matched"


SSO_TABLE = [
    ("AWSReservedSSO_Admin_0123456789abcdef", ACCT, True),
    ("awsreservedsso_admin_0123456789ABCDEF", ACCT, True),
    ("AWSReservedSSO_Admin_ReadOnly_0123456789abcdef", ACCT, False),
    ("AWSReservedSSO_Admin_", ACCT, False),
    ("AWSReservedSSO_Administrator_0123456789abcdef", ACCT, False),
    ("AWSReservedSSO_Admin_0123456789abcdef", OTHER, False),
    ("Admin", ACCT, False),
]


@pytest.mark.parametrize(("role", "account", "matches"), SSO_TABLE)
def test_sso_permission_set_matching(role: str, account: str, matches: bool) -> None:
    mapping = native(
        [{"sso": {"permissionSetName": "Admin", "accountID": ACCT}, "username": "sso"}]
    )
    user = IdentityMapper([mapping]).map(identity(assumed(role, "a@b.c", account)))
    assert (user is not None) is matches
    if user is not None:
        assert user.matched is not None
        assert user.matched.how == "sso"


def test_sso_entry_with_explicit_partition_matches() -> None:
    # upstream builds an empty partition into the pattern here and never matches
    mapping = native(
        [
            {
                "sso": {"permissionSetName": "Admin", "accountID": ACCT, "partition": "aws-us-gov"},
                "username": "gov",
            }
        ]
    )
    caller = f"arn:aws-us-gov:sts::{ACCT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/a"
    user = IdentityMapper([mapping]).map(identity(caller))
    assert user is not None
    assert user.username == "gov"


def test_first_match_in_file_order_wins() -> None:
    roles = [
        {"arn": f"arn:aws:iam::{ACCT}:role/ci-*", "username": "wild-first"},
        {"arn": f"arn:aws:iam::{ACCT}:role/ci-main", "username": "exact-second"},
        {"arn": f"arn:aws:iam::{ACCT}:role/ci-ma??", "username": "wild-third"},
    ]
    mapper = IdentityMapper([native(roles)])
    first = mapper.map(identity(assumed("ci-main")))
    assert first is not None
    assert first.username == "wild-first"
    reordered = IdentityMapper([native([roles[1], roles[2], roles[0]])])
    second = reordered.map(identity(assumed("ci-main")))
    assert second is not None
    assert second.username == "exact-second"
    third = IdentityMapper([native([roles[2], roles[0], roles[1]])]).map(
        identity(assumed("ci-main"))
    )
    assert third is not None
    assert third.username == "wild-third"


def test_duplicate_exact_entries_first_wins_and_is_reported() -> None:
    roles = [
        {"arn": f"arn:aws:iam::{ACCT}:role/A", "username": "first"},
        {"arn": f"arn:aws:iam::{ACCT}:role/team/a", "username": "second"},
    ]
    mapping = native(roles)
    user = IdentityMapper([mapping]).map(identity(assumed("A")))
    assert user is not None
    assert user.username == "first"
    assert len(mapping.warnings) == 1


def test_roles_before_users() -> None:
    mapping = native(
        roles=[{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": "from-role"}],
        users=[{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": "from-user"}],
    )
    user = IdentityMapper([mapping]).map(identity(assumed("R")))
    assert user is not None
    assert user.matched is not None
    assert (user.username, user.matched.kind) == ("from-role", "role")


USER_TABLE = [
    (f"arn:aws:iam::{ACCT}:user/Alice", f"arn:aws:iam::{ACCT}:user/Alice", True),
    (f"arn:aws:iam::{ACCT}:user/alice", f"arn:aws:iam::{ACCT}:user/ALICE", True),
    (f"arn:aws:iam::{ACCT}:user/dev/alice", f"arn:aws:iam::{ACCT}:user/dev/alice", True),
    (f"arn:aws:iam::{ACCT}:user/dev/alice", f"arn:aws:iam::{ACCT}:user/alice", False),
    (f"arn:aws:iam::{ACCT}:user/alice", f"arn:aws:iam::{OTHER}:user/alice", False),
    (f"arn:aws:iam::{ACCT}:root", f"arn:aws:iam::{ACCT}:root", True),
    (f"arn:aws:sts::{ACCT}:federated-user/bob", f"arn:aws:sts::{ACCT}:federated-user/bob", True),
    (
        f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob",
        f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob",
        True,
    ),
    (f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob", assumed("Admin", "bob"), False),
]


@pytest.mark.parametrize(("entry_arn", "caller", "matches"), USER_TABLE)
def test_user_matching(entry_arn: str, caller: str, matches: bool) -> None:
    mapper = IdentityMapper([native(users=[{"arn": entry_arn, "username": "u"}])])
    assert (mapper.map(identity(caller)) is not None) is matches


def test_account_auto_mapping_uses_the_canonical_arn_and_no_groups() -> None:
    mapper = IdentityMapper([native(accounts=[OTHER])])
    user = mapper.map(identity(assumed("AnyRole", "s", OTHER)))
    assert user is not None
    assert user.username == f"arn:aws:iam::{OTHER}:role/AnyRole"
    assert user.groups == ()
    assert user.matched is not None
    assert user.matched.kind == "account"
    assert mapper.map(identity(assumed("AnyRole", "s", ACCT))) is None


def test_explicit_entry_beats_account_in_the_same_backend() -> None:
    mapping = native(
        [{"arn": f"arn:aws:iam::{OTHER}:role/R", "username": "explicit"}], accounts=[OTHER]
    )
    user = IdentityMapper([mapping]).map(identity(assumed("R", "s", OTHER)))
    assert user is not None
    assert user.username == "explicit"


def test_backends_are_tried_in_order_and_accounts_are_per_backend() -> None:
    first = native(accounts=[OTHER])
    second = native([{"arn": f"arn:aws:iam::{OTHER}:role/R", "username": "from-second"}])
    third = native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": "from-third"}])
    mapper = IdentityMapper(
        [
            Backend(name="one", source=first),
            Backend(name="two", source=second),
            Backend(name="three", source=third),
        ]
    )
    # upstream: an account allow-list of an earlier backend beats later explicit entries
    user = mapper.map(identity(assumed("R", "s", OTHER)))
    assert user is not None
    assert user.matched is not None
    assert (user.matched.backend, user.username) == (
        "one",
        f"arn:aws:iam::{OTHER}:role/R",
    )
    user = mapper.map(identity(assumed("R", "s", ACCT)))
    assert user is not None
    assert user.matched is not None
    assert (user.matched.backend, user.username) == ("three", "from-third")


@pytest.mark.parametrize(
    ("username", "prefixes", "reserved"),
    [
        ("aws:admin", ("aws:",), True),
        ("amazon:x", ("aws:", "amazon:"), True),
        ("admin", ("aws:",), False),
        ("aws:admin", ("",), False),
        ("aws:admin", (), False),
    ],
)
def test_reserved_prefixes_per_backend(
    username: str, prefixes: tuple[str, ...], reserved: bool
) -> None:
    mapping = native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": username}])
    mapper = IdentityMapper([Backend(name="b", source=mapping, reserved_prefixes=prefixes)])
    if reserved:
        with pytest.raises(ReservedUsernameError):
            mapper.map(identity(assumed("R")))
    else:
        user = mapper.map(identity(assumed("R")))
        assert user is not None
        assert user.username == username


def test_reserved_prefixes_apply_only_to_their_backend() -> None:
    reserved = native([{"arn": f"arn:aws:iam::{ACCT}:role/A", "username": "aws:a"}])
    free = native([{"arn": f"arn:aws:iam::{ACCT}:role/B", "username": "aws:b"}])
    mapper = IdentityMapper(
        [
            Backend(name="strict", source=reserved, reserved_prefixes=("aws:",)),
            Backend(name="free", source=free),
        ]
    )
    with pytest.raises(ReservedUsernameError):
        mapper.map(identity(assumed("A")))
    user = mapper.map(identity(assumed("B")))
    assert user is not None
    assert user.username == "aws:b"


def test_reserved_prefixes_from_an_upstream_config_file() -> None:
    text = (
        "server:\n  mapRoles:\n  - rolearn: arn:aws:iam::111122223333:role/R\n    username: aws:x\n"
        "  reservedPrefixConfig:\n  - backendMode: MountedFile\n    usernamePrefixReserveList: ['aws:']\n"
    )
    with pytest.raises(ReservedUsernameError):
        IdentityMapper([parse_mapping_text(text)]).map(identity(assumed("R")))


def test_scrubbed_accounts_hide_arns_and_use_an_administrative_uid() -> None:
    mapping = native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": "admin"}])
    plain = IdentityMapper([mapping]).map(identity(assumed("R"), user_id="AROAXYZ"))
    assert plain is not None
    assert plain.uid == f"aws-iam-authenticator:{ACCT}:AROAXYZ"
    assert plain.extra["canonicalArn"] == (f"arn:aws:iam::{ACCT}:role/R",)
    assert plain.extra["accessKeyId"] == (AKID,)
    scrubbed = IdentityMapper([mapping], scrubbed_accounts=[ACCT]).map(identity(assumed("R")))
    assert scrubbed is not None
    assert scrubbed.uid == "aws-iam-authenticator:administrative:admin"
    assert scrubbed.extra == {}
    assert scrubbed.scrubbed


def test_user_id_strict_mode() -> None:
    document = {
        "mapRoles": [
            {
                "rolearn": f"arn:aws:iam::{ACCT}:role/team/Admin",
                "username": "admin",
                "userid": "AROAADMIN",
            },
        ],
        "mapUsers": [
            {
                "userarn": f"arn:aws:iam::{ACCT}:user/alice",
                "username": "alice",
                "userid": "AIDAALICE",
            }
        ],
    }
    mapping = parse_mapping_text(json.dumps(document), user_id_strict=True)
    mapper = IdentityMapper([mapping])
    user = mapper.map(identity(assumed("Admin"), user_id="AROAADMIN"))
    assert user is not None
    assert user.matched is not None
    assert user.matched.how == "user-id"
    # a recreated role with the same name has a new unique id: not mapped
    assert mapper.map(identity(assumed("Admin"), user_id="AROANEW")) is None
    # the unique id of the entry, but another ARN: upstream's "ARN does not match User ID"
    with pytest.raises(MappingError, match="ARN does not match User ID"):
        mapper.map(identity(assumed("Other"), user_id="AROAADMIN"))
    alice = mapper.map(identity(f"arn:aws:iam::{ACCT}:user/alice", user_id="AIDAALICE"))
    assert alice is not None
    assert alice.username == "alice"


def test_lookup_error_in_one_backend_does_not_hide_a_later_match() -> None:
    strict = parse_mapping_text(
        json.dumps(
            {
                "mapRoles": [
                    {"rolearn": f"arn:aws:iam::{ACCT}:role/X", "username": "x", "userid": "AROA1"}
                ]
            }
        ),
        user_id_strict=True,
    )
    fallback = native([{"arn": f"arn:aws:iam::{ACCT}:role/Y", "username": "y"}])
    user = IdentityMapper([strict, fallback]).map(identity(assumed("Y"), user_id="AROA1"))
    assert user is not None
    assert user.username == "y"
    with pytest.raises(MappingError, match="ARN does not match"):
        IdentityMapper([strict]).map(identity(assumed("Y"), user_id="AROA1"))


def test_operator_system_names_keep_working() -> None:
    mapping = native(
        [
            {
                "arn": f"arn:aws:iam::{ACCT}:role/Node",
                "username": "system:node:{{EC2PrivateDNSName}}",
                "groups": ["system:bootstrappers", "system:nodes"],
            },
            {
                "arn": f"arn:aws:iam::{ACCT}:role/Admin",
                "username": "admin",
                "groups": ["system:masters"],
            },
        ]
    )
    mapper = IdentityMapper([mapping], ec2_dns=lambda _id: "ip-10-0-0-1.ec2.internal")
    node = mapper.map(identity(assumed("Node", "i-0123456789abcdef0")))
    admin = mapper.map(identity(assumed("Admin")))
    assert node is not None
    assert admin is not None
    assert (node.username, node.groups) == (
        "system:node:ip-10-0-0-1.ec2.internal",
        ("system:bootstrappers", "system:nodes"),
    )
    assert admin.groups == ("system:masters",)


# --- explain --------------------------------------------------------------------------------


def test_explain_a_match() -> None:
    mapping = native(
        [{"arn": f"arn:aws:iam::{ACCT}:role/teams/Admin", "username": "a:{{SessionName}}"}]
    )
    explanation = IdentityMapper([mapping]).explain(identity(assumed("Admin", "x@y")))
    assert explanation.result is not None
    assert explanation.summary == f"arn:aws:iam::{ACCT}:role/Admin -> a:x-y (no groups)"
    assert explanation.steps[0].outcome == "matched"
    assert "IAM path" in explanation.steps[0].details[0]
    assert explanation.to_dict()["matched"]["location"] == "roles[0]"


def test_explain_no_match_names_near_misses_and_the_look_alike() -> None:
    mapping = native([{"arn": f"arn:aws:iam::{OTHER}:role/Admin", "username": "a"}])
    mapper = IdentityMapper([mapping])
    explanation = mapper.explain(identity(assumed("Admin")))
    assert explanation.result is None
    assert explanation.error is None
    text = "\n".join(explanation.steps[0].details)
    assert "another account" in text
    look_alike = mapper.explain(identity(f"arn:aws:iam::{ACCT}:user/assumed-role/Admin/bob"))
    assert "merely looks like a role session" in "\n".join(look_alike.steps[0].details)
    assert look_alike.to_dict()["username"] is None


def test_explain_reports_a_render_error_without_raising() -> None:
    mapping = native([{"arn": f"arn:aws:iam::{ACCT}:role/R", "username": "u:{{AccessKeyID}}"}])
    explanation = IdentityMapper([mapping]).explain(identity(assumed("R"), access_key_id=""))
    assert explanation.result is None
    assert explanation.error is not None
    assert "AccessKeyID" in explanation.error
    assert explanation.steps[0].outcome == "error"
