"""Container credentials: ECS task roles and EKS Pod Identity.

``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` (appended to ``http://169.254.170.2``)
or ``AWS_CONTAINER_CREDENTIALS_FULL_URI``, with an ``Authorization`` header from
``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (re-read each time; EKS rotates it)
or ``AWS_CONTAINER_AUTHORIZATION_TOKEN``. A full URI must be https, or point at
a loopback address or one of the AWS container hosts (``169.254.170.2``,
``169.254.170.23``, ``fd00:ec2::23``, ``localhost``): the SDKs' allowlist, so a
tampered variable cannot send the token to an arbitrary plain-HTTP host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import attrs

from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, Sleep
from k8s_aws_auth._core.models import Credentials

from ._base import (
    NOT_JSON,
    CredentialFlow,
    ProviderContext,
    Skip,
    expand_path,
    http,
    loads_json,
    parse_timestamp,
    provider_error,
    transport_message,
)
from ._shared_files import read_file_checked

__all__ = ["ContainerProvider", "container_host_allowed"]

NAME = "container"
ECS_HOST = "169.254.170.2"
_ALLOWED_HOSTS = frozenset(
    {
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("169.254.170.23"),
        ipaddress.ip_address("fd00:ec2::23"),
    }
)


def container_host_allowed(url: str) -> bool:
    """Whether a ``FULL_URI`` may be used: https anywhere, http only to loopback or the AWS hosts."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https" and host:
        return True
    if parts.scheme != "http" or not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address in _ALLOWED_HOSTS


def _parse(response: HttpResponse, where: str) -> Credentials:
    document = loads_json(response.body)
    if document is NOT_JSON:
        raise provider_error(where, "the endpoint did not answer with JSON", "bad-response")
    if not isinstance(document, dict):
        raise provider_error(where, "the endpoint's answer is not a JSON object", "bad-response")
    fields = {}
    for key in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration"):
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise provider_error(where, f"the endpoint's answer has no {key}", "bad-response")
        fields[key] = value
    expiration = parse_timestamp(fields["Expiration"])
    if expiration is None:
        raise provider_error(where, "the endpoint's Expiration is unreadable", "bad-response")
    return Credentials(
        fields["AccessKeyId"], fields["SecretAccessKey"], fields["Token"], expiration
    )


@attrs.frozen(kw_only=True)
class ContainerProvider:
    """GET credentials from the container endpoint; ``attempts`` tries, 1 s apart (the SDKs use 3)."""

    timeout: float = 2.0
    attempts: int = 3
    name: str = attrs.field(default=NAME, init=False)

    def _url(self, ctx: ProviderContext) -> str | None:
        relative = ctx.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        if relative is not None:
            return f"http://{ECS_HOST}{relative}"
        full = ctx.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        if full is None:
            return None
        if not container_host_allowed(full):
            raise provider_error(
                NAME,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, a loopback address or one of "
                "169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost",
                "host-not-allowed",
            )
        return full

    def _authorization(self, ctx: ProviderContext) -> str | None:
        token_file = ctx.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        if token_file:
            path = expand_path(token_file, ctx.environ)
            token = read_file_checked(ctx.read_file, path, NAME)
            if token is None:
                raise provider_error(
                    NAME,
                    f"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path} does not exist",
                    "missing-file",
                )
        else:
            token = ctx.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        if token is None:
            return None
        token = token.strip()
        if "\r" in token or "\n" in token or not token.isprintable():
            raise provider_error(
                NAME, "the authorization token is not a valid header value", "bad-token"
            )
        return token

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """GET the endpoint (with retries for network errors and non-200 answers)."""
        url = self._url(ctx)
        if url is None:
            return Skip(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
            )
        headers: list[tuple[str, bytes]] = [("Accept", b"application/json")]
        authorization = self._authorization(ctx)
        if authorization is not None:
            headers.append(("Authorization", authorization.encode("utf-8")))
        request = HttpRequest(
            method="GET",
            url=url,
            headers=tuple(headers),
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            max_body=64 * 1024,
        )
        problem = "no attempt was made"
        for attempt in range(max(1, self.attempts)):
            if attempt:
                yield Sleep(1.0)
            outcome = yield from http(request)
            if isinstance(outcome, HttpResponse):
                if outcome.status == 200 and not outcome.truncated:
                    return _parse(outcome, NAME)
                problem = f"the endpoint answered HTTP {outcome.status}"
                if outcome.status in (401, 403):
                    break  # a refused token will not become valid by retrying
            else:
                problem = transport_message(outcome, "the container credentials endpoint")
        raise provider_error(NAME, problem, "unavailable")
