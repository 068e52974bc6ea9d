"""The EC2 instance's region from IMDS: only when explicitly allowed and nothing is configured.

The instance metadata service is a real loopback HTTP stand-in (token PUT, then
``/latest/meta-data/placement/region``); "unreachable" is a loopback port with
nothing listening. How long a laptop could wait is asserted through the
timeouts and attempt counts the lookup asks for, never through wall time.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from k8s_aws_auth import (
    Credentials,
    VerifierConfig,
    agenerate_token,
    decode_token,
    generate_token,
    validate_token,
)
from k8s_aws_auth._core.effects import HttpRequest, HttpResponse, TransportFailure
from k8s_aws_auth.credentials import AsyncCredentialResolver, CredentialResolver, ProviderContext
from k8s_aws_auth.credentials._imds import IMDSProvider, imds_region_flow
from k8s_aws_auth.errors import ConfigurationError
from tests.support.credentials import (
    IMDS_REGION_PATH,
    StandIn,
    imds_region_stand_in,
    serve,
    unused_port,
    write_aws_files,
)
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def env_for(stand_in: StandIn, **extra: str) -> dict[str, str]:
    return {
        "HOME": os.environ["HOME"],
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url,
        **extra,
    }


def host_of(token: str) -> str:
    return decode_token(token).split("/")[2]


def test_region_from_imds_when_allowed_and_nothing_is_configured() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        settings = CredentialResolver(environ=env_for(stand_in), imds_region=True).settings()
    assert settings.region == "eu-central-1"
    assert [(s.method, s.path) for s in stand_in.seen] == [
        ("PUT", "/latest/api/token"),
        ("GET", IMDS_REGION_PATH),
    ]
    assert stand_in.seen[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600"


def test_not_allowed_means_no_request() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        settings = CredentialResolver(environ=env_for(stand_in)).settings()
        token = generate_token("c", environ=env_for(stand_in), now=NOW)
    assert settings.region is None
    assert host_of(token.value) == "sts.amazonaws.com"
    assert stand_in.seen == []


@pytest.mark.parametrize(
    ("extra", "profile_config", "region"),
    [
        ({"AWS_REGION": "ap-south-1"}, None, "ap-south-1"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, None, "us-west-2"),
        ({}, "[default]\nregion = sa-east-1\n", "sa-east-1"),
    ],
)
def test_a_configured_region_wins_and_imds_is_not_asked(
    extra: dict[str, str], profile_config: str | None, region: str
) -> None:
    if profile_config is not None:
        write_aws_files(Path(os.environ["HOME"]), config=profile_config)
    with serve(imds_region_stand_in()) as stand_in:
        resolver = CredentialResolver(environ=env_for(stand_in, **extra), imds_region=True)
        assert resolver.settings().region == region
    assert stand_in.seen == []


def test_an_explicit_region_wins_and_imds_is_not_asked() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        token = generate_token("c", environ=env_for(stand_in), imds_region=True, region="eu-west-3")
    assert host_of(token.value) == "sts.eu-west-3.amazonaws.com"
    assert stand_in.seen == []


def test_metadata_disabled_means_no_request_and_no_region() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        env = env_for(stand_in, AWS_EC2_METADATA_DISABLED="True")
        settings = CredentialResolver(environ=env, imds_region=True).settings()
    assert settings.region is None
    assert stand_in.seen == []


def test_generate_token_signs_for_the_instance_region() -> None:
    with serve(imds_region_stand_in(b"ap-northeast-2\n")) as stand_in:
        token = generate_token("c", environ=env_for(stand_in), imds_region=True, now=NOW)
    assert host_of(token.value) == "sts.ap-northeast-2.amazonaws.com"
    validated = validate_token(token.value, VerifierConfig("c"), now=NOW)
    assert validated.region == "ap-northeast-2"


def test_explicit_credentials_with_imds_region() -> None:
    credentials = Credentials(DOC_ACCESS_KEY_ID, DOC_SECRET)
    with serve(imds_region_stand_in(b"eu-north-1")) as stand_in:
        env = {"HOME": os.environ["HOME"], "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url}
        token = generate_token("c", credentials=credentials, environ=env, imds_region=True, now=NOW)
    assert host_of(token.value) == "sts.eu-north-1.amazonaws.com"
    # The same credentials signed the token (the environment held none).
    assert validate_token(token.value, VerifierConfig("c"), now=NOW).access_key_id == (
        DOC_ACCESS_KEY_ID
    )


def test_fips_and_endpoint_mode_still_apply_to_the_instance_region() -> None:
    with serve(imds_region_stand_in(b"us-east-1")) as stand_in:
        env = env_for(stand_in, AWS_USE_FIPS_ENDPOINT="true")
        token = generate_token("c", environ=env, imds_region=True, now=NOW)
    assert host_of(token.value) == "sts-fips.us-east-1.amazonaws.com"


def test_a_found_region_is_kept_by_the_resolver() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        resolver = CredentialResolver(environ=env_for(stand_in), imds_region=True)
        first, second = resolver.settings(), resolver.settings()
    assert first == second
    assert first.region == "eu-central-1"
    assert len(stand_in.seen) == 2  # one token PUT and one GET, for both calls


@pytest.mark.parametrize(
    "body", [b"", b"<html>captive portal</html>", b"eu-central-1; rm -rf /", b"x" * 100]
)
def test_an_answer_that_is_not_a_region_is_ignored(body: bytes) -> None:
    with serve(imds_region_stand_in(body)) as stand_in:
        settings = CredentialResolver(environ=env_for(stand_in), imds_region=True).settings()
    assert settings.region is None


def test_unreachable_imds_gives_no_region_and_the_global_host() -> None:
    env = {
        "HOME": os.environ["HOME"],
        "AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DOC_SECRET,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{unused_port()}",
    }
    assert CredentialResolver(environ=env, imds_region=True).settings().region is None
    token = generate_token("c", environ=env, imds_region=True, now=NOW)
    assert host_of(token.value) == "sts.amazonaws.com"


def _context(environ: dict[str, str]) -> ProviderContext:
    return ProviderContext(environ=environ, read_file=lambda _path: None, clock=lambda: NOW)


def test_the_lookup_is_short_and_stops_at_the_first_failed_connection() -> None:
    # Off EC2 the whole wait is one connect timeout of 1 s: one PUT, no IMDSv1 retry.
    flow = imds_region_flow(_context({}))
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert (request.method, request.url) == ("PUT", "http://169.254.169.254/latest/api/token")
    assert (request.connect_timeout, request.read_timeout) == (1.0, 1.0)
    with pytest.raises(StopIteration) as done:
        flow.send(TransportFailure(kind="timeout", detail="ConnectTimeout"))
    assert done.value.value is None


def test_configured_timeout_and_attempts_bound_the_lookup() -> None:
    environ = {"AWS_METADATA_SERVICE_TIMEOUT": "0.25", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "2"}
    flow = imds_region_flow(_context(environ))
    requests = [next(flow)]
    requests.append(flow.send(TransportFailure(kind="timeout", detail="ConnectTimeout")))
    with pytest.raises(StopIteration) as done:
        flow.send(TransportFailure(kind="timeout", detail="ConnectTimeout"))
    assert done.value.value is None
    assert all(isinstance(r, HttpRequest) and r.method == "PUT" for r in requests)
    assert [
        (r.connect_timeout, r.read_timeout) for r in requests if isinstance(r, HttpRequest)
    ] == [
        (0.25, 0.25),
        (0.25, 0.25),
    ]


def test_a_provider_can_shorten_the_lookup_further() -> None:
    flow = imds_region_flow(_context({}), IMDSProvider(timeout=0.1, attempts=1))
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.connect_timeout == 0.1
    flow.close()


def test_the_region_get_carries_the_session_token() -> None:
    flow = imds_region_flow(_context({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[::1]:1"}))
    put = next(flow)
    assert isinstance(put, HttpRequest)
    assert put.url == "http://[::1]:1/latest/api/token"
    get = flow.send(HttpResponse(status=200, body=b"t0k"))
    assert isinstance(get, HttpRequest)
    assert (get.method, get.url) == ("GET", "http://[::1]:1" + IMDS_REGION_PATH)
    assert dict(get.headers)["x-aws-ec2-metadata-token"] == b"t0k"
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(status=200, body=b"me-central-1"))
    assert done.value.value == "me-central-1"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_lookup_and_agenerate_token(anyio_backend: str) -> None:
    with serve(imds_region_stand_in(b"ca-central-1")) as stand_in:
        resolver = AsyncCredentialResolver(environ=env_for(stand_in), imds_region=True)
        with pytest.raises(ConfigurationError, match="asettings") as caught:
            resolver.settings()  # cannot wait for IMDS without the event loop
        assert caught.value.reason == "imds-region-async"
        assert stand_in.seen == []
        assert (await resolver.asettings()).region == "ca-central-1"
        assert resolver.settings().region == "ca-central-1"  # found once, kept
        token = await agenerate_token("c", environ=env_for(stand_in), imds_region=True, now=NOW)
    assert host_of(token.value) == "sts.ca-central-1.amazonaws.com"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_resolver_without_imds_region_needs_no_lookup(anyio_backend: str) -> None:
    with serve(imds_region_stand_in()) as stand_in:
        resolver = AsyncCredentialResolver(environ=env_for(stand_in))
        assert resolver.settings().region is None
        assert (await resolver.asettings()).region is None
    assert stand_in.seen == []
