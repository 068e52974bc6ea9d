"""``TokenReviewApp(verifier, mapper.map)`` and ``mapper.amap`` type-check (mypy --strict runs over tests/).

``docs/server.md`` pairs the app with the package's ``IdentityMapper``; this
module is the pairing as users write it, so ``nox -s check``'s mypy step fails
if the app's ``map_identity`` type and the mapper's return type drift apart.
"""

from __future__ import annotations

import pytest

from k8s_aws_auth import AsyncTokenVerifier, VerifierConfig
from k8s_aws_auth.mapping import IdentityMapper, MappedUser, MappingSet
from k8s_aws_auth.server import TokenReviewApp

pytestmark = pytest.mark.anyio


def documented_pairings(
    verifier: AsyncTokenVerifier, mapper: IdentityMapper
) -> list[TokenReviewApp]:
    """The pairings docs/server.md shows: the sync and the async mapper method."""
    return [TokenReviewApp(verifier, mapper.map), TokenReviewApp(verifier, mapper.amap)]


def by_hand(identity: object) -> MappedUser:
    """A hand-built user of the mapping package's type, as the app accepts it."""
    return MappedUser(username="ops", groups=("ops",))


async def test_the_documented_pairings_build_apps() -> None:
    mapper = IdentityMapper([MappingSet()])
    async with AsyncTokenVerifier(VerifierConfig("typing-cluster")) as verifier:
        apps = documented_pairings(verifier, mapper)
    assert [app.map_identity for app in apps] == [mapper.map, mapper.amap]
    assert by_hand(None).uid is None
