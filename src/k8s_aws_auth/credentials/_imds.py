"""EC2 instance metadata (IMDSv2): token PUT, role name, role credentials; and the instance region.

Settings, environment first then profile: ``AWS_EC2_METADATA_DISABLED=true``
(skip entirely), ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` /
``ec2_metadata_service_endpoint``, ``AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE``
(``IPv4``/``IPv6``), ``AWS_METADATA_SERVICE_TIMEOUT`` /
``metadata_service_timeout`` (default 1 s) and
``AWS_METADATA_SERVICE_NUM_ATTEMPTS`` (default 1), ``AWS_EC2_METADATA_V1_DISABLED``.
Off EC2 the first connection attempt fails within the timeout and the
provider is skipped: a laptop waits at most about one second, once.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, TransportFailure
from k8s_aws_auth._core.models import Credentials

from ._base import (
    CredentialFlow,
    ProviderContext,
    Skip,
    http,
    parse_timestamp,
    provider_error,
    transport_message,
)
from ._region import configured_flag, configured_value

__all__ = ["IMDSProvider", "imds_region_flow"]

NAME = "imds"
IPV4_ENDPOINT = "http://169.254.169.254/"
IPV6_ENDPOINT = "http://[fd00:ec2::254]/"
_TOKEN_PATH = "latest/api/token"
_ROLE_PATH = "latest/meta-data/iam/security-credentials/"
_REGION_PATH = "latest/meta-data/placement/region"
_TOKEN_TTL = b"21600"
#: What an instance's region looks like (``us-east-1``, ``us-gov-west-1``, ``eu-isoe-west-1``).
_REGION_NAME = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,3}-[0-9]{1,2}", re.ASCII)


@attrs.frozen(kw_only=True)
class _Settings:
    base: str
    timeout: float
    attempts: int
    v1_disabled: bool


class _Unavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen(kw_only=True)
class IMDSProvider:
    """Role credentials from the EC2 instance metadata service.

    ``timeout``/``attempts`` override the configured values (defaults 1 s, 1 attempt).
    """

    timeout: float | None = None
    attempts: int | None = None
    name: str = attrs.field(default=NAME, init=False)

    def _settings(self, ctx: ProviderContext) -> _Settings:
        base = configured_value(
            ctx, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "ec2_metadata_service_endpoint"
        )
        if not base:
            mode = (
                configured_value(
                    ctx,
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                    "ec2_metadata_service_endpoint_mode",
                )
                or "ipv4"
            )
            if mode.strip().lower() not in ("ipv4", "ipv6"):
                raise provider_error(
                    NAME, "the IMDS endpoint mode must be IPv4 or IPv6", "bad-config"
                )
            base = IPV6_ENDPOINT if mode.strip().lower() == "ipv6" else IPV4_ENDPOINT
        if not base.startswith(("http://", "https://")):
            raise provider_error(NAME, "the IMDS endpoint must be an http(s) URL", "bad-config")
        timeout = self.timeout
        if timeout is None:
            timeout = _number(
                configured_value(ctx, "AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout"),
                1.0,
            )
        attempts = self.attempts
        if attempts is None:
            attempts = int(
                _number(
                    configured_value(
                        ctx, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "metadata_service_num_attempts"
                    ),
                    1,
                )
            )
        return _Settings(
            base=base if base.endswith("/") else base + "/",
            timeout=max(0.05, timeout),
            attempts=max(1, attempts),
            v1_disabled=configured_flag(
                ctx, "AWS_EC2_METADATA_V1_DISABLED", "ec2_metadata_v1_disabled"
            ),
        )

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Token, role name, credentials; skipped (with the reason) whenever IMDS gives nothing."""
        if ctx.environ.get("AWS_EC2_METADATA_DISABLED", "false").strip().lower() == "true":
            return Skip("AWS_EC2_METADATA_DISABLED is true")
        settings = self._settings(ctx)
        try:
            token = yield from _session_token(settings)
            role_body = yield from _get(settings, _ROLE_PATH, token)
            role = role_body.decode("utf-8", "replace").strip().splitlines()[0].strip()
            if not role or "/" in role:
                return Skip("the instance has no usable IAM role name")
            body = yield from _get(settings, _ROLE_PATH + role, token)
        except _Unavailable as exc:
            return Skip(exc.reason)
        return _parse_credentials(body)


def _number(raw: str | None, default: float) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        pass  # raised below, outside the handler
    raise provider_error(NAME, "metadata service timeout/attempts must be numbers", "bad-config")


def _session_token(settings: _Settings) -> CredentialFlow[str | None]:
    request = HttpRequest(
        method="PUT",
        url=settings.base + _TOKEN_PATH,
        headers=(("x-aws-ec2-metadata-token-ttl-seconds", _TOKEN_TTL),),
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        max_body=4096,
    )
    failure: TransportFailure | None = None
    for _attempt in range(settings.attempts):
        outcome = yield from http(request)
        if isinstance(outcome, TransportFailure):
            failure = outcome
            continue
        if outcome.status == 200 and outcome.body.strip():
            return outcome.body.decode("ascii", "replace").strip()
        if outcome.status in (403, 404, 405):
            # No IMDSv2 here (older stand-ins): fall back to v1 unless that is disabled.
            if settings.v1_disabled:
                raise _Unavailable("IMDSv2 token refused and IMDSv1 is disabled")
            return None
        if outcome.status == 400:
            raise _Unavailable("the metadata service rejected the token request (HTTP 400)")
    if failure is not None:
        # Nothing answered: not on EC2. Do not try IMDSv1 and wait again.
        raise _Unavailable(transport_message(failure, "the instance metadata service"))
    raise _Unavailable("the metadata service gave no session token")


def _get(settings: _Settings, path: str, token: str | None) -> CredentialFlow[bytes]:
    headers: tuple[tuple[str, bytes], ...] = ()
    if token is not None:
        if not token.isprintable():
            raise _Unavailable("the metadata service returned an unusable token")
        headers = (("x-aws-ec2-metadata-token", token.encode("ascii", "replace")),)
    request = HttpRequest(
        method="GET",
        url=settings.base + path,
        headers=headers,
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        max_body=64 * 1024,
    )
    problem = "no answer"
    for _attempt in range(settings.attempts):
        outcome = yield from http(request)
        if isinstance(outcome, HttpResponse):
            if outcome.status == 200 and outcome.body.strip() and not outcome.truncated:
                return outcome.body
            problem = f"HTTP {outcome.status}"
        else:
            problem = transport_message(outcome, "the instance metadata service")
    what = "role credentials" if path.startswith(_ROLE_PATH) and path != _ROLE_PATH else path
    raise _Unavailable(f"no {what} from the metadata service ({problem})")


def _parse_credentials(body: bytes) -> Credentials | Skip:
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Skip("the metadata service's credentials are not JSON")
    if not isinstance(document, dict):
        return Skip("the metadata service's credentials are not a JSON object")
    fields = {
        key: document.get(key) for key in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")
    }
    if not all(isinstance(value, str) and value for value in fields.values()):
        code = document.get("Code")
        suffix = (
            f" (code {code})"
            if isinstance(code, str) and code.isprintable() and len(code) < 64
            else ""
        )
        return Skip(f"the metadata service returned no credentials{suffix}")
    expiration = parse_timestamp(fields["Expiration"])
    if expiration is None:
        return Skip("the metadata service's Expiration is unreadable")
    return Credentials(
        str(fields["AccessKeyId"]), str(fields["SecretAccessKey"]), str(fields["Token"]), expiration
    )


def imds_region_flow(
    ctx: ProviderContext, provider: IMDSProvider | None = None
) -> CredentialFlow[str | None]:
    """The instance's region from IMDS: token PUT, then ``/latest/meta-data/placement/region``.

    ``None`` when IMDS is disabled (``AWS_EC2_METADATA_DISABLED``), unreachable,
    or answers with something that is not a region name. ``provider`` supplies
    the endpoint, timeout and attempt settings (default: the configured ones, 1 s
    and 1 attempt); as for credentials, a failed connection ends the lookup at once.
    """
    provider = provider or IMDSProvider()
    if ctx.environ.get("AWS_EC2_METADATA_DISABLED", "false").strip().lower() == "true":
        return None
    settings = provider._settings(ctx)
    try:
        token = yield from _session_token(settings)
        body = yield from _get(settings, _REGION_PATH, token)
    except _Unavailable:
        return None
    region = body.decode("ascii", "replace").strip()
    return region if _REGION_NAME.fullmatch(region) else None
