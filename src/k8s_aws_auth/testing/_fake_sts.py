"""FakeSTS: an AWS STS emulator that really checks SigV4, as an httpx transport and a server.

It answers ``GetCallerIdentity`` (presigned GET or header-signed POST),
``AssumeRole`` (header-signed) and ``AssumeRoleWithWebIdentity`` (unsigned) the
way STS does: signature recomputed from the received request, session tokens and
credential expiry checked, a ±15-minute window on its own clock, JSON or XML by
``Accept`` and STS's error codes and messages.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from typing import Literal

import attrs
import httpx

from k8s_aws_auth._core.instants import utc
from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.errors import ConfigurationError

from ._actions import assume_role, assume_role_with_web_identity, authenticate
from ._auth import (
    Received,
    Rejection,
    parse_form,
    parse_query,
)
from ._clock import utc_now
from ._credentials import new_credentials
from ._directory import Directory, MfaCheck, identity_arn
from ._params import unique
from ._responses import Reply, Tree, error_reply, result_reply
from ._signing import sign_test_token
from ._values import Principal, RecordedRequest

__all__ = ["API_VERSION", "FakeSTS"]

API_VERSION = "2011-06-15"
_ACTIONS = ("GetCallerIdentity", "AssumeRole", "AssumeRoleWithWebIdentity")


@attrs.frozen(kw_only=True)
class _Fault:
    kind: Literal["error", "delay", "drop"]
    status: int = 0
    code: str = ""
    message: str = ""
    seconds: float = 0.0


@attrs.frozen(kw_only=True)
class Answer:
    """What to do with one request: send ``reply`` (``None``: drop the connection) after ``delay``."""

    reply: Reply | None
    delay: float = 0.0


class FakeSTS(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An STS emulator that verifies SigV4 like AWS; an httpx transport (sync and async).

    Use it as ``httpx.Client(transport=fake)`` or ``httpx.AsyncClient(transport=fake)``
    (closing a client leaves it usable by others), or serve it over loopback HTTP
    with [`serve()`][k8s_aws_auth.server.serve]. It is thread-safe.

    Args:
        clock: a zero-argument callable returning an aware UTC datetime; it decides
            the ±15-minute signature window, credential expiry and the expiration of
            minted credentials. Defaults to the real current time.

    Example::

        fake = FakeSTS()
        alice = fake.create_principal("arn:aws:iam::111122223333:user/alice")
        client = httpx.Client(transport=fake)
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock: Callable[[], datetime] = clock if clock is not None else utc_now
        self._lock = threading.Lock()  # faults and recorded requests
        self._directory = Directory()  # principals, roles and web identities
        self._faults: deque[_Fault] = deque()
        self._requests: list[RecordedRequest] = []

    # --- configuration ---------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock the emulator judges time by."""
        return self._clock

    def register(self, credentials: Credentials, arn: str, user_id: str | None = None) -> Principal:
        """Make ``credentials`` sign as the identity ``arn``; return the [`Principal`][k8s_aws_auth.testing.Principal].

        ``arn`` is an IAM user (``arn:aws:iam::ACCOUNT:user/PATH/NAME``), the root
        (``arn:aws:iam::ACCOUNT:root``), an assumed-role session
        (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``) or a federated user
        (``arn:aws:sts::ACCOUNT:federated-user/NAME``); the last two are temporary
        credentials and need a session token. ``user_id`` defaults to what STS would
        answer: a stable ``AIDA…`` id for users, the account id for root,
        ``AROA…:SESSION`` for sessions, ``ACCOUNT:NAME`` for federated users.
        Registering the same access key id again replaces the earlier principal.
        """
        return self._directory.register(credentials, arn, user_id)

    def create_principal(
        self,
        arn: str,
        *,
        user_id: str | None = None,
        expiration: datetime | None = None,
        seed: str | int | None = None,
    ) -> Principal:
        """Make fresh realistic credentials for ``arn`` and [`register()`][k8s_aws_auth.testing.FakeSTS.register] them.

        Users and root get long-term ``AKIA…`` keys; assumed-role and federated
        sessions get ``ASIA…`` keys with a session token. ``seed`` makes the keys
        deterministic; ``expiration`` is stored on the credentials.
        """
        parsed = identity_arn(arn)
        temporary = parsed.principal_type in ("assumed-role", "federated-user")
        credentials = new_credentials(
            "temporary" if temporary else "user", seed=seed, expiration=expiration
        )
        return self.register(credentials, arn, user_id)

    def register_role(
        self,
        role_arn: str,
        *,
        trusted: Iterable[str] | None = None,
        external_id: str | None = None,
        mfa_serial: str | None = None,
        mfa_code: str | MfaCheck | None = None,
        max_duration: int = 3600,
        role_id: str | None = None,
    ) -> None:
        """Make the IAM role ``role_arn`` assumable with ``AssumeRole``.

        Args:
            role_arn: ``arn:aws:iam::ACCOUNT:role/PATH/NAME``.
            trusted: principal ARNs allowed to assume it (a caller matches by its
                ARN, its canonical role ARN, or its account's ``:root`` ARN);
                ``None`` lets every registered principal in.
            external_id: when set, ``ExternalId`` must equal it.
            mfa_serial: when set, ``SerialNumber`` must equal it and ``TokenCode``
                must pass ``mfa_code`` (a fixed code, or a callable given the code).
            max_duration: the role's MaxSessionDuration (3600..43200 seconds).
            role_id: the role's unique id (``AROA…``); stable default from the ARN.
        """
        self._directory.register_role(
            role_arn,
            trusted=trusted,
            external_id=external_id,
            mfa_serial=mfa_serial,
            mfa_code=mfa_code,
            max_duration=max_duration,
            role_id=role_id,
        )

    def register_web_identity(self, role_arn: str, token: str | None = None) -> None:
        """Let ``AssumeRoleWithWebIdentity`` assume ``role_arn`` with ``token``.

        ``token=None`` accepts any non-empty web identity token for the role.
        Call it several times to accept several tokens. The role's duration limit
        comes from [`register_role()`][k8s_aws_auth.testing.FakeSTS.register_role] when it was registered there (else 3600 s).
        """
        self._directory.register_web_identity(role_arn, token)

    # --- fault injection ---------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str = "Service is unable to handle request.",
    ) -> None:
        """Answer the next ``count`` requests with this STS error instead of processing them.

        Each request takes one queued fault (from [`fail_next()`][k8s_aws_auth.testing.FakeSTS.fail_next],
        [`throttle_next()`][k8s_aws_auth.testing.FakeSTS.throttle_next], [`delay_next()`][k8s_aws_auth.testing.FakeSTS.delay_next] or [`drop_next()`][k8s_aws_auth.testing.FakeSTS.drop_next]), in order.
        """
        if not 400 <= status <= 599:
            raise ConfigurationError("status must be a 4xx or 5xx code", reason="fake-sts")
        self._queue(count, _Fault(kind="error", status=status, code=code, message=message))

    def throttle_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests as STS throttles: HTTP 400, ``Throttling``."""
        self.fail_next(count, status=400, code="Throttling", message="Rate exceeded")

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Answer the next ``count`` requests normally, but only after ``seconds``.

        Over [`serve()`][k8s_aws_auth.server.serve] this makes real client timeouts fire; as a transport the
        request just takes longer (``time.sleep`` sync, ``anyio.sleep`` async).
        """
        if seconds < 0:
            raise ConfigurationError("seconds must not be negative", reason="fake-sts")
        self._queue(count, _Fault(kind="delay", seconds=seconds))

    def drop_next(self, count: int = 1) -> None:
        """Close the connection without answering the next ``count`` requests.

        Over [`serve()`][k8s_aws_auth.server.serve] the socket is closed; as a transport the client gets
        ``httpx.RemoteProtocolError``, as from a server that hung up.
        """
        self._queue(count, _Fault(kind="drop"))

    def _queue(self, count: int, fault: _Fault) -> None:
        if count < 1:
            raise ConfigurationError("count must be at least 1", reason="fake-sts")
        with self._lock:
            self._faults.extend([fault] * count)

    # --- inspection ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since creation or [`reset()`][k8s_aws_auth.testing.FakeSTS.reset], oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(self, action: str | None = None) -> int:
        """How many requests were received (only those for ``action`` when given)."""
        with self._lock:
            if action is None:
                return len(self._requests)
            return sum(1 for request in self._requests if request.action == action)

    def reset(self) -> None:
        """Forget recorded requests and pending faults; registrations stay."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    # --- conveniences -------------------------------------------------------------------

    def make_token(
        self,
        credentials: Credentials | Principal,
        *,
        cluster_id: str,
        region: str | None = "us-west-2",
        sts_regional_endpoints: str = "regional",
        now: datetime | None = None,
    ) -> str:
        """Sign a ``k8s-aws-v1.`` token at this emulator's clock (see [`make_token()`][k8s_aws_auth.testing.make_token])."""
        return sign_test_token(
            credentials,
            cluster_id=cluster_id,
            region=region,
            now=self.clock() if now is None else now,
            sts_regional_endpoints=sts_regional_endpoints,
        )

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve this emulator over real HTTP; yield the base URL ``http://HOST:PORT``.

        A threaded server in a daemon thread, stopped (and its connections closed)
        when the block exits. Several ``serve()`` blocks may run at once; they share
        the emulator's state. Send the STS host as ``Host`` (it is signed), as
        ``VerifierConfig(sts_endpoint_url=url)`` does.
        """
        from ._server import serve_http

        with serve_http(self._respond, host, port) as url:
            yield url

    @contextlib.contextmanager
    def intercept(self) -> Iterator[FakeSTS]:
        """Route the HTTP clients the library creates itself to this emulator, for the block.

        Inside it, a [`TokenVerifier`][k8s_aws_auth.TokenVerifier] or
        [`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier] built without a
        ``client``, and the credential resolvers' own clients (AssumeRole with
        ``role_arn``), send their requests here without any ``client=`` or
        endpoint argument. Clients passed in by the caller are left alone; so are
        clients created before the block. Every request of such a client comes
        here, whatever its host (this emulator answers STS only). Blocks nest; the
        innermost wins. Test-only: nothing but this method turns the routing on.

        Example::

            with fake.intercept():
                verifier = TokenVerifier(VerifierConfig("my-cluster"))
                identity = verifier.verify(token)
        """
        from k8s_aws_auth._runtime.transport_override import override_transports

        with override_transports(self):
            yield self

    # --- the transport ------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """httpx sync transport entry point."""
        answer = self._answer_httpx(request, request.read)
        if answer.delay:
            time.sleep(answer.delay)
        return _to_httpx(answer, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx async transport entry point (works under asyncio and trio)."""
        body = await request.aread()
        answer = self._answer_httpx(request, lambda: body)
        if answer.delay:
            import anyio

            await anyio.sleep(answer.delay)
        return _to_httpx(answer, request)

    def _answer_httpx(self, request: httpx.Request, read: Callable[[], bytes]) -> Answer:
        try:
            received = Received(
                method=request.method,
                target=request.url.raw_path.decode("ascii", "replace"),
                headers=tuple(
                    (name.decode("latin-1"), value.decode("utf-8", "replace"))
                    for name, value in request.headers.raw
                ),
                body=read(),
            )
        except Exception as exc:  # the emulator answers 500, it never raises into a client
            reply = error_reply(
                500, "InternalFailure", _internal(exc), str(uuid.uuid4()), as_json=False
            )
            return Answer(reply=reply)
        return self._respond(received, str(request.url))

    def _respond(self, received: Received, url: str) -> Answer:
        """Process one received request (transport and server share this); never raises."""
        request_id = str(uuid.uuid4())
        as_json = "application/json" in (received.header("accept") or "").lower()
        action: str | None = None
        delay = 0.0
        try:
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            query_pairs = parse_query(received.query)
            pairs = list(query_pairs)
            content_type = (received.header("content-type") or "").lower()
            if received.method == "POST" and content_type.startswith(
                "application/x-www-form-urlencoded"
            ):
                pairs += parse_form(received.body)
            params = unique(pairs)
            action = params.get("Action")
            if fault is not None and fault.kind == "drop":
                self._record(received, url, action, 0, "dropped")
                return Answer(reply=None)
            if fault is not None and fault.kind == "error":
                reply = error_reply(
                    fault.status, fault.code, fault.message, request_id, as_json=as_json
                )
            else:
                delay = fault.seconds if fault is not None else 0.0
                reply = self._dispatch(received, query_pairs, params, request_id, as_json)
        except Rejection as rejection:
            reply = error_reply(
                rejection.status, rejection.code, rejection.message, request_id, as_json=as_json
            )
        except Exception as exc:  # the emulator answers 500, it never raises into a client
            reply = error_reply(500, "InternalFailure", _internal(exc), request_id, as_json=as_json)
        self._record(received, url, action, reply.status, reply.code or "ok")
        return Answer(reply=reply, delay=delay)

    def _record(
        self, received: Received, url: str, action: str | None, status: int, outcome: str
    ) -> None:
        recorded = RecordedRequest(
            method=received.method,
            url=url,
            headers=received.headers,
            body=received.body,
            action=action,
            status=status,
            outcome=outcome,
        )
        with self._lock:
            self._requests.append(recorded)

    # --- STS actions --------------------------------------------------------------------

    def _dispatch(
        self,
        received: Received,
        query_pairs: list[tuple[str, str]],
        params: dict[str, str],
        request_id: str,
        as_json: bool,
    ) -> Reply:
        if received.method not in ("GET", "POST"):
            raise Rejection(400, "InvalidAction", f"STS does not accept {received.method} requests")
        action = params.get("Action")
        if action is None:
            raise Rejection(400, "MissingAction", "Missing Action")
        version = params.get("Version")
        if version is None and action in _ACTIONS:
            raise Rejection(
                400, "MissingParameter", "The request must contain the parameter Version"
            )
        if action not in _ACTIONS or version != API_VERSION:
            raise Rejection(
                400, "InvalidAction", f"Could not find operation {action} for version {version}"
            )
        now = self._now()
        result: Tree
        if action == "AssumeRoleWithWebIdentity":
            result = assume_role_with_web_identity(self._directory, params, now)
        else:
            caller = authenticate(self._directory, received, query_pairs, now)
            if action == "GetCallerIdentity":
                principal = caller.principal
                result = {
                    "Arn": principal.arn,
                    "UserId": principal.user_id,
                    "Account": principal.account_id,
                }
            else:
                result = assume_role(self._directory, caller, params, now)
        return result_reply(action, result, request_id, as_json=as_json)

    def _now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.utcoffset() is None:
            raise TypeError("the FakeSTS clock must return an aware datetime")
        return utc(now, "the FakeSTS clock's time")


def _internal(exc: BaseException) -> str:
    return f"FakeSTS internal error: {type(exc).__name__}: {exc}"


def _to_httpx(answer: Answer, request: httpx.Request) -> httpx.Response:
    if answer.reply is None:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    reply = answer.reply
    return httpx.Response(
        reply.status, headers=reply.headers(), stream=_Body(reply.body), request=request
    )


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An unread response body, as a network transport returns it (streamable once or read)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self._body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body
