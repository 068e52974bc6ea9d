"""Optimistic-concurrency edits of aws-auth and status writes of IAMIdentityMapping, on the stand-in."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from k8s_aws_auth._kube import (
    CONFIG_MAP,
    IAM_IDENTITY_MAPPING,
    EditPolicy,
    KubeAPIError,
    KubeSettings,
    aedit_object,
    async_client,
    awrite_status,
    edit_object,
    resolve_connection,
    sync_client,
    write_status,
)
from k8s_aws_auth._kube.connect import Connection
from tests.support.kube_api import IAM_MAPPINGS, KubeAPIStandIn, kube_api, write_token_kubeconfig

pytestmark = pytest.mark.timeout(60)

ARN = "arn:aws:iam::111122223333:user/Alice"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def api(ca: trustme.CA) -> Iterator[KubeAPIStandIn]:
    with kube_api(ca) as server:
        yield server


@pytest.fixture
def connection(api: KubeAPIStandIn, tmp_path: pathlib.Path) -> Connection:
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    return resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))


def add_user(line: str) -> Any:
    """A modify function: append ``line`` to ``data.mapUsers``."""

    def modify(body: dict[str, Any] | None) -> dict[str, Any]:
        assert body is not None
        data = body.setdefault("data", {})
        data["mapUsers"] = data.get("mapUsers", "") + line
        return body

    return modify


def concurrent_maproles_edit(server: KubeAPIStandIn) -> None:
    current = server.get("configmaps", "aws-auth", "kube-system")
    assert current is not None
    server.set_configmap("aws-auth", {**current["data"], "mapRoles": "- rolearn: concurrent\n"})


def requests_of(api: KubeAPIStandIn) -> list[tuple[str, int]]:
    return [(request.method, request.status) for request in api.seen()]


def test_an_edit_survives_a_concurrent_writer(api: KubeAPIStandIn, connection: Connection) -> None:
    api.set_configmap("aws-auth", {"mapUsers": "- userarn: first\n"})
    api.before_next_put(concurrent_maproles_edit)
    sleeps: list[float] = []
    client = sync_client(connection)
    try:
        result = edit_object(
            client,
            CONFIG_MAP,
            "aws-auth",
            add_user("- userarn: ours\n"),
            namespace="kube-system",
            sleep=sleeps.append,
            draw=lambda: 0.0,
        )
    finally:
        client.close()
    assert result.attempts == 2
    assert requests_of(api) == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]
    stored = api.get("configmaps", "aws-auth", "kube-system")
    assert stored is not None
    assert stored["data"] == {  # nothing lost: both writers' changes are there
        "mapUsers": "- userarn: first\n- userarn: ours\n",
        "mapRoles": "- rolearn: concurrent\n",
    }
    assert result.after is not None
    assert result.after.resource_version == stored["metadata"]["resourceVersion"]
    assert result.before is not None
    assert result.before.body["data"]["mapRoles"] == "- rolearn: concurrent\n"
    assert sleeps == [0.05]


def test_the_async_edit_survives_a_concurrent_writer(
    api: KubeAPIStandIn, connection: Connection
) -> None:
    api.set_configmap("aws-auth", {"mapUsers": "- userarn: first\n"})
    api.before_next_put(concurrent_maproles_edit)

    async def main() -> Any:
        client = async_client(connection)
        try:
            return await aedit_object(
                client,
                CONFIG_MAP,
                "aws-auth",
                add_user("- userarn: ours\n"),
                namespace="kube-system",
                sleep=lambda _: asyncio.sleep(0),
            )
        finally:
            await client.close()

    result = asyncio.run(main())
    assert result.attempts == 2
    stored = api.get("configmaps", "aws-auth", "kube-system")
    assert stored is not None
    assert stored["data"]["mapUsers"] == "- userarn: first\n- userarn: ours\n"
    assert stored["data"]["mapRoles"] == "- rolearn: concurrent\n"


def test_endless_conflicts_give_up_after_the_policy_attempts(
    api: KubeAPIStandIn, connection: Connection
) -> None:
    api.set_configmap("aws-auth", {"mapUsers": ""})

    def always(server: KubeAPIStandIn) -> None:
        concurrent_maproles_edit(server)
        server.before_next_put(always)

    api.before_next_put(always)
    sleeps: list[float] = []
    client = sync_client(connection)
    try:
        with pytest.raises(KubeAPIError, match="gave up after 3 conflicts") as caught:
            edit_object(
                client,
                CONFIG_MAP,
                "aws-auth",
                add_user("x"),
                namespace="kube-system",
                policy=EditPolicy(attempts=3),
                sleep=sleeps.append,
                draw=lambda: 0.0,
            )
    finally:
        client.close()
    assert caught.value.reason == "kube-conflict"
    assert [m for m, s in requests_of(api) if m == "PUT"] == ["PUT"] * 3
    assert sleeps == [0.05, 0.1]


def test_a_missing_object_is_an_error_unless_created_and_a_creation_race_retries(
    api: KubeAPIStandIn, connection: Connection
) -> None:
    client = sync_client(connection)
    try:
        with pytest.raises(KubeAPIError, match="does not exist") as caught:
            edit_object(client, CONFIG_MAP, "aws-auth", add_user("x"), namespace="kube-system")
        assert caught.value.reason == "kube-not-found"

        calls: list[bool] = []

        def create_or_add(body: dict[str, Any] | None) -> dict[str, Any]:
            calls.append(body is None)
            if body is None:
                # Someone else creates aws-auth between our GET and our POST.
                api.set_configmap("aws-auth", {"mapUsers": "- userarn: theirs\n"})
                return {"data": {"mapUsers": "- userarn: ours\n"}}
            body["data"]["mapUsers"] += "- userarn: ours\n"
            return body

        result = edit_object(
            client,
            CONFIG_MAP,
            "aws-auth",
            create_or_add,
            namespace="kube-system",
            policy=EditPolicy(create_missing=True),
            sleep=lambda _: None,
        )
    finally:
        client.close()
    assert calls == [True, False]
    assert result.attempts == 2
    stored = api.get("configmaps", "aws-auth", "kube-system")
    assert stored is not None
    assert stored["data"]["mapUsers"] == "- userarn: theirs\n- userarn: ours\n"
    methods = requests_of(api)[1:]  # after the first GET (404, no create)
    assert methods == [("GET", 404), ("POST", 409), ("GET", 200), ("PUT", 200)]


def test_no_change_and_dry_run_write_nothing(api: KubeAPIStandIn, connection: Connection) -> None:
    api.set_configmap("aws-auth", {"mapUsers": "a"})
    client = sync_client(connection)
    try:
        unchanged = edit_object(
            client, CONFIG_MAP, "aws-auth", lambda body: None, namespace="kube-system"
        )
        dry = edit_object(
            client,
            CONFIG_MAP,
            "aws-auth",
            add_user("b"),
            namespace="kube-system",
            policy=EditPolicy(dry_run=True),
        )
    finally:
        client.close()
    assert not unchanged.changed
    assert dry.changed
    assert dry.after is not None
    assert dry.after.body["data"]["mapUsers"] == "ab"
    assert [m for m, _ in requests_of(api)] == ["GET", "GET"]
    stored = api.get("configmaps", "aws-auth", "kube-system")
    assert stored is not None
    assert stored["data"] == {"mapUsers": "a"}


def test_status_is_written_through_the_status_subresource(
    api: KubeAPIStandIn, connection: Connection
) -> None:
    created = api.set_mapping("alice", ARN, "alice", ["devs"])

    async def main() -> Any:
        client = async_client(connection)
        try:
            put = await awrite_status(
                client,
                IAM_IDENTITY_MAPPING,
                "alice",
                {"canonicalARN": ARN.lower()},
                resource_version=created["metadata"]["resourceVersion"],
            )
            with pytest.raises(KubeAPIError) as stale:  # the version we just replaced
                await awrite_status(
                    client,
                    IAM_IDENTITY_MAPPING,
                    "alice",
                    {"canonicalARN": "x"},
                    resource_version=created["metadata"]["resourceVersion"],
                )
            patched = await awrite_status(client, IAM_IDENTITY_MAPPING, "alice", {"userID": "AIDA"})
            return put, stale.value, patched
        finally:
            await client.close()

    put, stale, patched = asyncio.run(main())
    writes = [r for r in api.seen() if r.method != "GET"]
    path = "/apis/iamauthenticator.k8s.aws/v1alpha1/iamidentitymappings/alice/status"
    assert [(r.method, r.path, r.status) for r in writes] == [
        ("PUT", path, 200),
        ("PUT", path, 409),
        ("PATCH", path, 200),
    ]
    assert writes[2].content_type == "application/merge-patch+json"
    assert stale.reason == "kube-conflict"
    assert put.body["status"] == {"canonicalARN": ARN.lower()}
    assert patched.body["status"] == {"canonicalARN": ARN.lower(), "userID": "AIDA"}
    stored = api.get(IAM_MAPPINGS, "alice")
    assert stored is not None
    assert stored["spec"] == {"arn": ARN, "username": "alice", "groups": ["devs"]}  # untouched


def test_the_sync_status_write(api: KubeAPIStandIn, connection: Connection) -> None:
    api.set_mapping("bob", ARN, "bob")
    client = sync_client(connection)
    try:
        written = write_status(client, IAM_IDENTITY_MAPPING, "bob", {"canonicalARN": ARN.lower()})
        with pytest.raises(KubeAPIError) as missing:
            write_status(client, IAM_IDENTITY_MAPPING, "nobody", {"canonicalARN": "x"})
    finally:
        client.close()
    assert written.body["status"]["canonicalARN"] == ARN.lower()
    assert missing.value.reason == "kube-not-found"
    assert missing.value.status_code == 404
    assert api.seen()[-1].path.endswith("/iamidentitymappings/nobody/status")
