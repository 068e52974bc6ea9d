"""Timestamps as Unix seconds, without datetime: the exec plugin's cache hits parse them.

``datetime`` (with ``_strptime``/``calendar`` behind it) costs milliseconds at
start-up; the cache files' ISO-8601 times only need a date-to-days formula.
"""

from __future__ import annotations

import time

__all__ = ["format_expiration", "parse_expiration"]

#: The zones a time may end with besides ``±HH:MM`` / ``±HHMM``.
_NAMED_ZONES = ("Z", "z", "UTC")
#: Digits of a fraction of a second, at most (nanoseconds); the fraction is dropped.
_MAX_FRACTION_DIGITS = 9
#: (start, length) of the year, month, day, hour, minute and second.
_FIELDS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))


def _number(text: str, start: int, count: int) -> int | None:
    """The ``count`` decimal digits at ``start`` as a number; ``None`` if they are not."""
    part = text[start : start + count]
    return int(part) if len(part) == count and part.isdecimal() else None


def _fields(text: str) -> tuple[list[int], str] | None:
    """``YYYY-MM-DD[Tt ]HH:MM:SS[.fraction]ZONE`` split into six numbers and the zone.

    No ``re`` (and the enum it loads) on the plugin's start-up path: the layout is
    fixed, so positions say it all.
    """
    if len(text) < 20 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt ":
        return None
    if text[13] != ":" or text[16] != ":":
        return None
    numbers = []
    for start, count in _FIELDS:
        number = _number(text, start, count)
        if number is None:
            return None
        numbers.append(number)
    rest = text[19:]
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdecimal():
            end += 1
        if not 1 <= end - 1 <= _MAX_FRACTION_DIGITS:
            return None
        rest = rest[end:]
    return numbers, rest


def _zone_offset(zone: str) -> int | None:
    """Seconds east of UTC of ``Z``, ``UTC`` or ``±HH[:]MM``; ``None`` for anything else."""
    if zone in _NAMED_ZONES:
        return 0
    if len(zone) not in (5, 6) or zone[0] not in "+-":
        return None
    digits = zone[1:3] + zone[-2:]
    if (len(zone) == 6 and zone[3] != ":") or not digits.isdecimal():
        return None
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    return (hours * 60 + minutes) * 60 * (-1 if zone[0] == "-" else 1)


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
    fields = _fields(value.strip())
    if fields is None:
        return None
    (year, month, day, hour, minute, second), zone = fields
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = _zone_offset(zone)
    if offset is None:
        return None
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + second - offset


def format_expiration(epoch_seconds: int) -> str:
    """Unix seconds as the AWS CLI writes ``Expiration``: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))
