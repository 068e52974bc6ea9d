"""The ports handed to server processes never come from the kernel's ephemeral range."""

from __future__ import annotations

import itertools
import socket

import pytest

from tests.support.ports import FIRST_PORT, PortAllocator, ephemeral_range, free_port, worker_block


def test_each_worker_has_a_block_of_its_own_below_the_ephemeral_range() -> None:
    blocks = [worker_block(f"gw{n}") for n in range(8)]
    assert worker_block(None) == blocks[0]
    assert blocks[0].start == FIRST_PORT
    for first, second in itertools.pairwise(blocks):
        assert first.stop <= second.start
    ephemeral = ephemeral_range()
    assert not any(port in ephemeral for block in blocks for port in block)


def test_a_port_is_free_and_outside_the_ephemeral_range() -> None:
    port = free_port()
    assert port not in ephemeral_range()
    with socket.create_server(("127.0.0.1", port)):  # the child binds it the same way
        pass


def test_a_taken_port_is_skipped() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        held = taken.getsockname()[1]
        allocator = PortAllocator(range(held, held + 1), range(0), start=0)
        # The block's one port is in use: the allocator falls back to the kernel's choice.
        assert allocator() != held
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        spare = probe.getsockname()[1]
    allocator = PortAllocator(range(spare, spare + 1), range(0), start=0)
    assert allocator() == spare


def test_ports_are_handed_out_in_turn_from_the_starting_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.support.ports._bindable", lambda port: True)
    allocator = PortAllocator(range(FIRST_PORT, FIRST_PORT + 4), range(0), start=2)
    assert [allocator() for _ in range(5)] == [20002, 20003, 20000, 20001, 20002]


def test_ports_in_the_ephemeral_range_are_never_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.support.ports._bindable", lambda port: True)
    allocator = PortAllocator(range(100, 110), range(105, 200), start=0)
    assert {allocator() for _ in range(20)} == set(range(100, 105))
