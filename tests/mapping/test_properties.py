"""Properties: no session name or access key id renders outside what the template allows."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_aws_auth import Identity
from k8s_aws_auth.mapping import IdentityMapper, MappingError, parse_mapping_text
from tests.support.budget import examples

ACCT = "111122223333"
#: What AWS allows in a role session name, and in an access key id (the spec, written here).
SESSION = r"[A-Za-z0-9_+=,.@-]{2,64}"
SESSION_NO_AT = r"[A-Za-z0-9_+=,.-]{2,64}"
AKID = r"[A-Z0-9]{16,128}"

ROLES = [
    {
        "arn": f"arn:aws:iam::{ACCT}:role/People",
        "username": "sso:{{SessionName}}",
        "groups": ["team:{{SessionNameRaw}}", "viewers"],
    },
    {
        "arn": f"arn:aws:iam::{ACCT}:role/Keys",
        "username": "{{AccessKeyID}}",
        "groups": ["k-{{AccessKeyID}}"],
    },
    {"arn": f"arn:aws:iam::{ACCT}:role/Bare", "username": "{{SessionName}}", "groups": []},
]
MAPPER = IdentityMapper([parse_mapping_text(json.dumps({"roles": ROLES}))])

#: For each role: the username pattern and the exact group patterns its template allows.
ALLOWED = {
    "People": (f"sso:{SESSION_NO_AT}", [f"team:{SESSION}", "viewers"]),
    "Keys": (AKID, [f"k-{AKID}"]),
    "Bare": (SESSION_NO_AT, []),
}

hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="ab:,@ \n\t{}system:masters-=+.", max_size=80),
    st.from_regex(SESSION, fullmatch=True),
    st.sampled_from(
        [
            "x:system:masters",
            "a,system:masters",
            "system:masters",
            "{{AccountID}}",
            "i-0123456789abcdef0",
            "aa\u2028bb",
            "admin\x00",
            "é" * 3,
        ]
    ),
)


def _identity(role: str, session: str, access_key_id: str) -> Identity:
    return Identity(
        arn=f"arn:aws:sts::{ACCT}:assumed-role/{role}/x",
        canonical_arn=f"arn:aws:iam::{ACCT}:role/{role}",
        account_id=ACCT,
        user_id="AROAEXAMPLE",
        session_name=session,
        access_key_id=access_key_id,
        sts_endpoint="sts.amazonaws.com",
        partition="aws",
        principal_type="assumed-role",
    )


@settings(max_examples=examples(400), deadline=None)
@given(
    role=st.sampled_from(sorted(ALLOWED)),
    session=hostile_text,
    access_key_id=st.one_of(hostile_text, st.from_regex(AKID, fullmatch=True)),
)
def test_rendered_values_stay_inside_the_template(
    role: str, session: str, access_key_id: str
) -> None:
    try:
        user = MAPPER.map(_identity(role, session, access_key_id))
    except MappingError:
        return  # refusing is always allowed
    assert user is not None
    username_pattern, group_patterns = ALLOWED[role]
    assert re.fullmatch(username_pattern, user.username, re.ASCII), user.username
    assert len(user.groups) == len(group_patterns)
    for group, pattern in zip(user.groups, group_patterns, strict=True):
        assert re.fullmatch(pattern, group, re.ASCII), group
    assert not user.username.startswith("system:")
    assert ":" not in user.username.removeprefix("sso:")


@settings(max_examples=examples(200), deadline=None)
@given(session=st.from_regex(SESSION, fullmatch=True))
def test_every_valid_session_name_maps(session: str) -> None:
    user = MAPPER.map(_identity("People", session, "ASIAEXAMPLEEXAMPLE1"))
    assert user is not None
    assert user.username == "sso:" + session.replace("@", "-")
    assert user.groups == ("team:" + session, "viewers")
