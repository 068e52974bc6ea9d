"""The list-then-watch engine (``k8s_aws_auth._kube.ListWatch``) against the Kubernetes API stand-in.

Real loopback HTTPS, real lightkube and httpx; only the backoff's sleep is
replaced, by a recorder that may hold the engine at a failure so a test can
change the world while the watch is down. Time-bounded by conditions, never
by durations.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import pathlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
import trustme

from k8s_aws_auth._kube import (
    AWS_AUTH,
    IAM_IDENTITY_MAPPINGS,
    Backoff,
    KubeSettings,
    ListWatch,
    WatchEvent,
    WatchSettings,
    async_client,
    resolve_connection,
)
from k8s_aws_auth._runtime.log_guard import LogGuard
from tests.support.kube_api import CONFIGMAPS, KubeAPIStandIn, kube_api, write_token_kubeconfig

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def api(ca: trustme.CA) -> Iterator[KubeAPIStandIn]:
    with kube_api(ca) as server:
        yield server


class Sleeps:
    """The engine's ``sleep``: records each delay; after ``hold()`` the next one waits for ``release()``."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._gate: asyncio.Event | None = None
        self.holding = False

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        gate = self._gate
        if gate is not None:
            self.holding = True
            await gate.wait()
            self.holding = False
            self._gate = None
        await asyncio.sleep(0.001)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Engine:
    """A running ``ListWatch`` with the events it delivered."""

    def __init__(self, watch: ListWatch, events: list[WatchEvent], sleeps: Sleeps) -> None:
        self.watch, self.events, self.sleeps = watch, events, sleeps

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def data(self) -> list[dict[str, str] | None]:
        """The ``data`` of each ADDED/MODIFIED event's ConfigMap."""
        return [
            dict(event.object.body.get("data") or {})
            for event in self.events
            if event.object is not None and event.type != "DELETED"
        ]


def run_engine(
    api: KubeAPIStandIn,
    tmp_path: pathlib.Path,
    scenario: Callable[[Engine], Awaitable[None]],
    *,
    target: Any = AWS_AUTH,
    settings: WatchSettings | None = None,
    kube: KubeSettings | None = None,
    draw: Callable[[], float] = lambda: 0.0,
) -> Engine:
    """Start the engine over a token kubeconfig, run ``scenario``, stop it."""
    kubeconfig = write_token_kubeconfig(tmp_path / "kubeconfig", api)
    connection = resolve_connection(
        attrs.evolve(kube or KubeSettings(), kubeconfig=str(kubeconfig))
    )
    events: list[WatchEvent] = []
    sleeps = Sleeps()

    async def main() -> Engine:
        client = async_client(connection)
        watch = ListWatch(client, target, events.append, settings=settings, sleep=sleeps, draw=draw)
        engine = Engine(watch, events, sleeps)
        task = asyncio.create_task(watch.run())
        try:
            await scenario(engine)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await client.close()
        return engine

    return asyncio.run(main())


async def open_watch(api: KubeAPIStandIn, engine: Engine, count: int = 1) -> None:
    """Wait until the engine's ``count``-th watch request is open on the stand-in."""
    await until(lambda: api.watching(count))


# -- the first sync and live changes ---------------------------------------------------------------


def test_initial_list_delivers_the_snapshot_then_the_watch_resumes_from_its_version(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("other", {"k": "v"})  # same namespace, not selected
    created = api.set_configmap("aws-auth", {"mapRoles": "- rolearn: a\n"})

    async def scenario(engine: Engine) -> None:
        assert not engine.watch.health().synced
        await open_watch(api, engine)

    engine = run_engine(api, tmp_path, scenario)
    first = engine.events[0]
    assert first.type == "SYNCED"
    assert list(first.objects) == [("kube-system", "aws-auth")]
    assert first.objects["kube-system", "aws-auth"].body["data"] == {"mapRoles": "- rolearn: a\n"}
    assert first.resource_version == str(created["metadata"]["resourceVersion"])
    lists = api.seen(lambda r: r.method == "GET" and not r.is_watch)
    assert lists[0].query["fieldSelector"] == "metadata.name=aws-auth"
    watch = api.watches()[0]
    assert watch.query["resourceVersion"] == first.resource_version
    assert watch.query["allowWatchBookmarks"] == "true"
    assert watch.query["fieldSelector"] == "metadata.name=aws-auth"
    assert 240 <= int(watch.query["timeoutSeconds"]) <= 300
    health = engine.watch.health()
    assert health.synced
    assert health.consecutive_failures == 0
    assert health.last_success is not None


def test_a_missing_object_syncs_empty_then_its_creation_edit_and_deletion_are_delivered(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_configmap("aws-auth", {"mapUsers": "one"})
        await until(lambda: len(engine.events) == 2)
        api.set_configmap("aws-auth", {"mapUsers": "two"})
        await until(lambda: len(engine.events) == 3)
        api.delete(CONFIGMAPS, "aws-auth", "kube-system")
        await until(lambda: len(engine.events) == 4)

    engine = run_engine(api, tmp_path, scenario)
    assert engine.types() == ["SYNCED", "ADDED", "MODIFIED", "DELETED"]
    assert dict(engine.events[0].objects) == {}
    assert engine.data() == [{"mapUsers": "one"}, {"mapUsers": "two"}]
    deleted = engine.events[3]
    assert deleted.object is not None
    assert deleted.object.name == "aws-auth"
    assert dict(deleted.objects) == {}
    assert engine.watch.counters().events == 3
    assert [r.query.get("resourceVersion") for r in api.watches()] == [
        engine.events[0].resource_version
    ]


# -- recovery ----------------------------------------------------------------------------------------


def test_a_watch_cut_mid_stream_resumes_from_the_last_version_without_losing_an_event(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_configmap("aws-auth", {"n": "1"})
        api.set_configmap("aws-auth", {"n": "2"})
        await until(lambda: len(engine.events) == 3)
        engine.sleeps.hold()
        api.cut_watches()  # half an event, then the connection closes
        await until(lambda: engine.sleeps.holding)
        api.set_configmap("aws-auth", {"n": "3"})  # while no watch is open
        api.set_configmap("aws-auth", {"n": "4"})
        engine.sleeps.release()
        await until(lambda: len(engine.events) == 5)
        api.set_configmap("aws-auth", {"n": "5"})
        await until(lambda: len(engine.events) == 6)

    engine = run_engine(api, tmp_path, scenario)
    assert engine.types() == ["SYNCED"] + ["MODIFIED"] * 5
    assert engine.data() == [{"n": str(n)} for n in range(1, 6)]
    first, second = api.watches()[:2]
    assert second.query["resourceVersion"] == engine.events[2].resource_version
    assert first.query["resourceVersion"] == engine.events[0].resource_version
    counters = engine.watch.counters()
    assert counters.lists == 1
    assert counters.watch_failures == 1
    assert engine.sleeps.delays == [0.5]  # one failure after progress: the first backoff step


def test_a_clean_end_rewatches_from_the_last_version_at_once(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_configmap("aws-auth", {"n": "1"})
        await until(lambda: len(engine.events) == 2)
        api.end_watches()
        await until(lambda: api.watching(2))

    engine = run_engine(api, tmp_path, scenario)
    assert api.watches()[1].query["resourceVersion"] == engine.events[1].resource_version
    assert engine.watch.counters().stream_ends == 1
    assert engine.sleeps.delays == []  # the stream had delivered: no backoff


def test_streams_that_end_at_once_back_off_instead_of_spinning(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    async def scenario(engine: Engine) -> None:
        for count in range(1, 5):
            await until(functools.partial(api.watching, count))
            api.end_watches()
        await until(lambda: len(engine.sleeps.delays) == 4)

    engine = run_engine(api, tmp_path, scenario)
    assert engine.sleeps.delays == [0.5, 1.0, 2.0, 4.0]
    assert engine.watch.counters().stream_ends >= 4


@pytest.mark.parametrize("how", ["compacted", "error-event", "http-status"])
def test_410_gone_relists(api: KubeAPIStandIn, tmp_path: pathlib.Path, how: str) -> None:
    api.set_configmap("aws-auth", {"n": "0"})

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        engine.sleeps.hold()
        api.cut_watches()
        await until(lambda: engine.sleeps.holding)
        api.set_configmap("aws-auth", {"n": "1"})
        if how == "compacted":
            api.compact()  # the resume point leaves the history: the real apiserver's ERROR event
        else:
            api.fail_next_watch(as_event=how == "error-event")
        engine.sleeps.release()
        await until(lambda: engine.types().count("SYNCED") == 2)
        await until(lambda: api.watching(3))

    engine = run_engine(api, tmp_path, scenario)
    assert engine.types() == ["SYNCED", "SYNCED"]
    relisted = engine.events[1]
    assert relisted.objects["kube-system", "aws-auth"].body["data"] == {"n": "1"}
    counters = engine.watch.counters()
    assert counters.expired == 1
    assert counters.lists == 2
    watches = api.watches()
    # The second watch hit the 410; the third starts from the relist's version.
    assert watches[2].query["resourceVersion"] == relisted.resource_version
    assert engine.watch.health().last_error == "expired"


def test_bookmarks_move_the_resume_point_without_an_event(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_configmap("unrelated", {"x": "1"})  # moves the server's version, not selected
        api.set_configmap("unrelated", {"x": "2"})
        api.bookmark()
        await until(lambda: engine.watch.counters().bookmarks == 1)
        api.cut_watches()
        await until(lambda: len(api.watches()) == 2)

    engine = run_engine(api, tmp_path, scenario)
    assert engine.types() == ["SYNCED"]
    resumed = api.watches()[1].query["resourceVersion"]
    assert int(resumed) == int(engine.events[0].resource_version) + 2
    assert engine.watch.health().resource_version == resumed


def test_garbage_lines_are_counted_and_relisted_and_the_watch_goes_on(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})
    garbage = [
        b"this is not json",
        b'{"type":"MODIFIED","object":{"metadata":{"name":"aws-auth"}}}',  # no resourceVersion
        b'{"type":"SURPRISE","object":{"metadata":{"name":"x","resourceVersion":"7"}}}',
        b'{"type":"ERROR","object":"not a status"}',
        b"[1, 2, 3]",
    ]

    async def scenario(engine: Engine) -> None:
        for count, line in enumerate(garbage, start=1):
            await until(functools.partial(api.watching, count))
            api.inject_line(line)
            await until(lambda: engine.watch.counters().lists == count + 1)  # noqa: B023 - awaited here
        await until(lambda: api.watching(len(garbage) + 1))
        api.set_configmap("aws-auth", {"n": "after"})
        await until(lambda: engine.types()[-1] == "MODIFIED")

    engine = run_engine(api, tmp_path, scenario)
    counters = engine.watch.counters()
    assert counters.invalid_events == len(garbage)
    assert counters.lists == len(garbage) + 1
    assert engine.types() == ["SYNCED"] * (len(garbage) + 1) + ["MODIFIED"]
    assert engine.data()[-1] == {"n": "after"}


def test_an_oversized_event_is_counted_logged_without_content_and_relisted(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})
    secretish = "S3CR3T-CONTENT-" * 400
    line = json.dumps(
        {
            "type": "MODIFIED",
            "object": {
                "metadata": {"name": "aws-auth", "resourceVersion": "999"},
                "data": {"n": secretish},
            },
        }
    ).encode()

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.inject_line(line)
        await until(lambda: engine.watch.counters().lists == 2)
        await until(lambda: api.watching(2))
        api.set_configmap("aws-auth", {"n": "small"})
        await until(lambda: engine.types()[-1] == "MODIFIED")

    with caplog.at_level("WARNING", logger="k8s_aws_auth.kube"):
        engine = run_engine(api, tmp_path, scenario, kube=KubeSettings(max_event_bytes=4096))
    counters = engine.watch.counters()
    assert counters.oversized_events == 1
    assert counters.events == 1
    assert engine.data() == [{"n": "small"}]
    records = [r for r in caplog.records if r.name == "k8s_aws_auth.kube"]
    assert any(getattr(r, "reason", None) == "oversized-event" for r in records)
    assert all("S3CR3T" not in r.getMessage() + str(r.__dict__) for r in records)


def test_backoff_grows_is_capped_and_health_reports_the_failures(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.tokens = set()  # every request: 401
    settings = WatchSettings(backoff=Backoff(initial=0.5, factor=2.0, cap=5.0, jitter=0.5))

    async def scenario(engine: Engine) -> None:
        await until(lambda: len(engine.sleeps.delays) >= 7)
        health = engine.watch.health()
        assert not health.synced
        assert health.consecutive_failures >= 7
        assert health.last_error == "unauthorized"
        engine.sleeps.hold()
        await until(lambda: engine.sleeps.holding)
        api.tokens = {"stand-in-token"}
        engine.sleeps.release()
        await until(lambda: engine.watch.health().synced)

    engine = run_engine(api, tmp_path, scenario, settings=settings, draw=lambda: 1.0)
    # draw=1.0 takes the whole jitter off: half of 0.5, 1, 2, 4, then the 5 s cap.
    assert engine.sleeps.delays[:7] == [0.25, 0.5, 1.0, 2.0, 2.5, 2.5, 2.5]
    assert engine.watch.counters().list_failures >= 7
    assert engine.watch.health().consecutive_failures == 0


def test_a_consumer_that_raises_is_counted_and_the_watch_goes_on(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_configmap("aws-auth", {"n": "0"})
    seen: list[str] = []

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_configmap("aws-auth", {"n": "1"})
        api.set_configmap("aws-auth", {"n": "2"})
        await until(lambda: len(seen) == 3)

    def consumer(event: WatchEvent) -> None:
        seen.append(event.type)
        if len(seen) == 2:
            raise RuntimeError("consumer bug")

    kubeconfig = write_token_kubeconfig(tmp_path / "kubeconfig", api)

    async def main() -> ListWatch:
        client = async_client(resolve_connection(KubeSettings(kubeconfig=str(kubeconfig))))
        watch = ListWatch(client, AWS_AUTH, consumer)
        task = asyncio.create_task(watch.run())
        try:
            await scenario(Engine(watch, [], Sleeps()))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()
        return watch

    watch = asyncio.run(main())
    assert seen == ["SYNCED", "MODIFIED", "MODIFIED"]
    assert watch.counters().consumer_errors == 1


# -- the custom resource collection --------------------------------------------------------------------


def test_the_crd_collection_lists_in_chunks_and_follows_adds_and_deletes(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    for index in range(3):
        api.set_mapping(f"m{index}", f"arn:aws:iam::111122223333:user/u{index}", f"u{index}")

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.set_mapping("m3", "arn:aws:iam::111122223333:user/u3", "u3", ["g"])
        api.delete("iamidentitymappings", "m0")
        await until(lambda: len(engine.events) == 3)

    engine = run_engine(
        api, tmp_path, scenario, target=IAM_IDENTITY_MAPPINGS, settings=WatchSettings(page_size=2)
    )
    synced = engine.events[0]
    assert sorted(name for _, name in synced.objects) == ["m0", "m1", "m2"]
    lists = api.seen(lambda r: r.method == "GET" and not r.is_watch)
    assert [r.query.get("limit") for r in lists] == ["2", "2"]
    assert "continue" not in lists[0].query
    assert lists[1].query["continue"]
    assert all(
        r.path == "/apis/iamauthenticator.k8s.aws/v1alpha1/iamidentitymappings" for r in lists
    )
    assert engine.types() == ["SYNCED", "ADDED", "DELETED"]
    assert sorted(name for _, name in engine.events[-1].objects) == ["m1", "m2", "m3"]
    added = engine.events[1].object
    assert added is not None
    assert added.body["spec"]["groups"] == ["g"]
    assert added.namespace is None


def test_the_kube_logger_is_guarded_and_an_echoed_token_never_reaches_a_record(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile API server quotes a token in an ERROR Status: the records carry no trace of it."""
    token = (
        "k8s-aws-v1." + "aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPUdldENhbGxlcklkZW50aXR5" * 2
    )
    api.set_configmap("aws-auth", {"n": "0"})
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 500,
        "reason": "InternalError",
        "message": f"the request carried {token}",
    }
    line = json.dumps({"type": "ERROR", "object": status}).encode()

    async def scenario(engine: Engine) -> None:
        await open_watch(api, engine)
        api.inject_line(line)
        await until(lambda: api.watching(2))  # the failed watch was retried

    with caplog.at_level("DEBUG", logger="k8s_aws_auth.kube"):
        run_engine(api, tmp_path, scenario)
    assert isinstance(logging.getLogger("k8s_aws_auth.kube").filters[0], LogGuard)
    records = [r for r in caplog.records if r.name == "k8s_aws_auth.kube"]
    assert records  # the failed watch was logged
    for record in records:
        assert "k8s-aws-v1." not in record.getMessage() + str(record.__dict__)
