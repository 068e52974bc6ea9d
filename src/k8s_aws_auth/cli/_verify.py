"""``verify``: run the full verification of one token and print the identity.

Exit codes tell a script what to do next: ``0`` verified, ``1`` denied (a
``TokenError``: the token is bad, expired, for another cluster, or STS refused
it; do not retry), ``2`` could not decide (an ``STSError``: network, throttling,
a bad answer; retry later), ``64`` usage (bad flags or configuration).
"""

from __future__ import annotations

import argparse
import json
import sys

from . import EXIT_FAILURE, EXIT_UNDECIDED, EXIT_USAGE, describe_error

__all__ = ["configure", "identity_document", "run"]

TOKEN_ENV = "K8S_AWS_AUTH_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``verify``'s flags (aws-iam-authenticator's, plus the STS endpoint)."""
    parser.add_argument(
        "-i",
        "--cluster-id",
        help="the cluster id tokens must be bound to "
        "(default: $KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID, or clusterID of -c FILE)",
    )
    parser.add_argument(
        "-t",
        "--token",
        help=f"the token; '-' reads it from stdin (default: {TOKEN_ENV}). "
        "A token on the command line is visible to other local users in `ps`.",
    )
    parser.add_argument(
        "--partition", default="aws", help="AWS partition of the STS hosts (default: aws)"
    )
    parser.add_argument(
        "--sts-endpoint-url",
        help="send the STS call to this base URL (a VPC endpoint, an emulator) "
        "instead of the token's host; the token's host is still checked",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("json", "text"),
        default="json",
        help="output format (default: json)",
    )


def identity_document(identity: object) -> dict[str, str]:
    """An [`Identity`][k8s_aws_auth.Identity] under aws-iam-authenticator's ``verify -o json`` keys."""
    from k8s_aws_auth._core.models import Identity

    assert isinstance(identity, Identity)
    return {
        "ARN": identity.arn,
        "CanonicalARN": identity.canonical_arn,
        "AccountID": identity.account_id,
        "UserID": identity.user_id,
        "SessionName": identity.session_name,
        "AccessKeyID": identity.access_key_id,
        "STSEndpoint": identity.sts_endpoint,
        "Partition": identity.partition,
        "PrincipalType": identity.principal_type,
    }


def _read_token(args: argparse.Namespace) -> str | None:
    import os

    if args.token == "-":
        return sys.stdin.readline().strip()
    return args.token or os.environ.get(TOKEN_ENV) or None


def run(args: argparse.Namespace) -> int:
    """Verify and print; the exit code says verified, denied or undecided."""
    from k8s_aws_auth import TokenVerifier, VerifierConfig
    from k8s_aws_auth.errors import ConfigurationError, STSError, TokenError

    if not args.cluster_id:
        print(
            "k8s-aws-auth verify: error: cluster ID not specified; pass -i/--cluster-id, set "
            "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID or clusterID in the -c file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    token = _read_token(args)
    if not token:
        print(
            f"k8s-aws-auth verify: error: no token given; pass -t TOKEN, -t - (stdin) or set {TOKEN_ENV}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        config = VerifierConfig(
            args.cluster_id, partition=args.partition, sts_endpoint_url=args.sts_endpoint_url
        )
    except ConfigurationError as exc:
        print(f"k8s-aws-auth verify: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with TokenVerifier(config) as verifier:
            identity = verifier.verify(token)
    except TokenError as exc:
        print(f"k8s-aws-auth verify: denied ({exc.reason}): {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except STSError as exc:
        print(
            f"k8s-aws-auth verify: could not decide ({exc.reason}): {describe_error(exc)}",
            file=sys.stderr,
        )
        return EXIT_UNDECIDED
    document = identity_document(identity)
    if args.output == "json":
        print(json.dumps(document, indent=4))
    else:
        width = max(len(name) for name in document)
        for name, value in document.items():
            print(f"{name + ':':<{width + 1}} {value}")
    return 0
