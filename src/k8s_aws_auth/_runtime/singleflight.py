"""Single-flight: concurrent calls for the same key share one execution.

The first caller for a key (the *leader*) runs the work; callers arriving while
it runs (*followers*) wait for its outcome instead of starting their own. Errors
are shared like results (each follower gets its own copy, so tracebacks do not
pile up on one object). A leader that is cancelled or interrupted shares
nothing: its followers wake up and one of them leads a fresh attempt, so nobody
hangs on an abandoned call. Nothing is remembered after the call ends; caching
is a separate concern (``cache``).

`SingleFlight` is for threads; `AsyncSingleFlight` for tasks of
one event loop (asyncio or trio, through anyio).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["AsyncSingleFlight", "SingleFlight"]

T = TypeVar("T")


class _Call(Generic[T]):
    """The shared state of one in-flight call."""

    __slots__ = ("abandoned", "error", "result")

    def __init__(self) -> None:
        self.abandoned = False
        self.result: T | None = None
        self.error: Exception | None = None


class _SyncCall(_Call[T]):
    __slots__ = ("gate",)

    def __init__(self) -> None:
        super().__init__()
        # Followers wait by acquiring this lock, which the leader releases when the
        # call ends. The first follower creates it (already acquired, under the
        # flight's lock), so a call nobody joins allocates no lock at all.
        self.gate: threading.Lock | None = None


class _AsyncCall(_Call[T]):
    __slots__ = ("done",)

    def __init__(self) -> None:
        super().__init__()
        # Created by the first follower and set by the leader when the call ends,
        # so a call nobody joins creates no event.
        self.done: anyio.Event | None = None


def _replay(error: Exception) -> Exception:
    """A copy of ``error`` for one follower (same class, attributes and cause)."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception class that cannot be rebuilt: share the original
        return error
    clone.__cause__ = error.__cause__
    clone.__suppress_context__ = error.__suppress_context__
    return clone


def _outcome(call: _Call[T]) -> T:
    if call.error is not None:
        raise _replay(call.error)
    result: T = call.result  # type: ignore[assignment]  # no error ⇒ the leader set it
    return result


class SingleFlight(Generic[T]):
    """Thread-based single-flight (followers block on the leader's outcome).

    ``joins`` counts the callers that shared another caller's execution.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _SyncCall[T]] = {}
        self.joins = 0

    def __len__(self) -> int:
        """The number of calls in flight."""
        return len(self._calls)

    def do(self, key: Hashable, work: Callable[[], T]) -> T:
        """Run ``work`` for ``key``, or wait for the run already in flight and share its outcome."""
        while True:
            with self._lock:
                call = self._calls.get(key)
                if call is None:
                    call = self._calls[key] = _SyncCall()
                    gate = None
                else:
                    self.joins += 1
                    gate = call.gate
                    if gate is None:
                        gate = call.gate = threading.Lock()
                        gate.acquire()
            if gate is None:
                return self._lead(key, call, work)
            with gate:  # returns once the leader has released it
                pass
            if not call.abandoned:
                return _outcome(call)
            # The leader was interrupted: try again (possibly as the new leader).

    def _lead(self, key: Hashable, call: _SyncCall[T], work: Callable[[], T]) -> T:
        try:
            result = work()
        except Exception as exc:
            call.error = exc
            raise
        except BaseException:
            call.abandoned = True
            raise
        else:
            call.result = result
            return result
        finally:
            with self._lock:
                del self._calls[key]
                gate = call.gate  # no follower can create it from now on
            if gate is not None:
                gate.release()


class AsyncSingleFlight(Generic[T]):
    """Task-based single-flight for one event loop (followers await an ``anyio.Event``).

    No lock is needed: the bookkeeping never awaits. ``joins`` counts the
    callers that shared another caller's execution.
    """

    def __init__(self) -> None:
        self._calls: dict[Hashable, _AsyncCall[T]] = {}
        self.joins = 0

    def __len__(self) -> int:
        """The number of calls in flight."""
        return len(self._calls)

    async def do(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Await ``work()`` for ``key``, or await the run already in flight and share its outcome."""
        while True:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _AsyncCall()
                return await self._lead(key, call, work)
            self.joins += 1
            done = call.done
            if done is None:
                done = call.done = anyio.Event()
            await done.wait()
            if not call.abandoned:
                return _outcome(call)
            # The leader was cancelled: try again (possibly as the new leader).

    async def _lead(
        self, key: Hashable, call: _AsyncCall[T], work: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            result = await work()
        except Exception as exc:
            call.error = exc
            raise
        except BaseException:  # cancellation (asyncio or trio), KeyboardInterrupt
            call.abandoned = True
            raise
        else:
            call.result = result
            return result
        finally:
            del self._calls[key]
            if call.done is not None:
                call.done.set()
