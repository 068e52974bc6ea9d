"""The verify flow stepped by hand: no transport, no clock, no randomness."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from k8s_aws_auth import Credentials, VerifierConfig, __version__, presign_token, validate_token
from k8s_aws_auth._core.effects import (
    Effect,
    Flow,
    HttpRequest,
    HttpResponse,
    Outcome,
    Sleep,
    TransportFailure,
)
from k8s_aws_auth._core.models import Identity
from k8s_aws_auth._core.verify_flow import backoff_delay, verify_flow
from k8s_aws_auth.errors import (
    AccessDeniedError,
    ExpiredTokenError,
    K8sAwsAuthError,
    MalformedTokenError,
    STSError,
    STSResponseError,
    STSThrottledError,
    STSUnavailableError,
)

SIGNED_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW = SIGNED_AT + timedelta(minutes=1)
CLUSTER = "flow-cluster"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE/session+token=="
ACCOUNT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
CREDENTIALS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
TEMP_CREDENTIALS = Credentials("ASIAIOSFODNN7EXAMPLE", "secret-of-the-session", SESSION_TOKEN)


def _token(credentials: Credentials = CREDENTIALS, region: str | None = "us-west-2") -> str:
    return presign_token(credentials, cluster_id=CLUSTER, now=SIGNED_AT, region=region).value


def _identity_body(
    account: str = ACCOUNT, arn: str = USER_ARN, user_id: str = "AIDAEXAMPLEUSERID01"
) -> bytes:
    return json.dumps(
        {
            "GetCallerIdentityResponse": {
                "GetCallerIdentityResult": {"Account": account, "Arn": arn, "UserId": user_id},
                "ResponseMetadata": {"RequestId": "0a1b2c3d-0000-4000-8000-000000000000"},
            }
        }
    ).encode()


def _error_body(code: str, message: str = "refused") -> bytes:
    return json.dumps(
        {"Error": {"Code": code, "Message": message, "Type": "Sender"}, "RequestId": "r-1"}
    ).encode()


OK = HttpResponse(
    status=200, headers=(("Content-Type", "application/json"),), body=_identity_body()
)


def _flow(
    token: str | None = None,
    config: VerifierConfig | None = None,
    random: Callable[[], float] = lambda: 0.5,
    now: datetime = NOW,
) -> Flow[Identity]:
    return verify_flow(
        token if token is not None else _token(),
        config if config is not None else VerifierConfig(CLUSTER),
        now=now,
        random=random,
    )


@attrs.define
class Run:
    effects: list[Effect]
    result: Identity | None = None
    error: K8sAwsAuthError | None = None


def _drive(flow: Flow[Identity], outcomes: Sequence[Outcome]) -> Run:
    """Send ``outcomes`` in order (a Sleep always gets None); record what the flow yields."""
    run = Run(effects=[])
    pending = list(outcomes)
    reply: Outcome = None
    try:
        while True:
            effect = flow.send(reply)
            run.effects.append(effect)
            if isinstance(effect, Sleep):
                reply = None
            else:
                assert pending, "the flow asked for more requests than the test scripted"
                reply = pending.pop(0)
    except StopIteration as stop:
        run.result = stop.value
    except K8sAwsAuthError as exc:
        run.error = exc
    assert not pending, "the flow stopped before using every scripted outcome"
    return run


def _requests(run: Run) -> list[HttpRequest]:
    return [e for e in run.effects if isinstance(e, HttpRequest)]


def _sleeps(run: Run) -> list[float]:
    return [e.seconds for e in run.effects if isinstance(e, Sleep)]


# --- the request ---------------------------------------------------------------------------


def test_local_checks_run_before_any_request() -> None:
    flow = _flow(token="k8s-aws-v1.not base64!")
    with pytest.raises(MalformedTokenError):
        next(flow)


def test_expired_token_never_reaches_sts() -> None:
    flow = _flow(now=SIGNED_AT + timedelta(minutes=15, seconds=1))
    with pytest.raises(ExpiredTokenError):
        next(flow)


def test_request_is_rebuilt_with_our_own_headers_and_limits() -> None:
    config = VerifierConfig(CLUSTER, connect_timeout=0.7, read_timeout=1.3, max_response_bytes=4096)
    token = _token(TEMP_CREDENTIALS)
    request = next(_flow(token=token, config=config))
    assert isinstance(request, HttpRequest)
    validated = validate_token(token, config, now=NOW)
    assert request.method == "GET"
    assert request.url == f"https://sts.us-west-2.amazonaws.com/?{validated.query}"
    assert dict(request.headers) == {
        "Host": b"sts.us-west-2.amazonaws.com",
        "x-k8s-aws-id": b"flow-cluster",
        "Accept": b"application/json",
        "User-Agent": f"k8s-aws-auth/{__version__}".encode(),
        "Accept-Encoding": b"identity",
    }
    assert len(request.headers) == 5  # no duplicates hiding behind the dict
    assert request.body == b""
    assert (request.connect_timeout, request.read_timeout, request.max_body) == (0.7, 1.3, 4096)


def test_cluster_id_header_is_the_configured_one() -> None:
    # The verifier's id, normalised as SigV4 does, not anything the token says.
    config = VerifierConfig("  flow   cluster  ")
    request = next(_flow(config=config))
    assert isinstance(request, HttpRequest)
    assert dict(request.headers)["x-k8s-aws-id"] == b"flow cluster"


def test_endpoint_url_changes_the_target_but_not_the_host_header() -> None:
    config = VerifierConfig(CLUSTER, sts_endpoint_url="http://127.0.0.1:8123/sts/")
    request = next(_flow(config=config))
    assert isinstance(request, HttpRequest)
    assert request.url.startswith("http://127.0.0.1:8123/sts/?Action=GetCallerIdentity&")
    assert dict(request.headers)["Host"] == b"sts.us-west-2.amazonaws.com"


def test_global_host_token() -> None:
    request = next(_flow(token=_token(region=None)))
    assert isinstance(request, HttpRequest)
    assert request.url.startswith("https://sts.amazonaws.com/?")
    assert dict(request.headers)["Host"] == b"sts.amazonaws.com"


# --- success -----------------------------------------------------------------------------------


def test_success_returns_the_identity() -> None:
    run = _drive(_flow(), [OK])
    assert run.error is None
    assert run.result == Identity(
        arn=USER_ARN,
        canonical_arn=USER_ARN,
        account_id=ACCOUNT,
        user_id="AIDAEXAMPLEUSERID01",
        session_name="",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        sts_endpoint="sts.us-west-2.amazonaws.com",
        partition="aws",
        principal_type="user",
    )
    assert len(run.effects) == 1


def test_assumed_role_identity() -> None:
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/ci-run-7"
    body = _identity_body(arn=arn, user_id="AROAEXAMPLEROLEID01:ci-run-7")
    run = _drive(_flow(token=_token(TEMP_CREDENTIALS)), [HttpResponse(status=200, body=body)])
    assert run.result is not None
    assert run.result.canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/Deployer"
    assert (run.result.user_id, run.result.session_name) == ("AROAEXAMPLEROLEID01", "ci-run-7")
    assert run.result.access_key_id == "ASIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", ""])
def test_identity_content_encoding_is_fine(encoding: str) -> None:
    response = HttpResponse(
        status=200, headers=(("content-encoding", encoding),), body=_identity_body()
    )
    assert _drive(_flow(), [response]).result is not None


# --- deny ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (403, _error_body("SignatureDoesNotMatch"), "SignatureDoesNotMatch"),
        (403, _error_body("InvalidClientTokenId"), "InvalidClientTokenId"),
        (403, _error_body("ExpiredToken"), "ExpiredToken"),
        (403, _error_body("AccessDenied"), "AccessDenied"),
        (
            403,
            b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
            b"<Message>Signature expired</Message></Error></ErrorResponse>",
            "SignatureDoesNotMatch",
        ),
    ],
    ids=["sigv4", "unknown-key", "expired-session", "access-denied", "xml"],
)
def test_sts_refusal_is_a_denial_and_not_retried(status: int, body: bytes, code: str) -> None:
    run = _drive(_flow(), [HttpResponse(status=status, body=body)])
    assert isinstance(run.error, AccessDeniedError)
    assert run.error.sts_code == code
    assert len(_requests(run)) == 1
    assert _sleeps(run) == []


# --- could not decide: retried ------------------------------------------------------------------


def test_server_error_then_success_is_retried_with_jitter() -> None:
    draws: list[float] = []

    def random() -> float:
        draws.append(0.25)
        return 0.25

    run = _drive(
        _flow(random=random),
        [HttpResponse(status=500), HttpResponse(status=503), OK],
    )
    assert run.result is not None
    assert len(_requests(run)) == 3
    # Full jitter: random() times 0.1 s, then times 0.2 s.
    assert _sleeps(run) == [pytest.approx(0.025), pytest.approx(0.05)]
    assert len(draws) == 2
    # Every attempt is the identical request.
    first, *rest = _requests(run)
    assert all(r == first for r in rest)


@pytest.mark.parametrize(
    "response",
    [
        HttpResponse(status=400, body=_error_body("Throttling", "Rate exceeded")),
        HttpResponse(status=400, body=_error_body("RequestLimitExceeded")),
        HttpResponse(status=429),
    ],
    ids=["throttling", "request-limit", "http-429"],
)
def test_throttling_is_retried_then_reported(response: HttpResponse) -> None:
    run = _drive(_flow(config=VerifierConfig(CLUSTER, max_retries=3)), [response] * 4)
    assert isinstance(run.error, STSThrottledError)
    assert len(_requests(run)) == 4
    assert len(_sleeps(run)) == 3


def test_retries_are_bounded_by_max_retries() -> None:
    run = _drive(
        _flow(config=VerifierConfig(CLUSTER, max_retries=2)), [HttpResponse(status=502)] * 3
    )
    assert isinstance(run.error, STSResponseError)
    assert run.error.reason == "sts-server-error"
    assert run.error.status_code == 502
    assert len(_requests(run)) == 3


def test_no_retries_when_max_retries_is_zero() -> None:
    run = _drive(_flow(config=VerifierConfig(CLUSTER, max_retries=0)), [HttpResponse(status=500)])
    assert isinstance(run.error, STSResponseError)
    assert len(run.effects) == 1


def test_a_deny_code_in_a_5xx_is_not_a_denial() -> None:
    bad = HttpResponse(status=503, body=_error_body("SignatureDoesNotMatch"))
    run = _drive(_flow(), [bad, bad, bad])
    assert isinstance(run.error, STSResponseError)
    assert not isinstance(run.error, AccessDeniedError)


@pytest.mark.parametrize(
    ("kind", "reason"), [("timeout", "sts-timeout"), ("network", "sts-unavailable")]
)
def test_transport_failures_are_retried(kind: str, reason: str) -> None:
    cause = OSError("connection reset")
    failure = TransportFailure(kind=kind, detail="ReadTimeout", cause=cause)
    run = _drive(_flow(), [failure, failure, failure])
    assert isinstance(run.error, STSUnavailableError)
    assert run.error.reason == reason
    assert run.error.__cause__ is cause
    assert "3 attempts" in str(run.error)
    assert len(_requests(run)) == 3


def test_transport_failure_then_success() -> None:
    failure = TransportFailure(kind="network", detail="ConnectError")
    run = _drive(_flow(), [failure, OK])
    assert run.result is not None
    assert len(_sleeps(run)) == 1


def test_deadline_is_final() -> None:
    run = _drive(_flow(), [TransportFailure(kind="deadline", detail="deadline exceeded")])
    assert isinstance(run.error, STSUnavailableError)
    assert run.error.reason == "sts-deadline"
    assert len(run.effects) == 1


def test_unexpected_client_error_is_not_retried() -> None:
    run = _drive(_flow(), [TransportFailure(kind="error", detail="RuntimeError")])
    assert isinstance(run.error, STSUnavailableError)
    assert run.error.reason == "sts-transport-error"
    assert len(run.effects) == 1


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    delays = [backoff_delay(n, lambda: 1.0, base=0.1, cap=1.0) for n in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff_delay(3, lambda: 0.0, base=0.1, cap=1.0) == 0.0


# --- could not decide: not retried --------------------------------------------------------------

_REDIRECT = HttpResponse(
    status=302, headers=(("Location", "https://evil.example/"),), body=_identity_body()
)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_REDIRECT, "sts-redirect"),
        (HttpResponse(status=301), "sts-redirect"),
        (HttpResponse(status=200, body=_identity_body()[:40], truncated=True), "sts-too-large"),
        (
            HttpResponse(
                status=200, headers=(("Content-Encoding", "gzip"),), body=_identity_body()
            ),
            "sts-content-encoding",
        ),
        (
            HttpResponse(status=200, headers=(("Content-Encoding", "br"),), body=_identity_body()),
            "sts-content-encoding",
        ),
        (HttpResponse(status=200, body=b"{not json"), "sts-bad-response"),
        (
            HttpResponse(
                status=200,
                body=b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":'
                b'{"Account":"111122223333","Arn":"arn:aws:iam::111122223333:user/alice",'
                b'"UserId":"AIDAEXAMPLEUSERID01","Arn":"arn:aws:iam::111122223333:user/admin"}}}',
            ),
            "sts-bad-response",
        ),
        (HttpResponse(status=200, body=_identity_body(account="999988887777")), "sts-account"),
        (
            HttpResponse(
                status=200, body=_identity_body(arn=f"arn:aws-cn:iam::{ACCOUNT}:user/alice")
            ),
            "sts-partition",
        ),
        (HttpResponse(status=200, body=b"<GetCallerIdentityResponse/>"), "sts-bad-response"),
        (HttpResponse(status=204), "sts-bad-response"),
        (HttpResponse(status=404, body=_error_body("UnknownOperation")), "sts-bad-response"),
        (
            HttpResponse(status=403, body=_error_body("SignatureDoesNotMatch"), truncated=True),
            "sts-too-large",
        ),
        (
            HttpResponse(
                status=403,
                headers=(("Content-Encoding", "gzip"),),
                body=_error_body("SignatureDoesNotMatch"),
            ),
            "sts-content-encoding",
        ),
    ],
    ids=[
        "302",
        "301",
        "truncated",
        "gzip",
        "br",
        "malformed-json",
        "duplicate-key",
        "wrong-account",
        "cross-partition",
        "xml-success",
        "204",
        "404",
        "truncated-denial",
        "encoded-denial",
    ],
)
def test_unusable_answers_are_sts_errors_not_retried(response: HttpResponse, reason: str) -> None:
    run = _drive(_flow(), [response])
    assert isinstance(run.error, STSResponseError)
    assert run.error.reason == reason
    assert run.result is None
    assert len(run.effects) == 1


def test_a_flow_sent_nothing_for_a_request_fails_cleanly() -> None:
    flow = _flow()
    next(flow)
    with pytest.raises(STSError) as info:
        flow.send(None)
    assert info.value.reason == "internal"


def test_messages_never_contain_the_token_or_url() -> None:
    token = _token(TEMP_CREDENTIALS)
    validated = validate_token(token, VerifierConfig(CLUSTER), now=NOW)
    scripts: list[list[Outcome]] = [
        [HttpResponse(status=403, body=_error_body("SignatureDoesNotMatch", validated.url))],
        [HttpResponse(status=302, headers=(("Location", validated.url),))],
        [HttpResponse(status=200, body=validated.url.encode())],
        [TransportFailure(kind="deadline", detail="deadline exceeded")],
        [TransportFailure(kind="error", detail="ValueError", cause=ValueError(validated.url))],
        [HttpResponse(status=500, body=validated.url.encode())] * 3,
    ]
    secrets = [token, validated.url, validated.signature, SESSION_TOKEN, validated.query]
    for outcomes in scripts:
        run = _drive(_flow(token=token), outcomes)
        assert run.error is not None
        for text in (str(run.error), repr(run.error)):
            for secret in secrets:
                assert secret not in text
