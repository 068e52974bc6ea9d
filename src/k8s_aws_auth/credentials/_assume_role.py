"""A profile's ``role_arn``: AssumeRole with credentials from ``source_profile`` or ``credential_source``.

Settings read from the profile, as the AWS CLI reads them: ``role_arn``,
``source_profile`` *or* ``credential_source`` (``Environment``,
``Ec2InstanceMetadata``, ``EcsContainer``), ``external_id``,
``role_session_name`` (default ``botocore-session-<unix time>``),
``duration_seconds``, ``mfa_serial`` (prompts "Enter MFA code for <serial>: ").
A ``source_profile`` may itself assume a role (chains are followed, loops are
refused; a profile may name itself when it also has static keys).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import CredentialFlow, CredentialProvider, ProviderContext, Skip, http, provider_error
from ._chain import CredentialChain
from ._container import ContainerProvider
from ._endpoints import sts_endpoint
from ._env import EnvProvider
from ._imds import IMDSProvider
from ._local_effects import Prompt
from ._process import ProcessProvider
from ._region import resolve_settings
from ._shared_files import Value
from ._sso import SSOProvider
from ._static_keys import ConfigFileProvider, SharedCredentialsProvider
from ._sts_calls import AssumeRoleParams, assume_role_request, parse_credentials_response
from ._web_identity import WebIdentityProvider

__all__ = ["AssumeRoleProvider", "source_profile_providers"]

NAME = "assume-role"
_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")


def _has_static_keys(section: Mapping[str, Value]) -> bool:
    return "aws_access_key_id" in section or "aws_secret_access_key" in section


def _is_assume_role(section: Mapping[str, Value]) -> bool:
    # A profile with web_identity_token_file is the web identity provider's.
    return "role_arn" in section and "web_identity_token_file" not in section


def source_profile_providers(profile: str | None) -> tuple[CredentialProvider, ...]:
    """What a profile's credentials come from besides its ``role_arn``, in the AWS CLI's order.

    A role's ``source_profile`` resolves through these (its own ``role_arn`` is
    followed by [`AssumeRoleProvider`][k8s_aws_auth.credentials.AssumeRoleProvider] itself); ``ProfileProvider`` tries
    ``AssumeRoleProvider`` first, then these.
    """
    return (
        WebIdentityProvider(profile=profile, use_environ=False),
        SSOProvider(profile=profile),
        SharedCredentialsProvider(profile=profile),
        ProcessProvider(profile=profile),
        ConfigFileProvider(profile=profile),
    )


def _text(section: Mapping[str, Value], key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) else None


@attrs.frozen(kw_only=True)
class AssumeRoleProvider:
    """AssumeRole for a profile with ``role_arn`` (skipped for other profiles).

    ``profile=None`` means the context's profile. ``timeout`` bounds each STS call.
    """

    profile: str | None = None
    timeout: float = 10.0
    name: str = attrs.field(default=NAME, init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Resolve the source credentials, then call AssumeRole."""
        profile = self.profile or ctx.profile_name
        section = ctx.shared_config().profile(profile)
        if not _is_assume_role(section):
            return Skip(f"profile {profile!r} has no role_arn")
        return (yield from self._assume(ctx, profile, [profile]))

    def _assume(
        self, ctx: ProviderContext, profile: str, visited: list[str]
    ) -> CredentialFlow[Credentials]:
        config = ctx.shared_config()
        section = config.profile(profile)
        role_arn = _text(section, "role_arn") or ""
        source_profile = _text(section, "source_profile")
        credential_source = _text(section, "credential_source")
        if source_profile is not None and credential_source is not None:
            raise provider_error(
                NAME,
                f"profile {profile!r} sets both source_profile and credential_source",
                "bad-config",
            )
        if source_profile is None and credential_source is None:
            raise provider_error(
                NAME,
                f"profile {profile!r} has role_arn but neither source_profile nor credential_source",
                "bad-config",
            )
        if credential_source is not None:
            source = yield from self._from_credential_source(ctx, profile, credential_source)
        else:
            assert source_profile is not None
            source = yield from self._from_source_profile(ctx, profile, source_profile, visited)
        params = yield from self._params(ctx, profile, section, role_arn)
        settings = resolve_settings(ctx)
        endpoint = sts_endpoint(ctx, settings, NAME)
        request = assume_role_request(
            params,
            credentials=source,
            endpoint=endpoint,
            now=ctx.clock(),
            read_timeout=self.timeout,
        )
        outcome = yield from http(request)
        return parse_credentials_response(
            outcome, action="AssumeRole", provider=f"{NAME} (profile {profile})", host=endpoint.host
        )

    def _params(
        self, ctx: ProviderContext, profile: str, section: Mapping[str, Value], role_arn: str
    ) -> CredentialFlow[AssumeRoleParams]:
        duration: int | None = None
        raw_duration = _text(section, "duration_seconds")
        if raw_duration is not None:
            try:
                duration = int(raw_duration)
            except ValueError:
                # The AWS CLI ignores an unreadable duration and lets STS use its default.
                duration = None
        session_name = _text(section, "role_session_name")
        if session_name is None:
            session_name = f"botocore-session-{int(ctx.clock().timestamp())}"
        serial = _text(section, "mfa_serial")
        code: str | None = None
        if serial is not None:
            answer = yield Prompt(f"Enter MFA code for {serial}: ")
            if not isinstance(answer, str):
                raise provider_error(
                    f"{NAME} (profile {profile})",
                    f"profile needs an MFA code for {serial} but no interactive input is available",
                    "mfa-required",
                )
            code = answer.strip()
            if not code:
                raise provider_error(
                    f"{NAME} (profile {profile})", "no MFA code was entered", "mfa-required"
                )
        return AssumeRoleParams(
            role_arn=role_arn,
            role_session_name=session_name,
            external_id=_text(section, "external_id"),
            duration_seconds=duration,
            serial_number=serial,
            token_code=code,
        )

    def _from_credential_source(
        self, ctx: ProviderContext, profile: str, credential_source: str
    ) -> CredentialFlow[Credentials]:
        result: Credentials | Skip
        if credential_source == "Environment":
            result = EnvProvider().read(ctx)
        elif credential_source == "Ec2InstanceMetadata":
            result = yield from IMDSProvider().flow(ctx)
        elif credential_source == "EcsContainer":
            result = yield from ContainerProvider().flow(ctx)
        else:
            raise provider_error(
                NAME,
                f"profile {profile!r} has credential_source {credential_source!r}; "
                f"expected one of {', '.join(_SOURCES)}",
                "bad-config",
            )
        if isinstance(result, Skip):
            raise provider_error(
                NAME,
                f"credential_source {credential_source} of profile {profile!r} found no "
                f"credentials ({result.reason})",
                "no-source-credentials",
            )
        return result

    def _from_source_profile(
        self, ctx: ProviderContext, profile: str, source_profile: str, visited: list[str]
    ) -> CredentialFlow[Credentials]:
        config = ctx.shared_config()
        if source_profile not in config.profiles:
            raise provider_error(
                NAME,
                f"source_profile {source_profile!r} of profile {profile!r} does not exist",
                "bad-config",
            )
        source_section = config.profile(source_profile)
        if source_profile in visited and not (
            source_profile == profile and _has_static_keys(source_section)
        ):
            chain = " -> ".join([*visited, source_profile])
            raise provider_error(NAME, f"source_profile loop: {chain}", "bad-config")
        visited = [*visited, source_profile]
        if _has_static_keys(source_section) or not _is_assume_role(source_section):
            result = yield from _SourceProfileSources(profile=source_profile).flow(
                ctx.for_profile(source_profile)
            )
            if isinstance(result, Skip):
                raise provider_error(
                    NAME,
                    f"source_profile {source_profile!r} of profile {profile!r} has no credentials "
                    f"({result.reason})",
                    "no-source-credentials",
                )
            return result
        return (yield from self._assume(ctx.for_profile(source_profile), source_profile, visited))


@attrs.frozen(kw_only=True)
class _SourceProfileSources:
    """A source profile's own credentials (everything but its role_arn, which the caller handles)."""

    profile: str
    name: str = attrs.field(default="source-profile", init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        members = source_profile_providers(self.profile)
        return (yield from CredentialChain(members).flow(ctx))
