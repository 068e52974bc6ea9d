"""The integrations' shared parts: bearer parsing, answers, constructor checks, the install hint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from k8s_aws_auth import TokenVerifier, VerifierConfig
from k8s_aws_auth.errors import ConfigurationError, ExpiredTokenError, STSThrottledError
from k8s_aws_auth.integrations._http import bearer_token, denial_for


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("  Bearer \t abc  ", "abc"),
        ("Bearer", ""),
        ("Bearer a b", ""),
        ("Basic dXNlcg==", None),
        ("", None),
        (None, None),
        ("Bearerabc", None),
    ],
)
def test_bearer_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_denials_carry_the_reason_code_and_sts_s_retry_hint() -> None:
    denied = denial_for(ExpiredTokenError("token expired at ..."), retry_after=3)
    assert (denied.status, denied.headers) == (
        401,
        {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
    )
    hinted = STSThrottledError("throttled")
    hinted.retry_after = 12
    assert denial_for(hinted, retry_after=3).headers == {"Retry-After": "12"}
    assert denial_for(STSThrottledError("throttled"), retry_after=3).headers == {"Retry-After": "3"}
    assert denial_for(ConfigurationError("wrong loop"), retry_after=3).status == 500


def test_constructors_check_their_arguments() -> None:
    from k8s_aws_auth.integrations.fastapi import IAMBearer
    from k8s_aws_auth.integrations.starlette import IAMAuthBackend

    with pytest.raises(ConfigurationError, match="verifier must be"):
        IAMBearer(object())
    with TokenVerifier(VerifierConfig("c")) as verifier:
        with pytest.raises(ConfigurationError, match="retry_after"):
            IAMAuthBackend(verifier, retry_after=-1)
        with pytest.raises(ConfigurationError, match="map_identity"):
            IAMAuthBackend(verifier, map_identity="not callable")  # type: ignore[arg-type]


def test_a_missing_framework_names_the_pip_command() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "try:\n"
        "    import k8s_aws_auth.integrations.starlette\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == (
        "MissingDependencyError k8s_aws_auth.integrations.starlette needs Starlette: "
        "pip install 'k8s-aws-auth[starlette]'"
    )
