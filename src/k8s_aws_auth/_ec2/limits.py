"""The rate limit and the cache of the EC2 lookups: a token bucket and a TTL-bounded LRU.

Both take a monotonic ``clock`` (seconds) and lock their own state: the sync
resolver calls them from many threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TTLCache", "TokenBucket"]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` stored.

    [`reserve()`][k8s_aws_auth.mapping.TokenBucket.reserve] takes a token now and returns how long the caller must wait
    before using it (0 when one was available), so waits queue up fairly.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before it may be spent."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self._rate


class TTLCache:
    """A size-bounded LRU cache whose entries expire ``ttl`` seconds after they were stored.

    ``hits`` and ``misses`` count [`get()`][k8s_aws_auth.mapping.TTLCache.get] answers (for metrics).
    """

    def __init__(self, max_size: int, clock: Callable[[], float]) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max = max_size
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> tuple[bool, str | None]:
        """``(True, value)`` for a live entry, ``(False, None)`` otherwise."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return False, None
            if item[0] <= self._clock():
                del self._items[key]
                self.misses += 1
                return False, None
            self._items.move_to_end(key)
            self.hits += 1
            return True, item[1]

    def put(self, key: str, value: str | None, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used beyond the bound."""
        with self._lock:
            self._items[key] = (self._clock() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
