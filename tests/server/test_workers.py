"""``serve --workers 2`` as users run it: both workers serve, SIGTERM drains, a dead worker is replaced.

A worker is taken out of the kernel's choice with SIGSTOP (a stopped process
accepts nothing; the shared socket's next connection goes to the other worker),
so each scenario knows which worker holds which connection. Waits are liveness
bounds (``CUT_OFF``), never measurements.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import ssl
from collections.abc import Iterable, Iterator

import pytest

from k8s_aws_auth.server import AuthenticationResult, ServerMetrics
from k8s_aws_auth.testing import FakeSTS
from tests.server.test_connections import (
    ALICE,
    CUT_OFF,
    REVIEW_PATH,
    Webhook,
    _json,
    _tcp_table,
    http_request,
    read_response,
    wait_for,
)
from tests.support.ports import free_port
from tests.support.server import ServerProcess, review, start_webhook

pytestmark = pytest.mark.slow

REVIEWS = "k8s_aws_auth_token_reviews_total"


def worker_pids(server: ServerProcess) -> list[int]:
    """The pids of the workers that logged "serving", oldest first."""
    return [int(r["pid"]) for r in server.logs() if r.get("message") == "serving"]


def _running(pid: int) -> bool:
    try:  # the state after the command's closing parenthesis; Z: exited, not yet reaped
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def live_workers(server: ServerProcess) -> set[int]:
    """The supervisor's running children that are workers (not the resource tracker)."""
    children: set[int] = set()
    for pid in pathlib.Path(f"/proc/{server.process.pid}/task").glob("*/children"):
        children.update(int(child) for child in pid.read_text().split())
    return {pid for pid in children if pid in worker_pids(server) and _running(pid)}


def replaced(server: ServerProcess, killed: int) -> bool:
    """Whether two workers run again, the ``killed`` one not among them."""
    workers = live_workers(server)
    return len(workers) == 2 and killed not in workers


@contextlib.contextmanager
def two_workers(root: pathlib.Path, *flags: str) -> Iterator[Webhook]:
    sts = FakeSTS()
    mapping = {"mapUsers": [{"userARN": ALICE, "username": "alice"}]}
    with sts.serve() as sts_url:
        server = start_webhook(root, mapping, sts_url, flags=("--workers", "2", *flags))
        running = Webhook(root, sts, server)
        try:
            wait_for(lambda: len(live_workers(server)) == 2, "two workers did not start", server)
            yield running
        finally:
            running.close()
            server.close()


@contextlib.contextmanager
def only(pid: int, workers: Iterable[int]) -> Iterator[None]:
    """Every worker but ``pid`` stopped (SIGSTOP) for the block: new connections go to ``pid``."""
    others = [other for other in workers if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def fresh_review(running: Webhook) -> str:
    """A review over a new connection (the pooled one would stay with its worker)."""
    with running.tls() as sock:
        sock.sendall(running.review_request())
        sock.settimeout(CUT_OFF)
        status, _, body = read_response(sock)
    assert status == 200, body
    return body.decode()


def fresh_metric(running: Webhook, name: str) -> float:
    """A metric's value, scraped over a new connection."""
    with running.tls() as sock:
        sock.sendall(http_request("GET", "/metrics"))
        sock.settimeout(CUT_OFF)
        status, _, body = read_response(sock)
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def read_by_server(running: Webhook, sock: ssl.SSLSocket) -> bool:
    """Whether the server has read everything sent on ``sock`` (its receive queue is empty)."""
    client_port = sock.getsockname()[1]
    return any(
        local == running.port and remote == client_port and rx_queue == 0
        for local, remote, _, rx_queue in _tcp_table()
    )


def test_both_workers_serve_on_the_one_port(tmp_path: pathlib.Path) -> None:
    with two_workers(tmp_path) as running:
        workers = worker_pids(running.server)
        assert len(set(workers)) == 2
        for pid in workers:
            with only(pid, workers):
                assert '"username":"alice"' in fresh_review(running)


def test_every_worker_answers_on_the_one_health_port(tmp_path: pathlib.Path) -> None:
    health_port = free_port()
    flags = ("--health-port", str(health_port), "--health-address", "127.0.0.1")
    with two_workers(tmp_path, *flags) as running:
        workers = worker_pids(running.server)
        for pid in workers:
            with only(pid, workers):
                with socket.create_connection(("127.0.0.1", health_port), timeout=CUT_OFF) as sock:
                    sock.sendall(http_request("GET", "/anything"))
                    status, _, body = read_response(sock)
                assert (status, body) == (200, b"ok")
        # the supervisor bound the port once; no worker fought another for it
        messages = [r.get("message") for r in running.server.logs()]
        assert "the health port could not be bound" not in messages


def test_metrics_sum_every_worker(tmp_path: pathlib.Path) -> None:
    with two_workers(tmp_path) as running:
        workers = worker_pids(running.server)
        served = {workers[0]: 3, workers[1]: 2}
        for pid, count in served.items():
            with only(pid, workers):
                for _ in range(count):
                    fresh_review(running)
        name = f'{REVIEWS}{{code="200",result="success"}}'

        def scraped_by(pid: int) -> float:
            with only(pid, workers):
                return fresh_metric(running, name)

        # Whichever worker answers the scrape counts both (the other's part is its last
        # snapshot, at most a second old: hence the wait).
        wait_for(
            lambda: [scraped_by(pid) for pid in workers] == [5, 5],
            "the reviews of both workers are not summed",
        )
        # A worker killed (and replaced) does not take its counts with it.
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: replaced(running.server, workers[0]), "the worker was not replaced")
        with only(worker_pids(running.server)[-1], live_workers(running.server)):
            fresh_review(running)
        wait_for(lambda: running.counter(name) == 6, "a dead worker's counts were lost")


def test_a_killed_worker_is_replaced(tmp_path: pathlib.Path) -> None:
    with two_workers(tmp_path) as running:
        first, second = worker_pids(running.server)
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: replaced(running.server, first),
            "no worker replaced the killed one",
            running.server,
        )
        replacement = worker_pids(running.server)[-1]
        assert replacement not in (first, second)
        with only(replacement, [second, replacement]):
            assert '"username":"alice"' in fresh_review(running)
        assert any(
            r.get("message") == "a worker ended: starting another" for r in running.server.logs()
        )


def test_sigterm_drains_in_flight_reviews_on_every_worker(tmp_path: pathlib.Path) -> None:
    with two_workers(tmp_path) as running:
        workers = worker_pids(running.server)
        body = _json(review(running.token))
        head = http_request("POST", REVIEW_PATH, body)[: -len(body)]
        in_flight: list[ssl.SSLSocket] = []
        try:
            for pid in workers:
                with only(pid, workers):
                    sock = running.tls(timeout=CUT_OFF)
                    in_flight.append(sock)
                    # The head and half the body: a review in flight on this worker.
                    sock.sendall(head + body[: len(body) // 2])
                wait_for(lambda: read_by_server(running, in_flight[-1]), "the worker did not read")
            running.server.process.send_signal(signal.SIGTERM)
            wait_for(
                lambda: running.server.log_text().count('"Shutting down"') == 2,
                "the workers did not start shutting down",
                running.server,
            )
            for sock in in_flight:
                sock.sendall(body[len(body) // 2 :])
                status, _, answer = read_response(sock)
                # Shutting down, each worker still answers the review it had started.
                assert status == 200
                assert b'"username":"alice"' in answer
            assert running.server.process.wait(timeout=CUT_OFF) == 0
        finally:
            for sock in in_flight:
                sock.close()
        assert "Traceback" not in running.server.log_text()


# --- the merge of the workers' metrics, on real registries --------------------------------


def _worker(reviews: int, open_connections: int, expiry: float) -> ServerMetrics:
    metrics = ServerMetrics()
    for _ in range(reviews):
        metrics.record(AuthenticationResult(result="success", status_code=200, seconds=0.002))
    metrics.add_source(
        "connections", lambda: {"open": open_connections}, documentation="c", kind="gauge"
    )
    metrics.add_source(
        "serving_certificate",
        lambda: {"expiry_timestamp_seconds": expiry},
        documentation="e",
        kind="gauge",
    )
    return metrics


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in\n{text}")


def test_counters_sum_over_every_worker_gauges_over_the_running_ones(
    tmp_path: pathlib.Path,
) -> None:
    from k8s_aws_auth.server._worker_metrics import (
        _LIVE,
        merged_render,
        retire_snapshot,
        write_snapshot,
    )

    # Two other workers wrote snapshots (as files named by their pids); one of them ended.
    for pid, metrics in ((101, _worker(3, 4, 2000.0)), (102, _worker(2, 7, 1000.0))):
        write_snapshot(metrics.registry, tmp_path)
        (tmp_path / f"{_LIVE}{os.getpid()}.json").rename(tmp_path / f"{_LIVE}{pid}.json")
    retire_snapshot(tmp_path, 102)
    own = _worker(1, 1, 1500.0)
    body, content_type = merged_render(own.registry, tmp_path)()
    text = body.decode()
    assert content_type.startswith("text/plain")
    # Reviews: 1 (own, live) + 3 (running worker) + 2 (ended worker, kept).
    assert _value(text, 'k8s_aws_auth_token_reviews_total{code="200",result="success"}') == 6
    assert (
        _value(text, 'aws_iam_authenticator_authenticate_latency_seconds_count{result="success"}')
        == 6
    )
    # Open connections: the running workers only (1 + 4); the certificate: the latest expiry.
    assert _value(text, "k8s_aws_auth_connections_open") == 5
    assert _value(text, "k8s_aws_auth_serving_certificate_expiry_timestamp_seconds") == 2000.0
