"""The HTTP parser and event loop ``serve`` runs on: chosen, reported, and a clean fallback.

httptools and uvloop are optional C extensions (``auto`` takes them when they
import). Their absence is simulated the way a platform without wheels looks to
Python: a module of that name on ``PYTHONPATH`` whose import fails.
"""

from __future__ import annotations

import pathlib

import pytest

from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server import load_server_config
from k8s_aws_auth.testing import FakeSTS
from tests.support.server import (
    CLUSTER_ID,
    ServerProcess,
    review,
    run_cli,
    start_webhook,
    webhook_client,
    write_config,
)

ALICE = "arn:aws:iam::111122223333:user/alice"
MAPPING = {"mapUsers": [{"userARN": ALICE, "username": "alice"}]}


def _without_extensions(root: pathlib.Path) -> dict[str, str]:
    """An environment in which ``import httptools`` and ``import uvloop`` fail."""
    shadow = root / "no-extensions"
    shadow.mkdir()
    for name in ("httptools", "uvloop"):
        (shadow / f"{name}.py").write_text(f"raise ImportError('no {name} wheel here')\n")
    return {"PYTHONPATH": str(shadow)}


def _serving(server: ServerProcess) -> dict[str, object]:
    for record in server.logs():
        if record.get("message") == "serving":
            return dict(record)
    raise AssertionError("no serving line")


def _serve_and_review(
    root: pathlib.Path, env: dict[str, str] | None, flags: tuple[str, ...]
) -> dict[str, object]:
    sts = FakeSTS()
    alice = sts.create_principal(ALICE, seed="stack-alice")
    with sts.serve() as sts_url:
        server = start_webhook(root, MAPPING, sts_url, flags=flags, env=env)
        try:
            client, url = webhook_client(root / "state" / "kubeconfig.yaml", timeout=30.0)
            with client:
                answer = client.post(url, json=review(sts.make_token(alice, cluster_id=CLUSTER_ID)))
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"]["user"]["username"] == "alice"
            return _serving(server)
        finally:
            server.close()


@pytest.mark.slow
def test_auto_takes_httptools_and_uvloop_when_installed(tmp_path: pathlib.Path) -> None:
    serving = _serve_and_review(tmp_path, None, ())
    assert (serving["http"], serving["loop"]) == ("httptools", "uvloop")


@pytest.mark.slow
def test_auto_falls_back_to_h11_and_asyncio_without_the_extensions(tmp_path: pathlib.Path) -> None:
    serving = _serve_and_review(tmp_path, _without_extensions(tmp_path), ())
    assert (serving["http"], serving["loop"]) == ("h11", "asyncio")


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "module"), [("--http", "httptools"), ("--loop", "uvloop")])
def test_asking_for_a_missing_extension_is_a_start_up_error(
    tmp_path: pathlib.Path, flag: str, module: str
) -> None:
    config = write_config(tmp_path / "config.yaml", CLUSTER_ID, MAPPING)
    state = str(tmp_path / "state")
    assert run_cli("init", "-c", str(config), "--state-dir", state).returncode == 0
    finished = run_cli(
        "serve",
        "-c",
        str(config),
        "--state-dir",
        state,
        flag,
        module,
        env=_without_extensions(tmp_path),
    )
    assert finished.returncode != 0
    assert f"{module} is not installed" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.slow
def test_h11_and_asyncio_can_be_chosen_where_the_extensions_exist(tmp_path: pathlib.Path) -> None:
    serving = _serve_and_review(tmp_path, None, ("--http", "h11", "--loop", "asyncio"))
    assert (serving["http"], serving["loop"]) == ("h11", "asyncio")


def test_the_config_file_keys_and_their_values(tmp_path: pathlib.Path) -> None:
    path = write_config(tmp_path / "c.yaml", CLUSTER_ID, {"HTTP": "H11", "loop": "uvloop"})
    config = load_server_config(path)
    assert (config.http, config.loop) == ("h11", "uvloop")
    default = load_server_config(None, {"cluster_id": "c"})
    assert (default.http, default.loop) == ("auto", "auto")
    with pytest.raises(ConfigurationError, match="http must be one of auto, h11, httptools"):
        load_server_config(None, {"cluster_id": "c", "http": "h2"})
    with pytest.raises(ConfigurationError, match="loop must be one of auto, asyncio, uvloop"):
        load_server_config(None, {"cluster_id": "c", "loop": "trio"})
    assert default.workers == 1
    assert load_server_config(None, {"cluster_id": "c", "workers": "4"}).workers == 4
    with pytest.raises(ConfigurationError, match=r"workers must be an integer in 1\.\.256"):
        load_server_config(None, {"cluster_id": "c", "workers": 0})
