"""TokenAuth never puts its token in a log record, even against a server that echoes it back."""

from __future__ import annotations

import subprocess
import sys

import httpx

from k8s_aws_auth import TokenAuth, TokenSource
from k8s_aws_auth.testing import FakeSTS
from tests.support.leak_harness import EchoServer, Planted, echoing, every_record


def test_an_echoing_server_cannot_make_httpcore_log_the_token() -> None:
    fake = FakeSTS()
    alice = fake.create_principal("arn:aws:iam::111122223333:user/alice")
    source = TokenSource("c", credentials=alice.credentials, region="us-west-2")
    server = EchoServer(mode="echo", status=401)  # refused twice: the retry is logged too
    with (
        every_record() as captured,
        echoing(server),
        httpx.Client(auth=TokenAuth(source)) as client,
    ):
        answer = client.get(f"{server.base_url}/items")
    assert answer.status_code == 401
    assert len(server.requests) == 2  # the request and one retry
    sent = [v for _, headers, _ in server.requests for k, v in headers if k == "Authorization"]
    assert len(sent) == 2
    assert answer.headers["Authorization"] == sent[1]  # the echo really carried it back
    heads = [m for m in captured.messages("httpcore.http11") if "receive_response_headers" in m]
    assert heads, "httpcore logged no response head"
    assert any("[redacted]" in m for m in heads), heads
    secrets = {f"token {i}": value.removeprefix("Bearer ") for i, value in enumerate(sent)}
    Planted(secrets).assert_absent(captured.texts)


def test_token_auth_installs_the_log_guard() -> None:
    code = (
        "import logging\n"
        "from k8s_aws_auth import Credentials, TokenAuth\n"
        "names = ('httpx', 'httpcore.http11')\n"
        "def guarded():\n"
        "    return [any(type(f).__name__ == 'LogGuard' for f in logging.getLogger(n).filters)"
        " for n in names]\n"
        "print(guarded())\n"
        "TokenAuth('c', credentials=Credentials('AKIAIOSFODNN7EXAMPLE', 'x' * 40))\n"
        "print(guarded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split("\n")[:2] == ["[False, False]", "[True, True]"]
