"""The STS actions FakeSTS answers: authenticating a signed call, AssumeRole, AssumeRoleWithWebIdentity."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from k8s_aws_auth._core.arn import ParsedArn
from k8s_aws_auth._core.instants import clamped

from ._auth import (
    Received,
    Rejection,
    check_signature,
    check_window,
    host_region,
    read_signature,
    signed_at,
)
from ._credentials import new_credentials, unique_id
from ._directory import Directory, Entry, MfaCheck, Role, parse_role_arn
from ._params import (
    CHAINED_MAX,
    DIGITS,
    EXTERNAL_ID,
    SESSION_NAME,
    check_text,
    duration_seconds,
    required,
    validation,
)
from ._responses import Tree

__all__ = ["assume_role", "assume_role_with_web_identity", "authenticate", "same"]

_INVALID_TOKEN = "The security token included in the request is invalid."


def same(given: str | None, expected: str) -> bool:
    """Whether ``given`` equals the secret ``expected`` (constant time; ``None`` never does)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def authenticate(
    directory: Directory, received: Received, query_pairs: list[tuple[str, str]], now: datetime
) -> Entry:
    """The registered caller who signed ``received``, as STS checks it (a ``Rejection`` otherwise)."""
    signed = read_signature(received, dict(query_pairs))
    if signed is None:
        raise Rejection(
            403, "MissingAuthenticationToken", "Request is missing Authentication Token"
        )
    moment = signed_at(signed)
    entry = directory.principal(signed.access_key_id)
    if entry is None:
        raise Rejection(403, "InvalidClientTokenId", _INVALID_TOKEN)
    where = host_region(received.header("host"))
    if where is not None:
        region, partition = where
        if partition != entry.parsed.partition:
            raise Rejection(403, "InvalidClientTokenId", _INVALID_TOKEN)
        if signed.region != region:
            raise Rejection(
                403,
                "SignatureDoesNotMatch",
                f"Credential should be scoped to a valid region, not '{signed.region}'. ",
            )
    credentials = entry.principal.credentials
    expected_token = credentials.session_token
    if expected_token is None:
        if signed.security_token is not None:
            raise Rejection(403, "InvalidClientTokenId", _INVALID_TOKEN)
    elif not same(signed.security_token, expected_token):
        raise Rejection(403, "InvalidClientTokenId", _INVALID_TOKEN)
    if credentials.expiration is not None and credentials.expiration < now:
        raise Rejection(
            403, "ExpiredToken", "The security token included in the request is expired"
        )
    check_window(moment, now)
    check_signature(received, signed, query_pairs, credentials.secret_access_key)
    return entry


def assume_role(directory: Directory, caller: Entry, params: dict[str, str], now: datetime) -> Tree:
    """``AssumeRole`` for ``caller``: the parameter checks, trust, ExternalId and MFA, then new credentials."""
    role_arn = required(params, "RoleArn")
    session = required(params, "RoleSessionName")
    check_text(role_arn, "roleArn", 20, 2048, None)
    check_text(session, "roleSessionName", 2, 64, SESSION_NAME)
    duration = duration_seconds(params)
    external_id = params.get("ExternalId")
    if external_id is not None:
        check_text(external_id, "externalId", 2, 1224, EXTERNAL_ID)
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if serial is not None:
        check_text(serial, "serialNumber", 9, 256, EXTERNAL_ID)
    if code is not None:
        check_text(code, "tokenCode", 6, 6, DIGITS)
    source_identity = params.get("SourceIdentity")
    if source_identity is not None:
        check_text(source_identity, "sourceIdentity", 2, 64, SESSION_NAME)
    if caller.parsed.principal_type == "root":
        raise Rejection(403, "AccessDenied", "Roles may not be assumed by root accounts.")
    denied = Rejection(
        403,
        "AccessDenied",
        f"User: {caller.principal.arn} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}",
    )
    role = directory.role(role_arn)
    if role is None or not _trusts(role, caller.parsed):
        raise denied
    if role.external_id is not None and not same(external_id, role.external_id):
        raise denied
    if role.mfa_serial is not None:
        if serial is None or code is None or serial != role.mfa_serial:
            raise denied
        if not _mfa_ok(role.mfa_code, code):
            raise Rejection(
                403,
                "AccessDenied",
                "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
            )
    if duration > role.max_duration:
        raise validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if caller.parsed.principal_type == "assumed-role" and duration > CHAINED_MAX:
        raise validation(
            "The requested DurationSeconds exceeds the 1 hour session limit "
            "for roles assumed by role chaining."
        )
    return _mint(directory, role.parsed, role.role_id, session, duration, now, source_identity)


def assume_role_with_web_identity(
    directory: Directory, params: dict[str, str], now: datetime
) -> Tree:
    """``AssumeRoleWithWebIdentity`` (unsigned): the parameter checks, the registered tokens, new credentials."""
    role_arn = required(params, "RoleArn")
    session = required(params, "RoleSessionName")
    token = required(params, "WebIdentityToken")
    check_text(role_arn, "roleArn", 20, 2048, None)
    check_text(session, "roleSessionName", 2, 64, SESSION_NAME)
    check_text(token, "webIdentityToken", 4, 20000, None)
    duration = duration_seconds(params)
    configured, tokens = directory.web_identity(role_arn)
    role = directory.role(role_arn)
    if not configured:
        raise Rejection(
            403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        )
    if tokens is not None and not any(same(token, known) for known in tokens):
        raise Rejection(
            400,
            "InvalidIdentityToken",
            "The web identity token is not valid for this role (not registered with FakeSTS).",
        )
    max_duration = role.max_duration if role is not None else 3600
    if duration > max_duration:
        raise validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    parsed = parse_role_arn(role_arn)
    role_id = role.role_id if role is not None else unique_id("AROA", role_arn)
    return _mint(directory, parsed, role_id, session, duration, now, None)


def _mint(
    directory: Directory,
    role: ParsedArn,
    role_id: str,
    session: str,
    duration: int,
    now: datetime,
    source_identity: str | None,
) -> Tree:
    expiration = clamped(now.replace(microsecond=0), timedelta(seconds=duration))
    credentials = new_credentials("temporary", expiration=expiration)
    arn = f"arn:{role.partition}:sts::{role.account_id}:assumed-role/{role.name}/{session}"
    assumed_role_id = f"{role_id}:{session}"
    directory.register(credentials, arn, assumed_role_id)
    result: dict[str, str | datetime | Tree] = {}
    if source_identity is not None:
        result["SourceIdentity"] = source_identity
    result["AssumedRoleUser"] = {"AssumedRoleId": assumed_role_id, "Arn": arn}
    result["Credentials"] = {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token or "",
        "Expiration": expiration,
    }
    return result


def _trusts(role: Role, caller: ParsedArn) -> bool:
    if role.trusted is None:
        return True
    account_root = f"arn:{caller.partition}:iam::{caller.account_id}:root"
    return bool({caller.arn, caller.canonical_arn, account_root} & role.trusted)


def _mfa_ok(expected: str | MfaCheck | None, code: str) -> bool:
    if expected is None:
        return False
    if isinstance(expected, str):
        return same(code, expected)
    return bool(expected(code))
