"""Pin the public API: ``k8s_aws_auth.__all__`` and ``k8s_aws_auth.errors.__all__``.

INTEGRATOR: the expected lists below are what the package exported when this file
was written, while other helpers were still adding exports (verifier shells,
FakeSTS, credentials, mapping). Update them once, at integration, to the final
public API — and from then on every change to them is a deliberate API change.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re

import pytest

import k8s_aws_auth
import k8s_aws_auth.errors

# INTEGRATOR: update at the end of the integration (see the module docstring).
EXPECTED_ALL = [
    "AsyncCredentialResolver",
    "AsyncTokenSource",
    "AsyncTokenVerifier",
    "CredentialResolver",
    "Credentials",
    "Identity",
    "K8sAwsAuthError",
    "Token",
    "TokenAuth",
    "TokenSource",
    "TokenVerifier",
    "ValidatedToken",
    "VerifierConfig",
    "VerifierStats",
    "__version__",
    "agenerate_token",
    "averify_token",
    "canonicalize_arn",
    "decode_token",
    "default_chain",
    "encode_token",
    "format_exec_credential",
    "generate_token",
    "parse_exec_info",
    "presign_token",
    "validate_token",
    "verify_token",
]

EXPECTED_ERRORS_ALL = [
    "AccessDeniedError",
    "ClusterIDNotSignedError",
    "ConfigurationError",
    "CredentialProviderError",
    "CredentialsError",
    "ExpiredTokenError",
    "K8sAwsAuthError",
    "MalformedTokenError",
    "NoCredentialsError",
    "RegionNotAllowedError",
    "STSError",
    "STSResponseError",
    "STSThrottledError",
    "STSUnavailableError",
    "TokenError",
    "TokenNotYetValidError",
    "UntrustedEndpointError",
]


def test_package_all_is_pinned() -> None:
    assert list(k8s_aws_auth.__all__) == EXPECTED_ALL


def test_errors_all_is_pinned() -> None:
    assert list(k8s_aws_auth.errors.__all__) == EXPECTED_ERRORS_ALL


@pytest.mark.parametrize("module", [k8s_aws_auth, k8s_aws_auth.errors], ids=lambda m: m.__name__)
def test_all_is_sorted_and_unique(module: object) -> None:
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_is_importable_and_documented(name: str) -> None:
    module = importlib.import_module("k8s_aws_auth")
    value = getattr(module, name)
    if name == "__version__":
        assert isinstance(value, str)
        assert value
        return
    assert inspect.getdoc(value), f"{name} has no docstring"
    # The docstring is its own, not one inherited from object/Exception.
    assert value.__doc__


@pytest.mark.parametrize("name", EXPECTED_ERRORS_ALL)
def test_every_error_is_documented_with_a_reason(name: str) -> None:
    error = getattr(k8s_aws_auth.errors, name)
    assert issubclass(error, k8s_aws_auth.errors.K8sAwsAuthError)
    assert error.__doc__
    assert isinstance(error.reason, str)
    assert error.reason


def test_error_tree() -> None:
    errors = k8s_aws_auth.errors
    deny = [
        errors.MalformedTokenError,
        errors.UntrustedEndpointError,
        errors.RegionNotAllowedError,
        errors.ClusterIDNotSignedError,
        errors.ExpiredTokenError,
        errors.TokenNotYetValidError,
        errors.AccessDeniedError,
    ]
    retry = [errors.STSUnavailableError, errors.STSResponseError, errors.STSThrottledError]
    assert all(issubclass(e, errors.TokenError) for e in deny)
    assert all(issubclass(e, errors.STSError) for e in retry)
    assert not any(issubclass(e, errors.STSError) for e in deny)
    assert not any(issubclass(e, errors.TokenError) for e in retry)
    assert issubclass(errors.STSThrottledError, errors.STSResponseError)
    assert issubclass(errors.NoCredentialsError, errors.CredentialsError)
    assert issubclass(errors.CredentialProviderError, errors.CredentialsError)
    assert issubclass(errors.ConfigurationError, ValueError)
    reasons = [getattr(errors, name).reason for name in EXPECTED_ERRORS_ALL]
    assert len(reasons) == len(set(reasons)), "reason codes identify the class by default"


def test_k8s_aws_auth_error_is_exported_from_both() -> None:
    assert k8s_aws_auth.K8sAwsAuthError is k8s_aws_auth.errors.K8sAwsAuthError


def test_error_reason_override_and_repr() -> None:
    error = k8s_aws_auth.errors.MalformedTokenError("bad thing", reason="encoding")
    assert error.reason == "encoding"
    assert str(error) == "bad thing"
    assert repr(error) == "MalformedTokenError('bad thing', reason='encoding')"
    assert k8s_aws_auth.errors.MalformedTokenError("x").reason == "malformed"


EXPECTED_SUBPACKAGE_ALL = {
    "k8s_aws_auth.testing": [
        "FakeSTS",
        "FixedClock",
        "Principal",
        "RecordedRequest",
        "TokenFactory",
        "make_token",
        "new_credentials",
    ],
    "k8s_aws_auth.integrations": ["MissingDependencyError"],
    "k8s_aws_auth.credentials": [
        "AssumeRoleProvider",
        "AsyncCredentialResolver",
        "ClientSettings",
        "ConfigFileProvider",
        "ContainerProvider",
        "CredentialChain",
        "CredentialProvider",
        "CredentialResolver",
        "EnvProvider",
        "IMDSProvider",
        "ProcessProvider",
        "ProfileProvider",
        "ProviderContext",
        "SSOProvider",
        "SharedCredentialsProvider",
        "Skip",
        "StaticProvider",
        "WebIdentityProvider",
        "default_chain",
    ],
    "k8s_aws_auth.mapping": [
        "FORMATS",
        "PLACEHOLDERS",
        "AccountMapping",
        "AsyncEC2Resolver",
        "Backend",
        "EC2LookupError",
        "EC2Resolver",
        "ExplainStep",
        "Explanation",
        "IdentityMapper",
        "LoadResult",
        "MappedUser",
        "MappingError",
        "MappingFileError",
        "MappingLoader",
        "MappingSet",
        "MappingSource",
        "MatchedEntry",
        "Problem",
        "ReservedUsernameError",
        "RoleMapping",
        "SSORole",
        "TTLCache",
        "TokenBucket",
        "UserMapping",
        "describe_instances_flow",
        "detect_format",
        "parse_describe_instances",
        "parse_document",
        "parse_mapping_path",
        "parse_mapping_text",
    ],
    "k8s_aws_auth.server": [
        "SUPPORTED_API_VERSIONS",
        "AuthenticationResult",
        "CertificateFiles",
        "JsonFormatter",
        "MappedUser",
        "ReviewedUser",
        "ServerConfig",
        "ServerMetrics",
        "TokenReviewApp",
        "TokenReviewRequest",
        "TokenReviewRequestError",
        "Verifier",
        "build_reviewed_user",
        "build_server",
        "configure_logging",
        "encode_token_review",
        "ensure_certificates",
        "load_server_config",
        "parse_token_review",
        "serve",
        "webhook_kubeconfig",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SUBPACKAGE_ALL))
def test_subpackage_all_is_pinned_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == EXPECTED_SUBPACKAGE_ALL[name]
    for public in module.__all__:
        value = getattr(module, public)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name}.{public} has no docstring"


API_PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("k8s_aws_auth", EXPECTED_ALL),
        ("k8s_aws_auth.errors", EXPECTED_ERRORS_ALL),
        *sorted(EXPECTED_SUBPACKAGE_ALL.items()),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_public_name_is_on_the_api_page(package: str, names: list[str]) -> None:
    # A name is on the page as a ::: directive, in a package's members list, or (for a
    # name two packages export) in the sentence that says which one it is.
    page = API_PAGE.read_text(encoding="utf-8")
    missing = [
        name for name in names if name != "__version__" and not re.search(rf"\b{name}\b", page)
    ]
    assert missing == [], f"{package}: add to docs/api.md"
