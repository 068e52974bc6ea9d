"""STS answer bodies in both encodings STS speaks: XML (query protocol) and JSON.

The shapes are STS's own: ``<ActionResponse xmlns=…><ActionResult>…</ActionResult>
<ResponseMetadata><RequestId>…`` or ``{"ActionResponse": {"ActionResult": …,
"ResponseMetadata": {"RequestId": …}}}``; errors are ``<ErrorResponse>`` /
``{"Error": {...}, "RequestId": …}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from xml.sax.saxutils import escape

import attrs

__all__ = ["NAMESPACE", "Reply", "error_reply", "result_reply"]

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"

#: A result tree: elements in order; leaves are text or timestamps.
Tree = Mapping[str, "str | datetime | Tree"]


@attrs.frozen(kw_only=True)
class Reply:
    """One HTTP answer of the emulator."""

    status: int
    content_type: str
    body: bytes = attrs.field(repr=False)
    request_id: str
    code: str | None = None
    """The STS error code, ``None`` for a success."""

    def headers(self) -> list[tuple[str, str]]:
        """The response headers STS sends with such an answer."""
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            ("x-amzn-RequestId", self.request_id),
        ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(tree: Tree) -> str:
    parts = []
    for name, value in tree.items():
        if isinstance(value, datetime):
            inner = _iso(value)
        elif isinstance(value, str):
            inner = escape(value)
        else:
            inner = _xml(value)
        parts.append(f"<{name}>{inner}</{name}>")
    return "".join(parts)


def _json_value(value: str | datetime | Tree) -> object:
    if isinstance(value, datetime):
        # STS's JSON encoding of the query protocol sends timestamps as epoch seconds.
        return int(value.timestamp())
    if isinstance(value, str):
        return value
    return {name: _json_value(item) for name, item in value.items()}


def result_reply(action: str, result: Tree, request_id: str, *, as_json: bool) -> Reply:
    """A 200 answer for ``action`` carrying ``result``."""
    if as_json:
        document = {
            f"{action}Response": {
                f"{action}Result": _json_value(result),
                "ResponseMetadata": {"RequestId": request_id},
            }
        }
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return Reply(status=200, content_type="application/json", body=body, request_id=request_id)
    text = (
        f'<{action}Response xmlns="{NAMESPACE}">\n'
        f"  <{action}Result>{_xml(result)}</{action}Result>\n"
        f"  <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\n"
        f"</{action}Response>\n"
    )
    return Reply(
        status=200, content_type="text/xml", body=text.encode("utf-8"), request_id=request_id
    )


def error_reply(status: int, code: str, message: str, request_id: str, *, as_json: bool) -> Reply:
    """An STS error answer (``Type`` is ``Sender`` for 4xx, ``Receiver`` for 5xx)."""
    kind = "Receiver" if status >= 500 else "Sender"
    if as_json:
        document = {
            "Error": {"Code": code, "Message": message, "Type": kind},
            "RequestId": request_id,
        }
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        content_type = "application/json"
    else:
        body = (
            f'<ErrorResponse xmlns="{NAMESPACE}">\n'
            f"  <Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>\n"
            f"  <RequestId>{request_id}</RequestId>\n"
            f"</ErrorResponse>\n"
        ).encode()
        content_type = "text/xml"
    return Reply(
        status=status, content_type=content_type, body=body, request_id=request_id, code=code
    )
