"""The logger of the Kubernetes API access, behind the log guard like httpx's.

``k8s_aws_auth.kube`` is one of ``_runtime.log_guard.GUARDED_LOGGERS``: a
watch or edit record can quote an API server's Status message or an exec
plugin's stderr, which a hostile server or plugin can fill with a token.
"""

from __future__ import annotations

import logging

from k8s_aws_auth._runtime.log_guard import guard_logs

__all__ = ["LOGGER_NAME", "kube_logger"]

#: Watch and edit records go to this logger (a child of ``k8s_aws_auth``).
LOGGER_NAME = "k8s_aws_auth.kube"


def kube_logger() -> logging.Logger:
    """The ``k8s_aws_auth.kube`` logger, its guard installed."""
    guard_logs()
    return logging.getLogger(LOGGER_NAME)
