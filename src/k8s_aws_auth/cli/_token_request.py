"""What ``token`` and ``get-token`` are asked to sign: their flags, merged with the environment and the profile.

On the exec plugin's start-up path, like ``_token``: the credentials package's
attrs-free settings rules only (argparse only in `configure`, for the full parser).
"""

from __future__ import annotations

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from k8s_aws_auth.credentials.internal import SharedFiles

__all__ = ["TokenRequest", "configure", "request_from_args", "shared_files", "usage_error"]

CLUSTER_ID_ENV = "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID"
ROLE_ENV = "DEFAULT_ROLE"


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
    from argparse import SUPPRESS

    parser.add_argument("--now", help=SUPPRESS)


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


def usage_error(message: str) -> Exception:
    """A ``ConfigurationError`` whose message says what to pass (``reason="usage"``: exit 64)."""
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
            raise usage_error("either --cluster-name or --cluster-id must be specified")
        role_arn = args.role_arn or None
        external_id = session_name = None
        forward = False
        # awscli v1 reads AWS_DEFAULT_REGION only; v2 also AWS_REGION (second here).
        region_env = ("AWS_DEFAULT_REGION", "AWS_REGION")
        output = "json-indented" if args.output == "json" else args.output
    else:
        cluster_id = args.cluster_id or environ.get(CLUSTER_ID_ENV, "")
        if not cluster_id:
            raise usage_error(
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
        files = shared_files(args, environ)
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
    elif region is not None:
        check_region(region, _region_source(args, environ, region_env, files))
    if role_arn is not None:
        _check_role(role_arn, region, "--role-arn" if get_token else "-r/--role", environ)
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


def _region_source(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    region_env: tuple[str, ...],
    files: SharedFiles,
) -> str:
    """Where the region came from, for the error message: the flag, a variable or the profile."""
    if args.region:
        return "--region"
    for name in region_env:
        if environ.get(name, "").strip():
            return name
    return f"the region of profile {files.settings_profile!r}"


def check_region(region: str, source: str) -> None:
    """Refuse a region outside the partition table: every verifier would refuse its tokens."""
    from k8s_aws_auth._core.partitions import is_known_region

    if not is_known_region(region):
        raise usage_error(
            f"unknown AWS region {region!r} (from {source}): not in this version's "
            "partition table, so no verifier would accept the token; check the spelling"
        )


def _check_role(role_arn: str, region: str | None, flag: str, environ: Mapping[str, str]) -> None:
    """A role ARN STS could only refuse is refused here, naming where it came from."""
    check_role_flag(role_arn, region, flag if environ.get(ROLE_ENV) != role_arn else ROLE_ENV)


# An IAM role ARN exactly as ``check_role_arn`` accepts one: no region, 12 digits,
# ``role/`` then non-empty printable, space-free segments. Only a match of the
# signing region's partition skips the full check, whose imports (attrs, the
# providers, ``re``) the plugin's cache-hit path must not pay; anything else gets
# the full check and its precise message.
_PARTITION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
#: Printable ASCII but the space and the slash (which separates the path's segments).
_SEGMENT_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"/"}


def plain_role_partition(role_arn: str) -> str | None:
    """The partition of a plainly valid IAM role ARN (see above); ``None`` for any other text."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3] != "":
        return None
    partition, account, resource = parts[1], parts[4], parts[5]
    if not partition or not _PARTITION_CHARACTERS.issuperset(partition):
        return None
    if len(account) != 12 or not (account.isascii() and account.isdigit()):
        return None
    if not resource.startswith("role/"):
        return None
    segments = resource[len("role/") :].split("/")
    if not all(segment and _SEGMENT_CHARACTERS.issuperset(segment) for segment in segments):
        return None
    return partition


def check_role_flag(role_arn: str, region: str | None, source: str) -> None:
    """``check_role_arn`` as a usage error naming the flag or variable the ARN came from."""
    from k8s_aws_auth._core.partitions import partition_for_region

    plain = plain_role_partition(role_arn) if isinstance(role_arn, str) else None
    if plain is not None and plain == partition_for_region(region or "us-east-1").name:
        return
    from k8s_aws_auth.credentials.internal import check_role_arn
    from k8s_aws_auth.errors import ConfigurationError

    try:
        check_role_arn(role_arn, region)
    except ConfigurationError as exc:
        raise usage_error(f"{exc.message} (from {source})") from None


def shared_files(args: argparse.Namespace, environ: Mapping[str, str]) -> SharedFiles:
    """The shared files as the selected profile (``--profile``, else the environment's) sees them."""
    from k8s_aws_auth.credentials.internal import SharedFiles

    return SharedFiles(environ, profile=args.profile or None)
