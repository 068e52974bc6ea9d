"""List-then-watch one target and hand every change to a consumer, forever, never crashing.

The loop (client-go's reflector, with lightkube 0.22's gaps filled):

1. **List** the target (chunked with ``limit``/``continue``; a consistent read)
   → the objects and the list's ``resourceVersion``; the consumer gets a
   ``SYNCED`` event with the whole state.
2. **Watch** from that resourceVersion with ``allowWatchBookmarks=true`` and a
   jittered server-side ``timeoutSeconds``. Each ADDED/MODIFIED/DELETED event
   updates the state, moves the resume point and is handed on; a BOOKMARK only
   moves the resume point.
3. A stream that **ends** (the server's timeout) is watched again at once from
   the resume point; one that **breaks** (a cut connection, a non-410 ERROR, a
   refused request) is watched again from the resume point after a backoff. No
   event is lost: the server replays everything after the resume point.
4. **410 Gone** — as an ERROR event or as the HTTP status — means the resume
   point left the server's history: list again (step 1), after a backoff.
5. **Garbage** (a line that is not an event) and **oversized** events are
   counted, logged without their content, and relisted after a backoff.

The backoff (``Backoff``) grows with every failure and resets only when a watch
delivers something (an event or a bookmark), so neither a server that fails
every request nor one that ends every stream at once makes a busy loop. Sleep,
randomness and the clock are injected for tests.

The consumer contract: ``consumer(event)`` is called from the engine's task,
one event at a time, in order; it may return an awaitable, which is awaited
before the next event. An exception it raises is logged and counted
(``consumer_errors``) and the watch goes on: the consumer keeps its own last
good state. ``SYNCED`` replaces everything the consumer knew (objects may have
been deleted while the watch was down); the other events carry the change and
the whole state after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

import attrs
import httpx

from k8s_aws_auth._core.redact import scrub
from k8s_aws_auth.errors import K8sAwsAuthError

from .backoff import Backoff
from .errors import status_of
from .health import WatchCounters, WatchHealth
from .logs import kube_logger
from .objects import KubeObject, object_from_document
from .resources import WatchTarget, lightkube_resource
from .transport import EventTooLarge, WatchEnded

if TYPE_CHECKING:
    from lightkube import AsyncClient

__all__ = ["Consumer", "EventType", "ListWatch", "WatchEvent", "WatchSettings"]

EventType = Literal["SYNCED", "ADDED", "MODIFIED", "DELETED"]
ObjectKey = tuple[str | None, str]

#: The consumer callback: called with each event; may return an awaitable.
Consumer = Callable[["WatchEvent"], "Awaitable[None] | None"]


@attrs.frozen
class WatchEvent:
    """One change of the watched objects, with the whole state after it.

    Attributes:
        type: ``SYNCED`` (a list: ``objects`` is the complete new state),
            ``ADDED``, ``MODIFIED`` or ``DELETED``.
        object: The object changed (for ``DELETED``, its last state); ``None`` for ``SYNCED``.
        objects: Every object after this event, by ``(namespace, name)`` (read-only).
        resource_version: The resourceVersion this state is at.
    """

    type: EventType
    object: KubeObject | None
    objects: Mapping[ObjectKey, KubeObject] = attrs.field(repr=False)
    resource_version: str


@attrs.frozen
class WatchSettings:
    """How a ``ListWatch`` behaves.

    Attributes:
        backoff: Delays after failures.
        page_size: ``limit`` of each list request (``None``: one request).
        server_timeout: The base ``timeoutSeconds`` of a watch request; each
            request adds up to ``server_timeout_jitter`` of it at random. Keep the
            sum under the transport's ``watch_read_timeout``.
        server_timeout_jitter: See ``server_timeout``.
    """

    backoff: Backoff = attrs.field(factory=Backoff)
    page_size: int | None = 500
    server_timeout: int = 240
    server_timeout_jitter: float = 0.25


class _Relist(Exception):
    """The resume point is gone or the stream cannot be trusted: list again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _status_code(exc: BaseException) -> int | None:
    return status_of(exc)[0]


class ListWatch:
    """Follow ``target`` through ``client`` and feed ``consumer``; see the module docstring.

    Args:
        client: A lightkube ``AsyncClient`` (from ``async_client``).
        target: What to follow.
        consumer: Called with every ``WatchEvent``.
        settings: Backoff, paging and timeouts.
        sleep: ``asyncio.sleep`` (tests inject a recorder).
        draw: Random numbers in [0, 1) for the jitter.
        clock: Unix time, for ``WatchHealth.last_success``.
        logger: Where failures are logged (default ``k8s_aws_auth.kube``, guarded).
    """

    def __init__(
        self,
        client: AsyncClient,
        target: WatchTarget,
        consumer: Consumer,
        *,
        settings: WatchSettings | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self._client = client
        self.target = target
        self._consumer = consumer
        self.settings = settings or WatchSettings()
        self._sleep, self._draw, self._clock = sleep, draw, clock
        self._log = logger or kube_logger()
        self._resource = lightkube_resource(target.kind)
        self._objects: dict[ObjectKey, KubeObject] = {}
        self._version: str | None = None
        self._attempt = 0  # failures since a watch last delivered something
        self._health = WatchHealth()
        self._counts = dict.fromkeys(attrs.fields_dict(WatchCounters), 0)

    # -- what readiness and metrics read ---------------------------------------------------

    def health(self) -> WatchHealth:
        """The current ``WatchHealth``."""
        return self._health

    def counters(self) -> WatchCounters:
        """A snapshot of the counters."""
        return WatchCounters(**self._counts)

    def objects(self) -> Mapping[ObjectKey, KubeObject]:
        """The objects as last seen (read-only copy)."""
        return MappingProxyType(dict(self._objects))

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> NoReturn:
        """List, watch, recover, forever (until cancelled)."""
        must_list = True
        while True:
            if must_list:
                try:
                    await self._list()
                except Exception as exc:  # every failure is retried; none ends the loop
                    self._count("list_failures")
                    await self._failed("list", exc)
                    continue
                must_list = False
            must_list = await self._watch_once()

    def _count(self, name: str) -> None:
        self._counts[name] += 1

    def _progress(self) -> None:
        """The view is current: a list, an event or a bookmark arrived."""
        self._health = attrs.evolve(
            self._health,
            synced=True,
            last_success=self._clock(),
            consecutive_failures=0,
            resource_version=self._version,
        )

    async def _backoff(self) -> None:
        self._attempt += 1
        await self._sleep(self.settings.backoff.delay(self._attempt, self._draw()))

    async def _failed(self, step: str, exc: BaseException, reason: str | None = None) -> None:
        reason = reason or _reason(exc)
        self._health = attrs.evolve(
            self._health,
            consecutive_failures=self._health.consecutive_failures + 1,
            last_error=reason,
        )
        self._log.warning(
            "kube %s of %s failed: %s",
            step,
            self.target.describe(),
            reason,
            extra={
                "target": self.target.describe(),
                "step": step,
                "reason": reason,
                "error": type(exc).__name__,
                "detail": _detail(exc),
                "attempt": self._attempt + 1,
            },
        )
        await self._backoff()

    async def _deliver(self, event: WatchEvent) -> None:
        try:
            result = self._consumer(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._count("consumer_errors")
            self._log.error(
                "kube consumer of %s failed on a %s event: %s",
                self.target.describe(),
                event.type,
                type(exc).__name__,
                extra={"target": self.target.describe(), "error": type(exc).__name__},
            )

    async def _list(self) -> None:
        target = self.target
        listing = self._client.list(
            self._resource,
            namespace=target.namespace,
            fields=target.field_selector,
            chunk_size=self.settings.page_size,
        )
        objects: dict[ObjectKey, KubeObject] = {}
        async for item in listing:
            found = object_from_document(item.to_dict())
            objects[found.key] = found
        version = listing.resourceVersion
        self._objects, self._version = objects, version
        self._count("lists")
        self._progress()  # the backoff stays: only a watch that delivers proves the server well
        await self._deliver(WatchEvent("SYNCED", None, MappingProxyType(dict(objects)), version))

    def _timeout_seconds(self) -> int:
        settings = self.settings
        spread = settings.server_timeout * settings.server_timeout_jitter * self._draw()
        return max(1, int(settings.server_timeout + spread))

    async def _watch_once(self) -> bool:
        """One watch request; whether a relist must follow."""
        target, delivered = self.target, False
        self._count("watches")
        try:
            stream = self._client.watch(
                self._resource,
                namespace=target.namespace,
                fields=target.field_selector,
                server_timeout=self._timeout_seconds(),
                resource_version=self._version,
            )
            # Closed on every exit, so the response goes back at once (not at GC).
            async with contextlib.aclosing(cast("AsyncGenerator[Any, None]", stream)) as events:
                async for kind, item in events:
                    await self._apply(str(kind), item.to_dict())
                    delivered = True
        except WatchEnded:
            self._count("stream_ends")
            if not delivered:
                await self._backoff()  # a server that ends every stream at once: slow down
            return False
        except _Relist as relist:
            await self._failed("watch", relist, relist.reason)
            return True
        except EventTooLarge as exc:
            self._count("oversized_events")
            self._count("watch_failures")
            await self._failed("watch", exc, "oversized-event")
            return True
        except httpx.HTTPStatusError as exc:
            self._count("watch_failures")
            if _status_code(exc) == 410:
                self._count("expired")
                await self._failed("watch", exc, "expired")
                return True
            await self._failed("watch", exc)
            return False
        except K8sAwsAuthError as exc:  # the credentials (a plugin, a token file) failed
            self._count("watch_failures")
            await self._failed("watch", exc)
            return False
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # lightkube lets a line that is not JSON, or an event without
            # object.metadata.resourceVersion, escape as these.
            self._count("invalid_events")
            self._count("watch_failures")
            await self._failed("watch", exc, "invalid-event")
            return True
        except Exception as exc:
            self._count("watch_failures")
            await self._failed("watch", exc)
            return False
        # lightkube's watch never returns on its own (the transport raises WatchEnded).
        return False

    def _invalid(self) -> _Relist:
        self._count("invalid_events")
        self._count("watch_failures")
        return _Relist("invalid-event")

    async def _apply(self, kind: str, document: dict[str, Any]) -> None:
        if kind == "BOOKMARK":
            version = (document.get("metadata") or {}).get("resourceVersion")
            if not isinstance(version, str) or not version:
                raise self._invalid()
            self._version = version
            self._count("bookmarks")
            self._attempt = 0
            self._progress()
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise self._invalid()
        try:
            changed = object_from_document(document)
        except ValueError:
            raise self._invalid() from None
        if kind == "DELETED":
            self._objects.pop(changed.key, None)
        else:
            self._objects[changed.key] = changed
        self._version = changed.resource_version
        self._count("events")
        self._attempt = 0
        self._progress()
        event_type: EventType = kind  # type: ignore[assignment]
        await self._deliver(
            WatchEvent(
                event_type, changed, MappingProxyType(dict(self._objects)), changed.resource_version
            )
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        code = _status_code(exc)
        return {401: "unauthorized", 403: "forbidden", 404: "not-found", 410: "expired"}.get(
            code or 0, f"http-{code}" if code else "bad-status"
        )
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "unavailable"
    if isinstance(exc, K8sAwsAuthError):
        return exc.reason
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError | json.JSONDecodeError):
        return "invalid-response"
    return "error"


def _detail(exc: BaseException) -> str:
    # The server's Status message or the transport's own words, scrubbed and short.
    return scrub(str(exc))[:200]
