"""Mapping file formats: detection, parsing, validation errors (tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k8s_aws_auth.mapping import (
    MappingFileError,
    MappingSet,
    RoleMapping,
    parse_mapping_path,
    parse_mapping_text,
)

ACCT = "111122223333"

MOUNTED_FILE = f"""
clusterID: my-cluster
server:
  port: 21362
  partition: aws
  mapRoles:
  - roleARN: arn:aws:iam::{ACCT}:role/KubernetesAdmin
    username: kubernetes-admin
    groups: [system:masters]
  mapUsers:
  - UserARN: arn:aws:iam::{ACCT}:user/Alice
    USERNAME: alice
    groups: [devs]
  mapAccounts:
  - "444455556666"
  scrubbedAccounts: ["444455556666"]
  reservedPrefixConfig:
  - backendMode: MountedFile
    usernamePrefixReserveList: ["aws:", "amazon:"]
"""

EKS_DATA_ROLES = f"""- rolearn: arn:aws:iam::{ACCT}:role/KubernetesAdmin
  username: kubernetes-admin
  groups:
    - system:masters
"""

EKS_MANIFEST = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "aws-auth", "namespace": "kube-system"},
    "data": {
        "mapRoles": EKS_DATA_ROLES,
        "mapUsers": f"- userarn: arn:aws:iam::{ACCT}:user/Alice\n  username: alice\n",
        "mapAccounts": '- "444455556666"\n',
    },
}

DYNAMIC_FILE = {
    "LastUpdatedDateTime": "1700000000",
    "Version": "1",
    "mapRoles": [
        {
            "rolearn": f"arn:aws:iam::{ACCT}:role/KubernetesAdmin",
            "username": "kubernetes-admin",
            "groups": ["system:masters"],
            "userid": "AROAADMIN",
        }
    ],
    "mapUsers": [
        {
            "userarn": f"arn:aws:iam::{ACCT}:user/Alice",
            "username": "alice",
            "userid": "AIDAALICE",
        }
    ],
    "mapAccounts": ["444455556666"],
}

NATIVE = f"""
version: 1
roles:
  - arn: arn:aws:iam::{ACCT}:role/KubernetesAdmin
    username: kubernetes-admin
    groups: [system:masters]
users:
  - arn: arn:aws:iam::{ACCT}:user/Alice
    username: alice
accounts: ["444455556666"]
"""


def _json(document: object) -> str:
    return json.dumps(document, indent=1)


@pytest.mark.parametrize(
    ("text", "expected_format"),
    [
        (MOUNTED_FILE, "mounted-file"),
        (_json(EKS_MANIFEST), "eks-configmap"),
        (_json(EKS_MANIFEST["data"]), "eks-configmap"),
        (_json(DYNAMIC_FILE), "dynamic-file"),
        (NATIVE, "native"),
    ],
    ids=["mounted-file", "eks-manifest", "eks-data", "dynamic-file", "native"],
)
def test_every_format_is_detected_and_read(text: str, expected_format: str) -> None:
    mapping_set = parse_mapping_text(text, source="x")
    assert mapping_set.format == expected_format
    assert [r.arn for r in mapping_set.roles] == [f"arn:aws:iam::{ACCT}:role/KubernetesAdmin"]
    assert mapping_set.roles[0].username == "kubernetes-admin"
    assert mapping_set.roles[0].groups == ("system:masters",)
    assert [u.username for u in mapping_set.users] == ["alice"]
    assert [a.account_id for a in mapping_set.accounts] == ["444455556666"]


def test_mounted_file_settings_are_read() -> None:
    mapping_set = parse_mapping_text(MOUNTED_FILE)
    assert mapping_set.scrubbed_accounts == frozenset({"444455556666"})
    assert mapping_set.reserved_prefixes == {"MountedFile": ("aws:", "amazon:")}
    assert mapping_set.users[0].groups == ("devs",)


def test_eks_manifest_in_yaml_with_block_strings() -> None:
    text = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
    - rolearn: arn:aws:iam::{ACCT}:role/NodeInstanceRole
      username: system:node:{{{{EC2PrivateDNSName}}}}
      groups:
        - system:bootstrappers
        - system:nodes
"""
    mapping_set = parse_mapping_text(text)
    assert mapping_set.roles[0].username == "system:node:{{EC2PrivateDNSName}}"
    assert mapping_set.roles[0].location == "data.mapRoles[0]"


@pytest.mark.parametrize("empty", ["", "   ", "``", '""', "''"])
def test_eks_empty_values_are_skipped_like_upstream(empty: str) -> None:
    mapping_set = parse_mapping_text(_json({"mapRoles": EKS_DATA_ROLES, "mapUsers": empty}))
    assert len(mapping_set.roles) == 1
    assert mapping_set.users == ()


@pytest.mark.parametrize("key", ["rolearn", "roleARN", "rOlEaRn", "RoleArn"])
def test_upstream_entry_keys_are_case_insensitive(key: str) -> None:
    text = _json(
        {"mapRoles": f"- {key}: arn:aws:iam::{ACCT}:role/X\n  UserName: x\n  GROUPS: [g]\n"}
    )
    role = parse_mapping_text(text).roles[0]
    assert (role.arn, role.username, role.groups) == (f"arn:aws:iam::{ACCT}:role/X", "x", ("g",))


def test_native_field_names_are_exact() -> None:
    text = f"roles:\n  - Arn: arn:aws:iam::{ACCT}:role/X\n    username: x\n"
    with pytest.raises(MappingFileError, match="unknown field 'Arn'"):
        parse_mapping_text(text)


def test_eks_data_keys_are_case_sensitive() -> None:
    with pytest.raises(MappingFileError, match=r"case-sensitive.*'mapRoles'"):
        parse_mapping_text(_json({"maproles": EKS_DATA_ROLES}))


def test_dynamic_file_user_id_strict_can_be_set() -> None:
    mapping_set = parse_mapping_text(_json(DYNAMIC_FILE), user_id_strict=True)
    assert mapping_set.user_id_strict
    assert mapping_set.roles[0].user_id == "AROAADMIN"


def test_dynamic_file_user_id_strict_requires_user_ids() -> None:
    document = {"mapRoles": [{"rolearn": f"arn:aws:iam::{ACCT}:role/X", "username": "x"}]}
    with pytest.raises(MappingFileError, match="userid is required"):
        parse_mapping_text(_json(document), user_id_strict=True)


def test_sso_entry_form() -> None:
    text = _json(
        {
            "mapRoles": (
                "- sso:\n    permissionSetName: Admin\n    accountID: '111122223333'\n"
                "  username: admin\n"
            )
        }
    )
    role = parse_mapping_text(text).roles[0]
    assert role.sso is not None
    assert role.sso.permission_set_name == "Admin"
    assert role.arn == f"arn:aws:iam::{ACCT}:role/AWSReservedSSO_Admin_*"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server:\n  mapRoles: [\n", "YAML error"),
        ("roles:\n  - arn: arn:aws:iam::1:role/X\n    username: x\n", "not a valid ARN"),
        (
            f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: x\n    grups: [a]\n",
            "unknown field 'grups'",
        ),
        (f"roles:\n  - arn: arn:aws:iam::{ACCT}:user/X\n    username: x\n", "not a role ARN"),
        (f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n", "'username' is required"),
        (f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: ''\n", "must not be empty"),
        (
            f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: '{{{{AccountId}}}}'\n",
            "unknown placeholder",
        ),
        (f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: 'a{{{{b'\n", "unbalanced"),
        (
            f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: x\n    groups: system:masters\n",
            "groups must be a list",
        ),
        (
            f'roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    username: "a\\tb"\n',
            "control character",
        ),
        (
            f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/teams/*/X\n    username: x\n",
            "not in the IAM path",
        ),
        (
            "roles:\n  - arn: arn:aws:iam::12345678901?:user/*\n    username: x\n",
            "must name a role",
        ),
        (
            f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/X\n    sso: {{permissionSetName: A, accountID: '{ACCT}'}}\n    username: x\n",
            "exactly one",
        ),
        ("accounts: [012345670123]\n", "12-digit account id, quoted"),
        ("roles: []\nroles: []\n", "duplicate key"),
        ("hello: world\n", "unrecognised mapping file"),
        ("", "empty"),
        (f"users:\n  - arn: arn:aws:iam::{ACCT}:user/*\n    username: x\n", "without wildcards"),
    ],
    ids=[
        "yaml-syntax",
        "invalid-arn",
        "unknown-field",
        "user-in-roles",
        "no-username",
        "empty-username",
        "unknown-placeholder",
        "unbalanced-braces",
        "groups-not-a-list",
        "control-char",
        "wildcard-in-path",
        "pattern-not-a-role",
        "arn-and-sso",
        "unquoted-account-with-leading-zero",
        "duplicate-yaml-key",
        "unknown-format",
        "empty-file",
        "wildcard-user",
    ],
)
def test_broken_files_are_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(MappingFileError, match=message):
        parse_mapping_text(text, source="f.yaml")


def test_every_problem_is_listed_with_its_location() -> None:
    text = (
        f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/A\n    username: ''\n"
        "  - arn: nope\n    username: b\n"
    )
    with pytest.raises(MappingFileError) as caught:
        parse_mapping_text(text)
    locations = [p.location for p in caught.value.problems]
    assert locations == ["roles[0]", "roles[1]"]


def test_unquoted_twelve_digit_account_is_accepted() -> None:
    assert parse_mapping_text("accounts: [111122223333]\n").accounts[0].account_id == ACCT


def test_duplicates_are_warnings_not_errors() -> None:
    text = (
        f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/A\n    username: a\n"
        f"  - arn: arn:aws:iam::{ACCT}:role/path/A\n    username: b\n"
        f"users:\n  - arn: arn:aws:iam::{ACCT}:user/U\n    username: u\n"
        f"  - arn: arn:aws:iam::{ACCT}:user/u\n    username: v\n"
    )
    mapping_set = parse_mapping_text(text)
    messages = [str(w) for w in mapping_set.warnings]
    assert messages == [
        "roles[1]: duplicate of roles[0] (same role; the first entry wins)",
        "users[1]: duplicate of users[0] (same user; the first entry wins)",
    ]


def test_mounted_configmap_directory(tmp_path: Path) -> None:
    # What kubelet makes of a ConfigMap volume: ..data symlink to a timestamped dir.
    real = tmp_path / "..2024_01_01_00_00_00.1"
    real.mkdir()
    (real / "mapRoles").write_text(EKS_DATA_ROLES)
    (real / "mapAccounts").write_text('- "444455556666"\n')
    os.symlink(real.name, tmp_path / "..data")
    for name in ("mapRoles", "mapAccounts"):
        os.symlink(f"..data/{name}", tmp_path / name)
    mapping_set = parse_mapping_path(tmp_path)
    assert mapping_set.format == "eks-configmap"
    assert len(mapping_set.roles) == 1
    assert [a.account_id for a in mapping_set.accounts] == ["444455556666"]


def test_single_mounted_key_file(tmp_path: Path) -> None:
    path = tmp_path / "mapRoles"
    path.write_text(EKS_DATA_ROLES)
    mapping_set = parse_mapping_path(path)
    assert mapping_set.format == "eks-configmap"
    assert mapping_set.roles[0].location == "mapRoles[0]"


def test_mapping_set_built_in_code_is_validated() -> None:
    role = RoleMapping(arn="arn:aws:iam::1:role/X", username="x")
    with pytest.raises(MappingFileError, match="not a valid ARN"):
        MappingSet(roles=(role,))


def test_import_k8s_aws_auth_does_not_import_mapping_or_yaml() -> None:
    code = "import sys, k8s_aws_auth; print('k8s_aws_auth.mapping' in sys.modules, 'yaml' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]


def test_missing_pyyaml_gives_an_install_hint() -> None:
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "from k8s_aws_auth.mapping import parse_mapping_text\n"
        "try:\n    parse_mapping_text('roles: []')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "ConfigurationError" in output
    assert "pip install 'k8s-aws-auth[server]'" in output
