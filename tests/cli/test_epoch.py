"""``cli/_epoch.py``: the cache files' timestamps as Unix seconds, checked against datetime."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from k8s_aws_auth.cli._epoch import format_expiration, parse_expiration


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
