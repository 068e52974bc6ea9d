"""Big mapping files: the fast YAML construction is PyYAML's, and no check scans a list per entry."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_aws_auth.mapping import AccountMapping, MappingFileError, MappingSet, parse_document
from k8s_aws_auth.mapping._yaml import load_yaml
from tests.support.budget import examples

ACCT = "111122223333"


def pyyaml(text: str) -> Any:
    """The oracle: PyYAML's own safe construction (pure-Python loader, no fast path)."""
    return yaml.load(text, Loader=yaml.SafeLoader)


def same(left: Any, right: Any) -> bool:
    """Equal values of the same types all the way down (``1 == True == 1.0`` is not enough)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(
            same(a, b) and same(left[a], right[b]) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


AWS_AUTH = f"""\
- rolearn: arn:aws:iam::{ACCT}:role/Admin
  username: admin:{{{{SessionName}}}}
  groups:
    - system:masters
    - "devs"
- rolearn: 'arn:aws:iam::{ACCT}:role/Nodes'
  username: system:node:{{{{EC2PrivateDNSName}}}}
  groups: [system:bootstrappers, system:nodes]
  userid: null
"""

TRICKY = [
    AWS_AUTH,
    # Every implicit scalar type of YAML 1.1, as keys and as values.
    "yes: no\n2: 0x1F\n1.5: .inf\n~: -.INF\n2001-12-14: 2001-12-14t21:59:43.10-05:00\n"
    "k: off\n0o17: 0b101\n1_000: 190:20:30\n.nan: [.NaN]\n'': ''\n",
    # Block scalars, quoting, flow collections, nesting, empty collections.
    'a: |\n  line\n  two\nb: >-\n  folded\n  text\nc: "\\u00e9\\t"\nd: {e: [1, {f: []}], g: {}}\n',
    "- - - deep\n    - [x, [y, [z]]]\n",
    # Aliases: one shared object, as PyYAML builds it.
    "base: &b {x: 1}\nuse: *b\nlist: &l [1, 2]\nagain: *l\nname: &n alice\nwho: *n\n",
    # Explicit tags.
    "a: !!str 123\nb: !!int '7'\nc: !!float '1'\nd: !!binary aGVsbG8=\ne: !!set {x, y}\n",
    "a: !!omap [x: 1, y: 2]\nb: !!pairs [x: 1, x: 2]\n",
    # Collections as keys and a plain scalar document.
    "? [a, b]\n: 1\n",
    "just text\n",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_loading_gives_what_pyyaml_constructs(text: str) -> None:
    try:
        expected = pyyaml(text)
    except (yaml.YAMLError, TypeError) as exc:
        # What PyYAML cannot construct (a list as a key) is refused, not half-read.
        with pytest.raises((MappingFileError, type(exc))):
            load_yaml(text, "f.yaml")
        return
    assert same(load_yaml(text, "f.yaml"), expected)


def test_aliases_stay_one_shared_object() -> None:
    loaded = load_yaml("base: &b {x: [1]}\nuse: *b\n", "f.yaml")
    assert loaded["base"] is loaded["use"]


def test_a_recursive_alias_is_built_like_pyyaml_builds_it() -> None:
    loaded = load_yaml("&a [*a, 1]\n", "f.yaml")
    assert loaded[0] is loaded
    assert loaded[1] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "found duplicate key 'a'"),
        ("- {x: 1}\n- {x: 1, x: 2}\n", "found duplicate key 'x'"),
        ("1: a\ntrue: b\n", "found duplicate key True"),
        ("1: one\n1.0: also one\n", "found duplicate key 1.0"),
        ("x: !!int 0b_\n", "invalid literal"),
        ("x: !!timestamp 2001-13-45\n", "month must be in 1..12"),
        ("x: !!python/name:os.system\n", "could not determine a constructor"),
        # The duplicate-key check reads every key first: merge keys are not understood.
        (
            "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 3\n",
            "constructor for the tag 'tag:yaml.org,2002:merge'",
        ),
        ("=: x\n", "constructor for the tag 'tag:yaml.org,2002:value'"),
    ],
)
def test_what_pyyaml_refuses_is_refused_with_its_message(text: str, message: str) -> None:
    with pytest.raises((MappingFileError, ValueError), match=message):
        load_yaml(text, "f.yaml")


def test_a_refused_document_carries_only_pyyamls_error() -> None:
    with pytest.raises(MappingFileError) as caught:
        load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    chain = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(type(error))
        error = error.__cause__ or error.__context__
    assert chain == [MappingFileError, yaml.constructor.ConstructorError]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "No", "~", "0x1f", "1_0", "1:30", ".inf", "2001-12-14", "=", "<<"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=examples(150), deadline=None)
@given(documents, st.booleans())
def test_any_dumped_document_loads_like_pyyaml(document: Any, flow: bool) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    assert same(load_yaml(text, "f.yaml"), pyyaml(text))


class CountingAccountId(str):
    """An account id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingAccountId.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_duplicate_accounts_are_found_without_a_scan_per_entry() -> None:
    # A list scan per entry compares each id with every earlier one: about
    # count**2 / 2 comparisons (2,000,000 here). A set lookup compares almost never.
    count = 2000
    accounts = tuple(
        AccountMapping(account_id=CountingAccountId(f"{n:012d}"), index=n) for n in range(count)
    )
    CountingAccountId.comparisons = 0
    mapping_set = MappingSet(accounts=accounts)
    assert len(mapping_set.accounts) == count
    assert CountingAccountId.comparisons <= count


def test_a_large_aws_auth_is_read_whole() -> None:
    count = 2000
    users = [
        {"userarn": f"arn:aws:iam::{ACCT}:user/u{n}", "username": f"u{n}", "groups": ["devs"]}
        for n in range(count)
    ]
    roles = [
        {"rolearn": f"arn:aws:iam::{ACCT}:role/r{n}", "username": "r:{{SessionName}}"}
        for n in range(count)
    ]
    data = {"mapUsers": yaml.safe_dump(users), "mapRoles": yaml.safe_dump(roles)}
    mapping_set = parse_document({"kind": "ConfigMap", "data": data}, format="eks-configmap")
    assert [u.username for u in mapping_set.users] == [f"u{n}" for n in range(count)]
    assert mapping_set.users[-1].groups == ("devs",)
    assert mapping_set.roles[-1].arn == f"arn:aws:iam::{ACCT}:role/r{count - 1}"
    assert mapping_set.compiled.role_templates[0] == (frozenset({"SessionName"}), ())
