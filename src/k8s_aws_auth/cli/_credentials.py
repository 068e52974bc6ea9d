"""The plugin's seam to [`k8s_aws_auth.credentials`][k8s_aws_auth.credentials]: the slow path of ``token``.

Imported only when no static keys are at hand (neither in the environment nor
as a plain profile's keys in the shared files), a role is named or ``--cache``
is on; the region settings come from the credentials package's settings rules
directly, without this module. Everything here runs
the credentials package's own flows under its [`CredentialResolver`][k8s_aws_auth.CredentialResolver]; the
explicit ``--role`` AssumeRole is a small provider over that package's STS
request builder, so it gets the same endpoint rules, signing and error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.credentials import ClientSettings, CredentialResolver, ProviderContext, Skip
from k8s_aws_auth.credentials.internal import (
    AssumeRoleParams,
    CredentialFlow,
    ServiceEndpoint,
    assume_role_request,
    http,
    parse_credentials_response,
    provider_error,
    resolve_settings,
    sts_endpoint,
    valid_session_name,
)

__all__ = ["ExplicitRoleProvider", "assume_role", "instance_region", "resolve_credentials"]

_NAME = "assume-role (--role)"


def _resolver(
    *,
    chain: object | None = None,
    profile: str | None,
    environ: Mapping[str, str],
    interactive: bool,
    now: datetime | None = None,
) -> CredentialResolver:
    options: dict[str, object] = {"profile": profile, "environ": environ}
    if not interactive:
        options["mfa_input"] = None  # a profile needing MFA then fails with a clear message
    if now is not None:
        options["clock"] = lambda: now
    return CredentialResolver(chain, **options)  # type: ignore[arg-type]


def resolve_credentials(
    *, profile: str | None, environ: Mapping[str, str], interactive: bool, now: datetime
) -> Credentials:
    """The default chain for ``profile``; MFA prompts (on stderr) only when ``interactive``."""
    return _resolver(profile=profile, environ=environ, interactive=interactive, now=now).resolve()


def instance_region(*, profile: str | None, environ: Mapping[str, str]) -> str | None:
    """The EC2 instance's region from IMDS (``--imds-region`` when no region is configured).

    The resolver's own lookup: ``AWS_EC2_METADATA_DISABLED``, the endpoint and
    timeout settings of the environment and ``profile`` apply; ``None`` off EC2.
    """
    resolver = CredentialResolver(profile=profile, environ=environ, imds_region=True)
    return resolver.settings().region


@attrs.frozen(kw_only=True)
class ExplicitRoleProvider:
    """AssumeRole ``role_arn`` with ``source``'s credentials (``token --role`` / ``get-token --role-arn``).

    The session name is ``session_name``, else the caller's own (``forward``:
    the part after ``:`` of GetCallerIdentity's UserId), else a time-based one.
    """

    source: Credentials = attrs.field(repr=False)
    role_arn: str
    external_id: str | None = attrs.field(default=None, repr=False)
    session_name: str | None = None
    forward_session_name: bool = False
    region: str | None = None
    timeout: float = 10.0
    name: str = attrs.field(default=_NAME, init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Resolve the session name, then call AssumeRole at the configured STS endpoint."""
        settings = resolve_settings(ctx, region=self.region)
        endpoint = sts_endpoint(ctx, settings, _NAME)
        session_name = self.session_name
        if session_name is None and self.forward_session_name:
            session_name = yield from self._caller_session_name(ctx, settings, endpoint)
        if session_name is None:
            session_name = f"k8s-aws-auth-{int(ctx.clock().timestamp())}"
        if not valid_session_name(session_name):
            raise provider_error(
                _NAME,
                "the role session name must be 2-64 characters of letters, digits and +=,.@_-",
                "bad-session-name",
            )
        params = AssumeRoleParams(
            role_arn=self.role_arn, role_session_name=session_name, external_id=self.external_id
        )
        request = assume_role_request(
            params,
            credentials=self.source,
            endpoint=endpoint,
            now=ctx.clock(),
            read_timeout=self.timeout,
        )
        outcome = yield from http(request)
        return parse_credentials_response(
            outcome, action="AssumeRole", provider=_NAME, host=endpoint.host
        )

    def _caller_session_name(
        self, ctx: ProviderContext, settings: ClientSettings, endpoint: ServiceEndpoint
    ) -> CredentialFlow[str | None]:
        """GetCallerIdentity with the source credentials; ``AROA…:NAME`` → ``NAME``.

        The call is the verifier's own (a presigned GET checked like any token),
        sent to the configured STS endpoint URL when there is one.
        """
        import random

        from k8s_aws_auth._core.config import VerifierConfig
        from k8s_aws_auth._core.partitions import partition_for_region
        from k8s_aws_auth._core.token import presign_token
        from k8s_aws_auth._core.validate import validate_token
        from k8s_aws_auth._core.verify_flow import sts_flow

        cluster = "k8s-aws-auth-forward-session-name"
        now = ctx.clock()
        token = presign_token(
            self.source,
            cluster_id=cluster,
            now=now,
            region=settings.region,
            sts_regional_endpoints=settings.sts_regional_endpoints,
            use_fips=settings.use_fips,
            use_dualstack=settings.use_dualstack,
        )
        partition = partition_for_region(settings.region or "us-east-1").name
        config = VerifierConfig(
            cluster,
            partition=partition,
            sts_endpoint_url=endpoint.url if endpoint.configured else None,
        )
        validated = validate_token(token.value, config, now=now)
        identity = yield from sts_flow(validated, config, random=random.random)
        if identity.session_name:  # assumed-role: the verifier split UserId already
            return identity.session_name
        _, sep, name = identity.user_id.partition(":")  # federated user: ACCOUNT:NAME
        return name if sep and name else None


def assume_role(
    base: Credentials,
    *,
    role_arn: str,
    external_id: str | None,
    session_name: str | None,
    forward_session_name: bool,
    region: str | None,
    environ: Mapping[str, str],
    now: datetime,
) -> Credentials:
    """Temporary credentials for ``role_arn``, obtained with ``base``."""
    provider = ExplicitRoleProvider(
        source=base,
        role_arn=role_arn,
        external_id=external_id,
        session_name=session_name,
        forward_session_name=forward_session_name,
        region=region,
    )
    return _resolver(
        chain=provider, profile=None, environ=environ, interactive=False, now=now
    ).resolve()
