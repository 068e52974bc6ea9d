"""``k8s-aws-auth demo``: the whole loop against an STS emulator on loopback.

Starts [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] on 127.0.0.1, registers an IAM
user and an assumed-role session, generates tokens with
[`generate_token()`][k8s_aws_auth.generate_token], verifies them over real HTTP with
[`TokenVerifier`][k8s_aws_auth.TokenVerifier] (and once with
[`AsyncTokenVerifier`][k8s_aws_auth.AsyncTokenVerifier]), then shows a tampered token, a
token for another cluster and an expired one being refused. Exit 0 when every
step behaved as expected, 1 otherwise. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TextIO

import anyio

# The demo shows the public API, so it imports nothing else of ours (but the emulator).
from k8s_aws_auth import (
    Credentials,
    Identity,
    TokenVerifier,
    VerifierConfig,
    averify_token,
    decode_token,
    encode_token,
    generate_token,
)
from k8s_aws_auth.errors import AccessDeniedError, ExpiredTokenError, K8sAwsAuthError
from k8s_aws_auth.testing import FakeSTS

__all__ = ["configure", "run"]

_ACCOUNT = "111122223333"
_USER_ARN = f"arn:aws:iam::{_ACCOUNT}:user/demo/alice"
_SESSION_ARN = f"arn:aws:sts::{_ACCOUNT}:assumed-role/demo-deployer/ci-run-1"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options."""
    parser.add_argument(
        "--cluster-id", default="demo-cluster", help="cluster id to sign and verify for"
    )
    parser.add_argument("--region", default="us-west-2", help="STS region the tokens name")


class _Report:
    """Numbered steps on ``out``; remembers whether each behaved as expected."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.steps = 0
        self.failures = 0

    def step(self, title: str) -> None:
        self.steps += 1
        self.out.write(f"\n[{self.steps}] {title}\n")

    def line(self, text: str) -> None:
        self.out.write(f"    {text}\n")

    def accepted(self, identity: Identity, expected_arn: str) -> None:
        if identity.arn == expected_arn:
            self.line(f"accepted: {identity.arn}")
        else:
            self.failures += 1
            self.line(f"UNEXPECTED identity {identity.arn} (wanted {expected_arn})")
        self.line(f"  canonical_arn: {identity.canonical_arn}")
        self.line(f"  account_id:    {identity.account_id}")
        self.line(f"  user_id:       {identity.user_id}")
        if identity.session_name:
            self.line(f"  session_name:  {identity.session_name}")
        self.line(f"  access_key_id: {identity.access_key_id}")
        self.line(f"  sts_endpoint:  {identity.sts_endpoint}")

    def refused(self, error: K8sAwsAuthError, expected: type[K8sAwsAuthError]) -> None:
        detail = f"{type(error).__name__} [{error.reason}] {error}"
        if isinstance(error, expected):
            self.line(f"rejected as expected: {detail}")
        else:
            self.failures += 1
            self.line(f"UNEXPECTED error (wanted {expected.__name__}): {detail}")

    def unexpected_refusal(self, error: K8sAwsAuthError) -> None:
        self.failures += 1
        self.line(f"UNEXPECTED refusal: {type(error).__name__} [{error.reason}] {error}")

    def unexpected_success(self, identity: Identity) -> None:
        self.failures += 1
        self.line(f"UNEXPECTED: accepted as {identity.arn}")


def _tampered(token: str) -> str:
    url = decode_token(token)
    return encode_token(url[:-1] + ("0" if url[-1] != "0" else "1"))


def _expect_identity(
    report: _Report, verify: Callable[[str], Identity], token: str, expected_arn: str
) -> None:
    try:
        identity = verify(token)
    except K8sAwsAuthError as exc:
        report.unexpected_refusal(exc)
    else:
        report.accepted(identity, expected_arn)


def _expect_refusal(
    report: _Report, verify: Callable[[str], Identity], token: str, expected: type[K8sAwsAuthError]
) -> None:
    try:
        identity = verify(token)
    except K8sAwsAuthError as exc:
        report.refused(exc, expected)
    else:
        report.unexpected_success(identity)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every step behaved as expected."""
    out = sys.stdout
    report = _Report(out)
    cluster_id: str = args.cluster_id
    region: str = args.region
    sts = FakeSTS()
    user = sts.create_principal(_USER_ARN, seed="demo-user").credentials
    session = sts.create_principal(_SESSION_ARN, seed="demo-session").credentials
    with sts.serve() as url:
        out.write(f"k8s-aws-auth demo: FakeSTS listening on {url} (loopback only)\n")
        out.write(f"cluster id: {cluster_id!r}; tokens name sts.{region}.amazonaws.com\n")
        config = VerifierConfig(cluster_id, sts_endpoint_url=url)
        with TokenVerifier(config) as verifier:
            _sync_steps(report, verifier, cluster_id, region, user, session)
        report.step("assumed-role session token, verified with AsyncTokenVerifier")
        token = generate_token(cluster_id, credentials=session, region=region).value
        _expect_identity(
            report, lambda value: anyio.run(averify_token, value, config), token, _SESSION_ARN
        )
        out.write(f"\nSTS requests served: {sts.count()}\n")
    if report.failures:
        out.write(f"{report.failures} of {report.steps} steps did NOT behave as expected\n")
        return 1
    out.write(f"all {report.steps} steps behaved as expected\n")
    return 0


def _sync_steps(
    report: _Report,
    verifier: TokenVerifier,
    cluster_id: str,
    region: str,
    user: Credentials,
    session: Credentials,
) -> None:
    report.step("IAM user token, generated with generate_token, verified with TokenVerifier")
    token = generate_token(cluster_id, credentials=user, region=region)
    report.line(f"token: {token.value[:18]}... ({len(token.value)} characters, not shown)")
    report.line(f"client-side expiration: {token.expiration.isoformat()}")
    _expect_identity(report, verifier.verify, token.value, _USER_ARN)

    report.step("assumed-role session token (with a session token)")
    role_token = generate_token(cluster_id, credentials=session, region=region).value
    _expect_identity(report, verifier.verify, role_token, _SESSION_ARN)

    report.step("tampered token (one signature digit changed)")
    _expect_refusal(report, verifier.verify, _tampered(token.value), AccessDeniedError)

    report.step("token signed for another cluster")
    other = generate_token(cluster_id + "-other", credentials=user, region=region).value
    _expect_refusal(report, verifier.verify, other, AccessDeniedError)

    report.step("expired token (signed 20 minutes ago)")
    old = datetime.now(timezone.utc) - timedelta(minutes=20)
    expired = generate_token(cluster_id, credentials=user, region=region, now=old).value
    _expect_refusal(report, verifier.verify, expired, ExpiredTokenError)
