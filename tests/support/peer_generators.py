"""Tokens made by the real peers, for end-to-end verification tests (not a test module).

* :func:`awscli_token` runs the real ``aws eks get-token`` (awscli 1.x) in a
  process of its own, with static credentials in its environment;
* :func:`eks_token_token` runs ``eks_token.get_token`` (which imports awscli) in
  a process of its own (both forked from one that imported them:
  tests/support/awscli_oracle.py);
* :func:`go_presigned_token` builds an aws-iam-authenticator token the way the
  Go SDKs lay it out: parameters sorted by name, ``X-Amz-Signature`` appended
  last (so ``X-Amz-Security-Token`` comes *before* ``X-Amz-SignedHeaders``, unlike
  awscli), ``X-Amz-Expires`` 0 (SDK v1 era, 2018–2024) or 60.

Reading a token back (:func:`read_token`) uses only the standard library, so the
tests do not judge the validator with its own parser.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import unquote

import attrs

from k8s_aws_auth import Credentials
from k8s_aws_auth._core.sigv4 import (
    ALGORITHM,
    EMPTY_PAYLOAD_SHA256,
    canonical_headers,
    canonical_request,
    credential_scope,
    sign,
    signing_key,
    string_to_sign,
    uri_encode,
)
from tests.support.awscli_oracle import run_awscli, run_eks_token

__all__ = [
    "AWS_CLI",
    "PeerToken",
    "awscli_token",
    "eks_token_token",
    "go_presigned_token",
    "peer_env",
    "read_token",
]

#: The real awscli entry point installed beside the interpreter running the tests.
AWS_CLI = pathlib.Path(sys.executable).with_name("aws")
_TIMEOUT = 60
_PREFIX = "k8s-aws-v1."


@attrs.frozen(kw_only=True)
class PeerToken:
    """A token as a peer printed it, and what a standard-library reading of it says."""

    value: str = attrs.field(repr=False)
    host: str
    params: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    """The query as (name, decoded value) pairs, in the token's order."""
    signed_at: datetime

    def param(self, name: str) -> str:
        """The decoded value of parameter ``name`` (exactly one must be present)."""
        values = [value for key, value in self.params if key == name]
        assert len(values) == 1, (name, len(values))
        return values[0]

    @property
    def names(self) -> list[str]:
        """Parameter names in the token's order."""
        return [name for name, _ in self.params]


def read_token(token: str) -> PeerToken:
    """Decode ``token`` with ``base64`` and ``str.split`` only (independent of the validator)."""
    assert token.startswith(_PREFIX), "not a k8s-aws-v1. token"
    body = token[len(_PREFIX) :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    scheme_host, sep, query = url.partition("/?")
    assert sep, "no '/?' in the URL"
    assert scheme_host.startswith("https://"), "not an https URL"
    params = tuple(
        (name, unquote(value))
        for name, _, value in (component.partition("=") for component in query.split("&"))
    )
    date = dict(params)["X-Amz-Date"]
    signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    return PeerToken(
        value=token, host=scheme_host[len("https://") :], params=params, signed_at=signed_at
    )


def peer_env(
    home: pathlib.Path,
    credentials: Credentials,
    *,
    region: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A minimal environment for an AWS peer: static credentials, no files, no IMDS."""
    env = {
        "HOME": str(home),
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
    }
    if credentials.session_token is not None:
        env["AWS_SESSION_TOKEN"] = credentials.session_token
    if region is not None:
        env["AWS_DEFAULT_REGION"] = region
    env.update(extra or {})
    return env


def _output(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise AssertionError(f"{result.args[0]} exited {result.returncode}: {result.stderr}")
    return result.stdout


def awscli_token(cluster_name: str, env: Mapping[str, str]) -> str:
    """The token the real ``aws eks get-token --cluster-name NAME`` prints under ``env``."""
    result = run_awscli(["eks", "get-token", "--cluster-name", cluster_name], env, timeout=_TIMEOUT)
    token: str = json.loads(_output(result))["status"]["token"]
    return token


def eks_token_token(cluster_name: str, env: Mapping[str, str], region: str | None = None) -> str:
    """The token ``eks_token.get_token(cluster_name, region_name=region)`` returns under ``env``."""
    result = run_eks_token(cluster_name, region, env, timeout=_TIMEOUT)
    token: str = json.loads(_output(result))["status"]["token"]
    return token


def go_presigned_token(
    credentials: Credentials,
    *,
    cluster_id: str,
    host: str,
    region: str,
    now: datetime,
    expires: int,
) -> str:
    """A token laid out as aws-iam-authenticator's Go SDKs emit it, correctly signed.

    Query: every parameter sorted by name (Go's ``url.Values.Encode``), values
    ``UriEncode``-d, then ``&X-Amz-Signature=`` appended; signed headers
    ``host;x-k8s-aws-id``; payload hash the empty-string SHA-256.
    """
    x_amz_date = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scope = credential_scope(x_amz_date[:8], region, "sts")
    headers_block, signed_list = canonical_headers({"host": host, "x-k8s-aws-id": cluster_id})
    params = [
        ("Action", "GetCallerIdentity"),
        ("Version", "2011-06-15"),
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key_id}/{scope}"),
        ("X-Amz-Date", x_amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", signed_list),
    ]
    if credentials.session_token:
        params.append(("X-Amz-Security-Token", credentials.session_token))
    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(params))
    canonical = canonical_request(
        "GET", "/", query, headers_block, signed_list, EMPTY_PAYLOAD_SHA256
    )
    key = signing_key(credentials.secret_access_key, x_amz_date[:8], region, "sts")
    signature = sign(key, string_to_sign(x_amz_date, scope, canonical))
    url = f"https://{host}/?{query}&X-Amz-Signature={signature}"
    body = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return _PREFIX + body
