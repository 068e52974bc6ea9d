"""IAM Identity Center (SSO): role credentials from the portal, with the AWS CLI's cached login token.

A profile with ``sso_session`` (and an ``[sso-session NAME]`` section holding
``sso_start_url`` and ``sso_region``), or the legacy ``sso_start_url`` +
``sso_region`` keys, plus ``sso_account_id`` and ``sso_role_name``. The token
written by ``aws sso login`` is read from ``~/.aws/sso/cache/<sha1>.json``,
where the hash is of the session name (or, legacy, of the start URL).

As in the AWS CLI, a token of an ``sso_session`` profile that expires within 15
minutes is refreshed when the cache holds a refresh token and an unexpired
client registration (``refreshToken``, ``clientId``, ``clientSecret``,
``registrationExpiresAt``): SSO OIDC ``CreateToken`` with
``grant_type=refresh_token`` (``https://oidc.<sso_region>.<dns suffix>/token``,
or ``AWS_ENDPOINT_URL_SSO_OIDC`` / the profile's ``services`` ``sso_oidc``
block), then the new token is written back to the same cache file (atomically,
0600) in the CLI's layout. Legacy profiles are never refreshed (nor does the CLI
refresh them). A token that has expired and cannot be refreshed is an error
telling you to run ``aws sso login``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, TransportFailure
from k8s_aws_auth._core.instants import clamped, utc
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
from ._endpoints import sso_endpoint, sso_oidc_endpoint
from ._local_effects import WriteFile
from ._shared_files import read_file_checked

__all__ = ["REFRESH_WINDOW", "SSOProvider", "sso_cache_path"]

NAME = "sso"
_KEYS = ("sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name")
#: Refresh a session's token this long before it expires (the AWS CLI's window).
REFRESH_WINDOW = timedelta(minutes=15)
_REFRESH_KEYS = ("refreshToken", "clientId", "clientSecret", "registrationExpiresAt")
#: An OAuth error code worth showing (``invalid_grant``); anything else is left out.
_ERROR_CODE = re.compile(r"[A-Za-z_]{1,64}", re.ASCII)


def sso_cache_path(environ: Mapping[str, str], cache_key: str) -> str:
    """``~/.aws/sso/cache/<sha1 of cache_key>.json`` (the AWS CLI's token cache)."""
    digest = hashlib.sha1(cache_key.encode("utf-8"), usedforsecurity=False).hexdigest()
    return expand_path(f"~/.aws/sso/cache/{digest}.json", environ)


@attrs.frozen(kw_only=True)
class SSOProvider:
    """Role credentials from the IAM Identity Center portal (``profile=None``: the context's)."""

    profile: str | None = None
    timeout: float = 10.0
    name: str = attrs.field(default=NAME, init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Read the cached token, then GET the role credentials."""
        profile = self.profile or ctx.profile_name
        config = ctx.shared_config()
        section = config.profile(profile)
        if not any(key in section for key in _KEYS):
            return Skip(f"profile {profile!r} has no sso_* settings")
        where = f"{NAME} (profile {profile})"
        settings = {key: value for key in _KEYS if isinstance(value := section.get(key), str)}
        session_name = settings.get("sso_session")
        if session_name is not None:
            session = config.sso_sessions.get(session_name)
            if session is None:
                raise provider_error(
                    where,
                    f"sso_session {session_name!r} has no [sso-session] section",
                    "bad-config",
                )
            for key in ("sso_start_url", "sso_region"):
                value = session.get(key)
                if key in settings and isinstance(value, str) and settings[key] != value:
                    raise provider_error(
                        where,
                        f"{key} differs between the profile and its sso-session",
                        "bad-config",
                    )
                if isinstance(value, str):
                    settings[key] = value
        missing = [
            key
            for key in ("sso_start_url", "sso_region", "sso_account_id", "sso_role_name")
            if not settings.get(key)
        ]
        if missing:
            raise provider_error(where, f"missing SSO settings: {', '.join(missing)}", "bad-config")
        cache_key = session_name if session_name is not None else settings["sso_start_url"]
        access_token = yield from self._access_token(
            ctx, cache_key, where, profile, refreshable=session_name is not None, settings=settings
        )
        endpoint = sso_endpoint(ctx, settings["sso_region"], where)
        query = urlencode(
            [("account_id", settings["sso_account_id"]), ("role_name", settings["sso_role_name"])],
            quote_via=quote,
            safe="-_.~",
        )
        request = HttpRequest(
            method="GET",
            url=f"{endpoint.url}/federation/credentials?{query}",
            headers=(
                ("Host", endpoint.host.encode("ascii")),
                ("x-amz-sso_bearer_token", access_token.encode("utf-8")),
            ),
            connect_timeout=min(3.0, self.timeout),
            read_timeout=self.timeout,
            max_body=64 * 1024,
        )
        outcome = yield from http(request)
        if isinstance(outcome, TransportFailure):
            raise provider_error(
                where,
                transport_message(outcome, f"the SSO portal ({endpoint.host})"),
                "unreachable",
            )
        if outcome.status in (401, 403):
            raise provider_error(
                where,
                f"the SSO portal refused the cached login (HTTP {outcome.status}); "
                f"run 'aws sso login --profile {profile}'",
                "sso-unauthorized",
            )
        if outcome.status != 200 or outcome.truncated:
            raise provider_error(
                where, f"the SSO portal answered HTTP {outcome.status}", "sso-error"
            )
        return _parse_role_credentials(outcome.body, where)

    def _access_token(
        self,
        ctx: ProviderContext,
        cache_key: str,
        where: str,
        profile: str,
        *,
        refreshable: bool,
        settings: Mapping[str, str],
    ) -> CredentialFlow[str]:
        """The cached token; refreshed first (sso-session profiles) when it is about to expire."""
        path = sso_cache_path(ctx.environ, cache_key)
        login = f"run 'aws sso login --profile {profile}'"
        document = _read_cache(ctx, path, where, login)
        token = document.get("accessToken")
        expires = parse_timestamp(document.get("expiresAt"))
        if not isinstance(token, str) or not token or expires is None:
            raise provider_error(
                where, f"{path} has no accessToken/expiresAt; {login}", "sso-login-required"
            )
        now = ctx.clock()
        why_not = ""
        if refreshable and expires - now < REFRESH_WINDOW:
            refreshed = yield from self._refresh(ctx, document, settings, where, now)
            if isinstance(refreshed, dict):
                # A cache that cannot be written still leaves this process a good token.
                yield WriteFile(path=path, text=json.dumps(refreshed))
                return str(refreshed["accessToken"])
            why_not = refreshed
        if expires <= now:
            raise provider_error(
                where, f"the cached SSO login has expired{why_not}; {login}", "sso-login-required"
            )
        return token  # still valid: the AWS CLI also keeps it when a refresh fails

    def _refresh(
        self,
        ctx: ProviderContext,
        document: Mapping[str, Any],
        settings: Mapping[str, str],
        where: str,
        now: datetime,
    ) -> CredentialFlow[dict[str, Any] | str]:
        """SSO OIDC CreateToken with the cached refresh token: the new cache document, or why not."""
        if not all(isinstance(document.get(key), str) and document[key] for key in _REFRESH_KEYS):
            return ""  # logged in without a refresh token (or an older CLI): nothing to do
        registration_expires = parse_timestamp(document["registrationExpiresAt"])
        if registration_expires is None or registration_expires <= now:
            return " (its SSO client registration has expired too)"
        region = settings["sso_region"]
        endpoint = sso_oidc_endpoint(ctx, region, where)
        body = json.dumps(
            {
                "clientId": document["clientId"],
                "clientSecret": document["clientSecret"],
                "grantType": "refresh_token",
                "refreshToken": document["refreshToken"],
            }
        ).encode("utf-8")
        request = HttpRequest(
            method="POST",
            url=f"{endpoint.url}/token",
            headers=(
                ("Host", endpoint.host.encode("ascii")),
                ("Content-Type", b"application/json"),
            ),
            body=body,
            connect_timeout=min(3.0, self.timeout),
            read_timeout=self.timeout,
            max_body=64 * 1024,
            secrets=(document["clientSecret"], document["refreshToken"]),
        )
        outcome = yield from http(request)
        if isinstance(outcome, TransportFailure):
            failure = transport_message(outcome, f"SSO OIDC ({endpoint.host})")
            return f" and could not be refreshed ({failure})"
        answer = _parse_create_token(outcome)
        if isinstance(answer, str):
            return f" and could not be refreshed ({answer})"
        access_token, expires_in, refresh_token = answer
        expires_at = clamped(utc(now, "the clock's time"), timedelta(seconds=expires_in))
        return {
            "startUrl": settings["sso_start_url"],
            "region": region,
            "accessToken": access_token,
            "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clientId": document["clientId"],
            "clientSecret": document["clientSecret"],
            "registrationExpiresAt": document["registrationExpiresAt"],
            # Keep the old refresh token if no new one came (the CLI would drop it).
            "refreshToken": refresh_token or document["refreshToken"],
        }


def _read_cache(ctx: ProviderContext, path: str, where: str, login: str) -> dict[str, Any]:
    text = read_file_checked(ctx.read_file, path, where)
    if text is None:
        raise provider_error(where, f"no cached SSO login ({path}); {login}", "sso-login-required")
    document = loads_json(text)
    if document is NOT_JSON:
        raise provider_error(where, f"{path} is not JSON; {login}", "sso-login-required")
    if not isinstance(document, dict):
        raise provider_error(
            where, f"{path} has no accessToken/expiresAt; {login}", "sso-login-required"
        )
    return document


def _parse_create_token(outcome: HttpResponse) -> tuple[str, int, str | None] | str:
    """CreateToken's ``accessToken``, ``expiresIn`` and optional ``refreshToken``, or what went wrong."""
    document = loads_json(outcome.body) if not outcome.truncated else None
    if outcome.status != 200:
        code = document.get("error") if isinstance(document, dict) else None
        suffix = f", {code}" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
        return f"SSO OIDC answered HTTP {outcome.status}{suffix}"
    if not isinstance(document, dict):
        return "SSO OIDC's answer is not a JSON object"
    access_token = document.get("accessToken")
    expires_in = document.get("expiresIn")
    refresh_token = document.get("refreshToken")
    if (
        not isinstance(access_token, str)
        or not access_token
        or not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
        or not 0 < expires_in <= 366 * 24 * 3600
    ):
        return "SSO OIDC's answer has no usable accessToken/expiresIn"
    return access_token, expires_in, refresh_token if isinstance(refresh_token, str) else None


_ROLE_CREDENTIALS = ("accessKeyId", "secretAccessKey", "sessionToken", "expiration")


def _parse_role_credentials(body: bytes, where: str) -> Credentials:
    document = loads_json(body)
    role = document.get("roleCredentials") if isinstance(document, dict) else None
    if not isinstance(role, dict) or not all(key in role for key in _ROLE_CREDENTIALS):
        raise provider_error(
            where, "the SSO portal's answer has no roleCredentials", "bad-response"
        )
    fields = (role["accessKeyId"], role["secretAccessKey"], role["sessionToken"])
    expiration_ms = role["expiration"]
    if (
        not all(isinstance(value, str) and value for value in fields)
        or not isinstance(expiration_ms, int | float)
        or isinstance(expiration_ms, bool)
    ):
        raise provider_error(
            where, "the SSO portal's roleCredentials are incomplete", "bad-response"
        )
    try:
        expiration: datetime | None = datetime.fromtimestamp(expiration_ms / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        expiration = None
    if expiration is None:
        raise provider_error(where, "the SSO portal's expiration is out of range", "bad-response")
    return Credentials(fields[0], fields[1], fields[2], expiration)
