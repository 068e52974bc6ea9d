"""When cached temporary credentials must be refreshed (botocore's two windows, injected clock).

* *advisory* (default 15 minutes before expiry): try to refresh, but if another
  refresh is already running or the refresh fails, keep using what we have;
* *mandatory* (default 10 minutes before expiry): every caller waits for one
  refresh, and its failure is raised.

Credentials without an expiration never need a refresh. Each snapshot handed
out is a frozen [`Credentials`][k8s_aws_auth.Credentials], so signing never sees a
half-updated key pair.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from k8s_aws_auth._core.models import Credentials

__all__ = ["ADVISORY_REFRESH", "MANDATORY_REFRESH", "Need", "RefreshWindows", "refresh_need"]

ADVISORY_REFRESH = timedelta(minutes=15)
MANDATORY_REFRESH = timedelta(minutes=10)


class Need(enum.Enum):
    """How urgently cached credentials need a refresh."""

    NONE = "none"
    ADVISORY = "advisory"
    MANDATORY = "mandatory"


@attrs.frozen(kw_only=True)
class RefreshWindows:
    """The two windows before expiry (advisory ≥ mandatory)."""

    advisory: timedelta = ADVISORY_REFRESH
    mandatory: timedelta = MANDATORY_REFRESH

    def __attrs_post_init__(self) -> None:
        if self.mandatory < timedelta(0) or self.advisory < self.mandatory:
            from k8s_aws_auth.errors import ConfigurationError

            raise ConfigurationError(
                "refresh windows need advisory >= mandatory >= 0", reason="refresh-window"
            )


def refresh_need(
    credentials: Credentials | None, now: datetime, windows: RefreshWindows = RefreshWindows()
) -> Need:
    """``MANDATORY`` when there is nothing cached or expiry is within the mandatory window."""
    if credentials is None:
        return Need.MANDATORY
    if credentials.expiration is None:
        return Need.NONE
    remaining = credentials.expiration - now
    if remaining <= windows.mandatory:
        return Need.MANDATORY
    if remaining <= windows.advisory:
        return Need.ADVISORY
    return Need.NONE
