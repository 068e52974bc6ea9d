"""Timestamps as Unix seconds, without datetime: the exec plugin's cache hits parse them.

``datetime`` (with ``_strptime``/``calendar`` behind it) costs milliseconds at
start-up; the cache files' ISO-8601 times only need a date-to-days formula.
"""

from __future__ import annotations

import re
import time

__all__ = ["format_expiration", "parse_expiration"]

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?"
    r"(Z|z|UTC|[+-]\d{2}:?\d{2})"
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_expiration(value: object) -> int | None:
    """An ISO-8601 time with a zone (``Z``, ``UTC``, ``±HH:MM``) as whole Unix seconds.

    Accepts what the AWS CLI and STS write (fractions are dropped); ``None`` for
    anything else, a naive time included (the CLI itself fails on one).
    """
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    zone = match.group(7)
    offset = 0
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset_hours, offset_minutes = int(digits[:2]), int(digits[2:])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 60 + offset_minutes) * 60 * (-1 if zone[0] == "-" else 1)
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + second - offset


def format_expiration(epoch_seconds: int) -> str:
    """Unix seconds as the AWS CLI writes ``Expiration``: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))
