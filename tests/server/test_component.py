"""TokenReviewApp as a component: constructor checks, a lifespan a host app composes, metrics of the verifier."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from k8s_aws_auth import AsyncTokenVerifier, Identity, TokenVerifier, VerifierConfig
from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server import MappedUser, ServerMetrics, TokenReviewApp
from k8s_aws_auth.testing import FakeSTS, Principal
from tests.support.asgi import uvicorn_serving
from tests.support.server import review

CLUSTER = "component-cluster"


def _mapper(identity: Identity) -> MappedUser:
    return MappedUser(username=identity.arn, groups=("readers",))


@pytest.fixture
def fake() -> FakeSTS:
    return FakeSTS()


@pytest.fixture
def alice(fake: FakeSTS) -> Principal:
    return fake.create_principal("arn:aws:iam::111122223333:user/alice")


def _verifier(fake: FakeSTS) -> AsyncTokenVerifier:
    return AsyncTokenVerifier(VerifierConfig(CLUSTER), client=httpx.AsyncClient(transport=fake))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"max_token_size": 0}, "max_token_size must be a positive int"),
        ({"max_body_bytes": "64k"}, "max_body_bytes must be a positive int"),
        ({"body_timeout": -1}, "body_timeout must be a positive number"),
        ({"retry_after": 7200}, "retry_after must be an int of seconds"),
    ],
)
def test_bad_numbers_are_refused_at_construction(
    fake: FakeSTS, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        TokenReviewApp(_verifier(fake), _mapper, **change)


def test_a_sync_verifier_or_a_bad_mapper_is_refused_at_construction(fake: FakeSTS) -> None:
    with (
        TokenVerifier(VerifierConfig(CLUSTER)) as sync_verifier,
        pytest.raises(ConfigurationError, match="must be an AsyncTokenVerifier") as caught,
    ):
        TokenReviewApp(sync_verifier, _mapper)  # type: ignore[arg-type]
    assert "TokenVerifier.verify is not a coroutine function" in str(caught.value)
    with pytest.raises(ConfigurationError, match="map_identity must be callable"):
        TokenReviewApp(_verifier(fake), {"a": "b"})  # type: ignore[arg-type]


def test_a_mapper_returning_a_string_is_a_500_with_a_logged_reason(
    fake: FakeSTS, alice: Principal, caplog: pytest.LogCaptureFixture
) -> None:
    app = TokenReviewApp(_verifier(fake), lambda identity: identity.arn)  # type: ignore[arg-type,return-value]
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with (
        caplog.at_level(logging.INFO, logger="k8s_aws_auth.server"),
        uvicorn_serving(app, lifespan="off") as url,
    ):
        answer = httpx.post(f"{url}/authenticate", json=review(token))
    assert answer.status_code == 500
    assert answer.headers["Retry-After"] == "1"
    fields = [getattr(record, "fields", {}) for record in caplog.records]
    assert any(f.get("reason") == "mapper-returned-str" for f in fields), fields


def test_a_mounted_app_runs_its_hooks_through_the_host_s_lifespan(
    fake: FakeSTS, alice: Principal
) -> None:
    events: list[str] = []
    verifier = _verifier(fake)

    async def started() -> None:
        events.append("startup")

    async def stopped() -> None:
        events.append("shutdown")
        await verifier.aclose()

    review_app = TokenReviewApp(verifier, _mapper, on_startup=[started], on_shutdown=[stopped])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with review_app.lifespan():
            yield

    host = FastAPI(lifespan=lifespan)
    host.mount("/tokenreview", review_app)
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with uvicorn_serving(host) as url:
        assert events == ["startup"]
        answer = httpx.post(f"{url}/tokenreview/authenticate", json=review(token))
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text)["status"]["user"]["username"] == alice.arn
    assert events == ["startup", "shutdown"]
    assert verifier._is_closed  # closed by the shutdown hook


def test_metrics_watch_the_verifier_itself(fake: FakeSTS, alice: Principal) -> None:
    verifier = _verifier(fake)
    metrics = ServerMetrics()
    metrics.watch_verifier(verifier)
    app = TokenReviewApp(
        verifier, _mapper, on_result=metrics.record, metrics_endpoint=metrics.render
    )
    token = fake.make_token(alice, cluster_id=CLUSTER)
    with uvicorn_serving(app, lifespan="off") as url:
        assert httpx.post(f"{url}/authenticate", json=review(token)).status_code == 200
        scraped = httpx.get(f"{url}/metrics")
    assert scraped.status_code == 200
    assert "k8s_aws_auth_verifier_verifications_total 1.0" in scraped.text
    with pytest.raises(ConfigurationError, match="watch_verifier takes"):
        metrics.watch_verifier(42)
