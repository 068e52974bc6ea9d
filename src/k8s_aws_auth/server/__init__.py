"""The TokenReview webhook server (optional extra: ``pip install 'k8s-aws-auth[server]'``).

* [`TokenReviewApp`][k8s_aws_auth.server.TokenReviewApp] — the webhook as a plain ASGI callable (mount it in
  Starlette/FastAPI or run it under any ASGI server);
* [`parse_token_review()`][k8s_aws_auth.server.parse_token_review] / [`encode_token_review()`][k8s_aws_auth.server.encode_token_review] — the wire format;
* [`ServerConfig`][k8s_aws_auth.server.ServerConfig] / [`load_server_config()`][k8s_aws_auth.server.load_server_config] — the YAML config (upstream keys + ours);
* [`ensure_certificates()`][k8s_aws_auth.server.ensure_certificates] / [`webhook_kubeconfig()`][k8s_aws_auth.server.webhook_kubeconfig] — what ``init`` writes;
* [`ServerMetrics`][k8s_aws_auth.server.ServerMetrics] — Prometheus metrics in a registry of their own;
* [`serve()`][k8s_aws_auth.server.serve] — ``k8s-aws-auth serve`` (uvicorn, TLS).

Only the codec and the app load without the extra; the rest needs uvicorn,
prometheus-client, cryptography and PyYAML.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._tokenreview import (
    SUPPORTED_API_VERSIONS,
    ReviewedUser,
    TokenReviewRequest,
    TokenReviewRequestError,
    encode_token_review,
    parse_token_review,
)

if TYPE_CHECKING:
    from ._app import (
        AuthenticationResult,
        MappedUser,
        TokenReviewApp,
        Verifier,
        build_reviewed_user,
    )
    from ._certs import CertificateFiles, ensure_certificates, webhook_kubeconfig
    from ._config import ServerConfig, load_server_config
    from ._logging import JsonFormatter, configure_logging
    from ._metrics import ServerMetrics
    from ._serve import build_server, serve

__all__ = [
    "SUPPORTED_API_VERSIONS",
    "AuthenticationResult",
    "CertificateFiles",
    "JsonFormatter",
    "MappedUser",
    "ReviewedUser",
    "ServerConfig",
    "ServerMetrics",
    "TokenReviewApp",
    "TokenReviewRequest",
    "TokenReviewRequestError",
    "Verifier",
    "build_reviewed_user",
    "build_server",
    "configure_logging",
    "encode_token_review",
    "ensure_certificates",
    "load_server_config",
    "parse_token_review",
    "serve",
    "webhook_kubeconfig",
]

_WHERE = {
    "CertificateFiles": "._certs",
    "ensure_certificates": "._certs",
    "webhook_kubeconfig": "._certs",
    "ServerConfig": "._config",
    "load_server_config": "._config",
    "JsonFormatter": "._logging",
    "configure_logging": "._logging",
    "ServerMetrics": "._metrics",
    "build_server": "._serve",
    "serve": "._serve",
}
_EXTRA = ("uvicorn", "prometheus_client", "cryptography", "yaml")
INSTALL_HINT = "the webhook server needs its extra: pip install 'k8s-aws-auth[server]'"


def require_extra() -> None:
    """Raise ``ImportError`` with the install hint when a server dependency is missing.

    It looks the packages up without importing them: ``init`` needs two of the four,
    and importing uvicorn alone would cost it a tenth of a second.
    """
    missing = [module for module in _EXTRA if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


#: The app loads without the extra too, on first use: ``init`` needs none of it.
_WITHOUT_EXTRA = dict.fromkeys(
    ("AuthenticationResult", "MappedUser", "TokenReviewApp", "Verifier", "build_reviewed_user"),
    "._app",
)


def __getattr__(name: str) -> Any:
    where = _WITHOUT_EXTRA.get(name)
    if where is None:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        require_extra()
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value
