"""Structured logs for the webhook, with a last line of defence against token leaks.

By default every record becomes one JSON object per line: ``time``, ``level``,
``logger``, ``message`` and the ``fields`` the caller attached
(``extra={"fields": {...}}``). ``-l text`` gives aws-iam-authenticator's logrus
lines instead: ``time="…" level=info msg="…" key=value``.
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
import re
import sys
from datetime import datetime, timezone
from typing import IO, Any

from k8s_aws_auth._core.redact import scrub
from k8s_aws_auth._runtime.log_guard import guard_logs

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "redact"]


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


#: Python level → logrus's name, as its text formatter prints it.
_LOGRUS_LEVELS = {"CRITICAL": "fatal", "ERROR": "error", "WARNING": "warning", "INFO": "info"}
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+=-]+")


def _logfmt(value: Any) -> str:
    if isinstance(value, str):
        text = redact(value)
    else:
        text = json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"))
    # logrus quotes values that are empty or hold anything beyond a plain word
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """aws-iam-authenticator's text lines (logrus ``TextFormatter{FullTimestamp: true}``), redacted.

    ``time="2025-06-02T15:01:32Z" level=info msg="serving" address=127.0.0.1 …``:
    the fields follow ``msg`` in alphabetical order, quoted when they are not a
    plain word, lists and mappings as JSON.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one ``key=value`` line."""
        moment = datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
            timespec="seconds"
        )
        level = _LOGRUS_LEVELS.get(record.levelname, record.levelname.lower())
        parts = [
            f'time="{moment.replace("+00:00", "Z")}"',
            f"level={level}",
            f"msg={_logfmt(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts.extend(f"{key}={_logfmt(fields[key])}" for key in sorted(fields, key=str))
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(f"error={_logfmt(f'{record.exc_info[0].__name__}: {record.exc_info[1]}')}")
        elif record.exc_text:
            parts.append(f"error={_logfmt(record.exc_text)}")
        return " ".join(parts)


def configure_logging(
    level: str = "info", stream: IO[str] | None = None, log_format: str = "json"
) -> logging.Handler:
    """Send ``k8s_aws_auth`` and ``uvicorn`` logs to ``stream`` (stderr), JSON lines or ``text``.

    Returns the installed handler (remove it to undo). uvicorn's access log is
    left off by the server; its error log goes through the same formatter.
    """
    guard_logs()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    for name in ("k8s_aws_auth", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(numeric)
        logger.propagate = False
    return handler
