"""AssumeRole and AssumeRoleWithWebIdentity, pure: build the POST, read the answer.

Requests are form POSTs to the STS query API (``Version=2011-06-15``);
AssumeRole is signed with SigV4 header authentication, the web identity call
is unsigned (the JWT is the credential). Answers are read as STS sends them
(XML by default, JSON when asked); nothing else is trusted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from k8s_aws_auth._core import sigv4
from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, TransportFailure
from k8s_aws_auth._core.instants import utc
from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth._core.sts import parse_error_body

from ._base import parse_timestamp, provider_error, transport_message
from ._endpoints import ServiceEndpoint

__all__ = [
    "AssumeRoleParams",
    "assume_role_request",
    "parse_credentials_response",
    "web_identity_request",
]

_VERSION = "2011-06-15"
_MAX_BODY = 64 * 1024
#: What the STS API accepts for RoleSessionName.
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


@attrs.frozen(kw_only=True)
class AssumeRoleParams:
    """The AssumeRole parameters a profile (or a caller) can set. ``token_code`` is the MFA code."""

    role_arn: str
    role_session_name: str
    external_id: str | None = attrs.field(default=None, repr=False)
    duration_seconds: int | None = None
    serial_number: str | None = None
    token_code: str | None = attrs.field(default=None, repr=False)


def _form(params: Sequence[tuple[str, str]]) -> bytes:
    return urlencode(list(params), quote_via=quote, safe="-_.~").encode("ascii")


def _post(
    endpoint: ServiceEndpoint,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    secrets: tuple[str, ...] = (),
) -> HttpRequest:
    sent = {"Host": endpoint.host, **headers}
    return HttpRequest(
        method="POST",
        url=endpoint.url + "/",
        headers=tuple((name, value.encode("utf-8")) for name, value in sent.items()),
        body=body,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_body=_MAX_BODY,
        secrets=secrets,
    )


def assume_role_request(
    params: AssumeRoleParams,
    *,
    credentials: Credentials,
    endpoint: ServiceEndpoint,
    now: datetime,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
) -> HttpRequest:
    """The SigV4-signed AssumeRole POST (parameters in the API's member order)."""
    form: list[tuple[str, str]] = [
        ("Action", "AssumeRole"),
        ("Version", _VERSION),
        ("RoleArn", params.role_arn),
        ("RoleSessionName", params.role_session_name),
    ]
    if params.duration_seconds is not None:
        form.append(("DurationSeconds", str(params.duration_seconds)))
    if params.external_id is not None:
        form.append(("ExternalId", params.external_id))
    if params.serial_number is not None:
        form.append(("SerialNumber", params.serial_number))
    if params.token_code is not None:
        form.append(("TokenCode", params.token_code))
    body = _form(form)
    signed = sigv4.sign_post(
        credentials=credentials,
        host=endpoint.host,
        region=endpoint.region,
        service="sts",
        now=utc(now, "the clock's time").replace(microsecond=0),
        body=body,
    )
    return _post(endpoint, body, signed, connect_timeout=connect_timeout, read_timeout=read_timeout)


def web_identity_request(
    *,
    role_arn: str,
    role_session_name: str,
    web_identity_token: str,
    endpoint: ServiceEndpoint,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
) -> HttpRequest:
    """The unsigned AssumeRoleWithWebIdentity POST (the token is marked as its secret)."""
    form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", _VERSION),
        ("RoleArn", role_arn),
        ("RoleSessionName", role_session_name),
        ("WebIdentityToken", web_identity_token),
    ]
    return _post(
        endpoint,
        _form(form),
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        secrets=(web_identity_token,),
    )


def valid_session_name(name: str) -> bool:
    """Whether ``name`` is an acceptable RoleSessionName (2–64 of ``[\\w+=,.@-]``)."""
    return _SESSION_NAME.fullmatch(name) is not None


_CREDENTIAL_FIELDS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def _from_xml(body: bytes) -> dict[str, str] | None:
    # Entity declarations are never part of an STS answer; refusing them avoids
    # entity-expansion tricks before the parser sees the text.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)  # noqa: S314 - see above
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Credentials":
            found: dict[str, str] = {}
            for child in element:
                tag = child.tag.rsplit("}", 1)[-1]
                if tag in _CREDENTIAL_FIELDS and child.text is not None:
                    found[tag] = child.text.strip()
            return found
    return None


def _from_json(body: bytes, action: str) -> dict[str, str] | None:
    try:
        document: Any = json.loads(body)
        credentials = document[f"{action}Response"][f"{action}Result"]["Credentials"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(credentials, dict):
        return None
    found: dict[str, str] = {}
    for name in _CREDENTIAL_FIELDS:
        value = credentials.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "Expiration":
            # STS's JSON protocol sends epoch seconds.
            value = datetime.fromtimestamp(value, timezone.utc).isoformat()
        if isinstance(value, str):
            found[name] = value
    return found


def parse_credentials_response(
    outcome: HttpResponse | TransportFailure, *, action: str, provider: str, host: str
) -> Credentials:
    """Turn an AssumeRole* answer into credentials, or raise a [`CredentialProviderError`][k8s_aws_auth.errors.CredentialProviderError].

    Messages name the action, the HTTP status and the STS error code, never a body.
    """
    if isinstance(outcome, TransportFailure):
        raise provider_error(provider, transport_message(outcome, f"STS ({host})"), "unreachable")
    if outcome.status != 200:
        code = parse_error_body(outcome.body).code
        detail = f"HTTP {outcome.status}" + (f", {code}" if code else "")
        raise provider_error(provider, f"STS {action} failed ({detail})", "sts-error")
    if outcome.truncated:
        raise provider_error(provider, f"STS {action} answer is too large", "bad-response")
    stripped = outcome.body.lstrip()
    fields = _from_json(stripped, action) if stripped.startswith(b"{") else _from_xml(stripped)
    if not fields or not all(fields.get(name) for name in _CREDENTIAL_FIELDS):
        raise provider_error(
            provider, f"STS {action} answer has no complete Credentials element", "bad-response"
        )
    expiration = parse_timestamp(fields["Expiration"])
    if expiration is None:
        raise provider_error(
            provider, f"STS {action} answer has an unreadable Expiration", "bad-response"
        )
    return Credentials(
        fields["AccessKeyId"], fields["SecretAccessKey"], fields["SessionToken"], expiration
    )
