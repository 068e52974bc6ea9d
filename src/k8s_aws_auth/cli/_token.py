"""``token`` and ``get-token``: the kubectl exec credential plugin.

``token`` takes aws-iam-authenticator's flags and environment, ``get-token``
takes ``aws eks get-token``'s; both print the same ExecCredential. kubectl runs
the plugin before every command, so start-up time is the product: with static
credentials (and no ``--cache``) this path signs on strings and Unix seconds
through ``_token_signer`` and imports only argparse, hashlib, hmac, json and
time besides: no attrs, datetime or typing. Static credentials are the
environment's keys, or the plain ``aws_access_key_id``/``aws_secret_access_key``
of the selected profile when nothing else in the default chain could answer
first (``profile_static_keys``). Region and endpoint settings come from
``resolve_settings``, the resolver's own rules, which read
the shared files without the chain. The chain (SSO, AssumeRole, processes, and
so httpx) is imported only when no such keys exist, a role is requested, or
``--cache`` is on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from k8s_aws_auth._core.exec_credential import ExecInfo
    from k8s_aws_auth._core.models import Credentials, Token
    from k8s_aws_auth.credentials.internal import SharedFiles

    from ._token_cache import TokenCache

__all__ = ["TokenRequest", "configure", "request_from_args", "run"]

CLUSTER_ID_ENV = "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID"
ROLE_ENV = "DEFAULT_ROLE"
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``token`` or ``get-token`` (chosen by the parser's name)."""
    if parser.prog.endswith("get-token"):
        _configure_get_token(parser)
    else:
        _configure_token(parser)
    parser.add_argument("--region", help="AWS region whose STS endpoint signs the token")
    parser.add_argument("--profile", help="AWS profile from ~/.aws/config (default: AWS_PROFILE)")
    parser.add_argument(
        "--imds-region",
        action="store_true",
        help="when no region is configured, use the EC2 instance's region from the "
        "instance metadata service (1 s timeout; off EC2: no region)",
    )
    parser.add_argument(
        "--sts-regional-endpoints",
        choices=("regional", "legacy"),
        help="STS endpoint mode (default: AWS_STS_REGIONAL_ENDPOINTS, else regional)",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="reuse a still-valid token and assumed-role credentials from "
        "~/.kube/cache/k8s-aws-auth/ (files 0600, directory 0700)",
    )
    # For tests and reproducible output only: sign as if the clock read this
    # RFC 3339 instant. Hidden from --help; documented in docs/cli.md.
    parser.add_argument("--now", help=argparse.SUPPRESS)


def _configure_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--cluster-id",
        help=f"the cluster id the token is bound to (default: {CLUSTER_ID_ENV})",
    )
    parser.add_argument(
        "-r", "--role", help=f"role ARN to assume before signing (default: {ROLE_ENV})"
    )
    parser.add_argument("-e", "--external-id", help="ExternalId for AssumeRole")
    names = parser.add_mutually_exclusive_group()
    names.add_argument("-s", "--session-name", help="RoleSessionName for AssumeRole")
    names.add_argument(
        "--forward-session-name",
        action="store_true",
        help="use the caller's own session name as RoleSessionName (with --role)",
    )
    parser.add_argument(
        "--token-only",
        action="store_true",
        help="print the bare token instead of an ExecCredential",
    )


def _configure_get_token(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cluster-name", help="the EKS cluster name the token is bound to")
    which.add_argument("--cluster-id", help="the cluster id (EKS local clusters on Outposts)")
    parser.add_argument("--role-arn", help="role ARN to assume before signing")
    parser.add_argument(
        "-o", "--output", choices=("json", "text"), default="json", help="output format"
    )


class TokenRequest:
    """What to sign, resolved from flags and environment (no I/O yet)."""

    __slots__ = (
        "cache",
        "cluster_id",
        "external_id",
        "forward_session_name",
        "output",
        "profile",
        "region",
        "role_arn",
        "session_name",
        "sts_regional_endpoints",
        "use_dualstack",
        "use_fips",
    )

    def __init__(
        self,
        *,
        cluster_id: str,
        region: str | None,
        profile: str | None,
        role_arn: str | None,
        external_id: str | None,
        session_name: str | None,
        forward_session_name: bool,
        sts_regional_endpoints: str,
        use_fips: bool,
        use_dualstack: bool,
        cache: bool,
        output: str,
    ) -> None:
        self.cluster_id = cluster_id
        self.region = region
        self.profile = profile
        self.role_arn = role_arn
        self.external_id = external_id
        self.session_name = session_name
        self.forward_session_name = forward_session_name
        self.sts_regional_endpoints = sts_regional_endpoints
        self.use_fips = use_fips
        self.use_dualstack = use_dualstack
        self.cache = cache
        self.output = output

    def cache_key(self, credential_source: str) -> dict[str, object]:
        """Every input that changes the token, plus where the base credentials came from."""
        return {
            "cluster_id": self.cluster_id,
            "profile": self.profile,
            "role_arn": self.role_arn,
            "external_id": self.external_id,
            "session_name": self.session_name,
            "forward_session_name": self.forward_session_name,
            "region": self.region,
            "sts_regional_endpoints": self.sts_regional_endpoints,
            "use_fips": self.use_fips,
            "use_dualstack": self.use_dualstack,
            "credential_source": credential_source,
        }


def _usage_error(message: str) -> Exception:
    from k8s_aws_auth.errors import ConfigurationError

    return ConfigurationError(message, reason="usage")


def request_from_args(
    args: argparse.Namespace, environ: Mapping[str, str], *, files: SharedFiles | None = None
) -> TokenRequest:
    """Merge flags with the environment and the profile the way aws-iam-authenticator / awscli do.

    Flags win, then the environment, then the profile's settings (read from
    ``files``, the shared files of the selected profile; made here when not given).
    """
    get_token = args.command == "get-token"
    if get_token:
        cluster_id = args.cluster_id or args.cluster_name
        if not cluster_id:
            raise _usage_error("either --cluster-name or --cluster-id must be specified")
        role_arn = args.role_arn or None
        external_id = session_name = None
        forward = False
        # awscli v1 reads AWS_DEFAULT_REGION only; v2 also AWS_REGION (second here).
        region_env = ("AWS_DEFAULT_REGION", "AWS_REGION")
        output = "json-indented" if args.output == "json" else args.output
    else:
        cluster_id = args.cluster_id or environ.get(CLUSTER_ID_ENV, "")
        if not cluster_id:
            raise _usage_error(
                f"cluster ID not specified; pass -i/--cluster-id or set {CLUSTER_ID_ENV}"
            )
        role_arn = args.role or environ.get(ROLE_ENV) or None
        external_id = args.external_id or None
        session_name = args.session_name or None
        forward = bool(args.forward_session_name)
        # aws-iam-authenticator uses the Go SDK v2 order.
        region_env = ("AWS_REGION", "AWS_DEFAULT_REGION")
        output = "token" if args.token_only else "json"
    profile = args.profile or None
    if files is None:
        files = _shared_files(args, environ)
    # The credential resolver's rules (one implementation, attrs-free): the shared
    # files are read only for a setting neither a flag nor the environment gives.
    from k8s_aws_auth.credentials.internal import resolve_settings

    settings = resolve_settings(
        files,
        region_env=region_env,
        region=args.region or None,
        sts_regional_endpoints=args.sts_regional_endpoints,
    )
    region = settings.region
    if region is None and args.imds_region:
        # Only now, and only with the flag: the lookup needs the chain's HTTP machinery.
        from ._credentials import instance_region

        region = instance_region(profile=profile, environ=environ)
    return TokenRequest(
        cluster_id=cluster_id,
        region=region,
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
        session_name=session_name,
        forward_session_name=forward,
        sts_regional_endpoints=settings.sts_regional_endpoints,
        use_fips=settings.use_fips,
        use_dualstack=settings.use_dualstack,
        cache=bool(args.cache),
        output=output,
    )


def _shared_files(args: argparse.Namespace, environ: Mapping[str, str]) -> SharedFiles:
    """The shared files as the selected profile (``--profile``, else the environment's) sees them."""
    from k8s_aws_auth.credentials.internal import SharedFiles

    return SharedFiles(environ, profile=args.profile or None)


def _now(value: str | None) -> datetime:
    """The signing clock: ``--now`` if given, else the system clock (aware UTC)."""
    from datetime import datetime, timezone

    if value is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _usage_error("--now must be an RFC 3339 time such as 2026-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise _usage_error("--now must carry a time zone (e.g. a trailing Z)")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise _usage_error("--now must lie within the years 1 to 9999 in UTC") from None


def _exec_info(environ: Mapping[str, str]) -> ExecInfo | None:
    raw = environ.get(EXEC_INFO_ENV)
    if raw is None:
        return None
    from k8s_aws_auth._core.exec_credential import parse_exec_info

    return parse_exec_info(raw)


def _signing_second(value: str | None) -> int:
    """:func:`_now` as whole Unix seconds; reads no datetime unless ``--now`` is given."""
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
    request: TokenRequest, environ: Mapping[str, str], *, interactive: bool, now: datetime
) -> Credentials:
    if request.profile is None:
        static = static_env_credentials(environ)
        if static is not None:
            return static
    from ._credentials import resolve_credentials

    return resolve_credentials(
        profile=request.profile, environ=environ, interactive=interactive, now=now
    )


def _credentials(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    cache: TokenCache | None,
) -> Credentials:
    if request.role_arn is None:
        return _base_credentials(request, environ, interactive=interactive, now=now)
    role_arn = request.role_arn
    from ._credentials import assume_role

    def assume() -> Credentials:
        return assume_role(
            _base_credentials(request, environ, interactive=interactive, now=now),
            role_arn=role_arn,
            external_id=request.external_id,
            session_name=request.session_name,
            forward_session_name=request.forward_session_name,
            region=request.region,
            environ=environ,
            now=now,
        )

    if cache is None:
        return assume()
    key = request.cache_key(_credential_source(request, environ))
    del key["cluster_id"]  # one role session serves every cluster
    return cache.get_or_create_credentials(key, now=now, create=assume)


def sign(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    interactive: bool,
    now: datetime,
    cache: TokenCache | None = None,
) -> Token:
    """Resolve credentials and sign one token for ``request`` at ``now``."""
    from k8s_aws_auth._core.token import presign_token

    credentials = _credentials(request, environ, interactive=interactive, now=now, cache=cache)
    return presign_token(
        credentials,
        cluster_id=request.cluster_id,
        now=now,
        region=request.region,
        sts_regional_endpoints=request.sts_regional_endpoints,
        use_fips=request.use_fips,
        use_dualstack=request.use_dualstack,
    )


def _credential_source(request: TokenRequest, environ: Mapping[str, str]) -> str:
    """Which base identity a cached token belongs to, without resolving anything slow.

    Static environment keys are named by a hash of the access key id, so that
    switching keys never serves a token signed with the previous ones.
    """
    if request.profile is None:
        static = static_env_credentials(environ)
        if static is not None:
            import hashlib

            digest = hashlib.sha256(static.access_key_id.encode("utf-8")).hexdigest()[:16]
            return f"env:{digest}"
    from k8s_aws_auth.credentials.internal import profile_from_environ

    return f"profile:{request.profile or profile_from_environ(environ)}"


def _token_for(
    request: TokenRequest, environ: Mapping[str, str], *, interactive: bool, now: datetime
) -> Token:
    if not request.cache:
        return sign(request, environ, interactive=interactive, now=now)
    from ._token_cache import TokenCache

    cache = TokenCache.default(environ, warn=_warn)
    return cache.get_or_create(
        request.cache_key(_credential_source(request, environ)),
        now=now,
        create=lambda: sign(request, environ, interactive=interactive, now=now, cache=cache),
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


def _signed(
    request: TokenRequest,
    environ: Mapping[str, str],
    *,
    now: str | None,
    exec_info: ExecInfo | None,
    files: SharedFiles,
) -> tuple[str, str]:
    """Sign for ``request``; return the token and its RFC 3339 expiration."""
    keys = None
    if not (request.cache or request.role_arn):
        keys = _chainless_keys(request, environ, files)
    if keys is not None:
        # kubectl's common case: the same bytes as presign_token (one implementation,
        # _token_signer), on strings and Unix seconds, without attrs or datetime.
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
        return value, format_timestamp_at(signed_at + CLIENT_TOKEN_LIFETIME_SECONDS)
    from k8s_aws_auth._core.exec_credential import format_timestamp

    token = _token_for(request, environ, interactive=_interactive(exec_info), now=_now(now))
    return token.value, format_timestamp(token.expiration)


def _format(value: str, expires: str, request: TokenRequest, api_version: str) -> str:
    if request.output == "token":
        return value
    if request.output == "text":
        return f"{api_version}\tExecCredential\nSTATUS\t{expires}\t{value}"
    import json

    from k8s_aws_auth._core.exec_credential import exec_credential_document

    document = exec_credential_document(value, expires, api_version=api_version)
    if request.output == "json-indented":  # get-token: awscli's layout
        return json.dumps(document, indent=4)
    return json.dumps(document)


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
    files = _shared_files(args, environ)  # parsed once, for settings and profile keys
    request = request_from_args(args, environ, files=files)
    value, expires = _signed(request, environ, now=args.now, exec_info=exec_info, files=files)
    sys.stdout.write(_format(value, expires, request, api_version) + "\n")
    sys.stdout.flush()
    return 0
