"""What a list-then-watch reports: health (for readiness) and counters (for metrics)."""

from __future__ import annotations

import attrs

__all__ = ["WatchCounters", "WatchHealth"]


@attrs.frozen
class WatchHealth:
    """The state of one list-then-watch.

    Attributes:
        synced: At least one list succeeded: the consumer has seen the objects
            once (readiness waits for this).
        last_success: When (the engine's clock, Unix time by default) the view
            was last known current: a list, an event or a bookmark.
        consecutive_failures: Failures since that moment (lists, watches).
        resource_version: Where the next watch resumes.
        last_error: The ``reason`` of the latest failure (``None`` before any).
    """

    synced: bool = False
    last_success: float | None = None
    consecutive_failures: int = 0
    resource_version: str | None = None
    last_error: str | None = None


@attrs.frozen
class WatchCounters:
    """Monotonic counts since the engine started (metric families map onto these).

    Attributes:
        lists: Lists that succeeded (the first sync and every relist).
        list_failures: Lists that failed.
        watches: Watch requests sent.
        watch_failures: Watches that could not be opened, broke mid-stream, or
            sent an ERROR or garbage (upstream's ``configmap_watch_failures_total``).
        expired: ``410 Gone`` answers (as an ERROR event or as the HTTP status): each relists.
        events: ADDED/MODIFIED/DELETED events applied.
        bookmarks: BOOKMARK events (each moves the resume point).
        invalid_events: Lines that are not a usable event (not JSON, no
            ``metadata.resourceVersion``, an unknown type): each relists.
        oversized_events: Events over the size bound: each relists.
        stream_ends: Watch streams that ended cleanly (the server's timeout).
        consumer_errors: Exceptions raised by the consumer callback.
    """

    lists: int = 0
    list_failures: int = 0
    watches: int = 0
    watch_failures: int = 0
    expired: int = 0
    events: int = 0
    bookmarks: int = 0
    invalid_events: int = 0
    oversized_events: int = 0
    stream_ends: int = 0
    consumer_errors: int = 0
