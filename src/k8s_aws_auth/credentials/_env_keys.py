"""The environment's static keys, read once for the credential chain and the exec plugin alike.

This module imports nothing (no attrs, typing or datetime): ``k8s-aws-auth
token`` reads the keys with it on its start-up path, and
[`EnvProvider`][k8s_aws_auth.credentials.EnvProvider] builds its answer from the same
reading, so the two cannot disagree about which variables count.
"""

from __future__ import annotations

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EXPIRATION_ENV", "environment_keys"]

#: Set when the environment's keys are temporary (ISO 8601); the chain parses it.
EXPIRATION_ENV = "AWS_CREDENTIAL_EXPIRATION"


def environment_keys(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (``""`` when missing) and the session token.

    ``None`` when the key id is unset or empty. The session token is
    ``AWS_SECURITY_TOKEN`` if set (the AWS CLI prefers the older name), else
    ``AWS_SESSION_TOKEN``; empty means none. What a missing secret means is the
    caller's call (the provider raises, the exec plugin runs the chain, which raises).
    """
    access_key_id = environ.get("AWS_ACCESS_KEY_ID", "")
    if not access_key_id:
        return None
    secret = environ.get("AWS_SECRET_ACCESS_KEY", "")
    token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN") or None
    return access_key_id, secret, token
