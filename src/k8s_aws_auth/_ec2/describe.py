"""EC2 ``DescribeInstances`` as a generator flow: a SigV4 signed query-API POST, and its answer.

[`describe_instances_flow()`][k8s_aws_auth.mapping.describe_instances_flow] asks for the private DNS names of up to a batch
of instance ids (an ``instance-id`` filter, so an unknown id yields "no such
instance" instead of failing the whole batch), follows ``nextToken`` pages and
retries with backoff on throttling, 5xx and network errors; the drivers in
``k8s_aws_auth._runtime.drivers`` run it over httpx. Only ids shaped like
instance ids (``i-`` + 8 or 17 hex digits) are ever sent.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from k8s_aws_auth._core.effects import Flow, HttpRequest, HttpResponse, Sleep, TransportFailure
from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth._core.partitions import regional_host
from k8s_aws_auth._core.redact import detached
from k8s_aws_auth._core.sigv4 import sign_post
from k8s_aws_auth.mapping import EC2LookupError
from k8s_aws_auth.mapping.internal import INSTANCE_ID

__all__ = [
    "CredentialSource",
    "default_ec2_endpoint",
    "describe_instances_flow",
    "parse_describe_instances",
]

EC2_API_VERSION = "2016-11-15"
_MAX_PAGES = 10
_MAX_BODY = 4 * 1024 * 1024
_RETRYABLE_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError", "Unavailable"}
)

#: Credentials, or a zero-argument callable returning them (called per request, so rotation works).
CredentialSource = Credentials | Callable[[], Credentials]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_describe_instances(body: bytes) -> tuple[dict[str, str], str | None]:
    """``({instance id: private DNS name}, next token)`` from a DescribeInstances XML answer.

    Raises ``ValueError`` for anything else (DTDs are refused: the body is
    parsed only after that check and a size cap).
    """
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DescribeInstances answer has a DTD")
    try:
        root = ET.fromstring(body)  # noqa: S314 - capped size, DTDs refused above
    except ET.ParseError:
        raise ValueError("DescribeInstances answer is not XML") from None
    if _local(root.tag) != "DescribeInstancesResponse":
        raise ValueError("not a DescribeInstancesResponse")
    found: dict[str, str] = {}
    next_token: str | None = None
    for child in root:
        name = _local(child.tag)
        if name == "nextToken" and child.text:
            next_token = child.text.strip() or None
        elif name == "reservationSet":
            for reservation in child:
                for part in reservation:
                    if _local(part.tag) != "instancesSet":
                        continue
                    for instance in part:
                        instance_id = dns = ""
                        for field in instance:
                            field_name = _local(field.tag)
                            if field_name == "instanceId":
                                instance_id = (field.text or "").strip()
                            elif field_name == "privateDnsName":
                                dns = (field.text or "").strip()
                        if instance_id:
                            found[instance_id] = dns
    return found, next_token


def _error_code(body: bytes) -> str | None:
    match = re.search(rb"<Code>([A-Za-z0-9.]{1,100})</Code>", body)
    return match.group(1).decode("ascii") if match else None


def _credentials(source: CredentialSource) -> Credentials:
    if isinstance(source, Credentials):
        return source
    try:
        credentials = source()
    except Exception as exc:
        error = EC2LookupError(
            f"could not get AWS credentials for DescribeInstances: {type(exc).__name__}",
            reason="ec2-credentials",
            retryable=True,
        )
        # A scrubbed copy, raised outside this block: a provider's own error may quote a key.
        error.__cause__ = detached(exc)
    else:
        if not isinstance(credentials, Credentials):
            raise EC2LookupError(
                "the credentials provider did not return Credentials", reason="ec2-credentials"
            )
        return credentials
    raise error


def describe_instances_flow(
    instance_ids: Sequence[str],
    *,
    credentials: CredentialSource,
    region: str,
    endpoint_url: str,
    clock: Callable[[], datetime],
    max_retries: int = 3,
    backoff: float = 0.2,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> Flow[dict[str, str]]:
    """A flow that asks EC2 for the private DNS names of ``instance_ids``.

    Returns ``{instance id: private DNS name}`` for the instances EC2 knows
    (the name may be empty). Raises [`EC2LookupError`][k8s_aws_auth.mapping.EC2LookupError] (``retryable`` for
    throttling, 5xx and network errors after ``max_retries`` retries).
    """
    for instance_id in instance_ids:
        if not INSTANCE_ID.fullmatch(instance_id):
            raise EC2LookupError(f"{instance_id!r} is not an EC2 instance id", reason="ec2-bad-id")
    split = urlsplit(endpoint_url)
    host = split.netloc
    url = f"{split.scheme}://{host}/"
    found: dict[str, str] = {}
    next_token: str | None = None
    for _page in range(_MAX_PAGES):
        params = [("Action", "DescribeInstances"), ("Version", EC2_API_VERSION)]
        params.append(("Filter.1.Name", "instance-id"))
        params.extend((f"Filter.1.Value.{n}", iid) for n, iid in enumerate(instance_ids, 1))
        if next_token:
            params.append(("NextToken", next_token))
        body = urlencode(params).encode("ascii")
        attempt = 0
        while True:
            signed = sign_post(
                credentials=_credentials(credentials),
                host=host,
                region=region,
                service="ec2",
                now=clock(),
                body=body,
            )
            headers = (
                ("Host", host.encode("ascii")),
                *((name, value.encode("utf-8")) for name, value in signed.items()),
            )
            outcome = yield HttpRequest(
                method="POST",
                url=url,
                headers=headers,
                body=body,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_body=_MAX_BODY,
            )
            retryable, message = _judge(outcome)
            if message is None:
                assert isinstance(outcome, HttpResponse)
                try:
                    page, next_token = parse_describe_instances(outcome.body)
                except ValueError as exc:
                    raise EC2LookupError(
                        f"EC2 DescribeInstances answer unusable: {exc}",
                        reason="ec2-bad-response",
                        retryable=True,
                    ) from None
                found.update(page)
                break
            if not retryable or attempt >= max_retries:
                raise EC2LookupError(message, reason="ec2-unavailable", retryable=retryable)
            yield Sleep(backoff * (2**attempt))
            attempt += 1
        if not next_token:
            return found
    return found


def _judge(outcome: object) -> tuple[bool, str | None]:
    """``(retryable, error message or None for a usable 200 answer)``."""
    if isinstance(outcome, TransportFailure):
        return True, f"EC2 DescribeInstances failed: {outcome.kind} ({outcome.detail})"
    if not isinstance(outcome, HttpResponse):
        return True, "EC2 DescribeInstances got no answer"
    if outcome.status == 200 and not outcome.truncated:
        return False, None
    if outcome.truncated:
        return True, "EC2 DescribeInstances answer is too large"
    code = _error_code(outcome.body) or "unknown"
    retryable = outcome.status >= 500 or outcome.status == 429 or code in _RETRYABLE_CODES
    return retryable, f"EC2 DescribeInstances failed: HTTP {outcome.status} {code}"


def default_ec2_endpoint(region: str) -> str:
    """EC2's regional endpoint URL, used when no endpoint URL is configured."""
    return f"https://{regional_host('ec2', region)}"
