"""A settable clock for tests: pass it wherever a ``clock=`` callable is accepted."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from k8s_aws_auth._core.instants import shifted, utc
from k8s_aws_auth._runtime.clock import utc_now
from k8s_aws_auth.errors import ConfigurationError

__all__ = ["FixedClock", "utc_now"]


def _aware(moment: datetime) -> datetime:
    return utc(moment, "the clock's time")


class FixedClock:
    """A clock that stands still until told to move; thread-safe.

    Calling it returns the current (aware UTC) time, so it can be passed as
    ``clock=`` to [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] and the verifiers.

    Args:
        start: the initial time (aware); defaults to the real current second.

    Example::

        clock = FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
        clock.advance(minutes=16)
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _aware(start) if start is not None else utc_now().replace(microsecond=0)

    def __call__(self) -> datetime:
        """The clock's current time."""
        with self._lock:
            return self._now

    @property
    def now(self) -> datetime:
        """The clock's current time (same as calling the clock)."""
        return self()

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware; backwards is allowed)."""
        moment = _aware(moment)
        with self._lock:
            self._now = moment

    def advance(
        self, delta: timedelta | None = None, *, seconds: float = 0, minutes: float = 0
    ) -> datetime:
        """Move forward by ``delta`` plus ``seconds`` and ``minutes``; return the new time.

        Raises:
            ConfigurationError: (``reason="clock"``) the move would leave the
                calendar (years 1 to 9999); the clock stays where it was.
        """
        step = (delta or timedelta()) + timedelta(seconds=seconds, minutes=minutes)
        with self._lock:
            moved = shifted(self._now, step)
            if moved is None:
                raise ConfigurationError(
                    "the clock cannot move past the calendar (years 1 to 9999)", reason="clock"
                )
            self._now = moved
            return moved

    def __repr__(self) -> str:
        return f"FixedClock({self().isoformat()})"
