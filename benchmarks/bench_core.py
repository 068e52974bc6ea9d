"""Core benchmark: token generation and local validation against their peers.

* ``generate_token`` against botocore's ``generate_presigned_url`` on a reused
  STS client set up the way ``aws eks get-token`` sets it up (explicit
  credentials and region, the two ``x-k8s-aws-id`` event handlers), followed by
  the same base64url envelope, so both sides do URL → token work.
* ``validate_token`` against the floor of ``base64.urlsafe_b64decode`` +
  ``urllib.parse.urlsplit`` + ``urllib.parse.parse_qsl`` on the same token.

Targets come from DESIGN.md "Performance targets". Each figure is the minimum
over several ``timeit`` repeats after a warm-up, in microseconds per operation.
Run with ``python benchmarks/bench_core.py`` or through ``run_all.py``.
"""

from __future__ import annotations

import base64
import os
import platform
import random
import sys
import timeit
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from k8s_aws_auth import Credentials, VerifierConfig, generate_token, validate_token
from k8s_aws_auth._core import sigv4, token_signer

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-west-2"
CLUSTER_ID = "my-cluster"
K8S_AWS_ID = "x-k8s-aws-id"
GENERATE_TARGET = 10.0
VALIDATE_TARGET = 1.6
REPEATS = 7


def _session_token(length: int) -> str:
    """A session-token-looking string (fixed seed): base64 text with ``+``, ``/`` and ``=``."""
    raw = base64.b64encode(random.Random(length).randbytes(length)).decode("ascii")
    return ("IQoJb3JpZ2luX2VjE" + raw)[: length - 2] + "=="


SESSION_TOKEN = _session_token(400)
LARGE_SESSION_TOKEN = _session_token(1900)


def _per_op_us(func: Callable[[], object], budget: float = 0.25) -> float:
    """Minimum µs per call over ``REPEATS`` timeit repeats of about ``budget`` seconds each."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()  # also the warm-up
    number = max(1, int(number * budget / 0.2))
    return min(timer.repeat(repeat=REPEATS, number=number)) / number * 1e6


def _botocore_peer(credentials: Credentials) -> Callable[[], str]:
    """``aws eks get-token``'s work on a reused client: presign, then base64url the URL."""
    import botocore.session

    session = botocore.session.get_session()
    client = session.create_client(
        "sts",
        region_name=REGION,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )

    def move_id_to_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if K8S_AWS_ID in params:
            context[K8S_AWS_ID] = params.pop(K8S_AWS_ID)

    def add_id_header(request: Any, **_: Any) -> None:
        if K8S_AWS_ID in request.context:
            request.headers[K8S_AWS_ID] = request.context[K8S_AWS_ID]

    client.meta.events.register("provide-client-params.sts.GetCallerIdentity", move_id_to_context)
    client.meta.events.register("before-sign.sts.GetCallerIdentity", add_id_header)

    def presign() -> str:
        url = client.generate_presigned_url(
            "get_caller_identity",
            Params={K8S_AWS_ID: CLUSTER_ID},
            ExpiresIn=60,
            HttpMethod="GET",
        )
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    return presign


def _floor(token: str) -> Callable[[], object]:
    """The validation floor: decode the envelope, split the URL, parse the query."""
    body = token[len("k8s-aws-v1.") :]
    padding = "=" * (-len(body) % 4)

    def parse() -> object:
        url = base64.urlsafe_b64decode(body + padding).decode("ascii")
        return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)

    return parse


def _row(name: str, ours: float, peer: float, target: float, *, faster: bool) -> str:
    if faster:
        ratio = peer / ours
        shown, goal, met = f"{ratio:.1f}× faster", f"≥ {target:g}× faster", ratio >= target
    else:
        ratio = ours / peer
        shown, goal, met = f"{ratio:.2f}× floor", f"≤ {target:g}× floor", ratio <= target
    return f"| {name} | {ours:.2f} | {peer:.2f} | {shown} | {goal} | {'yes' if met else 'no'} |"


def _generate_rows() -> list[str]:
    rows = []
    for label, session_token in (
        ("no session token", None),
        ("400-char session token", SESSION_TOKEN),
    ):
        credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, session_token)
        peer = _botocore_peer(credentials)
        # Same second on both sides gives the same bytes: a cheap sanity check.
        ours_token = generate_token(CLUSTER_ID, credentials=credentials, region=REGION).value
        if len(ours_token) != len(peer()):
            raise RuntimeError("ours and botocore disagree on the token length")

        def ours(credentials: Credentials = credentials) -> object:
            return generate_token(CLUSTER_ID, credentials=credentials, region=REGION)

        rows.append(
            _row(
                f"generate_token ({label})",
                _per_op_us(ours),
                _per_op_us(peer),
                GENERATE_TARGET,
                faster=True,
            )
        )
    return rows


def _generate_cold_us() -> float:
    """``generate_token`` when nothing is memoised (the first token per credentials/cluster/day)."""
    credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)

    def cold() -> object:
        token_signer._token_presigner.cache_clear()
        sigv4.signing_key.cache_clear()
        return generate_token(CLUSTER_ID, credentials=credentials, region=REGION)

    return _per_op_us(cold)


def _validate_rows() -> list[str]:
    config = VerifierConfig(CLUSTER_ID)
    signed_at = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)
    now = signed_at + timedelta(minutes=1)
    rows = []
    for label, session_token in (
        ("no session token", None),
        ("400-char session token", SESSION_TOKEN),
        ("1,900-char session token", LARGE_SESSION_TOKEN),
    ):
        credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, session_token)
        token = generate_token(CLUSTER_ID, credentials=credentials, region=REGION, now=signed_at)
        value = token.value
        validate_token(value, config, now=now)  # must pass before it is timed

        def ours(value: str = value) -> object:
            return validate_token(value, config, now=now)

        rows.append(
            _row(
                f"validate_token ({label}, {len(value):,} chars)",
                _per_op_us(ours),
                _per_op_us(_floor(value)),
                VALIDATE_TARGET,
                faster=False,
            )
        )
    return rows


def main() -> str:
    """Measure generation and validation and return the Markdown section."""
    import botocore

    rows = _generate_rows() + _validate_rows()
    cold = _generate_cold_us()
    return "\n".join(
        [
            "### Core: token generation and validation",
            "",
            "| operation | ours µs/op | peer µs/op | ratio | target | met? |",
            "|---|---:|---:|---|---|---|",
            *rows,
            "",
            "Peers: botocore `generate_presigned_url` on a reused STS client configured as"
            " `aws eks get-token` configures it, plus base64url (generation); "
            "`base64.urlsafe_b64decode` + `urlsplit` + `parse_qsl` of the same token (validation).",
            "",
            "Generation reuses a small memo of everything but the signing second per"
            " (credentials, cluster, endpoint, day), as the peer reuses its client;"
            f" the first token of such a set costs {cold:.1f} µs (400-char session token)."
            " `urlsplit` is itself memoised on Python ≥ 3.11, so the validation floor"
            " includes a cache hit.",
            f"Min of {REPEATS} timeit repeats after a warm-up. Machine: {platform.machine()},"
            f" {os.cpu_count()} CPUs, {platform.system()} {platform.release()};"
            f" Python {platform.python_version()} ({platform.python_implementation()});"
            f" botocore {botocore.__version__}.",
        ]
    )


if __name__ == "__main__":
    sys.stdout.write(main() + "\n")
