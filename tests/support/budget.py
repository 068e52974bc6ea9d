"""How many generated examples a property test runs: all of them, or one CI run's share.

CI runs the whole suite four times, once per supported Python (noxfile.py). The
properties under test do not change from one Python to the next, so each of those
runs explores its own random part of the space instead of the same part four times:
with ``K8S_AWS_AUTH_TEST_EXAMPLE_SHARE=0.25`` every property test runs a quarter of
its examples, from a seed of its own, and the four runs together draw as many as one
full run. Any other run (``nox -s check``, plain ``pytest``) runs them all, from the
fixed seeds where a test has one.
"""

from __future__ import annotations

import os
import random

__all__ = ["SHARE_VARIABLE", "examples", "seed", "share"]

#: Set by noxfile.py for CI's per-Python runs: the fraction of each test's examples to run.
SHARE_VARIABLE = "K8S_AWS_AUTH_TEST_EXAMPLE_SHARE"
#: Fewer examples than this would hardly explore anything.
MINIMUM = 10


def share() -> float:
    """The fraction of examples this run draws: 1.0 unless :data:`SHARE_VARIABLE` says less."""
    raw = os.environ.get(SHARE_VARIABLE)
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{SHARE_VARIABLE}={raw!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{SHARE_VARIABLE}={raw!r} is not a fraction in (0, 1]")
    return value


def examples(full: int) -> int:
    """This run's number of examples for a test that draws ``full`` in a full run."""
    return max(min(full, MINIMUM), round(full * share()))


def seed(fixed: int) -> int:
    """``fixed`` in a full run; in a shared run a fresh seed, so each run draws other inputs.

    A test that uses it names the seed in its failure message, so a failing draw can
    be replayed with the same seed.
    """
    return fixed if share() == 1.0 else random.SystemRandom().randrange(2**32)
