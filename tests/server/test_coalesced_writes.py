"""`CoalescedWrites`: an answer's head joins its body, and nothing is held for long or reordered."""

from __future__ import annotations

import asyncio

import pytest

from k8s_aws_auth.server._coalesced_writes import MAX_HELD, CoalescedWrites

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the writes belong to uvicorn's protocols (uvloop is asyncio's API too)."""
    return "asyncio"


class RecordingTransport:
    """The three transport methods the cycle uses, recording each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def coalesced(transport: RecordingTransport) -> CoalescedWrites:
    return CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_the_head_goes_out_with_the_body() -> None:
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.hold_next()
    writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    writes.write(b"body")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await asyncio.sleep(0)  # the scheduled release finds nothing held
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


async def test_a_held_write_goes_out_at_the_next_callbacks_without_a_second_write() -> None:
    # A streaming answer (or 100 Continue): the head is not held across an await.
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.hold_next()
    writes.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    writes.write(b"later")
    assert transport.writes[-1] == b"later"


async def test_only_the_first_write_after_hold_next_is_held() -> None:
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.write(b"unarmed")
    assert transport.writes == [b"unarmed"]
    writes.hold_next()
    writes.write(b"a")
    writes.write(b"b")
    writes.write(b"c")
    assert transport.writes == [b"unarmed", b"ab", b"c"]


async def test_a_large_first_write_is_not_held() -> None:
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.hold_next()
    writes.write(b"x" * (MAX_HELD + 1))
    assert len(transport.writes) == 1


async def test_release_and_close_write_the_held_bytes_first() -> None:
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.hold_next()
    writes.write(b"head")
    writes.release()
    transport.write(b"the protocol's own answer")  # e.g. a 400 for a pipelined request
    assert transport.writes == [b"head", b"the protocol's own answer"]
    writes.hold_next()
    writes.write(b"head-only answer")
    writes.close()
    assert transport.writes[-1] == b"head-only answer"
    assert transport.closing


async def test_nothing_is_written_to_a_transport_closed_meanwhile() -> None:
    transport = RecordingTransport()
    writes = coalesced(transport)
    writes.hold_next()
    writes.write(b"head")
    transport.close()  # aborted by the guard
    await asyncio.sleep(0)
    assert transport.writes == []
