"""``add``, ``remove``, ``list`` and ``crd``: the edits as functions, and the real command against the API stand-in.

The commands run as ``python -m k8s_aws_auth`` subprocesses with a token
kubeconfig for the loopback HTTPS stand-in (``tests/support/kube_api.py``),
which answers a stale PUT with ``409 Conflict`` like a real API server.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import trustme
import yaml

from k8s_aws_auth.cli._aws_auth import add_entry, data_diff, remove_entries
from k8s_aws_auth.errors import ConfigurationError
from tests.support.child_env import child_env
from tests.support.kube_api import CONFIGMAPS, KubeAPIStandIn, kube_api, write_token_kubeconfig

pytestmark = pytest.mark.timeout(120)

ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
DEV = f"arn:aws:iam::{ACCOUNT}:role/Dev"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
MAP_ROLES = f"""\
# the cluster's admins; keep this comment
- rolearn: {ADMIN}
  username: admin
  groups:
    - system:masters
"""


# -- the edits, without an API ---------------------------------------------------------------------


def test_add_appends_to_the_key_and_keeps_the_operators_text() -> None:
    data = {"mapRoles": MAP_ROLES, "mapAccounts": "- '444455556666'\n"}
    new = add_entry(data, "role", {"rolearn": DEV, "username": "dev", "groups": ["devs"]})
    assert new["mapRoles"].startswith(MAP_ROLES)  # comment and layout kept
    assert yaml.safe_load(new["mapRoles"])[1] == {
        "rolearn": DEV,
        "username": "dev",
        "groups": ["devs"],
    }
    assert new["mapAccounts"] == data["mapAccounts"]
    user = add_entry(new, "user", {"userarn": ALICE, "username": "alice", "groups": []})
    assert yaml.safe_load(user["mapUsers"]) == [
        {"userarn": ALICE, "username": "alice", "groups": []}
    ]


def test_add_refuses_a_duplicate_in_any_case_and_an_invalid_entry() -> None:
    data = {"mapRoles": MAP_ROLES}
    with pytest.raises(ConfigurationError, match="duplicate role ARN"):
        add_entry(
            data,
            "role",
            {"rolearn": ADMIN.replace("Admin", "ADMIN"), "username": "x", "groups": []},
        )
    with pytest.raises(ConfigurationError, match="aws-auth is invalid"):
        add_entry(data, "role", {"rolearn": "not-an-arn", "username": "x", "groups": []})
    with pytest.raises(ConfigurationError, match="aws-auth is invalid"):
        add_entry(
            {"mapRoles": "- rolearn: [broken"},
            "role",
            {"rolearn": DEV, "username": "x", "groups": []},
        )


def test_remove_drops_every_entry_of_the_arn_and_refuses_a_missing_one() -> None:
    data = add_entry(
        {"mapRoles": MAP_ROLES}, "role", {"rolearn": DEV, "username": "dev", "groups": []}
    )
    new, removed = remove_entries(data, "role", ADMIN.replace("Admin", "ADMIN"))
    assert removed == 1
    assert [item["rolearn"] for item in yaml.safe_load(new["mapRoles"])] == [DEV]
    with pytest.raises(ConfigurationError, match="no role entry"):
        remove_entries(new, "role", ADMIN)


def test_the_diff_names_the_key_and_shows_the_lines() -> None:
    diff = data_diff({"mapRoles": "- a\n"}, {"mapRoles": "- a\n- b\n"})
    assert "a/kube-system/aws-auth data.mapRoles" in diff
    assert "+- b\n" in diff
    assert data_diff({"k": "v"}, {"k": "v"}) == ""


# -- the commands against the API stand-in -----------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def api(ca: trustme.CA) -> Iterator[KubeAPIStandIn]:
    with kube_api(ca) as server:
        server.set_configmap("aws-auth", {"mapRoles": MAP_ROLES})
        yield server


def cli(
    api: KubeAPIStandIn, tmp_path: pathlib.Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    kubeconfig = write_token_kubeconfig(tmp_path / "kubeconfig", api)
    return subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", *args, "--kubeconfig", str(kubeconfig)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env({**os.environ, "HOME": str(tmp_path)}),
    )


def roles(api: KubeAPIStandIn) -> list[dict[str, object]]:
    found = api.get(CONFIGMAPS, "aws-auth", "kube-system")
    assert found is not None
    items: list[dict[str, object]] = yaml.safe_load(found["data"]["mapRoles"])
    return items


def test_add_role_survives_a_concurrent_writer(api: KubeAPIStandIn, tmp_path: pathlib.Path) -> None:
    theirs = {"mapRoles": MAP_ROLES, "mapUsers": f"- userarn: {ALICE}\n  username: alice\n"}
    api.before_next_put(lambda server: server.set_configmap("aws-auth", theirs))
    result = cli(api, tmp_path, "add", "role", "--rolearn", DEV, "--username", "dev", "--groups", "devs,viewers", "--prompt=false")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["rolearn"] for r in roles(api)] == [ADMIN, DEV]
    assert roles(api)[1]["groups"] == ["devs", "viewers"]
    stored = api.get(CONFIGMAPS, "aws-auth", "kube-system")
    assert stored is not None
    assert stored["data"]["mapUsers"] == theirs["mapUsers"]  # the other writer's change is kept
    puts = api.seen(lambda r: r.method == "PUT")
    assert [r.status for r in puts] == [409, 200]
    assert "2 attempt(s)" in result.stdout
    assert f"+- rolearn: {DEV}" in result.stdout  # the diff


def test_remove_role_survives_a_concurrent_writer(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    both = add_entry(
        {"mapRoles": MAP_ROLES}, "role", {"rolearn": DEV, "username": "dev", "groups": []}
    )
    api.set_configmap("aws-auth", both)
    theirs = {**both, "mapUsers": f"- userarn: {ALICE}\n  username: alice\n"}
    api.before_next_put(lambda server: server.set_configmap("aws-auth", theirs))
    result = cli(api, tmp_path, "remove", "role", "--rolearn", ADMIN, "--prompt=false")
    assert result.returncode == 0, result.stderr
    assert [r["rolearn"] for r in roles(api)] == [DEV]
    stored = api.get(CONFIGMAPS, "aws-auth", "kube-system")
    assert stored is not None
    assert "mapUsers" in stored["data"]
    missing = cli(api, tmp_path, "remove", "role", "--rolearn", ADMIN, "--prompt=false")
    assert missing.returncode == 1
    assert "no role entry of aws-auth has the ARN" in missing.stderr


def test_dry_run_prints_the_diff_and_writes_nothing(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    version = api.resource_version
    result = cli(
        api, tmp_path, "add", "user", "--userarn", ALICE, "--username", "alice", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert f"+- userarn: {ALICE}" in result.stdout
    assert "dry run" in result.stdout
    assert api.resource_version == version
    assert not api.seen(lambda r: r.method == "PUT")


def test_the_prompt_cancels_unless_yes_and_needs_an_answer(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    args = ("add", "role", "--rolearn", DEV, "--username", "dev")
    cancelled = cli(api, tmp_path, *args, stdin="n\n")
    assert cancelled.returncode == 0
    assert "should we continue? [y/N]" in cancelled.stdout
    assert "cancelled" in cancelled.stdout
    no_answer = cli(api, tmp_path, *args)
    assert no_answer.returncode == 1
    assert "--prompt=false" in no_answer.stderr
    assert not api.seen(lambda r: r.method == "PUT")
    accepted = cli(api, tmp_path, *args, stdin="yes\n")
    assert accepted.returncode == 0, accepted.stderr
    assert [r["rolearn"] for r in roles(api)] == [ADMIN, DEV]


def test_an_invalid_entry_is_refused_before_writing(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    result = cli(api, tmp_path, "add", "role", "--rolearn", "arn:aws:iam::12:role/x", "--username", "x", "--prompt=false")  # fmt: skip
    assert result.returncode == 1
    assert "aws-auth is invalid" in result.stderr
    assert not api.seen(lambda r: r.method == "PUT")


def test_list_prints_what_the_webhook_maps(api: KubeAPIStandIn, tmp_path: pathlib.Path) -> None:
    api.set_configmap("aws-auth", {"mapRoles": MAP_ROLES, "mapAccounts": "- '444455556666'\n"})
    result = cli(api, tmp_path, "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "roles": [{"rolearn": ADMIN, "username": "admin", "groups": ["system:masters"]}],
        "users": [],
        "accounts": ["444455556666"],
    }
    text = cli(api, tmp_path, "list")
    assert text.stdout.splitlines() == [
        f"role     {ADMIN}  admin  system:masters",
        "account  444455556666",
    ]
    api.delete(CONFIGMAPS, "aws-auth", "kube-system")
    gone = cli(api, tmp_path, "list")
    assert gone.returncode == 1
    assert "does not exist" in gone.stderr or "not found" in gone.stderr.lower()


def test_crd_prints_upstreams_definition(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "k8s_aws_auth", "crd"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env(dict(os.environ)),
    )
    assert result.returncode == 0, result.stderr
    crd = yaml.safe_load(result.stdout)
    assert crd["metadata"]["name"] == "iamidentitymappings.iamauthenticator.k8s.aws"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"] == {
        "plural": "iamidentitymappings",
        "singular": "iamidentitymapping",
        "kind": "IAMIdentityMapping",
        "categories": ["all"],
    }
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert schema["spec"]["required"] == ["arn", "username"]
    assert schema["spec"]["properties"]["groups"] == {"type": "array", "items": {"type": "string"}}
    assert schema["status"]["properties"] == {
        "canonicalARN": {"type": "string"},
        "userID": {"type": "string"},
    }


def test_mapping_explain_across_the_live_backends(
    api: KubeAPIStandIn, tmp_path: pathlib.Path
) -> None:
    api.set_mapping("alice", ALICE, "alice-from-crd", ["devs"])
    args = (
        "mapping",
        "explain",
        "--arn",
        ALICE,
        "--backend-mode",
        "EKSConfigMap,CRD",
        "-o",
        "json",
    )
    result = cli(api, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert (explained["username"], explained["groups"]) == ("alice-from-crd", ["devs"])
    assert [(s["backend"], s["outcome"]) for s in explained["steps"]] == [
        ("EKSConfigMap", "not-mapped"),
        ("CRD", "matched"),
    ]
    # A file goes first; the first match wins, as in the server.
    file = tmp_path / "aws-auth.yaml"
    file.write_text(
        yaml.safe_dump({"server": {"mapUsers": [{"userARN": ALICE, "username": "from-file"}]}})
    )
    first = cli(api, tmp_path, "mapping", "explain", str(file), *args[2:])
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["username"] == "from-file"
    unmapped = cli(
        api,
        tmp_path,
        "mapping",
        "explain",
        "--arn",
        DEV.replace("Dev", "Other"),
        "--backend-mode",
        "CRD",
    )
    assert unmapped.returncode == 1
    assert "not mapped" in unmapped.stdout
