"""An attacker's look at *our* verifier: what test_attack_classes.py does not already pin.

* the wire: the bytes httpx actually sends are the validated parts, over memory
  and over a real socket, for session tokens full of reserved characters;
* hostile tokens: Unicode and control escapes in every position, ``%2f`` case
  variants, double encoding, smuggling through an encoded ``&``, calendar edges
  (29 February, year 0000/9999, hour 24, minute/second 60), the skew boundary;
* bounded work: the worst tokens under the 16 KiB cap cost work linear in their
  size (Python line events counted, not wall time);
* the STS answer over loopback: BOM, trailing data, NaN, huge numbers, deep
  nesting, nested duplicate keys, spoofed XML, look-alike ARNs — each a
  specific error, nothing foreign escapes, in every shell;
* secrets: no error, ``repr`` or ``str`` of our values ever holds the token, its
  signature, the session token or a secret key (a property over many inputs).

Hostile URLs are written by hand and wrapped with ``encode_token``; expected
outcomes come from reference/security.md and ``_validate``'s documented order.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import pathlib
import re
import string
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any
from urllib.parse import quote, unquote

import anyio
import attrs
import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import k8s_aws_auth
from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    Identity,
    TokenVerifier,
    VerifierConfig,
    encode_token,
    presign_token,
    validate_token,
)
from k8s_aws_auth._core.effects import HttpRequest
from k8s_aws_auth._core.sts import build_verify_request
from k8s_aws_auth._core.verify_flow import build_http_request
from k8s_aws_auth.errors import (
    AccessDeniedError,
    ConfigurationError,
    CredentialsError,
    K8sAwsAuthError,
    MalformedTokenError,
    STSError,
    STSResponseError,
    TokenError,
    TokenNotYetValidError,
    UntrustedEndpointError,
)
from k8s_aws_auth.testing import FakeSTS, FixedClock
from tests.support.budget import examples

NOW = datetime(2023, 4, 28, 0, 0, tzinfo=timezone.utc)
HOST = "sts.us-west-2.amazonaws.com"
AKID = "AKIAIOSFODNN7EXAMPLE"
SIGNATURE = "5ec7e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"
CONFIG = VerifierConfig("test-cluster")
ACCOUNT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"

# The awscli order; values already UriEncode-d. Every hostile case changes one thing.
GOOD: list[tuple[str, str]] = [
    ("Action", "GetCallerIdentity"),
    ("Version", "2011-06-15"),
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", f"{AKID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"),
    ("X-Amz-Date", "20230428T000000Z"),
    ("X-Amz-Expires", "60"),
    ("X-Amz-SignedHeaders", "host%3Bx-k8s-aws-id"),
    ("X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE%2Fsession%2Btoken%3D%3D"),
    ("X-Amz-Signature", SIGNATURE),
]
NAMES = [name for name, _ in GOOD]


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in pairs)


def hostile(
    *,
    set_: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    add: tuple[tuple[str, str], ...] = (),
    host: str = HOST,
    path: str = "/",
) -> str:
    pairs = [(k, (set_ or {}).get(k, v)) for k, v in GOOD if k not in drop]
    return encode_token(f"https://{host}{path}?{_query([*pairs, *add])}")


def dated(date: str) -> str:
    """The good token with X-Amz-Date (and the credential date, kept consistent) set to ``date``."""
    return hostile(
        set_={
            "X-Amz-Date": date,
            "X-Amz-Credential": f"{AKID}%2F{date[:8]}%2Fus-west-2%2Fsts%2Faws4_request",
        }
    )


def test_baseline_is_accepted() -> None:
    validated = validate_token(hostile(), CONFIG, now=NOW)
    assert validated.security_token == "FQoGZXIvYXdzEXAMPLE/session+token=="


# ---- 1. the wire: what httpx sends is what was validated -------------------------------------

# A session token dense in the three characters base64 has besides letters and
# digits: each becomes a %XX escape that httpx must pass through untouched (no
# re-encoding, no decoding).
NASTY_SESSION_TOKEN = "IQoJ+/=" + "b3Jp+Z2lu/X2Vj=" * 8 + "+//+==/+"
NASTY = Credentials("ASIAQNASTYEXAMPLE001", "nasty/Secret+Key=", NASTY_SESSION_TOKEN)


def _nasty_token(cluster_id: str = "test-cluster") -> str:
    return presign_token(NASTY, cluster_id=cluster_id, now=NOW, region="us-west-2").value


class RecordingTransport(httpx.BaseTransport):
    """Keep every request httpx hands to the transport, then let FakeSTS answer it."""

    def __init__(self, inner: FakeSTS) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def _token_pairs(token: str) -> list[tuple[str, str]]:
    body = token[len("k8s-aws-v1.") :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    query = url.partition("/?")[2]
    return [(k, unquote(v)) for k, _, v in (c.partition("=") for c in query.split("&"))]


def test_wire_bytes_in_memory_equal_the_validated_parts() -> None:
    token = _nasty_token()
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(NASTY, f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/nasty")
    recorder = RecordingTransport(fake)
    validated = validate_token(token, CONFIG, now=NOW)
    with (
        httpx.Client(transport=recorder) as client,
        TokenVerifier(CONFIG, client=client, clock=clock) as verifier,
    ):
        identity = verifier.verify(token)
    assert identity.session_name == "nasty"
    (sent,) = recorder.requests
    assert sent.url.scheme == "https"
    assert sent.url.host == HOST
    assert sent.url.port is None
    assert sent.url.raw_path == b"/?" + validated.query.encode("ascii")
    # The query on the wire decodes to exactly the token's parameters.
    wire = [
        (k, unquote(v))
        for k, _, v in (c.partition("=") for c in sent.url.query.decode().split("&"))
    ]
    assert sorted(wire) == sorted(_token_pairs(token))
    assert dict(wire)["X-Amz-Security-Token"] == NASTY_SESSION_TOKEN
    assert [name.lower() for name, _ in sent.headers.raw] == [
        b"host",
        b"x-k8s-aws-id",
        b"accept",
        b"user-agent",
        b"accept-encoding",
    ]
    assert sent.headers["host"] == HOST
    assert sent.headers["x-k8s-aws-id"] == "test-cluster"
    assert sent.headers["accept"] == "application/json"


@attrs.define
class Scripted:
    """What the loopback STS stand-in answers, and the raw requests it received."""

    status: int = 200
    headers: list[tuple[str, str]] = attrs.field(
        factory=lambda: [("Content-Type", "application/json")]
    )
    body: bytes = b""
    received: list[tuple[str, list[tuple[str, str]]]] = attrs.field(factory=list)


@contextlib.contextmanager
def scripted_sts(script: Scripted) -> Iterator[str]:
    """A loopback HTTP server answering every GET with ``script``; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            script.received.append((self.path, list(self.headers.items())))
            self.send_response(script.status)
            for name, value in script.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(script.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(script.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the serving loop's next poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def identity_body(account: str, arn: str, user_id: str) -> bytes:
    return json.dumps(
        {
            "GetCallerIdentityResponse": {
                "GetCallerIdentityResult": {"Account": account, "Arn": arn, "UserId": user_id},
                "ResponseMetadata": {"RequestId": "01234567-89ab-cdef-0123-456789abcdef"},
            }
        }
    ).encode()


GOOD_BODY = identity_body(ACCOUNT, USER_ARN, "AIDAEXAMPLE")


def test_wire_bytes_over_a_real_socket_equal_the_validated_parts() -> None:
    token = _nasty_token()
    validated = validate_token(token, CONFIG, now=NOW)
    script = Scripted(body=GOOD_BODY)
    with scripted_sts(script) as base:
        config = VerifierConfig("test-cluster", sts_endpoint_url=base, max_retries=0)
        with TokenVerifier(config, clock=FixedClock(NOW)) as verifier:
            assert verifier.verify(token).arn == USER_ARN
    ((target, headers),) = script.received
    assert target == "/?" + validated.query
    # Exactly what docs/security.md ("The STS call") lists, in the order sent:
    # nothing else reaches the socket (no Connection, Cookie or Authorization).
    assert [(name.lower(), value) for name, value in headers] == OUTBOUND_HEADERS


#: docs/security.md's list of the outbound headers, value by value.
OUTBOUND_HEADERS = [
    ("host", HOST),
    ("x-k8s-aws-id", "test-cluster"),
    ("accept", "application/json"),
    ("user-agent", f"k8s-aws-auth/{k8s_aws_auth.__version__}"),
    ("accept-encoding", "identity"),
]


def test_security_md_lists_exactly_the_outbound_headers() -> None:
    # The page's sentence, read back: every header it names (with its value where
    # it gives one) and nothing else, in the order the socket test above saw them.
    page = (pathlib.Path(__file__).parents[2] / "docs" / "security.md").read_text()
    section = page.split("## The STS call", 1)[1].split("\n## ", 1)[0]
    sentence = re.search(r"Headers are exactly (.*?)\. No client", section, re.DOTALL)
    assert sentence is not None
    listed = re.findall(r"`([A-Za-z0-9-]+)(?:: ([^`]*))?`", sentence.group(1))
    assert [name.lower() for name, _ in listed] == [name for name, _ in OUTBOUND_HEADERS]
    version = k8s_aws_auth.__version__
    for (_, documented), (_, sent) in zip(listed, OUTBOUND_HEADERS, strict=True):
        assert documented in ("", sent.replace(version, "<version>"))


@pytest.mark.anyio
async def test_async_verifier_sends_exactly_the_same_headers_over_a_socket() -> None:
    token = _nasty_token()
    script = Scripted(body=GOOD_BODY)
    with scripted_sts(script) as base:
        config = VerifierConfig("test-cluster", sts_endpoint_url=base, max_retries=0)
        async with AsyncTokenVerifier(config, clock=FixedClock(NOW)) as verifier:
            assert (await verifier.verify(token)).arn == USER_ARN
    ((_, headers),) = script.received
    assert [(name.lower(), value) for name, value in headers] == OUTBOUND_HEADERS


BASE64_CHARACTERS = string.ascii_letters + string.digits + "+/="


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_token=st.text(alphabet=BASE64_CHARACTERS, min_size=1, max_size=120))
def test_any_base64_session_token_reaches_sts_unchanged(session_token: str) -> None:
    credentials = Credentials("ASIAQPROPERTYEXAMPL1", "secret", session_token)
    token = presign_token(credentials, cluster_id="test-cluster", now=NOW, region="us-west-2").value
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(credentials, f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s")
    with (
        httpx.Client(transport=fake) as client,
        TokenVerifier(CONFIG, client=client, clock=clock) as verifier,
    ):
        assert verifier.verify(token).canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/R"
    (recorded,) = fake.requests
    query = httpx.URL(recorded.url).query.decode()
    received = {k: unquote(v) for k, _, v in (c.partition("=") for c in query.split("&"))}
    assert received["X-Amz-Security-Token"] == session_token


@settings(max_examples=examples(60), deadline=None)
@given(
    session_token=st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=120
    ).filter(lambda text: not set(text) <= set(BASE64_CHARACTERS))
)
def test_a_session_token_outside_base64_is_refused_at_generation(session_token: str) -> None:
    # Verifiers refuse it (security-token), so signing with it is a credentials
    # problem to report at once, without quoting the token.
    secret = "IQoJ" + session_token + "b3Jp"
    credentials = Credentials("ASIAQPROPERTYEXAMPL1", "secret", secret)
    with pytest.raises(CredentialsError) as info:
        presign_token(credentials, cluster_id="c", now=NOW, region="us-west-2")
    assert info.value.reason == "session-token"
    assert secret not in f"{info.value}|{info.value!r}|{info.value.args}"


def test_non_ascii_session_token_is_refused_at_generation() -> None:
    credentials = Credentials("ASIAQPROPERTYEXAMPL1", "secret", "tök€n")
    with pytest.raises(CredentialsError) as info:
        presign_token(credentials, cluster_id="c", now=NOW, region="us-west-2")
    assert info.value.reason == "session-token"
    assert "tök€n" not in str(info.value)


def test_encoded_ampersand_cannot_smuggle_a_second_signature() -> None:
    # A session token carrying "&X-Amz-Signature=000…&Action=AssumeRole" as %26
    # escapes is no STS session token: refused before anything reads it.
    token = hostile(
        set_={
            "X-Amz-Security-Token": "IQoJ%26X-Amz-Signature%3D"
            + "0" * 64
            + "%26Action%3DAssumeRole"
        }
    )
    with pytest.raises(MalformedTokenError) as info:
        validate_token(token, CONFIG, now=NOW)
    assert info.value.reason == "security-token"


def test_outbound_request_ignores_the_token_host_bytes_for_the_endpoint_url() -> None:
    config = VerifierConfig("test-cluster", sts_endpoint_url="http://127.0.0.1:9/")
    validated = validate_token(hostile(), config, now=NOW)
    outbound = build_verify_request(validated, config)
    assert outbound.url == f"http://127.0.0.1:9/?{validated.query}"
    assert dict(outbound.headers)["Host"] == HOST.encode()


# ---- 2. hostile tokens ---------------------------------------------------------------------------

Case = tuple[str, Callable[[], str], type[K8sAwsAuthError], str]
CASES: list[Case] = []


def case(name: str, make: Callable[[], str], error: type[K8sAwsAuthError], reason: str) -> None:
    CASES.append((name, make, error, reason))


def setting(position: str, value: str) -> Callable[[], str]:
    return lambda: hostile(set_={position: value})


def dated_at(date: str) -> Callable[[], str]:
    return lambda: dated(date)


# Unicode in every position of the URL: raw (the decoded URL is not ASCII) ...
for position in ["Action", "Version", "X-Amz-Date", "X-Amz-Credential", "X-Amz-Security-Token"]:
    value = dict(GOOD)[position]
    case(
        f"unicode-raw-value:{position}",
        setting(position, value[:3] + "é" + value[3:]),
        MalformedTokenError,
        "url-chars",
    )
    case(
        f"unicode-escaped-value:{position}",
        setting(position, value[:3] + quote("é") + value[3:]),
        MalformedTokenError,
        "security-token" if position == "X-Amz-Security-Token" else "value-encoding",
    )
case(
    "unicode-raw-name",
    lambda: hostile(drop=("Action",), add=(("Actión", "GetCallerIdentity"),)),
    MalformedTokenError,
    "url-chars",
)
case(
    "unicode-escaped-name",
    lambda: hostile(drop=("Action",), add=(("Acti%C3%B3n", "GetCallerIdentity"),)),
    MalformedTokenError,
    "unknown-param",
)
case("unicode-path", lambda: hostile(path="/é"), MalformedTokenError, "url-chars")
case("unicode-escaped-path", lambda: hostile(path="/%C3%A9"), UntrustedEndpointError, "path")
case("unicode-prefix-dot", lambda: "k8s-aws-v1。" + hostile()[11:], MalformedTokenError, "prefix")
case("unicode-prefix-digit", lambda: "k8s-aws-v１." + hostile()[11:], MalformedTokenError, "prefix")
case(
    "unicode-in-base64-body",
    lambda: hostile()[:-1] + "ß",
    MalformedTokenError,
    "encoding",
)
case(
    "unicode-dash-in-base64-body",
    lambda: hostile()[:50] + "\u2010" + hostile()[51:],
    MalformedTokenError,
    "encoding",
)
case(
    "unicode-zero-width-space-in-body",
    lambda: hostile()[:50] + "\u200b" + hostile()[50:],
    MalformedTokenError,
    "encoding",
)
# %00 and %0A in every value.
for position in NAMES:
    for escape in ("%00", "%0A", "%0D", "%09", "%7F"):
        case(
            f"control-escape:{position}:{escape}",
            setting(position, dict(GOOD)[position] + escape),
            MalformedTokenError,
            "security-token" if position == "X-Amz-Security-Token" else "value-encoding",
        )
# Lower-case escapes: %2f, %3b, %3d and %2b are the non-canonical spellings.
for position, value in [
    ("X-Amz-Security-Token", "abc%2fdef"),
    ("X-Amz-Security-Token", "abc%2bdef"),
    ("X-Amz-Security-Token", "abc%3ddef"),
    ("X-Amz-Security-Token", "abc%2Fdef%2f"),
    ("X-Amz-SignedHeaders", "host%3bx-k8s-aws-id"),
    ("X-Amz-Credential", f"{AKID}%2F20230428%2Fus-west-2%2Fsts%2faws4_request"),
]:
    case(
        f"lower-case-escape:{position}:{value}",
        setting(position, value),
        MalformedTokenError,
        "security-token" if position == "X-Amz-Security-Token" else "value-encoding",
    )
# Double encoding: %25 is a canonical escape, so the decoded value keeps a literal
# "%2F" — and every field that must be exact refuses it.
case(
    "double-encoding:credential",
    lambda: hostile(
        set_={"X-Amz-Credential": f"{AKID}%252F20230428%2Fus-west-2%2Fsts%2Faws4_request"}
    ),
    MalformedTokenError,
    "credential-scope",
)
case(
    "double-encoding:signed-headers",
    lambda: hostile(set_={"X-Amz-SignedHeaders": "host%253Bx-k8s-aws-id"}),
    k8s_aws_auth.errors.ClusterIDNotSignedError,
    "signed-headers",
)
case(
    "double-encoding:date",
    lambda: hostile(set_={"X-Amz-Date": "20230428T000000%255A"}),
    MalformedTokenError,
    "date",
)
case(
    "double-encoding:action",
    lambda: hostile(set_={"Action": "GetCallerIdentity%2526Action%253DAssumeRole"}),
    MalformedTokenError,
    "action",
)
case(
    "double-encoding:host",
    lambda: hostile(host="sts%2Eus-west-2.amazonaws.com"),
    UntrustedEndpointError,
    "host",
)
# Encoded separators inside exact-match values.
case(
    "encoded-ampersand:action",
    lambda: hostile(set_={"Action": "GetCallerIdentity%26Action%3DAssumeRole"}),
    MalformedTokenError,
    "action",
)
case(
    "encoded-ampersand:expires",
    lambda: hostile(set_={"X-Amz-Expires": "60%26X-Amz-Expires%3D0"}),
    MalformedTokenError,
    "expires",
)
# The security token: repeated, case variants, empty, bare.
case(
    "security-token:repeated",
    lambda: hostile(add=(("X-Amz-Security-Token", "other"),)),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "security-token:repeated-case-variant",
    lambda: hostile(add=(("x-amz-security-token", "other"),)),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "security-token:only-case-variant",
    lambda: hostile(drop=("X-Amz-Security-Token",), add=(("X-AMZ-SECURITY-TOKEN", "x"),)),
    MalformedTokenError,
    "param-case",
)
case(
    "security-token:empty",
    lambda: hostile(set_={"X-Amz-Security-Token": ""}),
    MalformedTokenError,
    "security-token",
)
# Only base64's characters, + / = escaped: an encoded space, %00, "-" and the like
# are spellings no STS session token has.
for label, value in [
    ("encoded-space", "FQoG%20ZXIv"),
    ("nul", "FQoG%00ZXIv"),
    ("dash", "FQoG-ZXIv"),
    ("underscore", "FQoG_ZXIv"),
    ("encoded-ampersand", "FQoG%26ZXIv"),
    ("encoded-dash", "FQoG%2DZXIv"),
]:
    case(
        f"security-token:{label}",
        setting("X-Amz-Security-Token", value),
        MalformedTokenError,
        "security-token",
    )
case(
    "security-token:bare-name",
    lambda: encode_token(
        f"https://{HOST}/?"
        + _query([p for p in GOOD if p[0] != "X-Amz-Security-Token"])
        + "&X-Amz-Security-Token"
    ),
    MalformedTokenError,
    "query-syntax",
)
# Credential scope shapes.
case(
    "credential:six-parts-region-split",
    lambda: hostile(
        set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fus%2Fwest-2%2Fsts%2Faws4_request"}
    ),
    MalformedTokenError,
    "credential-scope",
)
case(
    "credential:mixed-case-key",
    lambda: hostile(
        set_={
            "X-Amz-Credential": "AKIAiosfodnn7EXAMPLE%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"
        }
    ),
    MalformedTokenError,
    "credential-scope",
)
case(
    "credential:upper-case-service",
    lambda: hostile(
        set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fus-west-2%2FSTS%2Faws4_request"}
    ),
    MalformedTokenError,
    "credential-scope",
)
case(
    "credential:scope-region-upper",
    lambda: hostile(
        set_={"X-Amz-Credential": f"{AKID}%2F20230428%2FUS-WEST-2%2Fsts%2Faws4_request"}
    ),
    k8s_aws_auth.errors.RegionNotAllowedError,
    "credential-scope",
)
# Calendar edges (credential date kept equal, so only X-Amz-Date decides).
for date in [
    "21000229T000000Z",  # 2100 is not a leap year
    "19000229T000000Z",
    "20230229T120000Z",
    "20230431T000000Z",
    "00000101T000000Z",  # year 0 does not exist
    "20230428T006000Z",  # minute 60
    "20230428T000061Z",
    "20230428T250000Z",
    "20231232T000000Z",
    "20230001T000000Z",
    "20230100T000000Z",
]:
    case(f"calendar:{date}", dated_at(date), MalformedTokenError, "date")
case("calendar:2000-02-29-is-real", lambda: dated("20000229T000000Z"), TokenError, "expired")
case("calendar:year-0001", lambda: dated("00010101T000000Z"), TokenError, "expired")
# A lifetime that would end past 9999-12-31 is a token the calendar cannot hold.
for date in ["99991231T235959Z", "99991231T234500Z"]:
    case(f"calendar:past-the-end-{date}", dated_at(date), MalformedTokenError, "date-range")
for date in ["99991231T234459Z", "99990101T000000Z"]:
    case(
        f"calendar:far-future-{date}",
        dated_at(date),
        TokenNotYetValidError,
        "not-yet-valid",
    )


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [pytest.param(make, error, reason, id=name) for name, make, error, reason in CASES],
)
def test_hostile_token_is_denied(
    make: Callable[[], str], error: type[K8sAwsAuthError], reason: str
) -> None:
    token = make()
    with pytest.raises(K8sAwsAuthError) as info:
        validate_token(token, CONFIG, now=NOW)
    assert isinstance(info.value, error), repr(info.value)
    assert isinstance(info.value, TokenError)
    assert info.value.reason == reason, repr(info.value)
    text = f"{info.value}|{info.value!r}|{info.value.args}"
    assert SIGNATURE not in text
    assert token[11:51] not in text


def test_case_names_are_unique() -> None:
    names = [name for name, *_ in CASES]
    assert len(names) == len(set(names))


def test_leap_day_of_a_leap_year_is_a_real_date() -> None:
    token = dated("20240229T235959Z")
    signed = datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone.utc)
    assert validate_token(token, CONFIG, now=signed).signed_at == signed


def test_far_future_token_is_a_denial_in_the_verifier() -> None:
    # Year 9999 must be a denial (TokenError), never an internal error turned "retry".
    token = dated("99991231T235959Z")
    with (
        TokenVerifier(CONFIG, clock=FixedClock(NOW)) as verifier,
        pytest.raises(MalformedTokenError) as info,
    ):
        verifier.verify(token)
    assert info.value.reason == "date-range"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=2), True),  # corpus: +2 min accept
        (timedelta(minutes=5), True),  # the default skew, exactly
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(minutes=20), False),  # corpus: +20 min reject
        (-timedelta(minutes=15), True),  # exactly at expiry
        (-timedelta(minutes=15, seconds=1), False),
    ],
)
def test_time_boundaries_at_second_precision(offset: timedelta, accepted: bool) -> None:
    signed = NOW + offset
    date = signed.strftime("%Y%m%dT%H%M%SZ")
    token = dated(date)
    if accepted:
        assert validate_token(token, CONFIG, now=NOW).signed_at == signed
    else:
        with pytest.raises(TokenError) as info:
            validate_token(token, CONFIG, now=NOW)
        assert info.value.reason == ("not-yet-valid" if offset > timedelta(0) else "expired")


def test_security_md_section_7_decisions() -> None:
    # X-Amz-Expires=0 accepted; FIPS and dual-stack accepted by default; strict
    # canonical encoding (a lower-case escape is refused).
    assert validate_token(hostile(set_={"X-Amz-Expires": "0"}), CONFIG, now=NOW).x_amz_expires == 0
    for host, region in [
        ("sts-fips.us-west-2.amazonaws.com", "us-west-2"),
        ("sts.us-west-2.api.aws", "us-west-2"),
        ("sts-fips.us-west-2.api.aws", "us-west-2"),
    ]:
        assert validate_token(hostile(host=host), CONFIG, now=NOW).region == region
    with pytest.raises(MalformedTokenError):
        validate_token(
            hostile(set_={"X-Amz-SignedHeaders": "host%3bx-k8s-aws-id"}), CONFIG, now=NOW
        )


# ---- 3. bounded work -----------------------------------------------------------------------------

CAP = CONFIG.max_token_size


def _fill(prefix: str, unit: str, suffix: str = "") -> str:
    """``prefix + unit * n + suffix`` with as many units as fit under the size cap once encoded."""
    room = (CAP - len("k8s-aws-v1.")) * 3 // 4 - len(prefix) - len(suffix) - 4
    return prefix + unit * (room // len(unit)) + suffix


_BASE = f"https://{HOST}/?"
_NINE_BUT_TOKEN = _query([p for p in GOOD if p[0] != "X-Amz-Security-Token"])
WORST: dict[str, tuple[str, str]] = {
    "ampersands": (encode_token(_fill(_BASE, "&")), "query-syntax"),
    "many-unknown-names": (
        encode_token(_fill(_BASE, "ab=c&", "x=y")),
        "duplicate-param",
    ),
    "many-distinct-unknown-names": (
        encode_token(_BASE + "&".join(f"p{i}=v" for i in range(1500))),
        "unknown-param",
    ),
    "many-duplicates-of-a-good-name": (
        encode_token(_fill(_BASE + _NINE_BUT_TOKEN + "&", "Action=GetCallerIdentity&", "a=b")),
        "duplicate-param",
    ),
    "long-canonical-session-token": (
        encode_token(_fill(_BASE + _NINE_BUT_TOKEN + "&X-Amz-Security-Token=", "%2BA")),
        "ok",
    ),
    "long-session-token-bad-at-the-end": (
        encode_token(_fill(_BASE + _NINE_BUT_TOKEN + "&X-Amz-Security-Token=", "%2BA", "%")),
        "security-token",
    ),
    "long-session-token-of-escapes-truncated": (
        encode_token(_fill(_BASE + _NINE_BUT_TOKEN + "&X-Amz-Security-Token=", "%2F", "%2")),
        "security-token",
    ),
    "long-session-token-of-foreign-escapes": (
        encode_token(_fill(_BASE + _NINE_BUT_TOKEN + "&X-Amz-Security-Token=", "%2F", "%20")),
        "security-token",
    ),
    "long-credential": (
        hostile(
            set_={"X-Amz-Credential": "A" * 11000 + "%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"}
        ),
        "credential-scope",
    ),
    "long-credential-of-separators": (
        hostile(set_={"X-Amz-Credential": "%2F" * 3500}),
        "credential-scope",
    ),
    "long-base64-garbage-tail": (hostile()[:40] + "!" * (CAP - 60), "encoding"),
}


def _line_events(call: Callable[[], object]) -> int:
    """Python line events executed inside the package while ``call`` runs."""
    package = k8s_aws_auth.__file__.rsplit("/", 1)[0]
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if not frame.f_code.co_filename.startswith(package):
            return None
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    except K8sAwsAuthError:
        pass
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("name", sorted(WORST))
def test_worst_case_tokens_cost_bounded_work(name: str) -> None:
    token, reason = WORST[name]
    assert len(token) <= CAP
    if reason == "ok":
        validate_token(token, CONFIG, now=NOW)
    else:
        with pytest.raises(TokenError) as info:
            validate_token(token, CONFIG, now=NOW)
        assert info.value.reason == reason
    events = _line_events(lambda: validate_token(token, CONFIG, now=NOW))
    url_components = 0
    if reason != "encoding":
        body = token[11:]
        url_components = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).count(b"&")
    # Per-component work is a handful of lines; per-character work happens in C.
    assert events <= 12 * url_components + 250, (events, url_components)


def test_over_the_cap_is_refused_before_any_decoding() -> None:
    token = "k8s-aws-v1." + "A" * CAP
    assert _line_events(lambda: validate_token(token, CONFIG, now=NOW)) < 40


# ---- 4. the STS answer, over loopback --------------------------------------------------------------

# Deep enough to exhaust the recursion limit, small enough for the 64 KiB body cap.
_NESTED = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
RESPONSES: list[tuple[str, int, list[tuple[str, str]], bytes, type[K8sAwsAuthError], str]] = []


def answer(
    name: str,
    body: bytes,
    error: type[K8sAwsAuthError] = STSResponseError,
    reason: str = "sts-bad-response",
    *,
    status: int = 200,
    content_type: str = "application/json",
) -> None:
    RESPONSES.append((name, status, [("Content-Type", content_type)], body, error, reason))


def _envelope(result: str, metadata: str = '{"RequestId":"r"}') -> bytes:
    return (
        '{"GetCallerIdentityResponse":{"GetCallerIdentityResult":'
        + result
        + ',"ResponseMetadata":'
        + metadata
        + "}}"
    ).encode()


_RESULT = f'{{"Account":"{ACCOUNT}","Arn":"{USER_ARN}","UserId":"AIDAEXAMPLE"}}'
answer("bom", b"\xef\xbb\xbf" + GOOD_BODY)
answer("trailing-garbage", GOOD_BODY + b"garbage")
answer("two-documents", GOOD_BODY + GOOD_BODY)
answer("trailing-nul", GOOD_BODY + b"\x00")
answer("utf16", GOOD_BODY.decode().encode("utf-16"))
answer("nan-account", _envelope(f'{{"Account":NaN,"Arn":"{USER_ARN}","UserId":"AIDAEXAMPLE"}}'))
answer("nan-in-metadata", _envelope(_RESULT, '{"RequestId":NaN}'))
answer("infinity-in-metadata", _envelope(_RESULT, '{"RequestId":-Infinity}'))
answer("huge-integer-in-metadata", _envelope(_RESULT, '{"RequestId":' + "9" * 5000 + "}"))
answer("huge-float-account", _envelope(f'{{"Account":1e999,"Arn":"{USER_ARN}","UserId":"A"}}'))
answer("deeply-nested-metadata", _envelope(_RESULT, _NESTED.decode()))
answer("deeply-nested-arrays", b"[" * 30_000 + b"]" * 30_000)
answer("nested-duplicate-in-metadata", _envelope(_RESULT, '{"RequestId":"a","RequestId":"b"}'))
answer(
    "nested-duplicate-arn",
    _envelope(
        f'{{"Account":"{ACCOUNT}","Arn":"{USER_ARN}","UserId":"AIDA1",'
        f'"Arn":"arn:aws:iam::{ACCOUNT}:user/admin"}}'
    ),
)
answer(
    "arn-with-newline",
    _envelope(f'{{"Account":"{ACCOUNT}","Arn":"{USER_ARN}\\n","UserId":"AIDA1"}}'),
)
answer(
    "arn-with-escaped-nul",
    _envelope(f'{{"Account":"{ACCOUNT}","Arn":"{USER_ARN}\\u0000x","UserId":"AIDA1"}}'),
)
answer(
    "account-escaped-tab",
    _envelope(f'{{"Account":"{ACCOUNT}\\t","Arn":"{USER_ARN}","UserId":"AIDA1"}}'),
)
answer(
    "userid-lone-surrogate",
    _envelope(f'{{"Account":"{ACCOUNT}","Arn":"{USER_ARN}","UserId":"AIDA\\ud800"}}'),
)
answer(
    "role-userid-two-colons",
    _envelope(
        f'{{"Account":"{ACCOUNT}","Arn":"arn:aws:sts::{ACCOUNT}:assumed-role/R/s",'
        '"UserId":"AROA1:s:admin"}'
    ),
)
for padded in (f" {ACCOUNT}", f"{ACCOUNT} ", f"0{ACCOUNT}"):
    answer(
        f"account-padded:{padded!r}",
        _envelope(f'{{"Account":"{padded}","Arn":"{USER_ARN}","UserId":"AIDA1"}}'),
        reason="sts-account",
    )
_XML = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/admin</Arn>"
    b"<UserId>AIDAADMIN</UserId><Account>111122223333</Account></GetCallerIdentityResult>"
    b"</GetCallerIdentityResponse>"
)
answer("xml-spoof-text-xml", _XML, content_type="text/xml")
answer("xml-answer-to-json-request", b'<?xml version="1.0" encoding="UTF-8"?>\n' + _XML)
answer("json-inside-xml", b"<Reflected>" + GOOD_BODY + b"</Reflected>", content_type="text/xml")
answer("xml-inside-json-string", json.dumps({"Message": _XML.decode()}).encode())
answer("error-document-with-200", b'{"Error":{"Code":"AccessDenied","Message":"no"}}')
answer("empty-200", b"")
answer(
    "spoofed-identity-in-403",
    GOOD_BODY,
    STSResponseError,
    "sts-bad-response",
    status=403,
)
answer(
    "real-denial-403",
    b'{"Error":{"Code":"AccessDenied","Message":"no","Type":"Sender"},"RequestId":"r"}',
    AccessDeniedError,
    "sts-denied",
    status=403,
)
answer(
    "xml-denial-403",
    b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
    b"<Message>Signature expired</Message></Error></ErrorResponse>",
    AccessDeniedError,
    "sts-denied",
    status=403,
    content_type="text/xml",
)
answer(
    "denial-code-with-newline",
    b'{"Error":{"Code":"AccessDenied\\n","Message":"no"}}',
    STSResponseError,
    "sts-bad-response",
    status=403,
)


def _verify_over(kind: str, base: str, token: str) -> Identity | K8sAwsAuthError:
    config = VerifierConfig("test-cluster", sts_endpoint_url=base, max_retries=0)
    clock = FixedClock(NOW)
    if kind == "sync":
        with TokenVerifier(config, clock=clock) as verifier:
            try:
                return verifier.verify(token)
            except K8sAwsAuthError as exc:
                return exc

    async def run() -> Identity | K8sAwsAuthError:
        async with AsyncTokenVerifier(config, clock=clock) as verifier:
            try:
                return await verifier.verify(token)
            except K8sAwsAuthError as exc:
                return exc

    return anyio.run(run, backend=kind)


@pytest.mark.parametrize("kind", ["sync", "asyncio", "trio"])
@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "reason"),
    [pytest.param(s, h, b, e, r, id=n) for n, s, h, b, e, r in RESPONSES],
)
def test_hostile_sts_answer_is_never_an_identity(
    kind: str,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    error: type[K8sAwsAuthError],
    reason: str,
) -> None:
    script = Scripted(status=status, headers=headers, body=body)
    with scripted_sts(script) as base:
        outcome = _verify_over(kind, base, hostile())
    assert type(outcome) is error, repr(outcome)
    assert isinstance(outcome, K8sAwsAuthError)
    assert outcome.reason == reason
    assert len(script.received) == 1  # no retry of a bad answer or a denial
    assert SIGNATURE not in f"{outcome}{outcome!r}"


def test_response_names_are_unique() -> None:
    names = [r[0] for r in RESPONSES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("arn", "principal_type", "canonical"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/assumed-role/Admin/bob", "user", None),
        (f"arn:aws:iam::{ACCOUNT}:user/sts/assumed-role/Admin/bob", "user", None),
    ],
)
def test_look_alike_user_over_loopback_stays_a_user(
    arn: str, principal_type: str, canonical: str | None
) -> None:
    script = Scripted(body=identity_body(ACCOUNT, arn, "AIDALOOKALIKE"))
    with scripted_sts(script) as base:
        identity = _verify_over("sync", base, hostile())
    assert isinstance(identity, Identity)
    assert identity.principal_type == principal_type
    assert identity.canonical_arn == (canonical or arn)
    assert ":role/" not in identity.canonical_arn
    assert identity.session_name == ""


def test_pretty_printed_answer_with_trailing_newline_is_accepted() -> None:
    # Whitespace is JSON; STS may format its answer however it likes.
    body = json.dumps(json.loads(GOOD_BODY), indent=4).encode() + b"\n"
    script = Scripted(body=body)
    with scripted_sts(script) as base:
        identity = _verify_over("sync", base, hostile())
    assert isinstance(identity, Identity)
    assert identity.arn == USER_ARN


# ---- 5. secrets never leak -----------------------------------------------------------------------

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
SECRET_SESSION = "FwoGZXIvYXdzSECRETSESSIONTOKEN/abc+def=="
LEAKY = Credentials("ASIAQLEAKYEXAMPLE001", SECRET_KEY, SECRET_SESSION)
LEAK_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/leaky"


def _secrets(token: str, url: str, signature: str) -> list[str]:
    return [
        token,
        token[11:],
        token[30:70],
        url,
        signature,
        SECRET_KEY,
        SECRET_SESSION,
        quote(SECRET_SESSION, safe=""),
        "SECRETSESSIONTOKEN",
        "SECRETKEY",
    ]


def _texts(*values: object) -> str:
    parts = []
    for value in values:
        parts += [str(value), repr(value)]
        if isinstance(value, BaseException):
            parts += [repr(value.args), str(value.__cause__), str(value.__context__)]
    return "\n".join(parts)


def _assert_no_secret(text: str, token: str, url: str, signature: str) -> None:
    for secret in _secrets(token, url, signature):
        assert secret not in text, f"leaked {secret[:12]}…"


def _good_url() -> tuple[str, str]:
    token = presign_token(LEAKY, cluster_id="test-cluster", now=NOW, region="us-west-2").value
    body = token[11:]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    return url, url.rsplit("=", 1)[1]


GOOD_LEAKY_URL, LEAKY_SIGNATURE = _good_url()
_FUZZ = st.lists(
    st.sampled_from([*"&=%/?#@:;+ ~.-_AZaz09", "é", "\n", "\x00", "%2F", "%ZZ", "%252F"]),
    max_size=8,
).map("".join)


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    url = GOOD_LEAKY_URL
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(url)))
        end = draw(st.integers(start, min(len(url), start + 12)))
        url = url[:start] + draw(_FUZZ) + url[end:]
    token = encode_token(url)
    if draw(st.booleans()):
        at = draw(st.integers(11, len(token)))
        token = token[:at] + draw(st.sampled_from(["", "=", "+", "\n", "é", "A"])) + token[at + 1 :]
    return token


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


@st.composite
def locally_valid_tokens(draw: st.DrawFn) -> str:
    """One value changed within its grammar: passes the local checks, STS must refuse it."""
    pairs = [c.partition("=")[::2] for c in GOOD_LEAKY_URL.partition("/?")[2].split("&")]
    name = draw(
        st.sampled_from(
            ["X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Expires", "X-Amz-Date", "unchanged"]
        )
    )
    changed = []
    for key, value in pairs:
        new = value
        if key == name == "X-Amz-Signature":
            at = draw(st.integers(0, 63))
            new = value[:at] + draw(st.sampled_from("0123456789abcdef")) + value[at + 1 :]
        elif key == name == "X-Amz-Security-Token":
            at = draw(st.integers(0, 5))
            new = value[:at] + draw(st.sampled_from(_UNRESERVED)) + value[at + 1 :]
        elif key == name == "X-Amz-Expires":
            new = str(draw(st.integers(0, 900)))
        elif key == name == "X-Amz-Date":
            new = value[:-3] + f"{draw(st.integers(0, 59)):02d}Z"
        changed.append(f"{key}={new}")
    return encode_token(GOOD_LEAKY_URL.partition("/?")[0] + "/?" + "&".join(changed))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=mutated_tokens() | locally_valid_tokens(),
    fault=st.sampled_from(["none", "500", "throttle", "drop"]),
)
def test_no_error_or_value_ever_holds_a_secret(token: str, fault: str) -> None:
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(LEAKY, LEAK_ARN)
    if fault == "500":
        fake.fail_next(5)
    elif fault == "throttle":
        fake.throttle_next(5)
    elif fault == "drop":
        fake.drop_next(5)
    # No retries: a retry only repeats the same messages, after a real backoff sleep.
    config = VerifierConfig("test-cluster", max_retries=0)
    with (
        httpx.Client(transport=fake) as client,
        TokenVerifier(config, client=client, clock=clock) as verifier,
    ):
        try:
            outcome: object = verifier.verify(token)
        except K8sAwsAuthError as exc:
            outcome = exc
        seen = _texts(outcome, verifier, verifier.stats, *fake.requests)
    event(outcome.reason if isinstance(outcome, K8sAwsAuthError) else "identity")
    try:
        validated: object = validate_token(token, CONFIG, now=NOW)
    except K8sAwsAuthError as exc:
        validated = exc
    else:
        assert isinstance(validated, k8s_aws_auth.ValidatedToken)
        request = build_http_request(validated, CONFIG)
        seen += _texts(validated, request, build_verify_request(validated, CONFIG))
    seen += _texts(validated)
    _assert_no_secret(seen, token, GOOD_LEAKY_URL, LEAKY_SIGNATURE)


def test_success_path_values_hold_no_secret() -> None:
    token = presign_token(LEAKY, cluster_id="test-cluster", now=NOW, region="us-west-2")
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(LEAKY, LEAK_ARN)
    with (
        httpx.Client(transport=fake) as client,
        TokenVerifier(CONFIG, client=client, clock=clock) as verifier,
    ):
        identity = verifier.verify(token.value)
        texts = _texts(identity, verifier, verifier.stats, *fake.requests, LEAKY)
    validated = validate_token(token.value, CONFIG, now=NOW)
    request: HttpRequest = build_http_request(validated, CONFIG)
    texts += _texts(validated, request) + repr(token)
    assert identity.arn == LEAK_ARN
    _assert_no_secret(texts, token.value, GOOD_LEAKY_URL, LEAKY_SIGNATURE)


def test_sts_denial_messages_hold_no_secret() -> None:
    token = presign_token(LEAKY, cluster_id="another-cluster", now=NOW, region="us-west-2").value
    clock = FixedClock(NOW)
    fake = FakeSTS(clock=clock)
    fake.register(LEAKY, LEAK_ARN)
    with (
        httpx.Client(transport=fake) as client,
        TokenVerifier(CONFIG, client=client, clock=clock) as verifier,
        pytest.raises(AccessDeniedError) as info,
    ):
        verifier.verify(token)
    url = base64.urlsafe_b64decode(token[11:] + "=" * (-len(token[11:]) % 4)).decode()
    _assert_no_secret(_texts(info.value), token, url, url.rsplit("=", 1)[1])


def test_transport_failure_messages_hold_no_secret() -> None:
    token = presign_token(LEAKY, cluster_id="test-cluster", now=NOW, region="us-west-2").value
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    config = VerifierConfig(
        "test-cluster", sts_endpoint_url="http://127.0.0.1:9", max_retries=0, connect_timeout=1
    )
    with TokenVerifier(config, clock=FixedClock(NOW)) as verifier, pytest.raises(STSError) as info:
        verifier.verify(token)
    url = base64.urlsafe_b64decode(token[11:] + "=" * (-len(token[11:]) % 4)).decode()
    _assert_no_secret(_texts(info.value), token, url, url.rsplit("=", 1)[1])


# ---- 6. the shells on hostile input -----------------------------------------------------------

SHELL_INPUTS: list[object] = [
    "k8s-aws-v1.\ud800",
    "\ud800" * 10,
    "k8s-aws-v1." + "\x00" * 100,
    "",
    None,
    b"k8s-aws-v1.aHR0cHM6Ly8",
    12345,
    "k8s-aws-v1." + "A" * (1 << 16),
    dated("99991231T235959Z"),
    hostile(host="sts.us-west-2.amazonaws.com:443"),
]


@pytest.mark.parametrize("kind", ["sync", "asyncio", "trio"])
@pytest.mark.parametrize("cache_size", [0, 16])
def test_shells_deny_hostile_input_whatever_its_type(kind: str, cache_size: int) -> None:
    config = VerifierConfig("test-cluster", cache_size=cache_size)
    fake = FakeSTS(clock=FixedClock(NOW))

    def verify_all_sync() -> list[object]:
        outcomes: list[object] = []
        with (
            httpx.Client(transport=fake) as client,
            TokenVerifier(config, client=client, clock=FixedClock(NOW)) as verifier,
        ):
            for value in SHELL_INPUTS:
                try:
                    outcomes.append(verifier.verify(value))  # type: ignore[arg-type]
                except K8sAwsAuthError as exc:
                    outcomes.append(exc)
        return outcomes

    async def verify_all_async() -> list[object]:
        outcomes: list[object] = []
        async with (
            httpx.AsyncClient(transport=fake) as client,
            AsyncTokenVerifier(config, client=client, clock=FixedClock(NOW)) as verifier,
        ):
            for value in SHELL_INPUTS:
                try:
                    outcomes.append(await verifier.verify(value))  # type: ignore[arg-type]
                except K8sAwsAuthError as exc:
                    outcomes.append(exc)
        return outcomes

    outcomes = verify_all_sync() if kind == "sync" else anyio.run(verify_all_async, backend=kind)
    assert all(isinstance(outcome, TokenError) for outcome in outcomes), outcomes
    assert fake.requests == []


def test_extra_region_of_another_partition_is_refused_by_the_config() -> None:
    # An operator lists a GovCloud region as an "extra region" of a commercial
    # verifier: that would admit GovCloud's STS host, so the config refuses it.
    with pytest.raises(ConfigurationError) as info:
        VerifierConfig("test-cluster", extra_regions={"us-gov-west-1"})
    assert info.value.reason == "region"
