"""``_core.small_json`` gives ``json``'s results, and without ``json`` for the cache files' shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_aws_auth._core import small_json
from tests.support.budget import examples
from tests.support.child_env import child_env

# Everything JSON can hold, floats and escapes included: the fast path must either
# give json's exact answer or hand the value to json.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
)
VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=24,
)


@settings(max_examples=examples(300), deadline=None)
@given(VALUES, st.booleans())
def test_dumps_sorted_is_json_dumps_with_sorted_keys(value: object, compact: bool) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    expected = json.dumps(value, sort_keys=True, separators=separators)
    assert small_json.dumps_sorted(value, compact=compact) == expected


@settings(max_examples=examples(300), deadline=None)
@given(VALUES, st.sampled_from([None, 0, 2]))
def test_loads_reads_what_json_writes(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    for raw in (text, text.encode("utf-8")):
        # repr: 1 and 1.0 and True compare equal, json keeps them apart
        assert repr(small_json.loads(raw)) == repr(json.loads(raw))


@settings(max_examples=examples(500), deadline=None)
@given(st.text(alphabet='{}[]",: \t\n-0123456789.eEtruefalsnl\\x\x00é', max_size=24))
def test_loads_of_any_text_is_json_loads_or_its_error(text: str) -> None:
    try:
        expected: object = ("value", repr(json.loads(text)))
    except ValueError:
        expected = ValueError
    try:
        got: object = ("value", repr(small_json.loads(text)))
    except ValueError:
        got = ValueError
    assert got == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"a": 1,}',
        b"[1 2]",
        b"01",
        b"-",
        b"1.",
        b'"\x01"',
        b'{"a" 1}',
        b"truex",
        b"\xff\xfe{\x00}\x00",  # UTF-16 with its BOM: json detects it, so must this
        b"\xef\xbb\xbf{}",  # a UTF-8 BOM
        b"\xc3",  # cut UTF-8
        b"[" * (small_json.MAX_DEPTH + 5) + b"]" * (small_json.MAX_DEPTH + 5),
    ],
)
def test_edge_documents_get_jsons_answer(raw: bytes) -> None:
    try:
        expected: object = repr(json.loads(raw))
    except ValueError as error:
        expected = type(error)
    try:
        got: object = repr(small_json.loads(raw))
    except ValueError as error:
        got = type(error)
    assert got == expected


def test_duplicate_keys_keep_the_last_as_json_does() -> None:
    assert small_json.loads(b'{"a": 1, "a": 2}') == {"a": 2}


# A credential-cache entry as the AWS CLI and the plugin write it, and the key
# derivation of a role profile: the hit path must need no json.
_ENTRY = (
    b'{"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s/k+e=",'
    b' "SessionToken": "IQoJb3JpZ2luX2Vj+/==", "Expiration": "2026-12-02T15:00:00Z"},'
    b' "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/demo/s"},'
    b' "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0}}'
)
_KEY = {
    "RoleArn": "arn:aws:iam::123456789012:role/demo",
    "RoleSessionName": "k8s-aws-auth",
    "DurationSeconds": 3600,
}
_HIT = f"""
import sys
from k8s_aws_auth._core import small_json
print(repr((small_json.loads({_ENTRY!r}), small_json.dumps_sorted({_KEY!r}, compact=False))))
print("json" in sys.modules, "re" in sys.modules)
"""


def test_the_cache_shape_needs_no_json_module() -> None:
    # Unmeasured: coverage.py, started in the child by `nox -s tests`, imports json itself.
    result = subprocess.run(
        [sys.executable, "-c", _HIT],
        env=child_env(dict(os.environ), measured=False),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    printed, loaded = result.stdout.splitlines()
    assert printed == repr((json.loads(_ENTRY), json.dumps(_KEY, sort_keys=True)))
    assert loaded == "False False"
