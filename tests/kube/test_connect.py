"""Reaching the Kubernetes API: in-cluster, kubeconfig files (token, exec plugins), ``--master``.

Every test talks to the loopback HTTPS stand-in through lightkube's real
clients and our transport; the exec plugins are real subprocesses (a tiny
script, and our own ``python -m k8s_aws_auth token``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
import trustme

from k8s_aws_auth._kube import (
    AWS_AUTH,
    IAM_IDENTITY_MAPPING,
    KubeAPIError,
    KubeSettings,
    ListWatch,
    StaticToken,
    TokenFile,
    WatchEvent,
    async_client,
    awrite_status,
    lightkube_resource,
    parse_exec_credential,
    resolve_connection,
    sync_client,
)
from k8s_aws_auth._kube.connect import Connection
from k8s_aws_auth.errors import ConfigurationError
from tests.support.kube_api import (
    KubeAPIStandIn,
    kube_api,
    write_exec_kubeconfig,
    write_token_kubeconfig,
)

pytestmark = pytest.mark.timeout(60)

EXEC_V1 = "client.authentication.k8s.io/v1"
EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"
EXEC_V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"

PLUGIN = """
import json, os, sys
with open(os.environ["PLUGIN_LOG"], "a") as log:
    log.write(json.dumps({"exec_info": os.environ.get("KUBERNETES_EXEC_INFO"),
                          "stdin_tty": sys.stdin.isatty()}) + "\\n")
if os.environ.get("PLUGIN_FAIL"):
    sys.stderr.write("plugin broke; Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl leaked\\n")
    sys.exit(3)
status = {"token": os.environ["PLUGIN_TOKEN"]}
if os.environ.get("PLUGIN_EXPIRY"):
    status["expirationTimestamp"] = os.environ["PLUGIN_EXPIRY"]
print(json.dumps({"kind": "ExecCredential", "apiVersion": os.environ["PLUGIN_API"],
                  "spec": {}, "status": status}))
"""


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def api(ca: trustme.CA) -> Iterator[KubeAPIStandIn]:
    with kube_api(ca) as server:
        server.set_configmap("aws-auth", {"mapRoles": "[]"})
        yield server


def get_aws_auth(connection: Connection) -> dict[str, Any]:
    """GET kube-system/aws-auth with the sync client."""
    client = sync_client(connection)
    try:
        found: dict[str, Any] = client.get(
            lightkube_resource(AWS_AUTH.kind), "aws-auth", namespace="kube-system"
        ).to_dict()
    finally:
        client.close()
    return found


def tokens_sent(api: KubeAPIStandIn) -> list[str | None]:
    return [request.token for request in api.seen()]


# -- in-cluster ------------------------------------------------------------------------------------


def test_in_cluster_uses_the_service_account_token_ca_and_namespace(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    environ = api.in_cluster(tmp_path / "sa")
    connection = resolve_connection(
        KubeSettings(service_account_dir=str(tmp_path / "sa")), environ=environ
    )
    assert connection.origin == "in-cluster"
    assert connection.server == api.url
    assert connection.namespace == "kube-system"
    assert get_aws_auth(connection)["data"] == {"mapRoles": "[]"}
    assert tokens_sent(api)[-1] == "stand-in-token"


def test_in_cluster_without_the_environment_names_the_missing_variables(
    tmp_path: pathlib.Path,
) -> None:
    with pytest.raises(ConfigurationError, match="KUBERNETES_SERVICE_HOST") as caught:
        resolve_connection(KubeSettings(service_account_dir=str(tmp_path)), environ={})
    assert caught.value.reason == "kube-in-cluster"


def test_the_token_file_is_read_again_every_minute_not_only_after_a_401(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    environ = api.in_cluster(tmp_path / "sa", token="token-one")
    api.tokens = {"token-one", "token-two"}  # both valid: no 401 forces the re-read
    now = [1000.0]
    token_file = TokenFile(tmp_path / "sa" / "token", refresh_after=60.0, clock=lambda: now[0])
    connection = attrs.evolve(
        resolve_connection(KubeSettings(service_account_dir=str(tmp_path / "sa")), environ=environ),
        credentials=token_file,
    )
    get_aws_auth(connection)
    (tmp_path / "sa" / "token").write_text("token-two\n")  # the kubelet rotates it
    now[0] += 30
    get_aws_auth(connection)
    now[0] += 31
    get_aws_auth(connection)
    assert tokens_sent(api) == ["token-one", "token-one", "token-two"]


def test_a_401_rereads_the_token_file_and_retries_once(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    environ = api.in_cluster(tmp_path / "sa", token="token-one")
    api.tokens = {"token-one"}
    connection = resolve_connection(
        KubeSettings(service_account_dir=str(tmp_path / "sa"), token_refresh=3600.0),
        environ=environ,
    )
    get_aws_auth(connection)
    (tmp_path / "sa" / "token").write_text("token-two")
    api.tokens = {"token-two"}  # the old token is revoked
    assert get_aws_auth(connection)["metadata"]["name"] == "aws-auth"
    assert tokens_sent(api) == ["token-one", "token-one", "token-two"]
    assert [request.status for request in api.seen()] == [200, 401, 200]


def test_a_watch_picks_up_the_rotated_token_at_its_next_request(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    environ = api.in_cluster(tmp_path / "sa", token="token-one")
    api.tokens = {"token-one", "token-two"}
    connection = resolve_connection(
        KubeSettings(service_account_dir=str(tmp_path / "sa"), token_refresh=0.0),
        environ=environ,
    )

    async def main() -> None:
        client = async_client(connection)
        watch = ListWatch(client, AWS_AUTH, lambda event: None, sleep=lambda _: asyncio.sleep(0))
        task = asyncio.create_task(watch.run())
        try:
            while not api.watching(1):
                await asyncio.sleep(0.01)
            (tmp_path / "sa" / "token").write_text("token-two")
            api.cut_watches()
            while not api.watching(2):
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    asyncio.run(main())
    assert [request.token for request in api.watches()] == ["token-one", "token-two"]


# -- kubeconfig files --------------------------------------------------------------------------------


def test_a_token_kubeconfig_with_the_master_override(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    document = json.loads(kubeconfig.read_text())
    document["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens
    kubeconfig.write_text(json.dumps(document))
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig), master=api.url))
    assert connection.server == api.url
    assert get_aws_auth(connection)["data"] == {"mapRoles": "[]"}


def test_context_selection_and_a_missing_context(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    document = json.loads(kubeconfig.read_text())
    document["contexts"].append(
        {
            "name": "other",
            "context": {"cluster": "stand-in", "user": "stand-in", "namespace": "apps"},
        }
    )
    kubeconfig.write_text(json.dumps(document))
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig), context="other"))
    assert connection.namespace == "apps"
    with pytest.raises(ConfigurationError, match="no context named 'nope'"):
        resolve_connection(KubeSettings(kubeconfig=str(kubeconfig), context="nope"))


def test_credentials_are_never_sent_over_plain_http(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    with pytest.raises(ConfigurationError, match="https://") as caught:
        resolve_connection(KubeSettings(kubeconfig=str(kubeconfig), master="http://127.0.0.1:8001"))
    assert caught.value.reason == "kube-server"
    # kubectl proxy style: --master alone carries no credentials, so http is allowed.
    assert resolve_connection(KubeSettings(master="http://127.0.0.1:8001")).server == (
        "http://127.0.0.1:8001"
    )


def test_an_untrusted_server_certificate_is_refused(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    document = json.loads(kubeconfig.read_text())
    other = trustme.CA().cert_pem.bytes()
    import base64

    document["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        other
    ).decode()
    kubeconfig.write_text(json.dumps(document))
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        get_aws_auth(connection)
    assert api.seen() == []


# -- exec plugins ------------------------------------------------------------------------------------


def plugin_kubeconfig(
    tmp_path: pathlib.Path, api: KubeAPIStandIn, api_version: str, **env: str
) -> tuple[pathlib.Path, pathlib.Path]:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    log = tmp_path / "plugin.log"
    settings = {
        "PLUGIN_LOG": str(log),
        "PLUGIN_API": api_version,
        "PLUGIN_TOKEN": "stand-in-token",
        **env,
    }
    path = write_exec_kubeconfig(
        tmp_path / "config",
        api,
        sys.executable,
        [str(script)],
        api_version=api_version,
        env=settings,
    )
    return path, log


def plugin_runs(log: pathlib.Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("api_version", [EXEC_V1, EXEC_V1BETA1, EXEC_V1ALPHA1])
def test_an_exec_plugin_user_authenticates_with_every_api_version(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, api_version: str
) -> None:
    kubeconfig, log = plugin_kubeconfig(tmp_path, api, api_version)
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    get_aws_auth(connection)
    get_aws_auth(connection)  # a new client: the same plugin object, its token cached
    assert tokens_sent(api) == ["stand-in-token", "stand-in-token"]
    runs = plugin_runs(log)
    assert len(runs) == 1
    info = json.loads(runs[0]["exec_info"])
    assert info == {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {"interactive": False},
    }
    assert runs[0]["stdin_tty"] is False


def test_the_async_client_runs_the_plugin_without_blocking_and_a_watch_syncs(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig, log = plugin_kubeconfig(tmp_path, api, EXEC_V1)
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    events: list[WatchEvent] = []

    async def main() -> None:
        client = async_client(connection)
        watch = ListWatch(client, AWS_AUTH, events.append)
        task = asyncio.create_task(watch.run())
        try:
            while not api.watching(1):
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    asyncio.run(main())
    assert [event.type for event in events] == ["SYNCED"]
    assert len(plugin_runs(log)) == 1


def test_an_expired_plugin_token_runs_the_plugin_again_and_so_does_a_401(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig, log = plugin_kubeconfig(
        tmp_path, api, EXEC_V1BETA1, PLUGIN_EXPIRY="2001-02-03T04:05:06Z"
    )
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    get_aws_auth(connection)
    get_aws_auth(connection)
    assert len(plugin_runs(log)) == 2  # already expired: every request asks again

    second = tmp_path / "no-expiry"
    second.mkdir()
    kubeconfig, log = plugin_kubeconfig(second, api, EXEC_V1BETA1)
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    get_aws_auth(connection)
    api.tokens = set()  # the next request is refused: the plugin runs again, once
    with pytest.raises(httpx.HTTPStatusError, match="Unauthorized"):
        get_aws_auth(connection)
    assert len(plugin_runs(log)) == 2


def test_our_own_kubeconfig_and_token_command_work_as_the_exec_plugin(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(api.ca_pem())
    written = subprocess.run(
        [
            sys.executable,
            "-m",
            "k8s_aws_auth",
            "kubeconfig",
            "-i",
            "stand-in-cluster",
            "--server",
            api.url,
            "--ca",
            str(ca_file),
            "--this-python",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    assert "client.authentication.k8s.io/v1" in written.stdout
    assert "interactiveMode: IfAvailable" in written.stdout
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(written.stdout)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    api.tokens = set()
    api.token_prefix = "k8s-aws-v1."  # the stand-in cannot verify: any of our tokens passes
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    assert get_aws_auth(connection)["metadata"]["name"] == "aws-auth"
    sent = tokens_sent(api)
    assert len(sent) == 1
    assert sent[0] is not None
    assert sent[0].startswith("k8s-aws-v1.")


def test_exec_users_kubectl_refuses_are_refused_at_configuration(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig, _ = plugin_kubeconfig(tmp_path, api, EXEC_V1)
    document = json.loads(kubeconfig.read_text())
    entry = document["users"][0]["user"]["exec"]
    entry["interactiveMode"] = "Always"
    kubeconfig.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match="needs a terminal"):
        resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    del entry["interactiveMode"]
    kubeconfig.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match="needs interactiveMode"):
        resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))


def test_a_failing_plugin_is_a_configuration_error_without_the_secrets_it_printed(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    kubeconfig, _ = plugin_kubeconfig(tmp_path, api, EXEC_V1, PLUGIN_FAIL="1")
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))
    with pytest.raises(ConfigurationError, match="exited with status 3") as caught:
        get_aws_auth(connection)
    assert "eyJ" not in str(caught.value)
    assert caught.value.reason == "kube-exec"
    assert api.seen() == []


def test_exec_credential_parsing() -> None:
    document = {
        "kind": "ExecCredential",
        "apiVersion": EXEC_V1,
        "status": {"token": "t", "expirationTimestamp": "2030-01-02T03:04:05.123456789Z"},
    }
    token, expiry = parse_exec_credential(json.dumps(document), EXEC_V1)
    assert token == "t"
    assert expiry == pytest.approx(1893553445.123456789)
    with pytest.raises(ValueError, match="apiVersion"):
        parse_exec_credential(json.dumps(document), EXEC_V1BETA1)
    document["status"] = {"clientCertificateData": "x", "clientKeyData": "y"}
    with pytest.raises(ValueError, match="client certificate"):
        parse_exec_credential(json.dumps(document), EXEC_V1)
    with pytest.raises(ValueError, match="not JSON"):
        parse_exec_credential("Bearer secret", EXEC_V1)


def test_credential_sources_never_show_a_token_in_their_repr(tmp_path: pathlib.Path) -> None:
    secret = "opaque-static-credential-0123456789"
    (tmp_path / "token").write_text(secret)
    source = TokenFile(tmp_path / "token")
    assert source.bearer() == secret
    assert secret not in repr(source)
    assert secret not in repr(StaticToken(secret))
    assert secret in source.secrets()


# -- secrets stay out of errors and logs ---------------------------------------------------------------


def test_a_hostile_servers_echo_of_the_token_never_reaches_an_error_or_a_log(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "opaque-static-credential-0123456789"
    api.tokens = {secret}
    api.echo_token = True
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api, token=secret)
    connection = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig)))

    async def main() -> KubeAPIError:
        client = async_client(connection)
        try:
            with pytest.raises(KubeAPIError) as caught:
                await awrite_status(client, IAM_IDENTITY_MAPPING, "missing", {"canonicalARN": "x"})
        finally:
            await client.close()
        return caught.value

    with caplog.at_level(logging.DEBUG):
        error = asyncio.run(main())
    assert error.reason == "kube-not-found"
    assert "(you sent [redacted])" in str(error)
    chain: list[BaseException] = [error]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    for exc in chain:
        assert secret not in str(exc)
        assert secret not in repr(exc.args)
    assert caplog.records  # httpx/httpcore logged the exchange at DEBUG
    for record in caplog.records:
        assert secret not in record.getMessage()
    assert api.seen()[-1].token == secret


def test_importing_the_seam_does_not_import_lightkube() -> None:
    code = (
        "import sys, k8s_aws_auth._kube as kube\n"
        "kube.AWS_AUTH, kube.KubeSettings, kube.WatchSettings, kube.KubeObject\n"
        "import k8s_aws_auth, k8s_aws_auth.cli\n"
        "assert 'lightkube' not in sys.modules, 'lightkube imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_client_certificates_load_from_files_and_from_data(
    ca: trustme.CA, tmp_path: pathlib.Path
) -> None:
    from k8s_aws_auth._kube.tls import TLSFiles, ssl_context

    issued = ca.issue_cert("client.example")
    cert_pem = issued.cert_chain_pems[0].bytes()
    key_pem = issued.private_key_pem.bytes()
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    before = set(pathlib.Path(tempfile.gettempdir()).glob("k8s-aws-auth-*"))
    ssl_context(TLSFiles(cert_file=str(tmp_path / "c.pem"), key_file=str(tmp_path / "k.pem")))
    ssl_context(TLSFiles(cert_pem=cert_pem, key_pem=key_pem))
    ssl_context(TLSFiles(cert_file=str(tmp_path / "c.pem"), key_pem=key_pem))
    assert set(pathlib.Path(tempfile.gettempdir()).glob("k8s-aws-auth-*")) == before  # removed
    other_key = ca.issue_cert("other.example").private_key_pem.bytes()
    with pytest.raises(ConfigurationError, match="cannot set up TLS") as caught:
        ssl_context(TLSFiles(cert_pem=cert_pem, key_pem=other_key))
    assert caught.value.reason == "kube-tls"
    assert "PRIVATE KEY" not in str(caught.value)


def test_a_response_body_over_the_bound_is_refused(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    from k8s_aws_auth._kube.transport import ResponseTooLarge

    api.set_configmap("aws-auth", {"mapRoles": "x" * 5000})
    kubeconfig = write_token_kubeconfig(tmp_path / "config", api)
    connection = resolve_connection(
        KubeSettings(kubeconfig=str(kubeconfig), max_response_bytes=4096)
    )
    with pytest.raises(ResponseTooLarge, match="longer than 4096 bytes"):
        get_aws_auth(connection)
    roomy = resolve_connection(KubeSettings(kubeconfig=str(kubeconfig), max_response_bytes=8192))
    assert len(get_aws_auth(roomy)["data"]["mapRoles"]) == 5000
