"""The logger of the Kubernetes API access, behind the same log guard as httpx's.

``k8s_aws_auth._log_guard.GUARDED_LOGGERS`` predates this package; until it
names ``k8s_aws_auth.kube`` the guard is installed here, the same way (first
filter, idempotent).
"""

from __future__ import annotations

import logging

from k8s_aws_auth._log_guard import LogGuard

__all__ = ["LOGGER_NAME", "guard_kube_logs", "kube_logger"]

#: Watch and edit records go to this logger (a child of ``k8s_aws_auth``).
LOGGER_NAME = "k8s_aws_auth.kube"


def guard_kube_logs() -> None:
    """Put a ``LogGuard`` first on ``k8s_aws_auth.kube`` (once)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(existing, LogGuard) for existing in logger.filters):
        logger.filters.insert(0, LogGuard())


def kube_logger() -> logging.Logger:
    """The guarded ``k8s_aws_auth.kube`` logger."""
    guard_kube_logs()
    return logging.getLogger(LOGGER_NAME)
