"""Scrub secrets out of text and out of foreign exceptions (pure: no I/O, no logging).

Two kinds of secret are replaced by ``[redacted]``:

* **Shapes** that are secret wherever they appear: ``k8s-aws-v1.`` tokens,
  JWTs, bearer values, the signature, credential and security-token parameters
  of a presigned query or an ``Authorization`` header, the values of the headers
  that carry credentials (``Authorization``, ``x-amz-security-token``,
  ``x-amz-sso_bearer_token``, ``X-aws-ec2-metadata-token``) in HTTP, ``repr``
  and JSON spellings, and the secret JSON/INI members of AWS credential
  documents. The name of a parameter or header is kept, its value is not.
* **Exact values** known to be secret for one request (its
  ``HttpRequest.secrets`` plus the values of its credential headers), raw and
  percent-encoded: a server that echoes a value in a shape no pattern knows
  still cannot get it into a message.

``detached`` turns a foreign exception into a copy fit to be chained under a
library error: same class where it can be rebuilt from a message, scrubbed
message, no ``__cause__``/``__context__``, no attributes (an ``httpx`` error's
``request`` holds the URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .effects import HttpRequest

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "RedactedError",
    "detached",
    "leaks",
    "request_secrets",
    "scrub",
    "secret_forms",
]

REDACTED = "[redacted]"

#: Request headers whose value is a credential (lower case).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-amz-security-token",
        "x-amz-sso_bearer_token",
        "x-aws-ec2-metadata-token",
    }
)

# Exact values shorter than this are not replaced (they would garble unrelated
# text); the shapes below still catch them in every spelling they know.
_MIN_EXACT = 8

_HEADER_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_HEADERS))
# Members of credential documents: SSO cache and OIDC (accessToken, refreshToken,
# clientSecret), STS/IMDS/container/SSO credentials, shared-file keys.
_JSON_MEMBERS = (
    "accessToken|refreshToken|clientSecret|SecretAccessKey|secretAccessKey|SessionToken"
    "|sessionToken|Token|WebIdentityToken|aws_secret_access_key|aws_session_token"
    "|aws_security_token|access_token|refresh_token|client_secret|id_token"
)
# A name starts after a non-name character, or after an escaped CR/LF (``\\r\\n``
# in the repr of an echoed request head).
_START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[rn]))"
_SECRETS = re.compile(
    # Query, form and Authorization-header parameters: Name=value (the name is kept).
    rf"(?P<param>{_START}(?i:(?:x-amz-)?(?:signature|credential|security-token)"
    r"|webidentitytoken|access_token|refresh_token|client_secret|id_token)=)"
    r"[^&\s\"'\\,;<>]+"
    # Credential headers as HTTP text, repr'd tuples/dicts or JSON: name, separator, value.
    rf"|(?P<header>{_START}(?i:{_HEADER_NAMES})['\"]?\s*[:,]\s*b?['\"]?)"
    r"[^\"'\r\n\\]+"
    # Secret members of JSON documents and Python reprs: "name": "value".
    rf"|(?P<member>['\"](?:{_JSON_MEMBERS})['\"]\s*:\s*b?['\"])[^\"'\r\n\\]+"
    # Shared credentials file lines: aws_secret_access_key = value.
    rf"|(?P<ini>{_START}(?i:aws_secret_access_key|aws_session_token"
    r"|aws_security_token)[ \t]*[=:][ \t]*)[^\s\"'\\]+"
    # Bearer values, tokens and JWTs: replaced whole.
    r"|(?i:\bbearer)[ \t]+[A-Za-z0-9._~+/=-]+"
    r"|k8s-aws-v1\.[A-Za-z0-9_=-]*"
    r"|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
)
# The parts of a SigV4 Authorization header value worth matching on their own.
_AUTHORIZATION_PARTS = re.compile(r"(?:Credential|Signature)=([^,\s]+)")


def _keep_name(match: re.Match[str]) -> str:
    kept = match.lastgroup
    return REDACTED if kept is None else match.group(kept) + REDACTED


def secret_forms(values: Iterable[str | None]) -> tuple[str, ...]:
    """The spellings of ``values`` to replace exactly: raw and percent-encoded, longest first.

    Empty, ``None`` and short values (under 8 characters) are left out.
    """
    forms: set[str] = set()
    for value in values:
        if value and len(value) >= _MIN_EXACT:
            forms.add(value)
            forms.add(quote(value, safe=""))
    return tuple(sorted(forms, key=len, reverse=True))


def request_secrets(request: HttpRequest) -> tuple[str, ...]:
    """Every spelling of every secret ``request`` carries (its ``secrets`` and credential headers)."""
    values: list[str] = list(request.secrets)
    for name, raw in request.headers:
        if name.lower() in SECRET_HEADERS:
            value = raw.decode("latin-1")
            values.append(value)
            values.extend(_AUTHORIZATION_PARTS.findall(value))
    return secret_forms(values)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the exact ``secrets`` (see ``secret_forms``) and every secret shape replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRETS.sub(_keep_name, text)


def _printed(value: object, render: Callable[[object], str] = str) -> str:
    try:
        return render(value)
    except Exception:  # a broken __str__/__repr__ must not stop the scrubbing
        return f"<{type(value).__name__} that cannot be printed>"


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc``, its causes and contexts (suppressed ones too) and group members, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__]
        linked.extend(getattr(current, "exceptions", None) or ())
        pending.extend(e for e in linked if isinstance(e, BaseException))


def leaks(exc: BaseException, secrets: Iterable[str] = ()) -> bool:
    """Whether the ``str``, ``repr``, ``args`` or notes of ``exc`` or of its chain hold a secret."""
    secrets = tuple(secrets)
    for current in _chain(exc):
        texts = [_printed(current), _printed(current, repr), _printed(current.args, repr)]
        texts.extend(_printed(note) for note in getattr(current, "__notes__", ()))
        if any(scrub(text, secrets) != text for text in texts):
            return True
    return False


class RedactedError(Exception):
    """Stands in for a foreign exception that could not be rebuilt as its own class.

    The message starts with the original's qualified class name, then its scrubbed message.
    """


def detached(
    exc: BaseException, secrets: Iterable[str] = (), *, keep_traceback: bool = False
) -> BaseException:
    """A copy of ``exc`` safe to chain: scrubbed message, no chain, no attributes.

    The copy has ``exc``'s class when that class can be built from the scrubbed
    message alone (every ``httpx`` error, the built-in ones); otherwise it is a
    ``RedactedError`` naming the class. ``keep_traceback`` keeps the original's
    traceback (printed, it shows source lines, not values): worth it for a bug,
    noise for a transport failure.
    """
    secrets = tuple(secrets)
    message = scrub(_printed(exc), secrets)
    cls = type(exc)
    copy: BaseException | None
    try:
        copy = cls(message)
        str(copy), repr(copy)  # a copy that cannot be printed is no use in a traceback
    except Exception:  # a constructor that wants more than a message, a broken __str__
        copy = None
    if copy is None or type(copy) is not cls or leaks(copy, secrets):
        copy = RedactedError(f"{cls.__module__}.{cls.__qualname__}: {message}")
    copy.__cause__ = copy.__context__ = None
    copy.__suppress_context__ = False
    if keep_traceback:
        copy = copy.with_traceback(exc.__traceback__)
    return copy
