"""Web identity (IRSA): exchange a JWT from a file for role credentials with AssumeRoleWithWebIdentity.

Each setting comes from the environment first, then the profile, as in the
AWS CLI: ``AWS_WEB_IDENTITY_TOKEN_FILE``/``web_identity_token_file``,
``AWS_ROLE_ARN``/``role_arn``, ``AWS_ROLE_SESSION_NAME``/``role_session_name``.
The token file is re-read on every refresh (kubelet rotates it).
"""

from __future__ import annotations

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import CredentialFlow, ProviderContext, Skip, expand_path, http, provider_error
from ._endpoints import sts_endpoint
from ._region import resolve_settings
from ._shared_files import read_file_checked
from ._sts_calls import parse_credentials_response, web_identity_request

__all__ = ["WebIdentityProvider"]

NAME = "web-identity"
_ENV = {
    "web_identity_token_file": "AWS_WEB_IDENTITY_TOKEN_FILE",
    "role_arn": "AWS_ROLE_ARN",
    "role_session_name": "AWS_ROLE_SESSION_NAME",
}
_MAX_TOKEN = 64 * 1024


@attrs.frozen(kw_only=True)
class WebIdentityProvider:
    """AssumeRoleWithWebIdentity from a token file.

    ``use_environ=False`` reads the profile only (what a ``source_profile`` does);
    an explicitly chosen profile also turns the environment variables off.
    """

    profile: str | None = None
    use_environ: bool = True
    timeout: float = 10.0
    name: str = attrs.field(default=NAME, init=False)

    def _setting(self, ctx: ProviderContext, key: str) -> str | None:
        if self.use_environ and not ctx.env_disabled:
            value = ctx.environ.get(_ENV[key])
            if value is not None:
                return value
        return ctx.shared_config().setting(self.profile or ctx.profile_name, key)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Read the token, then call STS (unsigned)."""
        token_file = self._setting(ctx, "web_identity_token_file")
        if not token_file:
            return Skip("no AWS_WEB_IDENTITY_TOKEN_FILE or web_identity_token_file")
        role_arn = self._setting(ctx, "role_arn")
        if not role_arn:
            raise provider_error(
                NAME,
                "a web identity token file is configured but no role ARN "
                "(set AWS_ROLE_ARN or the profile's role_arn)",
                "bad-config",
            )
        path = expand_path(token_file, ctx.environ)
        token = read_file_checked(ctx.read_file, path, NAME, what="the token file ")
        if token is None:
            raise provider_error(NAME, f"the token file {path} does not exist", "missing-file")
        token = token.strip()
        if not token or len(token) > _MAX_TOKEN:
            raise provider_error(
                NAME, f"the token file {path} is empty or too large", "bad-token-file"
            )
        session_name = self._setting(ctx, "role_session_name") or (
            f"botocore-session-{int(ctx.clock().timestamp())}"
        )
        endpoint = sts_endpoint(ctx, resolve_settings(ctx), NAME)
        request = web_identity_request(
            role_arn=role_arn,
            role_session_name=session_name,
            web_identity_token=token,
            endpoint=endpoint,
            read_timeout=self.timeout,
        )
        outcome = yield from http(request)
        return parse_credentials_response(
            outcome, action="AssumeRoleWithWebIdentity", provider=NAME, host=endpoint.host
        )
