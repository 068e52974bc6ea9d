"""The server's mapping backends from its config file: DynamicFile, EKSConfigMap, broken ones."""

from __future__ import annotations

import json
import pathlib

import pytest

from k8s_aws_auth import Identity
from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.server import load_server_config
from k8s_aws_auth.server._mapping import load_identity_mapping

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/Alice"


#: Alice as the verifier returns her after STS answered for her keys.
ALICE_IDENTITY = Identity(
    arn=ALICE,
    canonical_arn=ALICE,
    account_id=ACCOUNT,
    user_id="AIDAALICE",
    session_name="",
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    sts_endpoint="sts.us-east-1.amazonaws.com",
    principal_type="user",
)


def _config(tmp_path: pathlib.Path, server_lines: str) -> pathlib.Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"clusterID: prod\nserver:\n{server_lines}", encoding="utf-8")
    return path


def test_a_dynamic_file_backend_maps_from_its_file(tmp_path: pathlib.Path) -> None:
    dynamic = tmp_path / "dynamic.json"
    dynamic.write_text(
        json.dumps(
            {
                "mapUsers": [
                    {"userarn": ALICE, "username": "alice-dyn", "groups": ["devs"]},
                ]
            }
        ),
        encoding="utf-8",
    )
    config = load_server_config(
        _config(tmp_path, f"  backendMode: [DynamicFile]\n  dynamicfilepath: {dynamic}\n")
    )
    mapping = load_identity_mapping(config)
    mapped = mapping.mapper.map(ALICE_IDENTITY)
    assert mapped is not None
    assert (mapped.username, list(mapped.groups)) == ("alice-dyn", ["devs"])
    assert mapping.healthy()


def test_an_eks_configmap_backend_maps_from_the_mounted_configmap(tmp_path: pathlib.Path) -> None:
    configmap = tmp_path / "aws-auth"
    configmap.mkdir()
    (configmap / "mapUsers").write_text(
        f"- userarn: {ALICE}\n  username: alice-eks\n  groups: [ops]\n", encoding="utf-8"
    )
    config = load_server_config(
        _config(tmp_path, f"  backendMode: [EKSConfigMap]\n  awsAuthConfigMapFile: {configmap}\n")
    )
    mapped = load_identity_mapping(config).mapper.map(ALICE_IDENTITY)
    assert mapped is not None
    assert (mapped.username, list(mapped.groups)) == ("alice-eks", ["ops"])


def test_a_dynamic_file_backend_without_a_path_stops_the_start(tmp_path: pathlib.Path) -> None:
    config = load_server_config(_config(tmp_path, "  backendMode: [DynamicFile]\n"))
    with pytest.raises(ConfigurationError, match="dynamicfilepath") as caught:
        load_identity_mapping(config)
    assert caught.value.reason == "backend"


def test_a_broken_dynamic_file_stops_the_start(tmp_path: pathlib.Path) -> None:
    dynamic = tmp_path / "dynamic.json"
    dynamic.write_text('{"mapUsers": [{"userarn": ', encoding="utf-8")
    config = load_server_config(
        _config(tmp_path, f"  backendMode: [DynamicFile]\n  dynamicfilepath: {dynamic}\n")
    )
    with pytest.raises(ConfigurationError) as caught:
        load_identity_mapping(config)
    assert caught.value.reason == "mapping-file"
