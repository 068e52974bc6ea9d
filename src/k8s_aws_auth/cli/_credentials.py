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

from k8s_aws_auth._core.models import Credentials
from k8s_aws_auth.credentials import CredentialResolver
from k8s_aws_auth.credentials.internal import ExplicitRoleProvider

__all__ = ["ExplicitRoleProvider", "assume_role", "instance_region", "resolve_credentials"]


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
