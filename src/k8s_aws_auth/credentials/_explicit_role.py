"""An explicit role to assume before signing: ``generate_token(role_arn=...)``, ``token --role``.

A small provider over this package's STS request builder (the same endpoint
rules, signing and error messages as a profile's ``role_arn``), with the source
credentials given rather than found. The session name is the caller's, else the
caller's own (``forward_session_name``), else a time-based one, as in
aws-iam-authenticator.
"""

from __future__ import annotations

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import CredentialFlow, ProviderContext, Skip, http, provider_error
from ._endpoints import ServiceEndpoint, sts_endpoint
from ._region import ClientSettings, resolve_settings
from ._sts_calls import (
    AssumeRoleParams,
    assume_role_request,
    parse_credentials_response,
    valid_session_name,
)

__all__ = ["ExplicitRoleProvider", "check_role_arn"]

_NAME = "assume-role (role_arn)"


@attrs.frozen(kw_only=True)
class ExplicitRoleProvider:
    """AssumeRole ``role_arn`` with ``source``'s credentials (``generate_token(role_arn=…)``, ``token --role``).

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


def check_role_arn(role_arn: str, region: str | None) -> None:
    """Refuse, before any call to STS, a role ARN that STS could only refuse.

    It must be an IAM role ARN (``arn:PARTITION:iam::ACCOUNT:role/PATH/NAME``)
    of the partition the signing ``region`` belongs to (no region: ``aws``).

    Raises:
        ConfigurationError: (``reason="role-arn"``) naming what is wrong.
    """
    from k8s_aws_auth._core.arn import parse_arn
    from k8s_aws_auth._core.partitions import partition_for_region
    from k8s_aws_auth.errors import ConfigurationError

    if not isinstance(role_arn, str):
        raise ConfigurationError("role_arn must be a string", reason="role-arn")
    try:
        parsed = parse_arn(role_arn)
    except ValueError as exc:
        problem = str(exc)
    else:
        if parsed.principal_type != "role":
            problem = f"it names {parsed.principal_type!r}, not an IAM role"
        else:
            expected = partition_for_region(region or "us-east-1").name
            if parsed.partition == expected:
                return
            where = f"region {region!r}" if region else "the global STS endpoint"
            problem = f"its partition {parsed.partition!r} is not {expected!r} of {where}"
    raise ConfigurationError(
        f"role ARN {role_arn!r} is not an assumable IAM role ARN: {problem}", reason="role-arn"
    ) from None
