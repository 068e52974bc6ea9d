"""The plain-HTTP health port (aws-iam-authenticator's ``:21363``): any path answers ``ok``.

It is served by the same accept loop and connection guard as the TLS port (a
`Listener` without TLS, with a small connection budget of its own), so it is as
bounded as the webhook; the wrapper below answers every request that arrived
without TLS, so nothing but ``ok`` is ever served in plain text — never
``/authenticate`` or ``/metrics``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HEALTH_CONNECTIONS", "answer_plain_http"]

#: Connections the health port serves at once (probes open one at a time).
HEALTH_CONNECTIONS = 64
_OK_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]


def answer_plain_http(app: Any) -> Any:
    """``app``, except that a request without TLS gets ``200 ok`` (the health port)."""

    async def health_or_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("scheme") == "http":
            await send({"type": "http.response.start", "status": 200, "headers": _OK_HEADERS})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await app(scope, receive, send)

    return health_or_app
