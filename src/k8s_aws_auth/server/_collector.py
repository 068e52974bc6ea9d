"""The cyclic garbage collector, once ``serve`` is up: start-up objects out of its view.

After its imports and start-up a serving process holds some 50,000 objects the
collector tracks (modules' functions, classes, dictionaries; uvicorn's,
httpx's, prometheus-client's, ours), and none of them will ever be garbage.
Every full (generation 2) collection walks all of them, and while it does the
event loop answers nothing: under load those pauses are the slow end of the
latency distribution. `settle_collector` collects once (so no garbage of the
start-up is kept) and then freezes what is left (``gc.freeze()``: moved to a
permanent generation the collector never walks). Objects made later — cache
entries, a reloaded mapping, connections — are collected as before. The price:
what was alive at the freeze and later becomes garbage inside a reference cycle
(say, a part of the mapping loaded at start-up, once a reload replaced it) is
never collected — once, and bounded by what start-up built.

It changes process-wide state, so only the ``k8s-aws-auth serve`` command calls
it, in the process it owns (each worker of ``--workers`` for itself); an app
embedding [`serve()`][k8s_aws_auth.server.serve] or `TokenReviewApp` keeps its
own collector settings.
"""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]


def settle_collector() -> int:
    """Collect once, then freeze every object tracked now; the number frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
