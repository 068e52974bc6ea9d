"""The pieces behind "no secret in any log record or error chain": ``_redact`` and ``_log_guard``.

The end-to-end proof is in ``test_secrets_in_logs`` and ``test_secrets_in_credentials``;
these tests pin the rules one by one: which shapes are secret, how a record is
rewritten (and left usable), when exact secrets apply, how a foreign exception
is detached, and that the modules parsing secret-bearing documents never raise
while the parser's exception is being handled.
"""

from __future__ import annotations

import ast
import io
import logging
import pathlib
from collections.abc import Iterator

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from k8s_aws_auth._core.effects import HttpRequest
from k8s_aws_auth._core.redact import REDACTED, RedactedError, detached, request_secrets, scrub
from k8s_aws_auth._runtime.log_guard import GUARDED_LOGGERS, IN_FLIGHT, LogGuard, guard_logs

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "k8s_aws_auth"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /?Action=GetCallerIdentity&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abc123 HTTP/1.1",
            "GET /?Action=GetCallerIdentity&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted] HTTP/1.1",
        ),
        ("x=1&X-Amz-Security-Token=FQo%2Bab&y=2", "x=1&X-Amz-Security-Token=[redacted]&y=2"),
        (
            "[(b'x-amz-security-token', b'IQoJ+/=='), (b'Server', b'x')]",
            "[(b'x-amz-security-token', b'[redacted]'), (b'Server', b'x')]",
        ),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=ab\r\nHost: h",
            "Authorization: [redacted]\r\nHost: h",
        ),
        (
            "b'HTTP/1.1\\r\\nx-amz-sso_bearer_token: aoa123\\r\\nX-aws-ec2-metadata-token: AQA=\\r\\n'",
            "b'HTTP/1.1\\r\\nx-amz-sso_bearer_token: [redacted]\\r\\nX-aws-ec2-metadata-token: [redacted]\\r\\n'",
        ),
        ("{'authorization': '[secure]'}", "{'authorization': '[redacted]'}"),
        (
            '{"accessToken": "aoa1", "expiresIn": 3, "refreshToken":"r1", "clientSecret": "c1"}',
            '{"accessToken": "[redacted]", "expiresIn": 3, "refreshToken":"[redacted]", "clientSecret": "[redacted]"}',
        ),
        (
            '{"SecretAccessKey": "wJal/r", "Token": "IQo="}',
            '{"SecretAccessKey": "[redacted]", "Token": "[redacted]"}',
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI\naws_access_key_id = AKIA",
            "aws_secret_access_key = [redacted]\naws_access_key_id = AKIA",
        ),
        ("WebIdentityToken=abc.def&RoleArn=arn", "WebIdentityToken=[redacted]&RoleArn=arn"),
        ("saw k8s-aws-v1.aHR0cHM6Ly9zdHM_abc-def here", "saw [redacted] here"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln end", "jwt [redacted] end"),
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("auth bearer abc.def/+=", "auth [redacted]"),
    ],
)
def test_secret_shapes_are_replaced_and_their_names_kept(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "access granted",
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Date=20260101T000000Z",
        "the signature, the credential and the token are fine words",
        "connect_tcp.started host='127.0.0.1' port=443 local_address=None timeout=2.0",
        "arn:aws:sts::111122223333:assumed-role/Admin/alice",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_exact_secrets_are_replaced_raw_and_percent_encoded() -> None:
    request = HttpRequest(
        method="POST",
        url="http://sts/",
        headers=(("Authorization", b"AWS4-HMAC-SHA256 Credential=AKID/s, Signature=f00dfeed99"),),
        secrets=("opaque+secret/value==", "short"),
    )
    secrets = request_secrets(request)
    assert scrub("echo opaque+secret/value== and opaque%2Bsecret%2Fvalue%3D%3D", secrets) == (
        f"echo {REDACTED} and {REDACTED}"
    )
    assert (
        scrub("the bare signature f00dfeed99 came back", secrets)
        == f"the bare signature {REDACTED} came back"
    )
    assert scrub("a short one stays", secrets) == "a short one stays"  # under 8 characters


@pytest.fixture
def httpx_records() -> Iterator[list[logging.LogRecord]]:
    """Records of the ``httpx`` logger, after the guard, as a handler receives them."""
    guard_logs()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("httpx")
    handler = Keep(level=1)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_the_guard_is_installed_once_and_first() -> None:
    theirs = logging.Filter("httpx")  # a filter of the caller's, added before the guard runs again
    logging.getLogger("httpx").addFilter(theirs)
    try:
        guard_logs()
        guard_logs()
        for name in GUARDED_LOGGERS:
            filters = logging.getLogger(name).filters
            assert isinstance(filters[0], LogGuard), name
            assert sum(isinstance(f, LogGuard) for f in filters) == 1, name
    finally:
        logging.getLogger("httpx").removeFilter(theirs)
    assert not any(isinstance(f, LogGuard) for f in logging.getLogger().filters)  # root untouched


def test_exact_secrets_apply_only_while_their_request_is_in_flight(
    httpx_records: list[logging.LogRecord],
) -> None:
    logger = logging.getLogger("httpx")
    request = HttpRequest(method="GET", url="http://x/", secrets=("opaque-secret-value-42",))
    in_flight = IN_FLIGHT.set(request)
    try:
        logger.info("echo: %s", "opaque-secret-value-42")
    finally:
        IN_FLIGHT.reset(in_flight)
    logger.info("echo: %s", "opaque-secret-value-42")  # someone else's request: not ours to hide
    assert [r.getMessage() for r in httpx_records] == [
        f"echo: {REDACTED}",
        "echo: opaque-secret-value-42",
    ]


def test_arguments_stay_arguments_when_they_can_be_scrubbed_one_by_one() -> None:
    """uvicorn's access formatter unpacks ``record.args``: scrubbing must not break it."""
    guard_logs()
    logger = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False)
    )
    logger.addHandler(handler)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        path = "/authenticate?token=k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8"
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 405)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    assert (
        stream.getvalue()
        == "127.0.0.1:5 GET /authenticate?token=[redacted] HTTP/1.1 405 Method Not Allowed\n"
    )


def test_a_leaking_exception_is_replaced_by_its_scrubbed_traceback(
    httpx_records: list[logging.LogRecord],
) -> None:
    try:
        try:
            raise ValueError("k8s-aws-v1.aHR0cHM6Ly9zdHM")
        except ValueError:
            raise RuntimeError("wrapped") from None  # the secret hides in a suppressed context
    except RuntimeError:
        logging.getLogger("httpx").exception("failed")
    [record] = httpx_records
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "RuntimeError: wrapped" in record.exc_text


def test_a_clean_exception_is_left_to_the_handlers(httpx_records: list[logging.LogRecord]) -> None:
    try:
        raise ConnectionError("connection refused")
    except ConnectionError:
        logging.getLogger("httpx").exception("failed")
    [record] = httpx_records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)


def test_a_record_that_cannot_be_checked_is_withheld_not_dropped(
    httpx_records: list[logging.LogRecord],
) -> None:
    broken = "%d requests for %s"  # too few arguments: the caller's bug
    logging.getLogger("httpx").info(broken, "many")
    [record] = httpx_records
    assert record.getMessage() == "[log record withheld: it could not be checked for secrets]"


def test_a_transport_error_is_detached_keeping_its_class() -> None:
    request = httpx.Request("GET", "http://sts/?X-Amz-Signature=abc")
    try:
        try:
            raise OSError("socket said X-Amz-Signature=abc")
        except OSError as inner:
            raise httpx.RemoteProtocolError(
                f"illegal status line: {inner}", request=request
            ) from inner
    except httpx.RemoteProtocolError as exc:
        copy = detached(exc)
    assert type(copy) is httpx.RemoteProtocolError
    assert str(copy) == "illegal status line: socket said X-Amz-Signature=[redacted]"
    assert copy.__cause__ is None
    assert copy.__context__ is None
    assert copy.__traceback__ is None
    with pytest.raises(RuntimeError, match="has not been set"):
        _ = copy.request  # the URL stayed behind


def test_an_exception_that_cannot_be_rebuilt_becomes_a_redacted_error() -> None:
    class Picky(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(code, detail)

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    copy = detached(Picky(7, "Bearer abc.def"))
    assert isinstance(copy, RedactedError)
    assert str(copy) == f"{__name__}.{Picky.__qualname__}: (7, '[redacted]')"
    assert "cannot be printed" in str(detached(Unprintable()))


# --- the rule that keeps decoder exceptions out of error chains ------------------------------

#: Modules that parse documents holding tokens or credentials (or STS answers, which a
#: hostile server fills with our request): no library error is raised while a foreign
#: exception is being handled, so none has one as ``__context__``.
SECRET_PARSERS = [
    *sorted((SRC / "credentials").glob("*.py")),
    SRC / "_core" / "sts.py",
    SRC / "cli" / "_token_cache.py",
    SRC / "cli" / "_cache_files.py",
    SRC / "cli" / "_credential_cache.py",
    SRC / "server" / "_tokenreview.py",
]
#: Exceptions that hold no input: raising while one is handled is fine.
HOLD_NO_INPUT = {
    "OSError",
    "FileNotFoundError",
    "OverflowError",
    "CacheUnavailable",
    "ConfigurationError",
    "CredentialsError",
    "CredentialProviderError",
    "K8sAwsAuthError",
    "TokenReviewRequestError",
    "_Unavailable",
}


def _raises_while_handling(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, handled: list[ast.ExceptHandler]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            handled = []  # a nested function runs later, outside the handler
        if isinstance(node, ast.Raise) and node.exc is not None and handled:
            caught = handled[-1].type
            names = (
                {ast.unparse(e).rsplit(".", 1)[-1] for e in caught.elts}
                if isinstance(caught, ast.Tuple)
                else {ast.unparse(caught).rsplit(".", 1)[-1]}
                if caught is not None
                else {"BaseException"}
            )
            if not names <= HOLD_NO_INPUT:
                found.append(
                    (node.lineno, ast.unparse(handled[-1].type or ast.Name("BaseException")))
                )
        for child in ast.iter_child_nodes(node):
            visit(child, [*handled, node] if isinstance(node, ast.ExceptHandler) else handled)

    visit(tree, [])
    return found


@pytest.mark.parametrize("path", SECRET_PARSERS, ids=lambda p: str(p.relative_to(SRC)))
def test_secret_parsers_never_raise_while_handling_a_foreign_exception(path: pathlib.Path) -> None:
    offenders = _raises_while_handling(ast.parse(path.read_text(encoding="utf-8")))
    assert offenders == [], f"{path.name}: raise inside 'except' at {offenders}"


def test_the_rule_finds_what_it_forbids() -> None:
    source = "try:\n    f()\nexcept ValueError:\n    raise Problem('x') from None\n"
    assert _raises_while_handling(ast.parse(source)) == [(4, "ValueError")]
    allowed = "try:\n    f()\nexcept OSError:\n    raise Problem('x') from None\n"
    assert _raises_while_handling(ast.parse(allowed)) == []
