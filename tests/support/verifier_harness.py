"""Run the same verification through either shell (sync, asyncio, trio) for shared suites.

Not a test module (leading underscore). Only library errors are caught and
returned: anything else escaping ``verify`` fails the calling test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import anyio
import attrs
import httpx

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Identity,
    TokenVerifier,
    VerifierConfig,
    VerifierStats,
    averify_token,
    verify_token,
)
from k8s_aws_auth.errors import K8sAwsAuthError

#: Every shell a shared test runs through.
KINDS = ("sync", "asyncio", "trio")

Clock = Callable[[], datetime]
Result = Identity | K8sAwsAuthError


@attrs.frozen(kw_only=True)
class Verified:
    """What a run produced: one result per token, the final stats and the borrowed client's fate."""

    results: list[Result]
    stats: VerifierStats | None
    borrowed_client_closed: bool | None
    """Whether the borrowed client was closed by the verifier (``None``: none borrowed)."""

    @property
    def only(self) -> Result:
        """The single result of a one-token run."""
        assert len(self.results) == 1
        return self.results[0]


Step = str | Callable[[], object]


def verify_all(
    kind: str,
    config: VerifierConfig,
    tokens: Sequence[Step],
    *,
    transport: Any = None,
    client_options: dict[str, Any] | None = None,
    clock: Clock | None = None,
    one_shot: bool = False,
) -> Verified:
    """Verify ``tokens`` in order with one verifier of ``kind``.

    A callable in ``tokens`` is a step run between verifications (e.g. moving a
    clock); it records no result.

    With ``transport`` or ``client_options`` the verifier borrows a client built
    from them; otherwise it owns its client. ``one_shot`` uses
    ``verify_token``/``averify_token`` per token instead.
    """
    borrow = transport is not None or client_options is not None
    options = dict(client_options or {})
    if transport is not None:
        options["transport"] = transport
    if kind == "sync":
        return _verify_sync(config, tokens, borrow, options, clock, one_shot)
    return anyio.run(_verify_async, config, tokens, borrow, options, clock, one_shot, backend=kind)


def _verify_sync(
    config: VerifierConfig,
    tokens: Sequence[Step],
    borrow: bool,
    options: dict[str, Any],
    clock: Clock | None,
    one_shot: bool,
) -> Verified:
    client = httpx.Client(**options) if borrow else None
    results: list[Result] = []
    stats = None
    try:
        if one_shot:
            for token in tokens:
                if callable(token):
                    token()
                    continue
                try:
                    results.append(verify_token(token, config, client=client, clock=clock))
                except K8sAwsAuthError as exc:
                    results.append(exc)
        else:
            with TokenVerifier(config, client=client, clock=clock) as verifier:
                for token in tokens:
                    if callable(token):
                        token()
                        continue
                    try:
                        results.append(verifier.verify(token))
                    except K8sAwsAuthError as exc:
                        results.append(exc)
                stats = verifier.stats
        closed = None if client is None else client.is_closed
    finally:
        if client is not None:
            client.close()
    return Verified(results=results, stats=stats, borrowed_client_closed=closed)


async def _verify_async(
    config: VerifierConfig,
    tokens: Sequence[Step],
    borrow: bool,
    options: dict[str, Any],
    clock: Clock | None,
    one_shot: bool,
) -> Verified:
    client = httpx.AsyncClient(**options) if borrow else None
    results: list[Result] = []
    stats = None
    try:
        if one_shot:
            for token in tokens:
                if callable(token):
                    token()
                    continue
                try:
                    results.append(await averify_token(token, config, client=client, clock=clock))
                except K8sAwsAuthError as exc:
                    results.append(exc)
        else:
            async with AsyncTokenVerifier(config, client=client, clock=clock) as verifier:
                for token in tokens:
                    if callable(token):
                        token()
                        continue
                    try:
                        results.append(await verifier.verify(token))
                    except K8sAwsAuthError as exc:
                        results.append(exc)
                stats = verifier.stats
        closed = None if client is None else client.is_closed
    finally:
        if client is not None:
            await client.aclose()
    return Verified(results=results, stats=stats, borrowed_client_closed=closed)


def identity_body(account: str, arn: str, user_id: str) -> bytes:
    """A GetCallerIdentity JSON answer as STS sends it."""
    return json.dumps(
        {
            "GetCallerIdentityResponse": {
                "GetCallerIdentityResult": {"Account": account, "Arn": arn, "UserId": user_id},
                "ResponseMetadata": {"RequestId": "c0ffee00-0000-4000-8000-000000000000"},
            }
        },
        separators=(",", ":"),
    ).encode()


def error_body(code: str, message: str) -> bytes:
    """An STS JSON error answer."""
    return json.dumps(
        {"Error": {"Code": code, "Message": message, "Type": "Sender"}, "RequestId": "r-1"}
    ).encode()
