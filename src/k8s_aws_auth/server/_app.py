"""``TokenReviewApp``: the webhook as a plain ASGI callable.

Routes: ``POST /authenticate`` (TokenReview), ``GET /healthz``, ``GET /readyz``
and ``GET /metrics``. The app owns no sockets and no global state, so it runs
under uvicorn (``k8s-aws-auth serve``) or mounts inside a Starlette/FastAPI app.

Answers to ``/authenticate``:

* 200 ``authenticated: true`` — STS confirmed the identity and the mapper mapped it;
* 200 ``authenticated: false`` — a definitive denial ([`TokenError`][k8s_aws_auth.errors.TokenError], unmapped
  identity, audience mismatch); ``status.error`` is a short code, never a detail
  of the token or of the mapping;
* 429 (STS throttled) or 500 (STS unreachable or unusable, or a mapping that
  could not be decided, e.g. EC2 throttled for ``{{EC2PrivateDNSName}}``) with
  ``Retry-After`` — kube-apiserver retries these and does not cache them, so an
  outage never becomes a cached denial (upstream answers 403);
* 400 malformed TokenReview, 405 wrong method, 408 body too slow, 413 body too large.

No answer ever carries a traceback or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, Protocol

import anyio
import attrs

from k8s_aws_auth._core.models import Identity
from k8s_aws_auth._core.review_user import MappedUser, user_uid_and_extra
from k8s_aws_auth.errors import (
    ConfigurationError,
    K8sAwsAuthError,
    STSError,
    STSThrottledError,
    TokenError,
)

from ._tokenreview import (
    ReviewedUser,
    TokenReviewRequest,
    TokenReviewRequestError,
    encode_token_review,
    parse_token_review,
)

__all__ = [
    "AuthenticationResult",
    "MappedUser",
    "TokenReviewApp",
    "Verifier",
    "build_reviewed_user",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = b"application/json; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
_NO_STORE = (b"cache-control", b"no-store")
#: The log level of a review's line by result: denials the client caused are INFO,
#: failures of ours or of STS (any other result) WARNING.
_LOG_LEVELS = {
    "success": logging.INFO,
    "invalid_token": logging.INFO,
    "unknown_user": logging.INFO,
    "audience_mismatch": logging.INFO,
}


class Verifier(Protocol):
    """What the app needs from a verifier ([`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] fits)."""

    async def verify(self, token: str) -> Identity:
        """Return the STS-confirmed identity or raise a [`K8sAwsAuthError`][k8s_aws_auth.errors.K8sAwsAuthError]."""
        ...


#: Returns the mapped user, or ``None`` when the identity is not mapped; it may be
#: a coroutine function (``IdentityMapper.map`` and ``IdentityMapper.amap`` fit).
#: A `MappedUser`'s uid and extra are answered as the mapper made them (derived
#: from the identity when it has no uid); a `ReviewedUser` is answered as is.
#: Scrubbing only ever adds: see `build_reviewed_user`. A `K8sAwsAuthError` it
#: raises is a denial, unless it has ``retryable=True``.
MapIdentity = Callable[
    [Identity],
    "MappedUser | ReviewedUser | Awaitable[MappedUser | ReviewedUser | None] | None",
]
Hook = Callable[[], Awaitable[None]]


@attrs.frozen(kw_only=True)
class AuthenticationResult:
    """What one ``/authenticate`` call decided (passed to the ``on_result`` hook and logs)."""

    result: str
    """``success``, ``malformed_request``, ``invalid_token``, ``unknown_user``,
    ``audience_mismatch``, ``sts_error``, ``sts_throttling``, ``mapping_error`` or
    ``internal_error``."""
    status_code: int
    seconds: float
    reason: str | None = None
    identity: Identity | None = None
    user: ReviewedUser | None = None
    scrubbed: bool = False
    """The identity's account is scrubbed (by the mapper or the app): ``user`` carries
    only the administrative uid, and its ARN is not logged."""


def build_reviewed_user(
    identity: Identity,
    mapped: MappedUser | ReviewedUser,
    *,
    scrubbed_accounts: frozenset[str] = frozenset(),
) -> ReviewedUser:
    """``status.user`` for ``identity`` mapped to ``mapped``, never disclosing more than it.

    A `MappedUser` keeps the uid and ``extra`` its mapper made; one without a
    uid (built by hand) gets aws-iam-authenticator's uid and ``extra`` keys,
    with its own ``extra`` added. A `ReviewedUser` is used as is unless scrubbed.

    Scrubbing only adds: a user the mapper scrubbed (``scrubbed``) stays
    scrubbed whatever ``scrubbed_accounts`` says, and an account in
    ``scrubbed_accounts`` is scrubbed whatever the mapper did. A scrubbed user
    gets the administrative uid and no ``extra`` (ARN, session, key id).
    """
    return _reviewed_user(identity, mapped, scrubbed_accounts)[0]


def _reviewed_user(
    identity: Identity, mapped: MappedUser | ReviewedUser, scrubbed_accounts: frozenset[str]
) -> tuple[ReviewedUser, bool]:
    """[`build_reviewed_user()`][k8s_aws_auth.server.build_reviewed_user], and whether the user is scrubbed."""
    scrubbed = identity.account_id in scrubbed_accounts or (
        isinstance(mapped, MappedUser) and mapped.scrubbed
    )
    if scrubbed:
        uid, extra = user_uid_and_extra(identity, mapped.username, scrubbed=True)
    elif isinstance(mapped, ReviewedUser):
        return mapped, False
    elif mapped.uid is not None:
        uid, extra = mapped.uid, dict(mapped.extra)
    else:
        uid, extra = user_uid_and_extra(identity, mapped.username, scrubbed=False)
        extra.update(mapped.extra)
    user = ReviewedUser(username=mapped.username, uid=uid, groups=mapped.groups, extra=extra)
    return user, scrubbed


class _Reject(Exception):
    def __init__(self, status: int, message: str, result: str = "malformed_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.result = result


def _check_arguments(
    verifier: object,
    map_identity: object,
    *,
    max_token_size: object,
    max_body_bytes: object,
    body_timeout: object,
    retry_after: object,
) -> None:
    """``ConfigurationError`` for arguments that would fail every review."""
    verify = getattr(verifier, "verify", None)
    if not callable(verify):
        raise ConfigurationError(
            "verifier must have an async verify(token) (an AsyncTokenVerifier)", reason="verifier"
        )
    if not inspect.iscoroutinefunction(verify):
        raise ConfigurationError(
            f"verifier must be an AsyncTokenVerifier: {type(verifier).__name__}.verify "
            "is not a coroutine function",
            reason="verifier",
        )
    if not callable(map_identity):
        raise ConfigurationError("map_identity must be callable", reason="map_identity")
    for name, value in (("max_token_size", max_token_size), ("max_body_bytes", max_body_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive int", reason=name)
    if (
        isinstance(body_timeout, bool)
        or not isinstance(body_timeout, (int, float))
        or not body_timeout > 0
    ):
        raise ConfigurationError("body_timeout must be a positive number", reason="body_timeout")
    if (
        isinstance(retry_after, bool)
        or not isinstance(retry_after, int)
        or not 0 <= retry_after <= 3600
    ):
        raise ConfigurationError(
            "retry_after must be an int of seconds from 0 to 3600", reason="retry_after"
        )


class TokenReviewApp:
    """The TokenReview webhook as an ASGI 3 application.

    Args:
        verifier: verifies a token with STS (``AsyncTokenVerifier``).
        map_identity: maps a confirmed identity to a `MappedUser` (or a
            `ReviewedUser`), or returns ``None`` when it is not mapped: a plain or
            a coroutine function, e.g. ``IdentityMapper.map`` or ``.amap``.
        max_token_size: longest ``spec.token`` accepted (larger → 400).
        max_body_bytes: largest request body read (larger → 413).
        body_timeout: seconds allowed for the whole body to arrive (slower → 408).
        audiences: the audiences this webhook authenticates for; when set and the
            request names audiences, the answer carries their intersection and an
            empty intersection is a denial. ``None`` ignores ``spec.audiences``
            like upstream.
        scrubbed_accounts: accounts whose identities are disclosed neither in the
            answer nor in the logs, in addition to those the mapper scrubs (this
            setting can only add scrubbing; it decides alone for denials, where no
            mapper answered).
        retry_after: seconds put in ``Retry-After`` of 429/500 answers.
        ready: readiness probe for ``/readyz`` (default: always ready).
        metrics_endpoint: renders ``/metrics`` as ``(body, content type)``; 404 when ``None``.
        on_result: called with every [`AuthenticationResult`][k8s_aws_auth.server.AuthenticationResult] (metrics hook).
        logger: where one structured line per review goes (never the token).
        timer: monotonic seconds (injectable for tests).
        on_startup: coroutines awaited at ASGI lifespan startup, in order.
        on_shutdown: coroutines awaited at ASGI lifespan shutdown, in order.

    The arguments are checked here (a clear ``ConfigurationError``), not at the
    first review: a sync ``TokenVerifier`` (its ``verify`` cannot be awaited), a
    ``map_identity`` that is not callable, sizes and timeouts that are not
    positive numbers. A mapper that returns something other than a user or
    ``None`` can only show at a review: that review is answered ``500`` (kube-apiserver
    retries it and caches nothing) and logged with reason ``mapper-returned-<type>``.

    Mounted in a Starlette or FastAPI app (``app.mount("/tokenreview", review_app)``),
    the hooks never run: Starlette gives the lifespan to the host app only. Enter
    [`lifespan()`][k8s_aws_auth.server.TokenReviewApp.lifespan] from the host's
    own lifespan instead (see docs/server.md).
    """

    def __init__(
        self,
        verifier: Verifier,
        map_identity: MapIdentity,
        *,
        max_token_size: int = 16 * 1024,
        max_body_bytes: int = 64 * 1024,
        body_timeout: float = 10.0,
        audiences: Iterable[str] | None = None,
        scrubbed_accounts: Iterable[str] = (),
        retry_after: int = 1,
        ready: Callable[[], bool] | None = None,
        metrics_endpoint: Callable[[], tuple[bytes, str]] | None = None,
        on_result: Callable[[AuthenticationResult], None] | None = None,
        logger: logging.Logger | None = None,
        timer: Callable[[], float] = time.perf_counter,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
    ) -> None:
        _check_arguments(
            verifier,
            map_identity,
            max_token_size=max_token_size,
            max_body_bytes=max_body_bytes,
            body_timeout=body_timeout,
            retry_after=retry_after,
        )
        self.verifier = verifier
        self.map_identity = map_identity
        self.max_token_size = max_token_size
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.audiences = None if audiences is None else frozenset(audiences)
        self.scrubbed_accounts = frozenset(scrubbed_accounts)
        self.retry_after = retry_after
        self.ready = ready
        self.metrics_endpoint = metrics_endpoint
        self.on_result = on_result
        self.logger = logger or logging.getLogger("k8s_aws_auth.server")
        self.timer = timer
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._route(scope, receive, send)
        except Exception:
            # A bug must not become a traceback on the wire or a dead worker.
            self.logger.exception("unhandled error while answering %s", scope.get("path", "?"))
            await _respond(send, 500, b"internal error\n", _TEXT)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[TokenReviewApp]:
        """Run the ``on_startup`` hooks, then (when the block exits) the ``on_shutdown`` hooks.

        For a host app that mounts this one, in its own lifespan::

            @asynccontextmanager
            async def lifespan(app):
                async with review_app.lifespan():
                    yield

            app = FastAPI(lifespan=lifespan)
            app.mount("/tokenreview", review_app)

        A failing startup hook propagates (the host does not start); shutdown
        hooks all run, their failures logged.
        """
        for hook in self.on_startup:
            await hook()
        try:
            yield self
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for hook in self.on_shutdown:
            try:
                await hook()
            except Exception:
                self.logger.exception("shutdown hook failed")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.on_startup:
                        await hook()
                except Exception as exc:
                    self.logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        # Mounted in Starlette/FastAPI, "path" may still include the mount prefix.
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        method = scope.get("method", "GET")
        if path == "/authenticate":
            if method != "POST":
                await _respond(send, 405, b"expected POST\n", _TEXT, [(b"allow", b"POST")])
                return
            await self._authenticate(scope, receive, send)
            return
        if path in ("/healthz", "/readyz", "/metrics"):
            if method not in ("GET", "HEAD"):
                await _respond(send, 405, b"expected GET\n", _TEXT, [(b"allow", b"GET, HEAD")])
                return
            head = method == "HEAD"
            if path == "/healthz":
                await _respond(send, 200, b"ok\n", _TEXT, head=head)
            elif path == "/readyz":
                ok = self.ready is None or self.ready()
                await _respond(
                    send, 200 if ok else 503, b"ok\n" if ok else b"not ready\n", _TEXT, head=head
                )
            elif self.metrics_endpoint is None:
                await _respond(send, 404, b"not found\n", _TEXT)
            else:
                body, content_type = self.metrics_endpoint()
                await _respond(send, 200, body, content_type.encode("latin-1"), head=head)
            return
        await _respond(send, 404, b"not found\n", _TEXT)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise _Reject(400, "invalid Content-Length") from None
                if declared > self.max_body_bytes:
                    raise _Reject(413, f"request body larger than {self.max_body_bytes} bytes")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): anyio's cancel scope
            with anyio.move_on_after(self.body_timeout) as scope_timeout:
                body = await self._read_chunks(receive)
            if scope_timeout.cancelled_caught:
                raise _Reject(408, "request body not received in time") from None
            return body
        # On asyncio a bare timer that cancels this task: an anyio cancel scope costs
        # about 10 µs a review, several times this (tests/server/test_app.py times
        # the body out on both libraries).
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = loop.call_later(self.body_timeout, expire)
        try:
            return await self._read_chunks(receive)
        except asyncio.CancelledError:
            # Someone else's cancellation (shutdown) goes on; ours becomes the 408.
            if not expired or (sys.version_info >= (3, 11) and task.uncancel() > 0):
                raise
            raise _Reject(408, "request body not received in time") from None
        finally:
            timer.cancel()

    async def _read_chunks(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Reject(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _Reject(413, f"request body larger than {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self.timer()
        try:
            body = await self._read_body(scope, receive)
            try:
                review = parse_token_review(body, max_token_size=self.max_token_size)
            except TokenReviewRequestError as exc:
                raise _Reject(400, str(exc)) from None
        except _Reject as reject:
            await _respond(send, reject.status, (reject.message + "\n").encode(), _TEXT)
            self._finish(
                AuthenticationResult(
                    result=reject.result,
                    status_code=reject.status,
                    seconds=self.timer() - started,
                    reason=reject.message,
                )
            )
            return
        status, body, outcome = await self._review(review)
        headers: list[tuple[bytes, bytes]] = []
        if status in (429, 500):
            headers.append((b"retry-after", str(self.retry_after).encode()))
        await _respond(send, status, body, _JSON, headers)
        # Built once, here: the outcome's fields, its status and the time it took.
        self._finish(
            AuthenticationResult(status_code=status, seconds=self.timer() - started, **outcome)
        )

    async def _review(self, review: TokenReviewRequest) -> tuple[int, bytes, dict[str, Any]]:
        """The status, the body and the `AuthenticationResult` fields of a parsed review."""

        def deny(result: str, error: str, **kw: Any) -> tuple[int, bytes, dict[str, Any]]:
            body = encode_token_review(review.api_version, error=error)
            return 200, body, {"result": result, "reason": error, **kw}

        def retry(result: str, status: int, reason: str) -> tuple[int, bytes, dict[str, Any]]:
            body = encode_token_review(review.api_version, error=f"temporary failure: {reason}")
            return status, body, {"result": result, "reason": reason}

        try:
            identity = await self.verifier.verify(review.token)
        except TokenError as exc:
            return deny("invalid_token", f"token rejected: {exc.reason}")
        except STSThrottledError as exc:
            return retry("sts_throttling", 429, exc.reason)
        except STSError as exc:
            return retry("sts_error", 500, exc.reason)
        except K8sAwsAuthError as exc:
            return retry("internal_error", 500, exc.reason)

        granted_audiences: list[str] | None = None
        if self.audiences is not None and review.audiences is not None:
            granted_audiences = [a for a in review.audiences if a in self.audiences]
            if not granted_audiences:
                return deny("audience_mismatch", "token audiences not accepted", identity=identity)

        try:
            answer = self.map_identity(identity)
            mapped = await answer if inspect.isawaitable(answer) else answer
        except K8sAwsAuthError as exc:
            if getattr(exc, "retryable", False):
                return retry("mapping_error", 500, exc.reason)
            return deny("unknown_user", f"identity not mapped: {exc.reason}", identity=identity)
        if mapped is None:
            return deny("unknown_user", "identity is not mapped", identity=identity)
        returned: object = mapped  # the annotation is the mapper's promise, not a check
        if not isinstance(returned, (MappedUser, ReviewedUser)):
            # A bug of the mapper, not of the token: retried, never a cached denial.
            return retry("mapping_error", 500, f"mapper-returned-{type(returned).__name__}")
        user, scrubbed = _reviewed_user(identity, mapped, self.scrubbed_accounts)
        body = encode_token_review(review.api_version, user=user, audiences=granted_audiences)
        outcome = {"result": "success", "identity": identity, "user": user, "scrubbed": scrubbed}
        return 200, body, outcome

    def _finish(self, outcome: AuthenticationResult) -> None:
        if self.on_result is not None:
            self.on_result(outcome)
        level = _LOG_LEVELS.get(outcome.result, logging.WARNING)
        if not self.logger.isEnabledFor(level):
            return  # the line's fields are not even built (thousands of reviews a second)
        fields: dict[str, Any] = {
            "event": "token_review",
            "result": outcome.result,
            "status": outcome.status_code,
            "seconds": round(outcome.seconds, 6),
        }
        if outcome.reason is not None:
            fields["reason"] = outcome.reason
        if outcome.identity is not None:
            if not outcome.scrubbed and outcome.identity.account_id not in self.scrubbed_accounts:
                fields["arn"] = outcome.identity.arn
            fields["sts_endpoint"] = outcome.identity.sts_endpoint
        if outcome.user is not None:
            fields["username"] = outcome.user.username
            fields["uid"] = outcome.user.uid
            fields["groups"] = list(outcome.user.groups)
        message = "access granted" if outcome.result == "success" else "access not granted"
        self.logger.log(level, message, extra={"fields": fields})


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", b"%d" % len(body)),
                _NO_STORE,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
