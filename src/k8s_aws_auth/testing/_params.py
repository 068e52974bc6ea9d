"""STS's checks of request parameters, with the exact ``ValidationError`` texts STS answers."""

from __future__ import annotations

import re

from ._auth import Rejection

__all__ = [
    "CHAINED_MAX",
    "DIGITS",
    "EXTERNAL_ID",
    "MAX_DURATION",
    "SESSION_NAME",
    "check_text",
    "duration_seconds",
    "required",
    "unique",
    "validation",
]

SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
DIGITS = re.compile(r"[0-9]*", re.ASCII)
MIN_DURATION, MAX_DURATION, CHAINED_MAX = 900, 43200, 3600


def validation(message: str) -> Rejection:
    """STS's 400 ``ValidationError`` with ``message``."""
    return Rejection(400, "ValidationError", message)


def _constraint(value: str, member: str, constraint: str) -> Rejection:
    return validation(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )


def required(params: dict[str, str], name: str) -> str:
    """The parameter ``name``, or the ``ValidationError`` STS gives for a missing one."""
    value = params.get(name)
    if value is None:
        member = name[0].lower() + name[1:]
        raise validation(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return value


def check_text(
    value: str, member: str, minimum: int, maximum: int, pattern: re.Pattern[str] | None
) -> None:
    """STS's length and pattern constraints on a text parameter (``member`` as STS names it)."""
    if len(value) < minimum:
        raise _constraint(value, member, f"have length greater than or equal to {minimum}")
    if len(value) > maximum:
        raise _constraint(value, member, f"have length less than or equal to {maximum}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _constraint(value, member, f"satisfy regular expression pattern: {pattern.pattern}")


def duration_seconds(params: dict[str, str]) -> int:
    """``DurationSeconds`` (default 3600), checked as STS checks it (900 to 43200)."""
    raw = params.get("DurationSeconds")
    if raw is None:
        return 3600
    if not re.fullmatch(r"[0-9]{1,9}", raw, re.ASCII):
        raise Rejection(
            400,
            "InvalidParameterValue",
            f"Value ({raw}) for parameter DurationSeconds is invalid. Must be an integer.",
        )
    value = int(raw)
    if value < MIN_DURATION:
        raise _constraint(raw, "durationSeconds", "have value greater than or equal to 900")
    if value > MAX_DURATION:
        raise _constraint(raw, "durationSeconds", "have value less than or equal to 43200")
    return value


def unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The query and form parameters as a dict; a name given twice is STS's ``MalformedQueryString``."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise Rejection(
                400, "MalformedQueryString", f"The parameter {name} appears more than once."
            )
        params[name] = value
    return params
