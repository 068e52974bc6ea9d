"""``credential_process``: run a program and read credentials from its JSON output.

The contract (AWS SDKs and Tools reference): the program prints
``{"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...,
"SessionToken": ..., "Expiration": "<ISO 8601>"}`` (the last two optional) and
exits 0. The command line is split like a POSIX shell would split it but runs
without a shell. Output is capped and the run has a timeout; failures name
the profile and the reason, never the output (it may hold secrets).
"""

from __future__ import annotations

import os
import shlex

import attrs

from k8s_aws_auth._core.models import Credentials

from ._base import (
    NOT_JSON,
    CredentialFlow,
    ProviderContext,
    Skip,
    loads_json,
    parse_timestamp,
    printable,
    provider_error,
)
from ._local_effects import ProcessFailure, ProcessResult, RunProcess

__all__ = ["ProcessProvider", "split_command"]

NAME = "credential-process"


def split_command(command: str) -> tuple[str, ...]:
    """Split a ``credential_process`` line into argv (POSIX rules; Windows keeps quotes' contents)."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        return tuple(part.strip('"') for part in shlex.split(command, posix=False))
    return tuple(shlex.split(command))


def _last_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return printable(text.splitlines()[-1]) if text else ""


@attrs.frozen(kw_only=True)
class ProcessProvider:
    """Run the profile's ``credential_process`` (``profile=None``: the context's profile)."""

    profile: str | None = None
    timeout: float = 60.0
    """Seconds the process may run (it may open a browser for a login, so not too short)."""
    name: str = attrs.field(default=NAME, init=False)

    def flow(self, ctx: ProviderContext) -> CredentialFlow[Credentials | Skip]:
        """Run the process and parse its JSON."""
        profile = self.profile or ctx.profile_name
        command = ctx.shared_config().setting(profile, "credential_process")
        if command is None:
            return Skip(f"profile {profile!r} has no credential_process")
        where = f"{NAME} (profile {profile})"
        try:
            argv: tuple[str, ...] | None = split_command(command)
        except ValueError:  # shlex's message is safe, but the rule here is: raise outside
            argv = None
        if argv is None:
            raise provider_error(where, "the command line has unbalanced quotes", "bad-config")
        if not argv:
            raise provider_error(where, "the command line is empty", "bad-config")
        outcome = yield RunProcess(argv=argv, timeout=self.timeout, env=ctx.environ)
        if isinstance(outcome, ProcessFailure):
            if outcome.kind == "timeout":
                raise provider_error(
                    where, f"the process did not finish within {self.timeout:g} s", "timeout"
                )
            raise provider_error(
                where, f"the process could not be run: {outcome.kind} ({outcome.detail})", "not-run"
            )
        if not isinstance(outcome, ProcessResult):
            raise provider_error(where, "the process could not be run", "not-run")
        if outcome.returncode != 0:
            last = _last_line(outcome.stderr)
            raise provider_error(
                where,
                f"the process exited with status {outcome.returncode}"
                + (f": {last}" if last else ""),
                "failed",
            )
        return parse_process_output(outcome.stdout, where)


def parse_process_output(stdout: bytes, where: str) -> Credentials:
    """Check the JSON contract and build credentials (messages never quote the output)."""
    document = loads_json(stdout)
    if document is NOT_JSON:
        raise provider_error(where, "the output is not JSON", "bad-output")
    if not isinstance(document, dict):
        raise provider_error(where, "the output is not a JSON object", "bad-output")
    version = document.get("Version")
    if version != 1 or isinstance(version, bool):
        raise provider_error(
            where, 'the output must have "Version": 1 (the only supported version)', "bad-output"
        )
    access_key_id = document.get("AccessKeyId")
    secret = document.get("SecretAccessKey")
    for key, value in (("AccessKeyId", access_key_id), ("SecretAccessKey", secret)):
        if not isinstance(value, str) or not value:
            raise provider_error(where, f"the output has no {key} string", "bad-output")
    token = document.get("SessionToken")
    if token is not None and not isinstance(token, str):
        raise provider_error(where, "SessionToken in the output is not a string", "bad-output")
    expiration = None
    if document.get("Expiration") is not None:
        expiration = parse_timestamp(document["Expiration"])
        if expiration is None:
            raise provider_error(
                where, "Expiration in the output is not an ISO 8601 timestamp", "bad-output"
            )
    assert isinstance(access_key_id, str)
    assert isinstance(secret, str)
    return Credentials(access_key_id, secret, token or None, expiration)
