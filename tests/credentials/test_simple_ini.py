"""`_simple_ini`: the configparser-free reading equals configparser's, or declines.

Each file of the table, and thousands of files assembled from tricky lines, are
read both ways: where `read_simple_ini` answers, its sections, keys and values
must equal what ``configparser.RawConfigParser`` (the reference, as botocore
reads the files) gives; where configparser refuses the file, the fast reader must
have declined, so `parse_ini` raises configparser's precise error.
"""

from __future__ import annotations

import configparser
import random
import shlex

import pytest

from k8s_aws_auth.credentials._shared_files import _parse_with_configparser, parse_ini
from k8s_aws_auth.credentials._simple_ini import read_simple_ini, split_section_name
from k8s_aws_auth.errors import CredentialProviderError

FAST = "fast"
DECLINE = "configparser"

FILES: list[tuple[str, str]] = [
    ("", FAST),
    ("[default]\nregion = us-west-2\n", FAST),
    ("[default]\nregion=us-west-2\noutput: json\n", FAST),
    ("[default]\r\nregion = us-west-2\r\n", FAST),  # CRLF files
    ("# comment\n; other\n[default]\n  # indented comment\nRegion = eu-west-1\n", FAST),
    (
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n",
        FAST,
    ),
    ("[default]\nkey =\n\n\n[other]\na = b = c\nx: y = z\nu = v: w\n", FAST),
    ("[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n", FAST),
    ("[default]\ncredential_process = /bin/echo 'a b' # not a comment\n", FAST),
    ("[ spaced ]\nk = v\n", FAST),
    ("[a[b]\nk = v\n", FAST),
    ("[default]\nk = v\n\n   \n", FAST),
    ("[default]\nk\t=\tv\t\n", FAST),
    # continuation lines and nested blocks
    ("[default]\ns3 =\n  max_concurrent_requests = 10\n", DECLINE),
    ("[default]\nk = a\n  b\n", DECLINE),
    ("[default]\nk = a\n\n  b\n", DECLINE),
    ("  [default]\nk = v\n", DECLINE),
    # what configparser refuses or treats specially
    ("k = v\n[default]\n", DECLINE),
    ("[default]\njust words\n", DECLINE),
    ("[default]\n= value\n", DECLINE),
    ("[default]\nk = 1\nK = 2\n", DECLINE),
    ("[default]\n[default]\n", DECLINE),
    ("[DEFAULT]\nregion = x\n[a]\n", DECLINE),
    ("[]\nk = v\n", DECLINE),
    ("[a]b\nk = v\n", DECLINE),
    ("[a]]\nk = v\n", DECLINE),
    ("[default\nk = v\n", DECLINE),
]


def _configparser(text: str) -> dict[str, dict[str, str | dict[str, str]]] | None:
    try:
        return _parse_with_configparser(text, "config")
    except CredentialProviderError:
        return None


@pytest.mark.parametrize(("text", "expected"), FILES, ids=repr)
def test_the_fast_reading_equals_configparser_or_declines(text: str, expected: str) -> None:
    fast = read_simple_ini(text)
    reference = _configparser(text)
    if expected == FAST:
        assert fast is not None, "a plain file was left to configparser"
        assert fast == reference
        assert parse_ini(text, "config") == reference
    else:
        assert fast is None
    if reference is None:
        assert fast is None


_PIECES = [
    "[default]",
    "[profile a]",
    "[profile b]",
    "[DEFAULT]",
    "[x]y",
    "[]",
    "region = us-east-1",
    "Region=eu-west-1",
    "k:v",
    "k = a = b",
    "k : a = b",
    "= v",
    ": v",
    "words",
    "",
    "   ",
    "# c",
    "  ; c",
    "  indented = 1",
    "\tcontinued",
    "key =",
    "x\u00e9 = caf\u00e9",
    "x\r",
    "\u00a0nbsp = 1",
]


def test_random_files_agree_with_configparser() -> None:
    chooser = random.Random(1519)
    read_fast = 0
    for _ in range(5000):
        text = "\n".join(chooser.choice(_PIECES) for _ in range(chooser.randint(0, 8)))
        fast = read_simple_ini(text)
        reference = _configparser(text)
        if fast is not None:  # declining is always allowed: configparser then answers
            read_fast += 1
            assert fast == reference, text
    assert read_fast > 500  # the generator does reach the fast path


def test_configparser_errors_still_name_the_line() -> None:
    with pytest.raises(CredentialProviderError, match="line 2"):
        parse_ini("[default]\njust words\n", "config")


@pytest.mark.parametrize(
    "header",
    [
        "profile dev",
        "profile  dev",
        "sso-session corp",
        "default",
        "profile a b",
        "profile a-b.c@d",
    ],
)
def test_section_names_split_as_shlex_splits_them(header: str) -> None:
    assert split_section_name(header) == shlex.split(header)


@pytest.mark.parametrize("header", ['profile "my dev"', "profile 'x'", "profile a\\ b", "a\tb"])
def test_quoted_or_escaped_names_go_to_shlex(header: str) -> None:
    assert split_section_name(header) is None


def test_the_reference_is_configparsers_reading() -> None:
    parser = configparser.RawConfigParser()
    parser.read_string("[a]\nK = v\n")
    assert _configparser("[a]\nK = v\n") == {"a": dict(parser["a"])}
