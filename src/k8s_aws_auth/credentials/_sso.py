"""IAM Identity Center (SSO): role credentials from the portal, with the AWS CLI's cached login token.

A profile with ``sso_session`` (and an ``[sso-session NAME]`` section holding
``sso_start_url`` and ``sso_region``), or the legacy ``sso_start_url`` +
``sso_region`` keys, plus ``sso_account_id`` and ``sso_role_name``. The token
written by ``aws sso login`` is read from ``~/.aws/sso/cache/<sha1>.json``,
where the hash is of the session name (or, legacy, of the start URL). An
expired token is an error telling you to log in again: this library does not
refresh SSO tokens itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from k8s_aws_auth._effects import HttpRequest, TransportFailure
from k8s_aws_auth._models import Credentials

from ._base import (
    CredentialFlow,
    ProviderContext,
    Skip,
    expand_path,
    http,
    parse_timestamp,
    provider_error,
    transport_message,
)
from ._endpoints import sso_endpoint

__all__ = ["SSOProvider", "sso_cache_path"]

NAME = "sso"
_KEYS = ("sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name")


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
        access_token = self._cached_token(ctx, cache_key, where, profile)
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

    def _cached_token(self, ctx: ProviderContext, cache_key: str, where: str, profile: str) -> str:
        path = sso_cache_path(ctx.environ, cache_key)
        login = f"run 'aws sso login --profile {profile}'"
        try:
            text = ctx.read_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise provider_error(
                where, f"cannot read {path} ({type(exc).__name__})", "unreadable-file"
            ) from None
        if text is None:
            raise provider_error(
                where, f"no cached SSO login ({path}); {login}", "sso-login-required"
            )
        try:
            document: Any = json.loads(text)
        except (ValueError, RecursionError):
            raise provider_error(
                where, f"{path} is not JSON; {login}", "sso-login-required"
            ) from None
        token = document.get("accessToken") if isinstance(document, dict) else None
        expires = parse_timestamp(document.get("expiresAt")) if isinstance(document, dict) else None
        if not isinstance(token, str) or not token or expires is None:
            raise provider_error(
                where, f"{path} has no accessToken/expiresAt; {login}", "sso-login-required"
            )
        if expires <= ctx.clock():
            raise provider_error(
                where, f"the cached SSO login has expired; {login}", "sso-login-required"
            )
        return token


def _parse_role_credentials(body: bytes, where: str) -> Credentials:
    try:
        document: Any = json.loads(body)
        role = document["roleCredentials"]
        fields = (role["accessKeyId"], role["secretAccessKey"], role["sessionToken"])
        expiration_ms = role["expiration"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise provider_error(
            where, "the SSO portal's answer has no roleCredentials", "bad-response"
        ) from None
    if (
        not all(isinstance(value, str) and value for value in fields)
        or not isinstance(expiration_ms, int | float)
        or isinstance(expiration_ms, bool)
    ):
        raise provider_error(
            where, "the SSO portal's roleCredentials are incomplete", "bad-response"
        )
    try:
        expiration = datetime.fromtimestamp(expiration_ms / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise provider_error(
            where, "the SSO portal's expiration is out of range", "bad-response"
        ) from None
    return Credentials(fields[0], fields[1], fields[2], expiration)
