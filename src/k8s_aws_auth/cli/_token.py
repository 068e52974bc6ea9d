"""``token`` and ``get-token``: the kubectl exec credential plugin.

``token`` takes aws-iam-authenticator's flags and environment, ``get-token``
takes ``aws eks get-token``'s; both print the same ExecCredential. kubectl runs
the plugin before every command, so start-up time is the product: with static
credentials (and no ``--cache``) this path signs on strings and Unix seconds
through ``k8s_aws_auth._core.token_signer`` and imports only json and time
besides: no attrs, datetime or typing, no argparse (`_token_argv` reads
kubectl's command lines), no hashlib or hmac (`_core.digests`). Static credentials
are the environment's keys, or the plain ``aws_access_key_id``/
``aws_secret_access_key`` of the selected profile when nothing else in the
default chain could answer first (``profile_static_keys``). Region and endpoint
settings come from ``resolve_settings``, the resolver's own rules, which read
the shared files without the chain (both through ``credentials.internal``).
Temporary credentials (a role, SSO, web identity, ``credential_process``,
``--role``) are kept across runs (``_credential_cache``, shared with the AWS
CLI's cache), and a hit is signed on the same attrs-free path; so is a
``--cache`` token hit (``_cache_files.cached_token``). The chain (and so httpx)
is imported only on a miss. The flags and their merge with the environment are
``_token_request``'s.
"""

from __future__ import annotations

import os
import sys
import time

# The flags and their merge with the environment and the profile (no I/O yet).
from ._token_request import TokenRequest, configure, request_from_args, shared_files, usage_error

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from k8s_aws_auth._core.exec_credential import ExecInfo
    from k8s_aws_auth._core.models import Credentials, Token
    from k8s_aws_auth.credentials.internal import SharedFiles

    from ._credential_cache import CachePlan

__all__ = [
    "TokenRequest",
    "configure",
    "request_from_args",
    "run",
    "sign",
    "static_env_credentials",
]

EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"


def _now(value: str | None) -> datetime:
    """The signing clock: ``--now`` if given, else the system clock (aware UTC)."""
    from datetime import datetime, timezone

    if value is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise usage_error("--now must be an RFC 3339 time such as 2026-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise usage_error("--now must carry a time zone (e.g. a trailing Z)")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise usage_error("--now must lie within the years 1 to 9999 in UTC") from None


def _exec_info(environ: Mapping[str, str]) -> ExecInfo | None:
    raw = environ.get(EXEC_INFO_ENV)
    if raw is None:
        return None
    from k8s_aws_auth._core.exec_credential import parse_exec_info

    return parse_exec_info(raw)


def _signing_second(value: str | None) -> int:
    """`_now()` as whole Unix seconds; reads no datetime unless ``--now`` is given."""
    if value is None:
        return int(time.time())
    return int(_now(value).replace(microsecond=0).timestamp())


def _static_env_keys(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """The environment's complete static keys, read by the chain's own function (attrs-free).

    ``None`` when the key id or the secret is missing, or when they expire
    (``AWS_CREDENTIAL_EXPIRATION``): the chain's environment provider then
    decides (and raises for a key id without a secret).
    """
    from k8s_aws_auth.credentials.internal import EXPIRATION_ENV, environment_keys

    keys = environment_keys(environ)
    if keys is None or not keys[1] or environ.get(EXPIRATION_ENV):
        return None
    return keys


def static_env_credentials(environ: Mapping[str, str]) -> Credentials | None:
    """``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` [/ ``AWS_SESSION_TOKEN``], if both set.

    ``None`` also when ``AWS_CREDENTIAL_EXPIRATION`` is set: the chain reads that.

    This is the first provider of every AWS default chain, so using it directly
    (without importing the chain) gives the same answer, only faster.
    """
    keys = _static_env_keys(environ)
    if keys is None:
        return None
    from k8s_aws_auth._core.models import Credentials

    return Credentials(*keys)


def _base_credentials(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    files: SharedFiles | None = None,
) -> Credentials:
    if request.profile is None:
        static = static_env_credentials(environ)
        if static is not None:
            return static
    from ._credentials import resolve_credentials

    def resolve() -> Credentials:
        return resolve_credentials(
            profile=request.profile, environ=environ, interactive=interactive, now=now
        )

    if files is None:
        return resolve()
    from ._credential_plans import source_plan

    return _through_cache(source_plan(files), now=now, fetch=resolve)


def _through_cache(
    plan: CachePlan | None, *, now: datetime, fetch: Callable[[], Credentials]
) -> Credentials:
    """``fetch()``'s credentials, kept across runs as ``plan`` says (``None``: not cached)."""
    if plan is None:
        return fetch()
    import datetime as dt

    from k8s_aws_auth._core.models import Credentials

    from ._credential_cache import cached_or_fetched

    def fetch_keys() -> tuple[str, str, str | None, int | None]:
        fetched = fetch()
        expiration = fetched.expiration
        expires = None if expiration is None else int(expiration.timestamp())
        return fetched.access_key_id, fetched.secret_access_key, fetched.session_token, expires

    keys = cached_or_fetched(plan, now=int(now.timestamp()), fetch=fetch_keys, warn=_warn)
    expiration = None if keys[3] is None else dt.datetime.fromtimestamp(keys[3], dt.timezone.utc)
    return Credentials(keys[0], keys[1], keys[2], expiration)


def _role_plan(
    request: TokenRequest, files: SharedFiles, source: tuple[str, str, str | None]
) -> CachePlan | None:
    """Where ``--role``'s credentials obtained with ``source`` are kept."""
    from ._credential_plans import explicit_role_plan

    assert request.role_arn is not None
    return explicit_role_plan(
        files,
        source=source,
        role_arn=request.role_arn,
        external_id=request.external_id,
        session_name=request.session_name,
        forward_session_name=request.forward_session_name,
        region=request.region,
    )


def _credentials(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    files: SharedFiles | None = None,
) -> Credentials:
    base = _base_credentials(request, environ, interactive=interactive, now=now, files=files)
    if request.role_arn is None:
        return base
    role_arn = request.role_arn
    from ._credentials import assume_role

    def assume() -> Credentials:
        return assume_role(
            base,
            role_arn=role_arn,
            external_id=request.external_id,
            session_name=request.session_name,
            forward_session_name=request.forward_session_name,
            region=request.region,
            environ=environ,
            now=now,
        )

    if files is None:
        return assume()
    source = (base.access_key_id, base.secret_access_key, base.session_token)
    return _through_cache(_role_plan(request, files, source), now=now, fetch=assume)


def sign(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    files: SharedFiles | None = None,
) -> Token:
    """Resolve credentials and sign one token for ``request`` at ``now``.

    ``files`` (the shared files as the request sees them) turns the credential
    cache on (`_credential_cache`): temporary credentials are kept across runs.
    """
    from k8s_aws_auth._core.token import presign_token

    credentials = _credentials(request, environ, interactive=interactive, now=now, files=files)
    return presign_token(
        credentials,
        cluster_id=request.cluster_id,
        now=now,
        region=request.region,
        sts_regional_endpoints=request.sts_regional_endpoints,
        use_fips=request.use_fips,
        use_dualstack=request.use_dualstack,
    )


def _credential_source(
    request: TokenRequest, environ: Mapping[str, str], files: SharedFiles
) -> str:
    """Which base identity a cached token belongs to, without resolving anything slow.

    Static keys are named by a hash of the access key id, a cacheable source by
    its plan's fingerprint (`_credential_plans`), so that switching keys or
    editing the profile never serves a token signed with the previous ones.
    """
    from k8s_aws_auth._core.digests import sha256

    def digest(text: str) -> str:
        return sha256(text.encode("utf-8")).hexdigest()[:16]

    keys = _chainless_keys(request, environ, files)
    if request.profile is None and keys is not None and keys == _static_env_keys(environ):
        return f"env:{digest(keys[0])}"
    name = files.profile_name
    if keys is not None:
        return f"profile:{name}:keys:{digest(keys[0])}"
    from ._credential_plans import source_plan

    plan = source_plan(files)
    return f"profile:{name}" if plan is None else f"profile:{name}:{plan.fingerprint[:16]}"


def _cached_token(
    request: TokenRequest, environ: Mapping[str, str], files: SharedFiles, now: str | None
) -> tuple[str, str] | None:
    """A ``--cache`` hit, read without attrs or datetime: the token and its RFC 3339 expiry."""
    from k8s_aws_auth._core.exec_credential import format_timestamp_at

    from ._cache_files import cache_directory, cached_token

    key = request.cache_key(_credential_source(request, environ, files))
    hit = cached_token(cache_directory(environ), key, now=_signing_second(now))
    return None if hit is None else (hit[0], format_timestamp_at(hit[1]))


def _token_for(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    files: SharedFiles,
) -> Token:
    if not request.cache:
        return sign(request, environ, interactive=interactive, now=now, files=files)
    from ._token_cache import TokenCache

    cache = TokenCache.default(environ, warn=_warn)
    return cache.get_or_create(
        request.cache_key(_credential_source(request, environ, files)),
        now=now,
        create=lambda: sign(request, environ, interactive=interactive, now=now, files=files),
    )


def _warn(message: str) -> None:
    print(f"k8s-aws-auth: warning: {message}", file=sys.stderr)


def _interactive(exec_info: ExecInfo | None) -> bool:
    """May we prompt (MFA)? kubectl says so in ``spec.interactive``; run by hand, a TTY decides."""
    if exec_info is not None:
        return exec_info.interactive
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _chainless_keys(
    request: TokenRequest, environ: Mapping[str, str], files: SharedFiles
) -> tuple[str, str, str | None] | None:
    """Static keys the default chain would answer with, found without running it.

    The environment's keys (unless a profile was chosen explicitly), else the
    selected profile's plain keys when no other source of the chain applies.
    """
    if request.profile is None:
        keys = _static_env_keys(environ)
        if keys is not None:
            return keys
    from k8s_aws_auth.credentials.internal import profile_static_keys

    return profile_static_keys(files)


def _cached_keys(
    request: TokenRequest, environ: Mapping[str, str], files: SharedFiles, now: str | None
) -> tuple[str, str, str | None, int] | None:
    """Cached temporary credentials for ``request``, read without the chain (attrs-free).

    The profile's source (a role, SSO, web identity, ``credential_process``),
    or ``--role``'s session when its source keys are at hand without the chain.
    """
    from ._credential_cache import lookup
    from ._credential_plans import source_plan

    at = _signing_second(now)
    if request.role_arn is None:
        plan = source_plan(files)
        return None if plan is None else lookup(plan, now=at)
    source: tuple[str, str, str | None] | None = _chainless_keys(request, environ, files)
    if source is None:
        plan = source_plan(files)
        cached = None if plan is None else lookup(plan, now=at)
        if cached is None:
            return None
        source = cached[:3]
    role_plan = _role_plan(request, files, source)
    return None if role_plan is None else lookup(role_plan, now=at)


def _signed(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    now: str | None,
    exec_info: ExecInfo | None,
    files: SharedFiles,
) -> tuple[str, str]:
    """Sign for ``request``; return the token and its RFC 3339 expiration."""
    if request.cache:
        hit = _cached_token(request, environ, files, now)
        if hit is not None:
            return hit
    keys = None
    valid_until: int | None = None  # when the keys themselves expire (cached role credentials)
    if not request.cache:
        if request.role_arn is None:
            keys = _chainless_keys(request, environ, files)
        if keys is None:
            cached = _cached_keys(request, environ, files, now)
            if cached is not None:
                keys, valid_until = cached[:3], cached[3]
    if keys is not None:
        # kubectl's common case: the same bytes as presign_token (one implementation,
        # _core.token_signer), on strings and Unix seconds, without attrs or datetime.
        from k8s_aws_auth._core.exec_credential import format_timestamp_at
        from k8s_aws_auth._core.sigv4 import amz_date_at
        from k8s_aws_auth._core.token_signer import (
            CLIENT_TOKEN_LIFETIME_SECONDS,
            LAST_SIGNING_SECOND,
            sign_token,
            too_late_to_sign,
        )

        signed_at = _signing_second(now)
        if signed_at > LAST_SIGNING_SECOND:  # as presign_token refuses it
            raise too_late_to_sign()
        value = sign_token(
            *keys,
            cluster_id=request.cluster_id,
            x_amz_date=amz_date_at(signed_at),
            region=request.region,
            sts_regional_endpoints=request.sts_regional_endpoints,
            use_fips=request.use_fips,
            use_dualstack=request.use_dualstack,
        )
        expires_at = signed_at + CLIENT_TOKEN_LIFETIME_SECONDS
        if valid_until is not None:
            expires_at = min(expires_at, valid_until)
        return value, format_timestamp_at(expires_at)
    from k8s_aws_auth._core.exec_credential import format_timestamp

    token = _token_for(
        request, environ, interactive=_interactive(exec_info), now=_now(now), files=files
    )
    return token.value, format_timestamp(token.expiration)


def _format(value: str, expires: str, request: TokenRequest, api_version: str) -> str:
    if request.output == "token":
        return value
    if request.output == "text":
        return f"{api_version}\tExecCredential\nSTATUS\t{expires}\t{value}"
    from k8s_aws_auth._core.exec_credential import exec_credential_json

    indent = 4 if request.output == "json-indented" else None  # get-token: awscli's layout
    return exec_credential_json(value, expires, api_version=api_version, indent=indent)


def run(args: argparse.Namespace) -> int:
    """Print one ExecCredential (or bare token) on stdout; 0 on success."""
    environ = os.environ
    exec_info = _exec_info(environ)
    api_version = "client.authentication.k8s.io/v1beta1"
    if exec_info is not None:
        api_version = exec_info.api_version
        if exec_info.warning:
            _warn(exec_info.warning)
        elif api_version.endswith("/v1alpha1"):
            _warn("client.authentication.k8s.io/v1alpha1 is deprecated; use v1 in your kubeconfig")
    files = shared_files(args, environ)  # parsed once, for settings and profile keys
    request = request_from_args(args, environ, files=files)
    value, expires = _signed(request, environ, now=args.now, exec_info=exec_info, files=files)
    sys.stdout.write(_format(value, expires, request, api_version) + "\n")
    sys.stdout.flush()
    return 0
