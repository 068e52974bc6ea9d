"""The official ``kubernetes`` client: a ``Configuration`` whose bearer token refreshes itself.

Install the client with ``pip install kubernetes`` (or ``'k8s-aws-auth[kubernetes]'``)::

    source = TokenSource("my-cluster", region="eu-west-1")
    configuration = refreshing_configuration(
        source, host="https://ABCD.gr7.eu-west-1.eks.amazonaws.com", ssl_ca_cert="ca.crt"
    )
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))

How it works: the client calls ``Configuration.refresh_api_key_hook`` before
every request that authenticates; the hook puts the token source's current token
in the configuration (the source signs a new one only when the held one nears
expiry). The hook is a plain closure, so ``copy.deepcopy(configuration)`` (done
by ``Configuration.set_default`` and by ``ApiClient()`` without a configuration)
copies it by reference and keeps one token source. The token is written under
both API-key names the client versions read (``BearerToken`` since 36,
``authorization`` before), with the ``Bearer`` prefix in the value: client 36
ignores a prefix stored under the alias.

For ``kubernetes.aio`` (client 36+) pass an
[`AsyncTokenSource`][k8s_aws_auth.AsyncTokenSource]: the hook is then a coroutine
function, which that client awaits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from k8s_aws_auth._token_source import AsyncTokenSource, TokenSource
from k8s_aws_auth.errors import ConfigurationError

from ._http import MissingDependencyError

try:
    import kubernetes.client
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the client
    raise MissingDependencyError.for_extra(__name__, "kubernetes", "kubernetes") from exc

__all__ = ["install_token_refresh", "refreshing_configuration"]

#: The API-key names the client versions read the bearer token from.
_KEYS = ("BearerToken", "authorization")


def _store(configuration: Any, value: str) -> None:
    header = "Bearer " + value
    for key in _KEYS:
        configuration.api_key[key] = header
        configuration.api_key_prefix.pop(key, None)


def install_token_refresh(configuration: Any, source: TokenSource | AsyncTokenSource) -> Any:
    """Make ``configuration`` send ``source``'s current token on every request; return it.

    Works on ``kubernetes.client.Configuration`` (sync, with a ``TokenSource``)
    and on ``kubernetes.aio``'s (with an ``AsyncTokenSource``). The first token
    is signed here: the client runs the hook only when a key is already set, and
    a configuration problem (no credentials) shows now rather than at the first
    request.
    """
    hook: Callable[[Any], None] | Callable[[Any], Awaitable[None]]
    if isinstance(source, TokenSource):

        def hook(configuration: Any) -> None:
            _store(configuration, source.token().value)

        hook(configuration)
    elif isinstance(source, AsyncTokenSource):

        async def hook(configuration: Any) -> None:
            _store(configuration, (await source.token()).value)

        held = source.current()
        if held is None:
            raise ConfigurationError(
                "sign the first token before installing an async hook: await source.token() first",
                reason="token-source",
            )
        _store(configuration, held.value)
    else:
        raise ConfigurationError(
            "source must be a TokenSource or an AsyncTokenSource", reason="token-source"
        )
    configuration.refresh_api_key_hook = hook
    return configuration


def refreshing_configuration(
    source: TokenSource,
    *,
    host: str,
    ssl_ca_cert: str | None = None,
    verify_ssl: bool = True,
) -> kubernetes.client.Configuration:
    """A new sync ``kubernetes.client.Configuration`` for ``host`` authenticated by ``source``.

    Args:
        source: the [`TokenSource`][k8s_aws_auth.TokenSource] of the cluster's tokens.
        host: the API server's URL (an EKS cluster's ``endpoint``).
        ssl_ca_cert: a file with the cluster's CA certificate (PEM).
        verify_ssl: check the server's certificate (never turn this off outside tests).
    """
    configuration = kubernetes.client.Configuration(host=host)
    configuration.ssl_ca_cert = ssl_ca_cert
    configuration.verify_ssl = verify_ssl
    return install_token_refresh(configuration, source)
