"""Scrubbed accounts through TokenReviewApp: the mapper's scrubbing stands, the app's only adds.

The app is mounted with ``IdentityMapper.map`` and ``IdentityMapper.amap`` as
``docs/server.md`` shows. The verifier is a stand-in that returns the identity
STS would confirm: what is under test is what the app answers and logs once it
has that identity (the verifier's own logging is covered by its own tests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from k8s_aws_auth import Identity
from k8s_aws_auth.mapping import IdentityMapper, MappedUser, parse_document
from k8s_aws_auth.server import AuthenticationResult, ReviewedUser, TokenReviewApp

pytestmark = pytest.mark.anyio

SCRUBBED = "444455556666"
PLAIN = "111122223333"
SESSION = "jane.doe-scrubbed-session"
KEY_ID = "ASIAQSCRUBBEDKEY0001"
ROLE_ID = "AROAQSCRUBBEDROLE001"


def _identity(account: str) -> Identity:
    return Identity(
        arn=f"arn:aws:sts::{account}:assumed-role/Ops/{SESSION}",
        canonical_arn=f"arn:aws:iam::{account}:role/Ops",
        account_id=account,
        user_id=f"{ROLE_ID}:{SESSION}",
        session_name=SESSION,
        access_key_id=KEY_ID,
        sts_endpoint="sts.us-west-2.amazonaws.com",
        principal_type="assumed-role",
    )


def _disclosing(identity: Identity) -> list[str]:
    """What a scrubbed answer or log must never carry."""
    return [identity.arn, identity.canonical_arn, SESSION, KEY_ID, ROLE_ID]


class ConfirmedVerifier:
    """Answers every token with the identity STS would have confirmed."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def verify(self, token: str) -> Identity:
        return self.identity


def _mapper(scrubbed_by: str) -> IdentityMapper:
    """A mapper mapping role Ops in both accounts, scrubbing SCRUBBED by its argument or its file."""
    server: dict[str, Any] = {
        "mapRoles": [
            {"rolearn": f"arn:aws:iam::{account}:role/Ops", "username": "ops", "groups": ["ops"]}
            for account in (SCRUBBED, PLAIN)
        ]
    }
    if scrubbed_by == "file":
        server["scrubbedAccounts"] = [SCRUBBED]
    mapping_set = parse_document({"server": server}, format="mounted-file")
    return IdentityMapper(
        [mapping_set], scrubbed_accounts=[SCRUBBED] if scrubbed_by == "mapper" else []
    )


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of every logger, down to DEBUG, while the test runs."""
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    root = logging.getLogger()
    handler = Keep(logging.DEBUG)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _text(record: logging.LogRecord) -> str:
    """A record's message and every attribute, as any formatter could render them."""
    return record.getMessage() + json.dumps(vars(record), default=repr)


async def _review(app: TokenReviewApp) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
        response = await client.post(
            "/authenticate",
            json={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": "k8s-aws-v1.stand-in"},
            },
        )
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _method(mapper: IdentityMapper, name: str) -> Callable[[Identity], Any]:
    method: Callable[[Identity], Any] = getattr(mapper, name)
    return method


@pytest.mark.parametrize("scrubbed_by", ["mapper", "file"])
@pytest.mark.parametrize("method", ["map", "amap"])
async def test_identity_mapper_scrubbing_stands_in_answer_and_logs(
    method: str, scrubbed_by: str, records: list[logging.LogRecord]
) -> None:
    identity = _identity(SCRUBBED)
    results: list[AuthenticationResult] = []
    # The app is told nothing about scrubbed accounts: the mapper's word must stand.
    app = TokenReviewApp(
        ConfirmedVerifier(identity),
        _method(_mapper(scrubbed_by), method),
        on_result=results.append,
    )
    document = await _review(app)
    assert document["status"] == {
        "authenticated": True,
        "user": {
            "username": "ops",
            "uid": "aws-iam-authenticator:administrative:ops",
            "groups": ["ops"],
        },
    }
    assert [result.scrubbed for result in results] == [True]
    granted = [r for r in records if r.name == "k8s_aws_auth.server"]
    assert [r.getMessage() for r in granted] == ["access granted"]
    assert granted[0].__dict__["fields"]["uid"] == "aws-iam-authenticator:administrative:ops"
    for record in records:
        text = _text(record)
        leaked = [value for value in _disclosing(identity) if value in text]
        assert not leaked, (record.name, leaked)


@pytest.mark.parametrize("method", ["map", "amap"])
async def test_unscrubbed_identity_mapper_user_is_answered_as_the_mapper_made_it(
    method: str, records: list[logging.LogRecord]
) -> None:
    identity = _identity(PLAIN)
    mapper = _mapper("mapper")
    expected = mapper.map(identity)
    assert expected is not None
    assert expected.uid is not None
    document = await _review(TokenReviewApp(ConfirmedVerifier(identity), _method(mapper, method)))
    assert document["status"]["user"] == {
        "username": "ops",
        "uid": expected.uid,
        "groups": ["ops"],
        "extra": {key: list(values) for key, values in expected.extra.items()},
    }
    assert expected.extra["sessionName"] == (SESSION,)
    (granted,) = [r for r in records if r.name == "k8s_aws_auth.server"]
    assert granted.__dict__["fields"]["arn"] == identity.arn


def _mapped_by_hand(identity: Identity) -> MappedUser:
    return MappedUser(username="ops", groups=("ops",))


def _reviewed_by_hand(identity: Identity) -> ReviewedUser:
    return ReviewedUser(username="ops", uid="custom-uid", extra={"arn": (identity.arn,)})


def _mapper_map(identity: Identity) -> MappedUser | None:
    return _mapper("none").map(identity)


@pytest.mark.parametrize("map_identity", [_mapper_map, _mapped_by_hand, _reviewed_by_hand])
async def test_the_apps_scrubbed_accounts_add_scrubbing_to_every_kind_of_answer(
    map_identity: Callable[[Identity], Any], records: list[logging.LogRecord]
) -> None:
    identity = _identity(SCRUBBED)
    app = TokenReviewApp(ConfirmedVerifier(identity), map_identity, scrubbed_accounts=[SCRUBBED])
    user = (await _review(app))["status"]["user"]
    assert user["uid"] == "aws-iam-authenticator:administrative:ops"
    assert "extra" not in user
    for record in records:
        assert not [value for value in _disclosing(identity) if value in _text(record)]


async def test_the_apps_scrubbed_accounts_cannot_unscrub_another_account() -> None:
    # The app scrubs only PLAIN; the mapper scrubs SCRUBBED: both stay scrubbed.
    identity = _identity(SCRUBBED)
    app = TokenReviewApp(
        ConfirmedVerifier(identity), _mapper("mapper").amap, scrubbed_accounts=[PLAIN]
    )
    user = (await _review(app))["status"]["user"]
    assert user == {
        "username": "ops",
        "uid": "aws-iam-authenticator:administrative:ops",
        "groups": ["ops"],
    }


async def test_a_hand_built_user_gets_upstreams_uid_and_extras_plus_its_own() -> None:
    identity = _identity(PLAIN)

    def map_identity(identity: Identity) -> MappedUser:
        return MappedUser(username="ops", extra={"team": ("platform",)})

    user = (await _review(TokenReviewApp(ConfirmedVerifier(identity), map_identity)))["status"][
        "user"
    ]
    assert user["uid"] == f"aws-iam-authenticator:{PLAIN}:{ROLE_ID}:{SESSION}"
    assert user["extra"] == {
        "arn": [identity.arn],
        "canonicalArn": [identity.canonical_arn],
        "sessionName": [SESSION],
        "accessKeyId": [KEY_ID],
        "principalId": [f"{ROLE_ID}:{SESSION}"],
        "sigs.k8s.io/aws-iam-authenticator/principalId": [f"{ROLE_ID}:{SESSION}"],
        "team": ["platform"],
    }


def test_one_mapped_user_type_for_the_mapper_and_the_app() -> None:
    from k8s_aws_auth import mapping, server

    assert server.MappedUser is mapping.MappedUser
