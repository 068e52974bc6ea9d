"""An answer's head and body in one write: one TLS record and one ``send()``, not two.

uvicorn's protocols write an answer's head when the app sends
``http.response.start`` and its body when it sends ``http.response.body``; over
TLS each write is a record of its own, encrypted and sent by its own system
call. For a TokenReview (a head and a body of a few hundred bytes each) that
second record and call were a good part of the server's time per answer.

`CoalescedWrites` stands in for the transport of one request's cycle (the
connection guard hands it over when the request's head has arrived): the first
write after `CoalescedWrites.hold_next` is held, and goes out with the next
write, or on its own at the latest when the event loop runs its next callbacks
(``call_soon``), so nothing is held past the task step that wrote it. Writes
that do not go through the cycle (the protocol's own error answers, the guard's
431) are preceded by `CoalescedWrites.release`, so the order on the wire never
changes.
"""

from __future__ import annotations

import asyncio

__all__ = ["CoalescedWrites"]

#: Larger first writes go out at once: joining them would copy more than a send costs.
MAX_HELD = 16 * 1024


class CoalescedWrites:
    """The ``write``/``close``/``is_closing`` of a transport, holding one write to join the next."""

    __slots__ = ("_armed", "_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._armed = False

    def hold_next(self) -> None:
        """Hold the next write (an answer's head) until the one after it, or the next callbacks."""
        self._armed = True

    def write(self, data: bytes) -> None:
        """Write ``data``, after the held write if any (in one write)."""
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held + data)
        elif self._armed and len(data) <= MAX_HELD:
            self._armed = False
            self._held = bytes(data)
            self._loop.call_soon(self.release)
        else:
            self.transport.write(data)

    def release(self) -> None:
        """Write the held write now (nothing when none is held, or the transport is closing)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():  # aborted meanwhile: nobody reads it
                self.transport.write(held)

    def close(self) -> None:
        """Write what is held, then close the transport."""
        self.release()
        self.transport.close()

    def is_closing(self) -> bool:
        """Whether the transport is closing."""
        return self.transport.is_closing()
