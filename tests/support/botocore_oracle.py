"""botocore as a test oracle: tokens made exactly the way ``aws eks get-token`` makes them.

Not a test module (the leading underscore keeps pytest from collecting it). It
imports the standalone ``botocore`` and never ``awscli``: awscli 1.46 installs a
meta-path finder that would hand later ``import botocore`` calls its vendored copy.

The recipe (reference/peers.md §2): an STS client with explicit credentials and
region; one handler moves the ``x-k8s-aws-id`` parameter into the request context
and another turns it into a header before signing; the signing clock is frozen by
replacing ``botocore.auth.get_current_datetime``; then
``generate_presigned_url('get_caller_identity', ..., ExpiresIn=60, HttpMethod='GET')``,
base64url, padding stripped.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import botocore.auth
import botocore.session
from botocore.config import Config

__all__ = ["BotocoreTokenOracle", "frozen_botocore_clock"]

_CLUSTER_HEADER = "x-k8s-aws-id"


def _move_cluster_id_to_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # GetCallerIdentity has no such parameter: take it out before validation.
    if _CLUSTER_HEADER in params:
        context[_CLUSTER_HEADER] = params.pop(_CLUSTER_HEADER)


def _add_cluster_id_header(request: Any, **_: Any) -> None:
    if _CLUSTER_HEADER in request.context:
        request.headers[_CLUSTER_HEADER] = request.context[_CLUSTER_HEADER]


#: One freeze at a time: the clock is a module global, and two threads freezing it at
#: once would each restore what the other patched in, leaving botocore frozen at a
#: fixed date for every later test that signs with the real clock.
_FREEZE_LOCK = threading.Lock()


@contextlib.contextmanager
def frozen_botocore_clock(moment: datetime) -> Iterator[None]:
    """Make botocore sign at ``moment`` (aware) and restore its clock afterwards (thread-safe)."""
    naive_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    with _FREEZE_LOCK:
        original = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda *_, **__: naive_utc
        try:
            yield
        finally:
            botocore.auth.get_current_datetime = original


class BotocoreTokenOracle:
    """Generate reference tokens with botocore; clients are cached per inputs.

    One botocore session per endpoint mode (``sts_regional_endpoints`` is a session
    config variable, so nothing is read from or written to ``os.environ``).
    """

    def __init__(self) -> None:
        self._sessions: dict[str, Any] = {}
        self._clients: dict[tuple[Any, ...], Any] = {}

    def _session(self, mode: str) -> Any:
        session = self._sessions.get(mode)
        if session is None:
            session = botocore.session.Session()
            session.set_config_variable("sts_regional_endpoints", mode)
            self._sessions[mode] = session
        return session

    def client(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None,
        region: str | None,
        mode: str,
        use_fips: bool = False,
        use_dualstack: bool = False,
    ) -> Any:
        """A (cached) STS client with explicit credentials and awscli's two handlers."""
        key = (
            region,
            mode,
            access_key_id,
            secret_access_key,
            session_token,
            use_fips,
            use_dualstack,
        )
        client = self._clients.get(key)
        if client is None:
            client = self._session(mode).create_client(
                "sts",
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                config=Config(use_fips_endpoint=use_fips, use_dualstack_endpoint=use_dualstack),
            )
            events = client.meta.events
            events.register(
                "provide-client-params.sts.GetCallerIdentity", _move_cluster_id_to_context
            )
            events.register("before-sign.sts.GetCallerIdentity", _add_cluster_id_header)
            self._clients[key] = client
        return client

    def token(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None,
        region: str | None,
        mode: str,
        cluster_id: str,
        moment: datetime,
        use_fips: bool = False,
        use_dualstack: bool = False,
    ) -> str:
        """The token ``aws eks get-token`` prints for these inputs at ``moment``."""
        client = self.client(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            region=region,
            mode=mode,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
        )
        with frozen_botocore_clock(moment):
            url = client.generate_presigned_url(
                "get_caller_identity",
                Params={_CLUSTER_HEADER: cluster_id},
                ExpiresIn=60,
                HttpMethod="GET",
            )
        encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
        return "k8s-aws-v1." + encoded
