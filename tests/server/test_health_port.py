"""The health port never stops the webhook: a port another server holds is logged, and serving goes on."""

from __future__ import annotations

import pathlib

import pytest

from k8s_aws_auth.testing import FakeSTS
from tests.support.ports import free_port
from tests.support.server import start_webhook

pytestmark = pytest.mark.slow


def test_a_health_port_held_by_another_server_is_logged_and_the_webhook_serves(
    tmp_path: pathlib.Path,
) -> None:
    health = ("--health-port", str(free_port()), "--health-address", "127.0.0.1")
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    sts = FakeSTS()
    with sts.serve() as sts_url:
        first = start_webhook(tmp_path / "first", {}, sts_url, flags=health)
        try:
            # Both bind with SO_REUSEADDR: only listen() sees the clash, and must not kill it.
            second = start_webhook(tmp_path / "second", {}, sts_url, flags=health)
            try:
                messages = [r.get("message") for r in second.logs()]
                assert "the health port could not be bound" in messages
                assert "serving" in messages
                assert second.process.poll() is None
            finally:
                second.close()
            first_messages = [r.get("message") for r in first.logs()]
            assert "the health port could not be bound" not in first_messages
        finally:
            first.close()
