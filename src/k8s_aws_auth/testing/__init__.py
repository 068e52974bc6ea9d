"""Testing toolkit: an STS emulator that really checks SigV4, and helpers to drive it.

* [`FakeSTS`][k8s_aws_auth.testing.FakeSTS] — GetCallerIdentity, AssumeRole and AssumeRoleWithWebIdentity
  as STS answers them; an httpx transport (sync and async) and a loopback server.
* [`make_token()`][k8s_aws_auth.testing.make_token], [`new_credentials()`][k8s_aws_auth.testing.new_credentials], [`FixedClock`][k8s_aws_auth.testing.FixedClock] — tokens,
  realistic fake keys and a settable clock.
* [`TokenFactory`][k8s_aws_auth.testing.TokenFactory] — valid, expired, not-yet-valid,
  wrong-cluster, tampered and assumed-role tokens.
* [`FakeSTS.intercept()`][k8s_aws_auth.testing.FakeSTS.intercept] — the library's own
  HTTP clients routed to the emulator, without injection.
* pytest fixtures (``fake_sts``, ``fake_sts_clock``, ``fake_sts_url``,
  ``fake_sts_principal``, ``fake_sts_cluster_id``, ``token_verifier``,
  ``async_token_verifier``, ``token_factory``) are registered automatically by the
  pytest plugin.

Names load lazily so that the pytest plugin, imported in every pytest run,
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from k8s_aws_auth._core.lazy import lazy_exports

if TYPE_CHECKING:
    from ._clock import FixedClock
    from ._credentials import new_credentials
    from ._factory import TokenFactory
    from ._fake_sts import FakeSTS
    from ._tokens import make_token
    from ._values import Principal, RecordedRequest

__all__ = [
    "FakeSTS",
    "FixedClock",
    "Principal",
    "RecordedRequest",
    "TokenFactory",
    "make_token",
    "new_credentials",
]

_WHERE = {
    "FakeSTS": "._fake_sts",
    "FixedClock": "._clock",
    "Principal": "._values",
    "RecordedRequest": "._values",
    "TokenFactory": "._factory",
    "make_token": "._tokens",
    "new_credentials": "._credentials",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _WHERE, __all__)
