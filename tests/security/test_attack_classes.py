"""Every attack class of reference/security.md §2 and every Python pitfall of §3, table-driven.

Hostile tokens are hand-written URLs wrapped with ``encode_token`` (or raw base64
strings): nothing here is produced by the validation code under test. Each case
pins the exception class AND its ``reason``, and that the message carries neither
the token, its signature nor its session token.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import VerifierConfig, encode_token, validate_token
from k8s_aws_auth._core.models import ValidatedToken
from k8s_aws_auth._core.sts import parse_identity_response, raise_for_error_response
from k8s_aws_auth.errors import (
    ClusterIDNotSignedError,
    ExpiredTokenError,
    K8sAwsAuthError,
    MalformedTokenError,
    RegionNotAllowedError,
    STSResponseError,
    TokenNotYetValidError,
    UntrustedEndpointError,
)

NOW = datetime(2023, 4, 28, 0, 0, tzinfo=timezone.utc)
HOST = "sts.us-west-2.amazonaws.com"
AKID = "AKIAIOSFODNN7EXAMPLE"
SIGNATURE = "5ec7e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"
SESSION_TOKEN = "SessTok%2Fsecret%2Bvalue%3D%3D"
CONFIG = VerifierConfig("test-cluster")

# The parameters awscli emits, in its order (values already UriEncode-d).
GOOD: list[tuple[str, str]] = [
    ("Action", "GetCallerIdentity"),
    ("Version", "2011-06-15"),
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", f"{AKID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"),
    ("X-Amz-Date", "20230428T000000Z"),
    ("X-Amz-Expires", "60"),
    ("X-Amz-SignedHeaders", "host%3Bx-k8s-aws-id"),
    ("X-Amz-Security-Token", SESSION_TOKEN),
    ("X-Amz-Signature", SIGNATURE),
]


def query(
    *,
    set_: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    add: tuple[tuple[str, str], ...] = (),
) -> str:
    """The good query with some values replaced, some names dropped and pairs appended."""
    pairs = [(k, (set_ or {}).get(k, v)) for k, v in GOOD if k not in drop]
    return "&".join(f"{k}={v}" for k, v in [*pairs, *add])


def url(
    *,
    host: str = HOST,
    scheme: str = "https://",
    path: str = "/",
    q: str | None = None,
    **changes: object,
) -> str:
    return f"{scheme}{host}{path}?{q if q is not None else query(**changes)}"  # type: ignore[arg-type]


def tok(raw_url: str) -> str:
    return encode_token(raw_url)


def raw_b64(data: bytes) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(data).decode().rstrip("=")


def good_token() -> str:
    return tok(url())


def _with_body_remainder(remainder: int) -> str:
    """An encoded URL whose unpadded base64 body has ``len % 4 == remainder``."""
    for extra in range(3):
        body = base64.urlsafe_b64encode((url() + "x" * extra).encode()).decode().rstrip("=")
        if len(body) % 4 == remainder:
            return body
    raise AssertionError("unreachable")


def _non_canonical_tail() -> str:
    body = _with_body_remainder(2)
    # With 2 characters in the last quantum, the last one carries 4 unused bits.
    last = body[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    flipped = alphabet[alphabet.index(last) ^ 1]
    return "k8s-aws-v1." + body[:-1] + flipped


Case = tuple[str, type[K8sAwsAuthError], str]
DENY: list[tuple[str, Callable[[], str], type[K8sAwsAuthError], str]] = []


def case(name: str, make: Callable[[], str], error: type[K8sAwsAuthError], reason: str) -> None:
    DENY.append((name, make, error, reason))


def u(**kwargs: object) -> Callable[[], str]:
    return lambda: tok(url(**kwargs))  # type: ignore[arg-type]


def raw(text: str) -> Callable[[], str]:
    return lambda: tok(text)


# ---- 1. host: only byte-equal STS hosts of the partition -----------------------------------
for bad_host, why in [
    ("sts.not-a-region.amazonaws.com", "host"),
    ("sts.s3.amazonaws.com", "host"),
    ("sts.s3-website-us-east-1.amazonaws.com", "host"),
    ("abc.execute-api.us-west-2.amazonaws.com", "host"),
    ("sts.us-west-2.amazonaws.com.", "host"),
    ("STS.US-WEST-2.AMAZONAWS.COM", "host"),
    ("sts.US-west-2.amazonaws.com", "host"),
    ("sts.us-west-2.amazonaws.com.evil.example", "host"),
    ("evil.example", "host"),
    ("google.com", "host"),
    ("website.amazonaws.com", "host"),
    ("sts.amazonaws.com.cn", "host"),
    ("52.94.0.1", "host"),
    ("sts.us-west-2.amazonaws.com%2E", "host"),
    ("sts.us-west-2.amazonaws.com\\", "host"),
    ("xn--ts-4ka.us-west-2.amazonaws.com", "host"),
    ("", "host"),
    ("sts.us-west-2.amazonaws.com:443", "port"),
    ("sts.us-west-2.amazonaws.com:", "port"),
    ("sts.us-west-2.amazonaws.com:8443", "port"),
    ("[::1]", "port"),
    ("attacker.example@sts.us-west-2.amazonaws.com", "userinfo"),
    ("attacker.example\\@sts.us-west-2.amazonaws.com", "userinfo"),
    ("user:pass@sts.us-west-2.amazonaws.com", "userinfo"),
    ("sts.us-west-2.amazonaws.com@evil.example", "userinfo"),
]:
    case(f"host:{bad_host!r}", u(host=bad_host), UntrustedEndpointError, why)

# ---- 2. cross-partition: GovCloud / China hosts for an aws verifier -----------------------
case(
    "cross-partition:govcloud-host",
    u(
        host="sts.us-gov-west-1.amazonaws.com",
        set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fus-gov-west-1%2Fsts%2Faws4_request"},
    ),
    UntrustedEndpointError,
    "host",
)
case(
    "cross-partition:china-host",
    u(
        host="sts.cn-north-1.amazonaws.com.cn",
        set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fcn-north-1%2Fsts%2Faws4_request"},
    ),
    UntrustedEndpointError,
    "host",
)
case(
    "cross-partition:scope-region-other-than-host",
    u(set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fus-gov-west-1%2Fsts%2Faws4_request"}),
    RegionNotAllowedError,
    "credential-scope",
)
case(
    "cross-partition:global-host-with-regional-scope",
    u(host="sts.amazonaws.com"),
    RegionNotAllowedError,
    "credential-scope",
)

# ---- 3. wrong action / version --------------------------------------------------------------
for action in ["AssumeRole", "getcalleridentity", "GetCallerIdentityX", "GetSessionToken"]:
    case(f"action:{action}", u(set_={"Action": action}), MalformedTokenError, "action")
case("action:missing", u(drop=("Action",)), MalformedTokenError, "missing-param")
case("version:other", u(set_={"Version": "2012-01-01"}), MalformedTokenError, "version")
case("version:missing", u(drop=("Version",)), MalformedTokenError, "missing-param")
case("algorithm:sigv2", u(set_={"X-Amz-Algorithm": "HmacSHA256"}), MalformedTokenError, "algorithm")
case(
    "algorithm:sigv4a",
    u(set_={"X-Amz-Algorithm": "AWS4-ECDSA-P256-SHA256"}),
    MalformedTokenError,
    "algorithm",
)

# ---- 4. parameter smuggling (CVE-2022-2385) -------------------------------------------------
case(
    "smuggle:CVE-2022-2385-signed-headers",
    u(
        set_={"X-Amz-SignedHeaders": "host"},
        add=(("x-amz-signedheaders", "host%3Bx-k8s-aws-id"),),
    ),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "smuggle:CVE-2022-2385-action",
    u(set_={"Action": "AssumeRole"}, add=(("action", "GetCallerIdentity"),)),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "smuggle:CVE-2022-2385-credential",
    u(
        add=(
            (
                "x-amz-credential",
                "AKIAOTHERUSERKEY0001%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
            ),
        )
    ),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "smuggle:exact-duplicate",
    u(add=(("Action", "GetCallerIdentity"),)),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "smuggle:multiple-values",
    raw(f"https://{HOST}/?{query()}&X-Amz-Date=20230428T000000Z"),
    MalformedTokenError,
    "duplicate-param",
)
for variant in ["action", "ACTION", "x-amz-date", "X-AMZ-DATE", "X-Amz-Signedheaders"]:
    canonical = {k.lower(): k for k, _ in GOOD}[variant.lower()]
    value = dict(GOOD)[canonical]
    case(
        f"smuggle:case-variant-only:{variant}",
        raw(f"https://{HOST}/?" + query(drop=(canonical,), add=((variant, value),))),
        MalformedTokenError,
        "param-case",
    )

# ---- 5. unknown parameters -----------------------------------------------------------------
for name in ["RoleArn", "X-Amz-Foo", "DurationSeconds", "x-k8s-aws-id", "X-Amz-Content-Sha256"]:
    case(f"unknown:{name}", u(add=((name, "x"),)), MalformedTokenError, "unknown-param")

# ---- 6. cluster binding ----------------------------------------------------------------------
for signed in [
    "host",
    "x-k8s-aws-id",
    "host%3Bx-k8s-aws-id%3Bx-amz-date",
    "host%3Bx-k8s-aws-id2",
    "x-k8s-aws-id%3Bhost",
    "HOST%3BX-K8S-AWS-ID",
    "host%3B",
]:
    case(
        f"binding:{signed}",
        u(set_={"X-Amz-SignedHeaders": signed}),
        ClusterIDNotSignedError,
        "signed-headers",
    )
case(
    "binding:missing",
    u(drop=("X-Amz-SignedHeaders",)),
    MalformedTokenError,
    "missing-param",
)

# ---- 7. identity-field injection (credential scope) -------------------------------------------
for credential in [
    "AKIA%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    "akiaiosfodnn7example%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    "AKIA-IOSFODNN7EXAMPLE%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    f"{AKID}%2F20230427%2Fus-west-2%2Fsts%2Faws4_request",
    f"{AKID}%2F20230428%2Fus-west-2%2Fs3%2Faws4_request",
    f"{AKID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_requestx",
    f"{AKID}%2F20230428%2Fus-west-2%2Fsts",
    f"{AKID}%2F20230428%2Fus-west-2%2Fsts%2Faws4_request%2Fextra",
    f"{AKID}%2Fadmin%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    f"{AKID}%40evil%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    f"{AKID}%20%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    "%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
    "A" * 129 + "%2F20230428%2Fus-west-2%2Fsts%2Faws4_request",
]:
    case(
        f"credential:{credential}",
        u(set_={"X-Amz-Credential": credential}),
        MalformedTokenError,
        "credential-scope",
    )
case(
    "credential:unencoded-slashes",
    u(set_={"X-Amz-Credential": f"{AKID}/20230428/us-west-2/sts/aws4_request"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "credential:lower-case-escapes",
    u(set_={"X-Amz-Credential": f"{AKID}%2f20230428%2fus-west-2%2fsts%2faws4_request"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "credential:region-with-newline",
    u(set_={"X-Amz-Credential": f"{AKID}%2F20230428%2Fus-west-2%0A%2Fsts%2Faws4_request"}),
    MalformedTokenError,
    "value-encoding",
)

# ---- 8. lifetime / replay ---------------------------------------------------------------------
case(
    "lifetime:expired-2017",
    u(
        set_={
            "X-Amz-Date": "20170101T000000Z",
            "X-Amz-Credential": f"{AKID}%2F20170101%2Fus-west-2%2Fsts%2Faws4_request",
        }
    ),
    ExpiredTokenError,
    "expired",
)
case(
    "lifetime:far-future-2099",
    u(
        set_={
            "X-Amz-Date": "20990101T000000Z",
            "X-Amz-Credential": f"{AKID}%2F20990101%2Fus-west-2%2Fsts%2Faws4_request",
        }
    ),
    TokenNotYetValidError,
    "not-yet-valid",
)
for expires in [
    "901",
    "-1",
    "%2B60",
    "%2060",
    "6_0",
    "060",
    "00",
    "1e2",
    "0x3C",
    "",
    "60.0",
    "1000000",
    "99999999999999999999",
]:
    expected = (
        (MalformedTokenError, "expires") if expires else (MalformedTokenError, "value-encoding")
    )
    case(f"expires:{expires!r}", u(set_={"X-Amz-Expires": expires}), *expected)
case(
    "expires:leading-blank-raw",
    raw(url(set_={"X-Amz-Expires": " 60"})),
    MalformedTokenError,
    "url-chars",
)
case("expires:plus-raw", u(set_={"X-Amz-Expires": "+60"}), MalformedTokenError, "value-encoding")
case(
    "expires:arabic-indic-digits-escaped",
    u(set_={"X-Amz-Expires": "%D9%A6%D9%A0"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "expires:arabic-indic-digits-raw",
    raw(url(set_={"X-Amz-Expires": "٦٠"})),
    MalformedTokenError,
    "url-chars",
)
case("expires:missing", u(drop=("X-Amz-Expires",)), MalformedTokenError, "missing-param")
for date in [
    "2023428T00000Z",
    "20230428t000000z",
    "20230428T000000",
    "20230428T000060Z",
    "20230428T240000Z",
    "20230229T000000Z",
    "20231328T000000Z",
    "20230428T000000.5Z",
    "2023-04-28T00%3A00%3A00Z",
    "00000000T000000Z",
]:
    # Credential date kept consistent so only the X-Amz-Date grammar decides.
    case(
        f"date:{date}",
        u(
            set_={
                "X-Amz-Date": date,
                "X-Amz-Credential": f"{AKID}%2F{date[:8]}%2Fus-west-2%2Fsts%2Faws4_request",
            }
        ),
        MalformedTokenError,
        "date",
    )
case(
    "date:raw-colons",
    u(set_={"X-Amz-Date": "2023-04-28T00:00:00Z"}),
    MalformedTokenError,
    "value-encoding",
)
case("date:missing", u(drop=("X-Amz-Date",)), MalformedTokenError, "missing-param")
case(
    "date:trailing-newline-escaped",
    u(set_={"X-Amz-Date": "20230428T000000Z%0A"}),
    MalformedTokenError,
    "value-encoding",
)

# ---- 9. parser differential (URL shape) ----------------------------------------------------
case("scheme:http", u(scheme="http://"), UntrustedEndpointError, "scheme")
case("scheme:upper", u(scheme="HTTPS://"), UntrustedEndpointError, "scheme")
case("scheme:missing", u(scheme=""), UntrustedEndpointError, "scheme")
case("scheme:relative", u(scheme="//"), UntrustedEndpointError, "scheme")
case("scheme:one-slash", u(scheme="https:/"), UntrustedEndpointError, "scheme")
case("scheme:three-slashes", u(scheme="https:///"), UntrustedEndpointError, "host")
case("scheme:ftp", u(scheme="ftp://"), UntrustedEndpointError, "scheme")
case("path:empty", u(path=""), UntrustedEndpointError, "path")
case("path:abc", u(path="/abc"), UntrustedEndpointError, "path")
case("path:double-slash", u(path="//"), UntrustedEndpointError, "path")
case("path:semicolon-params", u(path="/;x"), UntrustedEndpointError, "path")
case("path:dot", u(path="/."), UntrustedEndpointError, "path")
case("path:encoded-slash", u(path="%2F"), UntrustedEndpointError, "host")
case("path:no-query", raw(f"https://{HOST}/"), UntrustedEndpointError, "path")
case("fragment:after-query", raw(url() + "#frag"), MalformedTokenError, "fragment")
case("fragment:empty", raw(url() + "#"), MalformedTokenError, "fragment")
case("fragment:before-path", raw(f"https://{HOST}#x/?{query()}"), UntrustedEndpointError, "path")
case("fragment:in-value", u(set_={"Version": "2011-06-15#x"}), MalformedTokenError, "fragment")
for char, label in [
    ("\t", "tab"),
    ("\r", "cr"),
    ("\n", "lf"),
    (" ", "space"),
    ("\x00", "nul"),
    ("\x7f", "del"),
]:
    case(
        f"chars:{label}-in-host",
        raw(f"https://sts.us-west-2.amazon{char}aws.com/?{query()}"),
        MalformedTokenError,
        "url-chars",
    )
    case(f"chars:{label}-in-query", raw(url() + char), MalformedTokenError, "url-chars")
case("chars:leading-blank", raw(" " + url()), MalformedTokenError, "url-chars")
case("chars:leading-c0", raw("\x01" + url()), MalformedTokenError, "url-chars")
case(
    "chars:fullwidth-host",
    raw(f"https://ｓts.us-west-2.amazonaws.com/?{query()}"),
    MalformedTokenError,
    "url-chars",
)
case(
    "chars:long-s-host",
    raw(f"https://ſts.us-west-2.amazonaws.com/?{query()}"),
    MalformedTokenError,
    "url-chars",
)
case(
    "chars:ideographic-dot-host",
    raw(f"https://sts.us-west-2。amazonaws.com/?{query()}"),
    MalformedTokenError,
    "url-chars",
)
case(
    "chars:fullwidth-number-sign",
    raw(f"https://sts.us-west-2.amazonaws.com＃/?{query()}"),
    MalformedTokenError,
    "url-chars",
)
case(
    "chars:latin1-byte", lambda: raw_b64(url().encode() + b"\xff"), MalformedTokenError, "url-chars"
)
case("query:empty", raw(f"https://{HOST}/?"), MalformedTokenError, "query-syntax")
case(
    "query:empty-component",
    raw(f"https://{HOST}/?{query()}&&"),
    MalformedTokenError,
    "query-syntax",
)
case(
    "query:leading-ampersand",
    raw(f"https://{HOST}/?&{query()}"),
    MalformedTokenError,
    "query-syntax",
)
case(
    "query:trailing-ampersand",
    raw(f"https://{HOST}/?{query()}&"),
    MalformedTokenError,
    "query-syntax",
)
case(
    "query:bare-name",
    raw(f"https://{HOST}/?{query()}&X-Amz-Security-Token"),
    MalformedTokenError,
    "query-syntax",
)
case("query:empty-name", raw(f"https://{HOST}/?{query()}&=x"), MalformedTokenError, "query-syntax")
case(
    "query:semicolon-separator",
    raw(f"https://{HOST}/?" + query().replace("&Version", ";Version")),
    MalformedTokenError,
    "missing-param",
)
case(
    "query:double-question-mark",
    raw(f"https://{HOST}/??{query()}"),
    MalformedTokenError,
    "unknown-param",
)
# The value rules, on a value that may carry escapes (the credential scope).
case(
    "query:plus-as-space",
    u(set_={"X-Amz-Credential": "a+b"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "query:bad-escape",
    u(set_={"X-Amz-Credential": "a%ZZb"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "query:truncated-escape",
    u(set_={"X-Amz-Credential": "ab%2"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "query:encoded-unreserved",
    u(set_={"X-Amz-Credential": "%41bc"}),
    MalformedTokenError,
    "value-encoding",
)
case(
    "query:encoded-name",
    raw(f"https://{HOST}/?" + query().replace("Action=", "%41ction=")),
    MalformedTokenError,
    "unknown-param",
)
case("query:empty-value", u(set_={"X-Amz-Credential": ""}), MalformedTokenError, "value-encoding")
case(
    "query:raw-equals-in-value",
    u(set_={"X-Amz-Credential": "a=b"}),
    MalformedTokenError,
    "value-encoding",
)
# The session token is stricter: standard base64, + / = as %2B %2F %3D, nothing else.
for label, value in [
    ("plus-as-space", "a+b"),
    ("encoded-space", "a%20b"),
    ("nul", "a%00b"),
    ("dash", "a-b"),
    ("underscore", "a_b"),
    ("dot", "a.b"),
    ("tilde", "a~b"),
    ("encoded-dash", "a%2Db"),
    ("encoded-unreserved", "%41bc"),
    ("encoded-percent", "a%25b"),
    ("encoded-ampersand", "a%26X-Amz-Signature%3D0"),
    ("lower-case-escape", "a%2fb"),
    ("raw-equals", "a=b"),
    ("raw-slash", "a/b"),
    ("bad-escape", "a%ZZb"),
    ("truncated-escape", "ab%2"),
    ("utf-8-escape", "t%C3%B6k"),
    ("empty", ""),
]:
    case(
        f"security-token:{label}",
        u(set_={"X-Amz-Security-Token": value}),
        MalformedTokenError,
        "security-token",
    )

# ---- 10. encoding (envelope) -----------------------------------------------------------------
case("prefix:missing", lambda: good_token()[len("k8s-aws-v1.") :], MalformedTokenError, "prefix")
case("prefix:upper", lambda: "K8S-AWS-V1." + good_token()[11:], MalformedTokenError, "prefix")
case("prefix:v2", lambda: "k8s-aws-v2." + good_token()[11:], MalformedTokenError, "prefix")
case("prefix:no-dot", lambda: "k8s-aws-v1" + good_token()[11:], MalformedTokenError, "prefix")
case("prefix:leading-space", lambda: " " + good_token(), MalformedTokenError, "prefix")
case("prefix:bearer", lambda: "Bearer " + good_token(), MalformedTokenError, "prefix")
case("encoding:empty-body", lambda: "k8s-aws-v1.", MalformedTokenError, "encoding")
case(
    "encoding:padding",
    lambda: "k8s-aws-v1." + _with_body_remainder(2) + "==",
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:padding-one",
    lambda: "k8s-aws-v1." + _with_body_remainder(3) + "=",
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:standard-alphabet",
    lambda: "k8s-aws-v1." + base64.b64encode(b"https://" + b"\xfb\xff" * 30).decode().rstrip("="),
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:plus",
    lambda: good_token()[:20] + "+" + good_token()[21:],
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:slash",
    lambda: good_token()[:20] + "/" + good_token()[21:],
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:crlf-inside",
    lambda: good_token()[:40] + "\r\n" + good_token()[40:],
    MalformedTokenError,
    "encoding",
)
case("encoding:trailing-newline", lambda: good_token() + "\n", MalformedTokenError, "encoding")
case(
    "encoding:space-inside",
    lambda: good_token()[:40] + " " + good_token()[40:],
    MalformedTokenError,
    "encoding",
)
case("encoding:non-canonical-tail-bits", _non_canonical_tail, MalformedTokenError, "encoding")
case(
    "encoding:length-mod-4-is-1",
    lambda: "k8s-aws-v1." + _with_body_remainder(0) + "A",
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:unicode-letter",
    lambda: good_token()[:30] + "é" + good_token()[31:],
    MalformedTokenError,
    "encoding",
)
case(
    "encoding:fullwidth-letter",
    lambda: good_token()[:30] + "Ａ" + good_token()[31:],
    MalformedTokenError,
    "encoding",
)
case("encoding:invalid-utf8", lambda: raw_b64(b"\xc3\x28"), MalformedTokenError, "url-chars")

# ---- 11. resource exhaustion -------------------------------------------------------------------
case(
    "size:just-over-16KiB",
    lambda: "k8s-aws-v1." + "A" * (16 * 1024 - 10),
    MalformedTokenError,
    "size",
)
case("size:1MiB", lambda: "k8s-aws-v1." + "A" * (1 << 20), MalformedTokenError, "size")
case("size:1MiB-not-even-a-token", lambda: "x" * (1 << 20), MalformedTokenError, "size")
case(
    "size:thousands-of-params-under-cap",
    raw(f"https://{HOST}/?" + "&".join(f"p{i}=v" for i in range(1500))),
    MalformedTokenError,
    "unknown-param",
)
case(
    "signature:upper-hex",
    u(set_={"X-Amz-Signature": SIGNATURE.upper()}),
    MalformedTokenError,
    "signature",
)
case(
    "signature:short", u(set_={"X-Amz-Signature": SIGNATURE[:63]}), MalformedTokenError, "signature"
)
case(
    "signature:long", u(set_={"X-Amz-Signature": SIGNATURE + "0"}), MalformedTokenError, "signature"
)
case("signature:non-hex", u(set_={"X-Amz-Signature": "g" * 64}), MalformedTokenError, "signature")
case("signature:missing", u(drop=("X-Amz-Signature",)), MalformedTokenError, "missing-param")


# ---- upstream TestVerifyTokenPreSTSValidations, in our strict terms -----------------------------
UPSTREAM_VALID_URL = (
    "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id"
    "&x-amz-date=20230428T000000Z&x-amz-expires=60"
)
case("upstream:too-large", lambda: "k8s-aws-v1." + "a" * 20000, MalformedTokenError, "size")
case("upstream:wrong-prefix", lambda: "k8s-aws-v2.asdf", MalformedTokenError, "prefix")
case("upstream:bad-base64", lambda: "k8s-aws-v1.decodingerror", MalformedTokenError, "encoding")
case(
    "upstream:missing-scheme",
    raw("sts.amazonaws.com/?action=get"),
    UntrustedEndpointError,
    "scheme",
)
case("upstream:http", raw("http://sts.amazonaws.com/"), UntrustedEndpointError, "scheme")
case("upstream:non-sts-host", raw("https://google.com/"), UntrustedEndpointError, "host")
case("upstream:bad-path", raw("https://sts.amazonaws.com/abc"), UntrustedEndpointError, "path")
case(
    "upstream:validURL-lower-case-names", raw(UPSTREAM_VALID_URL), MalformedTokenError, "param-case"
)
case(
    "upstream:non-allowlisted",
    raw("https://sts.amazonaws.com/?action=get&param=val"),
    MalformedTokenError,
    "param-case",
)
case(
    "upstream:multiple-values",
    raw("https://sts.amazonaws.com/?action=get&action=post"),
    MalformedTokenError,
    "duplicate-param",
)
case(
    "upstream:bad-escape",
    raw("https://sts.amazonaws.com/?action=get%xx"),
    MalformedTokenError,
    "param-case",
)
case(
    "upstream:cve-2022-2385",
    raw(
        "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20230428%2Fus-east-1%2Fsts%2Faws4_request"
        "&X-Amz-Date=20230428T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={SIGNATURE}&x-amz-signedheaders=x-k8s-aws-id"
    ),
    MalformedTokenError,
    "duplicate-param",
)


def _secrets_in(token: str) -> list[str]:
    return [token, SIGNATURE, SESSION_TOKEN, "SessTok/secret+value==", token[11:60]]


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [pytest.param(make, error, reason, id=name) for name, make, error, reason in DENY],
)
def test_attack_is_denied(
    make: Callable[[], str], error: type[K8sAwsAuthError], reason: str
) -> None:
    token = make()
    with pytest.raises(K8sAwsAuthError) as info:
        validate_token(token, CONFIG, now=NOW)
    assert type(info.value) is error, info.value
    assert info.value.reason == reason, info.value
    text = f"{info.value}\n{info.value!r}\n{info.value.args}"
    for secret in _secrets_in(token):
        if len(secret) >= 16:
            assert secret not in text


def test_case_names_are_unique() -> None:
    names = [name for name, *_ in DENY]
    assert len(names) == len(set(names))


def test_the_baseline_itself_is_accepted() -> None:
    # Every hostile case above is the baseline with one thing changed.
    validated = validate_token(good_token(), CONFIG, now=NOW)
    assert validated.host == HOST
    assert validated.access_key_id == AKID
    assert validated.security_token == "SessTok/secret+value=="
    assert validated.query == query()


@pytest.mark.parametrize(
    ("host", "scope_region"),
    [
        ("sts.amazonaws.com", "us-east-1"),
        ("sts.us-west-2.amazonaws.com", "us-west-2"),
        ("sts-fips.us-east-1.amazonaws.com", "us-east-1"),
        ("sts.us-east-1.api.aws", "us-east-1"),
        ("sts-fips.us-west-2.api.aws", "us-west-2"),
        ("sts.me-central-1.amazonaws.com", "me-central-1"),
    ],
)
def test_accepted_host_forms(host: str, scope_region: str) -> None:
    credential = f"{AKID}%2F20230428%2F{scope_region}%2Fsts%2Faws4_request"
    validated = validate_token(
        tok(url(host=host, set_={"X-Amz-Credential": credential})), CONFIG, now=NOW
    )
    assert (validated.host, validated.region) == (host, scope_region)


# ---- 12. response spoofing (at the _sts level) ------------------------------------------------


def _validated() -> ValidatedToken:
    return validate_token(good_token(), CONFIG, now=NOW)


def _body(result: str) -> bytes:
    return (
        '{"GetCallerIdentityResponse":{"GetCallerIdentityResult":' + result + ","
        '"ResponseMetadata":{"RequestId":"r"}}}'
    ).encode()


SPOOFED_BODIES = [
    ("moto-s3-listing", b'<?xml version="1.0"?><ListAllMyBucketsResult/>', "sts-bad-response"),
    (
        "xml-identity",
        b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/a</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>",
        "sts-bad-response",
    ),
    ("html", b"<html>ok</html>", "sts-bad-response"),
    ("empty", b"", "sts-bad-response"),
    (
        "reflected-json-in-other-envelope",
        b'{"Other":{"GetCallerIdentityResponse":{}}}',
        "sts-bad-response",
    ),
    (
        "duplicate-arn-key",
        _body(
            '{"Account":"111122223333","Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA","Arn":"arn:aws:iam::111122223333:user/admin"}'
        ),
        "sts-bad-response",
    ),
    (
        "duplicate-envelope",
        b'{"GetCallerIdentityResponse":{},"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"111122223333","Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA"}}}',
        "sts-bad-response",
    ),
    (
        "extra-result-field",
        _body(
            '{"Account":"111122223333","Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA","Admin":true}'
        ),
        "sts-bad-response",
    ),
    (
        "account-mismatch",
        _body(
            '{"Account":"999999999999","Arn":"arn:aws:iam::111122223333:user/a","UserId":"AIDA"}'
        ),
        "sts-account",
    ),
    (
        "foreign-partition",
        _body(
            '{"Account":"111122223333","Arn":"arn:aws-us-gov:iam::111122223333:user/a","UserId":"AIDA"}'
        ),
        "sts-partition",
    ),
    (
        "lower-case-keys",
        _body(
            '{"account":"111122223333","arn":"arn:aws:iam::111122223333:user/a","userid":"AIDA"}'
        ),
        "sts-bad-response",
    ),
]


@pytest.mark.parametrize(
    ("body", "reason"), [pytest.param(b, r, id=n) for n, b, r in SPOOFED_BODIES]
)
def test_spoofed_response_is_not_an_identity(body: bytes, reason: str) -> None:
    with pytest.raises(STSResponseError) as info:
        parse_identity_response(body, _validated(), CONFIG)
    assert type(info.value) is STSResponseError
    assert info.value.reason == reason


def test_redirect_is_never_an_identity() -> None:
    with pytest.raises(STSResponseError) as info:
        raise_for_error_response(302, b"")
    assert info.value.reason == "sts-redirect"
    assert info.value.status_code == 302


# ---- 13. identity mapping: look-alike ARNs ---------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "user_id", "principal_type", "canonical"),
    [
        (
            "arn:aws:iam::111122223333:user/assumed-role/Admin/bob",
            "AIDAEXAMPLE",
            "user",
            "arn:aws:iam::111122223333:user/assumed-role/Admin/bob",
        ),
        (
            "arn:aws:sts::111122223333:assumed-role/Admin/bob",
            "AROAEXAMPLE:bob",
            "assumed-role",
            "arn:aws:iam::111122223333:role/Admin",
        ),
    ],
)
def test_look_alike_user_is_not_the_role(
    arn: str, user_id: str, principal_type: str, canonical: str
) -> None:
    body = _body(f'{{"Account":"111122223333","Arn":"{arn}","UserId":"{user_id}"}}')
    identity = parse_identity_response(body, _validated(), CONFIG)
    assert identity.principal_type == principal_type
    assert identity.canonical_arn == canonical


def test_identity_keeps_partition_and_account() -> None:
    other_account = _body(
        '{"Account":"444455556666","Arn":"arn:aws:sts::444455556666:assumed-role/Admin/bob",'
        '"UserId":"AROAEXAMPLE:bob"}'
    )
    identity = parse_identity_response(other_account, _validated(), CONFIG)
    assert identity.canonical_arn == "arn:aws:iam::444455556666:role/Admin"
    assert identity.account_id == "444455556666"
    assert identity.partition == "aws"


def test_expiry_boundary_in_the_table_sense() -> None:
    token = good_token()
    assert validate_token(token, CONFIG, now=NOW + timedelta(minutes=15)).host == HOST
    with pytest.raises(ExpiredTokenError):
        validate_token(token, CONFIG, now=NOW + timedelta(minutes=15, microseconds=1))
