"""A bounded LRU cache of confirmed identities (positive results only).

Keys are SHA-256 digests (see `cache_key()`), so the cache never holds a
token. An entry is served only inside ``[not_before, fresh_until)``:
``fresh_until`` is never later than the token's own expiry, and ``not_before``
repeats the not-yet-valid check should the clock step back. Errors are never
stored: a denial is cheap to recompute locally or comes from STS, and an
``STSError`` is an outage that must not outlive itself.

Equal identities are stored once: the tokens of one principal (a new one per
``kubectl`` run, say) confirm equal identities, each parsed from its own STS
answer into strings of its own, and their ARNs, user id and access key id are
most of an entry's memory (about 400 of its 700 bytes). The two instants are
stored as whole microseconds since the epoch (32 bytes an int where an aware
``datetime`` takes 48; exact over the whole calendar, so every comparison is
the one the datetimes would give).

Thread-safe (one short lock, never held across I/O), so the async shell can use
it too.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import attrs

from k8s_aws_auth._core.models import Identity

__all__ = ["CacheEntry", "IdentityCache", "cache_key"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """``moment`` (aware) as whole microseconds since the epoch: exact, as ``datetime`` is."""
    return (moment - _EPOCH) // _MICROSECOND


def cache_key(token: str, cluster_id: str, partition: str) -> bytes:
    """SHA-256 of the token, the cluster id and the partition (NUL-separated)."""
    material = f"{cluster_id}\0{partition}\0{token}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).digest()


@attrs.frozen(kw_only=True)
class CacheEntry:
    """A confirmed identity and the instants between which it may be served."""

    identity: Identity
    not_before: datetime
    fresh_until: datetime


# No weakref slot: 8 bytes an entry that nothing would use.
@attrs.frozen(weakref_slot=False)
class _Stored:
    """What the cache keeps of a `CacheEntry`: its identity and window in microseconds."""

    identity: Identity
    not_before: int
    fresh_until: int


class IdentityCache:
    """At most ``max_entries`` identities; the least recently used one goes first."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, _Stored] = OrderedDict()
        # One stored identity per hash, alive while an entry holds it: weak, so
        # it needs no bookkeeping on eviction; a colliding unequal identity just
        # takes the slot (and is stored as it came).
        self._identities: weakref.WeakValueDictionary[int, Identity] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of entries held (fresh or not yet evicted)."""
        return len(self._entries)

    def get(self, key: bytes, now: datetime) -> Identity | None:
        """The identity stored under ``key`` if it may be served at ``now``, else ``None``.

        An entry outside its window is dropped.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if not entry.not_before <= _micros(now) < entry.fresh_until:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.identity

    def put(self, key: bytes, entry: CacheEntry) -> None:
        """Store ``entry`` (evicting the least recently used ones beyond the bound)."""
        if self._max_entries <= 0 or entry.fresh_until <= entry.not_before:
            return
        not_before, fresh_until = _micros(entry.not_before), _micros(entry.fresh_until)
        with self._lock:
            self._entries[key] = _Stored(self._shared(entry.identity), not_before, fresh_until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _shared(self, identity: Identity) -> Identity:
        """The stored identity equal to ``identity`` if there is one, else ``identity`` (now stored)."""
        slot = hash(identity)
        stored = self._identities.get(slot)
        if stored is None or stored != identity:
            self._identities[slot] = identity
            return identity
        return stored

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
