"""``cli/_epoch.py``: the cache files' timestamps as Unix seconds, checked against datetime."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_aws_auth.cli._epoch import format_expiration, parse_expiration
from tests.support.budget import examples


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-02T01:42:16Z",  # what the AWS CLI writes
        "2026-12-02T01:42:16+00:00",  # v2's iso8601 format
        "2026-12-02T01:42:16.123456Z",  # fractions (dropped)
        "2026-12-02T03:42:16+02:00",
        "2026-12-01T20:12:16-05:30",
        "2026-12-02T01:42:16+0000",
        "2024-02-29T23:59:59Z",  # a leap day
        "2000-03-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_parses_like_datetime(text: str) -> None:
    # strptime's %z reads +0000 and +00:00 alike on every Python (fromisoformat
    # learnt the colon-less offset only in 3.11); fractions are cut by both sides.
    whole = text.replace("Z", "+00:00")
    stamp, offset = whole[:19], whole[-6:] if whole[-3] == ":" else whole[-5:]
    expected = datetime.strptime(stamp + offset, "%Y-%m-%dT%H:%M:%S%z")
    assert parse_expiration(text) == int(expected.timestamp())


def test_utc_suffix() -> None:
    expected = datetime(2026, 12, 2, 1, 42, 16, tzinfo=timezone.utc)
    assert parse_expiration("2026-12-02T01:42:16UTC") == int(expected.timestamp())


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-02T01:42:16",  # naive: the CLI itself fails on it
        "2026-02-29T00:00:00Z",  # not a leap year
        "2026-13-01T00:00:00Z",
        "2026-12-32T00:00:00Z",
        "2026-12-02T24:00:00Z",
        "2026-12-02T01:60:00Z",
        "2026-12-02T01:42:16+24:00",
        "2026-12-02",
        "",
        1796174778,
        None,
    ],
)
def test_refuses_what_is_not_an_aware_time(value: object) -> None:
    assert parse_expiration(value) is None


def test_format_is_the_cli_s() -> None:
    moment = datetime(2026, 12, 2, 1, 42, 16, tzinfo=timezone.utc)
    assert format_expiration(int(moment.timestamp())) == "2026-12-02T01:42:16Z"


# The layout this parser accepted when it was a regular expression: the same
# strings must still parse, and no other (datetime checks the values above).
_LAYOUT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?"
    r"(Z|z|UTC|[+-]\d{2}:?\d{2})"
)
_TIMELIKE = st.text(alphabet="0123456789-:T tzZUC+.", max_size=32)


def _by_layout(text: str) -> bool:
    return _LAYOUT.fullmatch(text.strip()) is not None


@settings(max_examples=examples(400), deadline=None)
@given(
    st.one_of(
        _TIMELIKE,
        st.builds(
            lambda stamp, fraction, zone: stamp + fraction + zone,
            st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S")),
            st.sampled_from(["", ".", ".1", ".123456789", ".1234567890", ".x"]),
            st.sampled_from(["Z", "z", "UTC", "+05:30", "-0800", "+5:30", "+24:00", "", "GMT"]),
        ),
    )
)
def test_accepts_exactly_the_layout_it_always_did(text: str) -> None:
    parsed = parse_expiration(text)
    if not _by_layout(text):
        assert parsed is None
    elif parsed is not None:
        zone = _LAYOUT.fullmatch(text.strip()).group(7)  # type: ignore[union-attr]
        whole = text.strip()[:19] + ("+00:00" if zone in ("Z", "z", "UTC") else zone)
        assert parsed == int(datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S%z").timestamp())
