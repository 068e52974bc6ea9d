"""Jittered, capped exponential backoff (a pure value; the caller owns the sleep and the randomness)."""

from __future__ import annotations

import attrs

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """Delays between retries: ``initial × factor^(attempt-1)``, capped, minus up to ``jitter`` of it.

    Attributes:
        initial: The delay after the first failure (seconds).
        factor: The growth per further failure.
        cap: The longest delay.
        jitter: The fraction of each delay drawn at random (``0.5``: a delay
            of ``d`` becomes a value in ``(d/2, d]``), so that replicas that
            failed together do not retry together.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5

    def __attrs_post_init__(self) -> None:
        if not (0 < self.initial <= self.cap) or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs 0 < initial <= cap, factor >= 1, 0 <= jitter < 1")

    def delay(self, attempt: int, draw: float) -> float:
        """The delay before retry number ``attempt`` (1, 2, ...); ``draw`` is a random number in [0, 1)."""
        base = self.initial
        for _ in range(max(0, attempt - 1)):
            base *= self.factor
            if base >= self.cap:
                break
        base = min(base, self.cap)
        return base * (1.0 - self.jitter * min(max(draw, 0.0), 1.0))
