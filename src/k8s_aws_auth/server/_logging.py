"""Structured JSON logs for the webhook, with a last line of defence against token leaks.

Every record becomes one JSON object per line: ``time``, ``level``, ``logger``,
``message`` and the ``fields`` the caller attached (``extra={"fields": {...}}``).
Whatever a message or field contains, every secret shape ``k8s_aws_auth._core.redact`` knows
(``k8s-aws-v1.…`` tokens, ``X-Amz-Signature=…``, ``X-Amz-Security-Token=…``,
bearer and credential-header values, JWTs) is replaced by ``[redacted]`` before
it is written. [`configure_logging()`][k8s_aws_auth.server.configure_logging] also installs the log guard on the
HTTP and uvicorn loggers (``k8s_aws_auth._runtime.log_guard``), which scrubs records before any
handler, this one included, sees them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Any

from k8s_aws_auth._core.redact import scrub
from k8s_aws_auth._runtime.log_guard import guard_logs

__all__ = ["JsonFormatter", "configure_logging", "redact"]


def redact(text: str) -> str:
    """``text`` with tokens, signatures, session tokens, bearer and credential-header values replaced."""
    return scrub(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One redacted JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                document.setdefault(str(key), _clean(value))
        if record.exc_info and record.exc_info[0] is not None:
            # Tracebacks show source lines, not values, but go through redaction too.
            document["error"] = redact(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
            document["traceback"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:  # the log guard replaced a leaking exception by its scrubbed text
            document["traceback"] = redact(record.exc_text)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> logging.Handler:
    """Send ``k8s_aws_auth`` and ``uvicorn`` logs as JSON lines to ``stream`` (stderr).

    Returns the installed handler (remove it to undo). uvicorn's access log is
    left off by the server; its error log goes through the same formatter.
    """
    guard_logs()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    for name in ("k8s_aws_auth", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(numeric)
        logger.propagate = False
    return handler
