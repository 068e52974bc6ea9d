"""The ``token`` start-up path imports only what it needs (kubectl runs it for every command)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import VerifierConfig, validate_token
from k8s_aws_auth.testing import FakeSTS
from tests.support.child_env import child_env
from tests.support.credentials import IMDS_REGION_PATH, imds_region_stand_in, serve
from tests.support.keys import DOC_ACCESS_KEY_ID, DOC_SECRET
from tests.support.startup_probe import PROBE, REPLACED_ON_THE_FAST_PATH

#: Never on the static-credential token path: the HTTP stack, async runtimes, the
#: verifier, the credential chain, the server extra and YAML. Of the credentials
#: package only LIGHT_CREDENTIAL_MODULES may load (the shared files and the settings, through
#: the package's lazy internal seam).
FORBIDDEN_PREFIXES = (
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "trio",
    "ssl",
    "yaml",
    "k8s_aws_auth._verifier",
    "k8s_aws_auth._core.validate",
    "k8s_aws_auth._runtime",
    "k8s_aws_auth._ec2",
    "k8s_aws_auth._core.arn",
    "k8s_aws_auth.credentials.",
    "k8s_aws_auth.cli._credentials",
    "k8s_aws_auth.server",
    "k8s_aws_auth.testing",
)
LIGHT_CREDENTIAL_MODULES = frozenset(
    (
        "k8s_aws_auth.credentials._shared_files",
        "k8s_aws_auth.credentials._region",
        "k8s_aws_auth.credentials._env_keys",
        "k8s_aws_auth.credentials._simple_ini",
        "k8s_aws_auth.credentials.internal",
    )
)


def _heavy(modules: list[str]) -> list[str]:
    return [
        m for m in modules if m.startswith(FORBIDDEN_PREFIXES) and m not in LIGHT_CREDENTIAL_MODULES
    ]


#: Not on it either, though lighter: attrs and typing (about 20 ms together), datetime
#: (the signing path works in Unix seconds), argparse with the gettext and locale it
#: loads (kubectl's command lines are read by `_token_argv`), hashlib and hmac with
#: the OpenSSL binding (SHA-256 from `_core.digests`), importlib, shutil, urllib, and
#: the attrs-based core modules. Matched as modules or packages, not prefixes.
START_UP_FORBIDDEN = (
    "attr",
    "attrs",
    "typing",
    "typing_extensions",
    "datetime",
    "_datetime",
    *REPLACED_ON_THE_FAST_PATH,
    "shutil",
    "urllib",
    "k8s_aws_auth._core.models",
    "k8s_aws_auth._core.config",
    "k8s_aws_auth._core.token",  # the datetime wrapper (k8s_aws_auth._core.token_signer signs)
    "k8s_aws_auth._generate",
)


def _is_forbidden_at_start_up(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in START_UP_FORBIDDEN)


#: What kubectl puts in the plugin's environment (client-go, v1beta1).
KUBECTL_EXEC_INFO = (
    '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1",'
    '"spec":{"interactive":false}}'
)


ENV_KEYS = {"AWS_ACCESS_KEY_ID": DOC_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": DOC_SECRET}


def _run(
    *args: str, extra_env: dict[str, str] | None = None, env_keys: bool = True
) -> tuple[str, list[str]]:
    """Run the CLI in a fresh interpreter; return its stdout and the modules it loaded.

    The interpreter is never measured by coverage: coverage's own imports would be
    counted as the command's.
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        **(ENV_KEYS if env_keys else {}),
        "AWS_REGION": "us-west-2",
        **(extra_env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=child_env(env, measured=False),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr)
    assert report["code"] == 0
    assert "k8s-aws-v1." in result.stdout  # it printed a token
    modules: list[str] = report["modules"]
    return result.stdout, modules


def _modules(*args: str, extra_env: dict[str, str] | None = None) -> list[str]:
    return _run(*args, extra_env=extra_env)[1]


def test_static_credential_token_path_imports_nothing_heavy() -> None:
    modules = _modules("token", "-i", "c")
    assert _heavy(modules) == []
    assert "k8s_aws_auth.cli._token" in modules  # the probe really ran the command


def test_get_token_path_is_as_light() -> None:
    modules = _modules("get-token", "--cluster-name", "c")
    assert _heavy(modules) == []


def test_the_light_credential_modules_exist() -> None:
    # The allow-list names real modules: a rename cannot make the checks above vacuous.
    for name in LIGHT_CREDENTIAL_MODULES:
        assert (
            pathlib.Path(sys.modules["k8s_aws_auth"].__file__ or "")
            .parent.joinpath(*name.split(".")[1:])
            .with_suffix(".py")
            .is_file()
        )


_CONFIG = (
    "[default]\nregion = eu-north-1\n\n"
    "[profile fips]\nregion = us-east-1\nuse_fips_endpoint = true\n"
    "use_dualstack_endpoint = false\n\n"
    "[profile legacy]\nregion = eu-west-2\nsts_regional_endpoints = legacy\n"
)


def _aws_home(tmp_path: pathlib.Path, credentials: str = "") -> dict[str, str]:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "config").write_text(_CONFIG, encoding="utf-8")
    (aws / "credentials").write_text(credentials, encoding="utf-8")
    return {"HOME": str(tmp_path), "AWS_REGION": ""}


def _host(stdout: str) -> str:
    token = json.loads(stdout)["status"]["token"]
    return validate_token(token, VerifierConfig("c"), now=datetime.now(timezone.utc)).host


@pytest.mark.parametrize(
    ("command", "profile_env", "host"),
    [
        (("token", "-i", "c"), {}, "sts.eu-north-1.amazonaws.com"),
        (
            ("get-token", "--cluster-name", "c"),
            {"AWS_PROFILE": "fips"},
            "sts-fips.us-east-1.amazonaws.com",
        ),
        (("token", "-i", "c"), {"AWS_PROFILE": "legacy"}, "sts.amazonaws.com"),
        (
            ("token", "-i", "c", "--profile", "legacy", "--region", "us-west-2"),
            {},
            "sts.amazonaws.com",
        ),
    ],
)
def test_config_file_settings_skip_the_chain_attrs_typing_and_datetime(
    command: tuple[str, ...], profile_env: dict[str, str], host: str, tmp_path: pathlib.Path
) -> None:
    credentials = ""
    if "--profile" in command:  # an explicit profile ignores the environment's keys
        credentials = f"[legacy]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = {DOC_SECRET}\n"
    env = {**_aws_home(tmp_path, credentials), **profile_env}
    stdout, modules = _run(*command, extra_env=env)
    assert _heavy(modules) == []
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    # The settings came from the config file (the host says so), read without configparser.
    assert [m for m in modules if m in ("configparser", "shlex", "re", "json")] == []
    assert "k8s_aws_auth._core.token_signer" in modules
    assert _host(stdout) == host


@pytest.mark.parametrize(
    ("args", "profile_env", "key_id"),
    [
        (("token", "-i", "c"), {}, "AKIAI44QH8DHBEXAMPLE"),
        (("get-token", "--cluster-name", "c"), {"AWS_PROFILE": "legacy"}, "AKIAJ6ZM3IWEXAMPLE77"),
        (("token", "-i", "c", "--profile", "legacy"), {}, "AKIAJ6ZM3IWEXAMPLE77"),
    ],
)
def test_profile_static_keys_skip_the_chain_attrs_typing_and_datetime(
    args: tuple[str, ...], profile_env: dict[str, str], key_id: str, tmp_path: pathlib.Path
) -> None:
    credentials = (
        f"[default]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = {DOC_SECRET}\n"
        f"[legacy]\naws_access_key_id = AKIAJ6ZM3IWEXAMPLE77\naws_secret_access_key = {DOC_SECRET}\n"
        "aws_session_token = session/token+=\n"
    )
    env = {**_aws_home(tmp_path, credentials), **profile_env}
    stdout, modules = _run(*args, extra_env=env, env_keys=False)
    assert _heavy(modules) == []
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    token = json.loads(stdout)["status"]["token"]
    validated = validate_token(token, VerifierConfig("c"), now=datetime.now(timezone.utc))
    assert validated.access_key_id == key_id


def test_a_profile_that_needs_the_chain_still_gets_it(tmp_path: pathlib.Path) -> None:
    # credential_process comes before the config file's keys: only the chain may answer.
    document = {"Version": 1, "AccessKeyId": "AKIAJ6ZM3IWEXAMPLE77", "SecretAccessKey": DOC_SECRET}
    script = tmp_path / "process.py"
    script.write_text(f"print({json.dumps(document)!r})\n", encoding="utf-8")
    config = (
        f"[default]\ncredential_process = {sys.executable} {script}\n"
        f"aws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = {DOC_SECRET}\n"
    )
    (tmp_path / "config").write_text(config, encoding="utf-8")
    env = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "config")}
    stdout, modules = _run("token", "-i", "c", extra_env=env, env_keys=False)
    assert "k8s_aws_auth.credentials._resolver" in modules
    token = json.loads(stdout)["status"]["token"]
    validated = validate_token(token, VerifierConfig("c"), now=datetime.now(timezone.utc))
    assert validated.access_key_id == "AKIAJ6ZM3IWEXAMPLE77"


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (("token", "-i", "c"), {}),
        (("token", "-i", "c"), {"KUBERNETES_EXEC_INFO": KUBECTL_EXEC_INFO}),
        (("get-token", "--cluster-name", "c"), {}),
        (("get-token", "--cluster-name", "c", "--output", "text"), {}),
        (("token", "-i", "c", "--token-only"), {"AWS_SESSION_TOKEN": "session/token+="}),
    ],
)
def test_static_credential_path_skips_attrs_typing_and_datetime(
    args: tuple[str, ...], extra_env: dict[str, str]
) -> None:
    modules = _modules(*args, extra_env=extra_env)
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    # Nor re (and the enum it loads): kubectl's documents and the output need no json.
    assert [m for m in modules if m in ("re", "enum", "json")] == []
    assert "k8s_aws_auth._core.token_signer" in modules  # it signed on the fast path


def test_now_flag_path_avoids_attrs_and_typing() -> None:
    # --now parses an RFC 3339 time (so datetime loads) but still signs on the fast path.
    modules = _modules("token", "-i", "c", "--now", "2026-11-28T11:02:49Z")
    assert [m for m in modules if m.startswith(("attr", "typing"))] == []
    assert "k8s_aws_auth._core.token_signer" in modules


def test_clock_read_on_the_fast_path_is_the_signing_second() -> None:
    # Without --now the fast path reads time.time(): X-Amz-Date is the current
    # second and the expiration 14 minutes after it, as presign_token sets them.
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stdout, _ = _run("token", "-i", "my-cluster")
    document = json.loads(stdout)
    after = datetime.now(timezone.utc)
    status = document["status"]
    assert isinstance(status, dict)
    validated = validate_token(
        status["token"], VerifierConfig("my-cluster"), now=after
    )  # an independent parser: the verifier side
    assert before <= validated.signed_at <= after
    assert validated.host == "sts.us-west-2.amazonaws.com"
    expires = validated.signed_at + timedelta(minutes=14)
    assert status["expirationTimestamp"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_importing_the_package_alone_is_light() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, k8s_aws_auth; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = result.stdout.split()
    assert "k8s_aws_auth" in modules
    assert [m for m in modules if m.startswith(("httpx", "attr", "k8s_aws_auth._"))] == [
        "k8s_aws_auth._core",  # the core's import-free package __init__
        "k8s_aws_auth._core.lazy",  # the import-free __getattr__ helper
        "k8s_aws_auth._core.version",
    ]


# --- --imds-region: loads the chain only for a lookup it really needs ----------------------


@pytest.mark.parametrize(
    "args",
    [("token", "-i", "c", "--imds-region"), ("get-token", "--cluster-name", "c", "--imds-region")],
)
def test_imds_region_flag_signs_for_the_instance_region(args: tuple[str, ...]) -> None:
    with serve(imds_region_stand_in(b"eu-south-2")) as stand_in:
        env = {"AWS_REGION": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url}
        stdout, modules = _run(*args, extra_env=env)
    assert _host(stdout) == "sts.eu-south-2.amazonaws.com"
    assert [s.path for s in stand_in.seen] == ["/latest/api/token", IMDS_REGION_PATH]
    assert "k8s_aws_auth.credentials._imds" in modules  # the lookup needed the chain's flow


def test_imds_region_flag_with_a_configured_region_asks_nothing_and_stays_light() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url}  # AWS_REGION=us-west-2
        stdout, modules = _run("token", "-i", "c", "--imds-region", extra_env=env)
    assert _host(stdout) == "sts.us-west-2.amazonaws.com"
    assert stand_in.seen == []
    assert _heavy(modules) == []
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []


def test_without_the_flag_the_plugin_never_asks_imds() -> None:
    with serve(imds_region_stand_in()) as stand_in:
        env = {"AWS_REGION": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.base_url}
        stdout, modules = _run("token", "-i", "c", extra_env=env)
    assert _host(stdout) == "sts.amazonaws.com"
    assert stand_in.seen == []
    assert _heavy(modules) == []


# --- cache hits: no heavier than static keys ---------------------------------------------


def _role_home(tmp_path: pathlib.Path, fake: FakeSTS) -> dict[str, str]:
    alice = fake.create_principal("arn:aws:iam::123456789012:user/alice", seed="a").credentials
    fake.register_role("arn:aws:iam::123456789012:role/demo")
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/demo\n"
        "source_profile = base\nregion = us-east-1\n",
        encoding="utf-8",
    )
    (aws / "credentials").write_text(
        f"[base]\naws_access_key_id = {alice.access_key_id}\n"
        f"aws_secret_access_key = {alice.secret_access_key}\n",
        encoding="utf-8",
    )
    return {"HOME": str(tmp_path), "AWS_REGION": "", "AWS_PROFILE": "role"}


def test_a_cached_role_profile_signs_as_lightly_as_static_keys(tmp_path: pathlib.Path) -> None:
    fake = FakeSTS()
    with fake.serve() as url:
        env = {**_role_home(tmp_path, fake), "AWS_ENDPOINT_URL_STS": url}
        _, cold = _run("token", "-i", "c", extra_env=env, env_keys=False)
        assert "k8s_aws_auth.credentials._assume_role" in cold  # the first run assumed the role
        assert fake.count("AssumeRole") == 1
        stdout, modules = _run("token", "-i", "c", extra_env=env, env_keys=False)
    assert fake.count("AssumeRole") == 1, "the second run was a cache hit"
    assert _heavy(modules) == []
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    assert "k8s_aws_auth.cli._credential_cache" in modules
    token = json.loads(stdout)["status"]["token"]
    validated = validate_token(token, VerifierConfig("c"), now=datetime.now(timezone.utc))
    assert validated.access_key_id.startswith("ASIA")  # the role session's keys


@pytest.mark.parametrize("profile", [False, True], ids=["environment-keys", "role-profile"])
def test_a_cache_token_hit_is_as_light_as_static_keys(
    tmp_path: pathlib.Path, profile: bool
) -> None:
    fake = FakeSTS()
    with fake.serve() as url:
        env = {"HOME": str(tmp_path), "AWS_ENDPOINT_URL_STS": url}
        if profile:
            env.update(_role_home(tmp_path, fake))
        first, _ = _run("token", "-i", "c", "--cache", extra_env=env, env_keys=not profile)
        second, modules = _run("token", "-i", "c", "--cache", extra_env=env, env_keys=not profile)
    assert second == first, "the cached token was served"
    assert _heavy(modules) == []
    assert [m for m in modules if _is_forbidden_at_start_up(m)] == []
    assert "k8s_aws_auth.cli._token_cache" not in modules, "the hit needed no TokenCache"
    # The entry is read by _core.small_json: no json, nor the re and enum it loads.
    assert [m for m in modules if m in ("json", "re", "enum")] == []


# --- the fast path's own SHA-256 and HMAC sign botocore's bytes -------------------------


@pytest.mark.parametrize(
    ("args", "extra_env", "region", "mode"),
    [
        (("token", "-i", "c"), {}, "us-west-2", "regional"),
        (
            ("token", "-i", "my-cluster"),
            {"AWS_SESSION_TOKEN": "FwoGZXIvYXdzEJr//+="},
            "us-west-2",
            "regional",
        ),
        (
            (
                "get-token",
                "--cluster-name",
                "c",
                "--region",
                "eu-west-1",
                "--sts-regional-endpoints",
                "legacy",
            ),
            {},
            "eu-west-1",
            "legacy",
        ),
    ],
)
def test_the_fast_path_signs_botocores_bytes_without_hashlib(
    args: tuple[str, ...], extra_env: dict[str, str], region: str, mode: str
) -> None:
    from tests.support.botocore_oracle import BotocoreTokenOracle

    moment = datetime(2026, 11, 28, 11, 2, 49, tzinfo=timezone.utc)
    stdout, modules = _run(*args, "--now", "2026-11-28T11:02:49Z", extra_env=extra_env)
    assert [m for m in modules if m in ("hashlib", "hmac", "_hashlib")] == []
    theirs = BotocoreTokenOracle().token(
        access_key_id=DOC_ACCESS_KEY_ID,
        secret_access_key=DOC_SECRET,
        session_token=extra_env.get("AWS_SESSION_TOKEN"),
        region=region,
        mode=mode,
        cluster_id=args[2],
        moment=moment,
    )
    assert json.loads(stdout)["status"]["token"] == theirs
