"""Run the real ``aws`` CLI (awscli 1.x) with its clock frozen: a test-only oracle.

Usage: ``python tests/support/awscli_frozen.py 2026-11-28T11:02:49+00:00 eks get-token ...``.

awscli 1.46 vendors its own botocore and aliases ``botocore`` to it once
``awscli`` is imported, so the clock is replaced in the vendored
``botocore.auth`` (the SigV4 presigner: X-Amz-Date) and in awscli's
``get_token`` module (expirationTimestamp). Nothing else is changed.
tests/support/awscli_forks.py freezes the clock of its forked commands the same way.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone


def freeze_awscli_clock(moment: str) -> None:
    """Make awscli's signer and ``eks get-token`` read ``moment`` (ISO 8601) as the time."""
    frozen = datetime.fromisoformat(moment).astimezone(timezone.utc)

    def frozen_now(remove_tzinfo: bool = True) -> datetime:
        return frozen.replace(tzinfo=None) if remove_tzinfo else frozen

    import awscli  # installs the alias: `botocore` is awscli's vendored copy from here on
    import awscli.customizations.eks.get_token as get_token
    import botocore.auth

    if "awscli" not in (botocore.auth.__file__ or ""):
        raise RuntimeError(f"unexpected botocore: {botocore.auth.__file__}")
    assert awscli.__file__
    botocore.auth.get_current_datetime = frozen_now
    get_token.get_current_datetime = frozen_now


def main() -> int:
    """Freeze the clocks, then hand the remaining arguments to awscli's own entry point."""
    try:
        freeze_awscli_clock(sys.argv[1])
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 99
    import awscli.clidriver

    sys.argv = ["aws", *sys.argv[2:]]
    code: int = awscli.clidriver.main()
    return code


if __name__ == "__main__":
    sys.exit(main())
