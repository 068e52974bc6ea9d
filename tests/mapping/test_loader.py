"""Reloading mapping files: atomic swap, last-good retention, reporting, mtime polling."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from k8s_aws_auth import Identity
from k8s_aws_auth.mapping import IdentityMapper, MappingLoader

ACCT = "111122223333"


def _roles(*names: str) -> str:
    entries = "".join(
        f"  - arn: arn:aws:iam::{ACCT}:role/{name}\n    username: {name.lower()}\n"
        for name in names
    )
    return f"roles:\n{entries}"


def _who(role: str) -> Identity:
    return Identity(
        arn=f"arn:aws:sts::{ACCT}:assumed-role/{role}/s1",
        canonical_arn=f"arn:aws:iam::{ACCT}:role/{role}",
        account_id=ACCT,
        user_id="AROAX",
        session_name="s1",
        access_key_id="ASIAEXAMPLEEXAMPLE1",
        sts_endpoint="sts.amazonaws.com",
        partition="aws",
        principal_type="assumed-role",
    )


def _write(path: Path, text: str, *, tick: int) -> None:
    """Write and give the file a distinct mtime (coarse file-system clocks)."""
    path.write_text(text)
    stamp = 1_700_000_000_000_000_000 + tick * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


@pytest.mark.parametrize(
    "broken",
    [
        "roles:\n  - arn: [unclosed\n",
        f"roles:\n  - arn: arn:aws:iam::{ACCT}:role/Admin\n    username: a\n    grups: [x]\n",
        "roles:\n  - arn: arn:aws:iam::123:role/Admin\n    username: a\n",
        "",
    ],
    ids=["yaml-error", "unknown-field", "invalid-arn", "truncated-empty"],
)
def test_broken_file_keeps_the_last_good_mapping(
    tmp_path: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mapping.yaml"
    _write(path, _roles("Admin", "Node"), tick=1)
    outcomes: list[str] = []
    loader = MappingLoader(path, metric=outcomes.append)
    mapper = IdentityMapper([loader])
    first = loader.load()
    assert first.outcome == "loaded"
    assert first.ok
    good = loader.current
    assert mapper.map(_who("Node")) is not None

    _write(path, broken, tick=2)
    with caplog.at_level(logging.ERROR, logger="k8s_aws_auth.mapping"):
        result = loader.reload_if_changed()
    assert result.outcome == "error"
    assert not result.ok
    assert result.kept_last_good
    assert result.problems
    assert loader.current is good
    user = mapper.map(_who("Node"))
    assert user is not None
    assert user.username == "node"
    assert outcomes == ["loaded", "error"]
    assert any("keeping the last good mapping" in r.getMessage() for r in caplog.records)

    _write(path, _roles("Admin"), tick=3)
    fixed = loader.reload_if_changed()
    assert fixed.outcome == "loaded"
    assert mapper.map(_who("Node")) is None
    assert outcomes == ["loaded", "error", "loaded"]


def test_unchanged_file_is_not_reparsed(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, _roles("Admin"), tick=1)
    loader = MappingLoader(path)
    loader.load()
    first = loader.current
    assert loader.reload_if_changed().outcome == "unchanged"
    assert loader.current is first
    _write(path, _roles("Admin"), tick=2)  # same content, new mtime: reparsed
    assert loader.reload_if_changed().outcome == "loaded"
    assert loader.current is not first


def test_missing_file_keeps_the_last_good_mapping_by_default(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, _roles("Admin"), tick=1)
    loader = MappingLoader(path)
    loader.load()
    path.unlink()
    result = loader.reload_if_changed()
    assert result.outcome == "missing"
    assert result.kept_last_good
    assert loader.current is not None
    assert len(loader.current.roles) == 1


def test_missing_file_clears_when_told(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, _roles("Admin"), tick=1)
    outcomes: list[str] = []
    loader = MappingLoader(path, clear_on_missing=True, metric=outcomes.append)
    loader.load()
    path.unlink()
    assert loader.reload_if_changed().outcome == "cleared"
    assert loader.current is None
    assert IdentityMapper([loader]).map(_who("Admin")) is None
    assert outcomes == ["loaded", "cleared"]


def test_first_load_of_a_broken_file_has_nothing_to_keep(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, "roles: [", tick=1)
    loader = MappingLoader(path)
    result = loader.load()
    assert result.outcome == "error"
    assert not result.kept_last_good
    assert loader.current is None
    with pytest.raises(Exception, match="YAML error"):
        result.raise_for_error()


def test_a_failing_metric_hook_does_not_break_loading(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, _roles("Admin"), tick=1)

    def broken_hook(outcome: str) -> None:
        raise RuntimeError("metrics down")

    loader = MappingLoader(path, metric=broken_hook)
    assert loader.load().outcome == "loaded"


def test_configmap_volume_symlink_swap_is_seen(tmp_path: Path) -> None:
    # kubelet updates a ConfigMap volume by re-pointing ..data at a new directory.
    def version(n: int, text: str) -> None:
        real = tmp_path / f"..v{n}"
        real.mkdir()
        (real / "mapRoles").write_text(text)
        tmp = tmp_path / "..data_tmp"
        os.symlink(real.name, tmp)
        os.replace(tmp, tmp_path / "..data")

    version(1, f"- rolearn: arn:aws:iam::{ACCT}:role/Admin\n  username: admin\n")
    os.symlink("..data/mapRoles", tmp_path / "mapRoles")
    loader = MappingLoader(tmp_path)
    assert loader.load().outcome == "loaded"
    version(2, "- rolearn: [broken\n")
    assert loader.reload_if_changed().outcome == "error"
    assert loader.current is not None
    assert loader.current.roles[0].username == "admin"
    version(3, f"- rolearn: arn:aws:iam::{ACCT}:role/Node\n  username: node\n")
    assert loader.reload_if_changed().outcome == "loaded"
    assert loader.current is not None
    assert loader.current.roles[0].username == "node"


def test_polling_thread_picks_up_changes(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    _write(path, _roles("Admin"), tick=1)
    outcomes: list[str] = []
    loader = MappingLoader(path, metric=outcomes.append)
    loader.load()
    loader.start_polling(0.01)
    try:
        _write(path, _roles("Admin", "Node"), tick=2)
        for _ in range(500):  # wait for the poller (bounded; no assertion on time)
            current = loader.current
            if current is not None and len(current.roles) == 2:
                break
            time.sleep(0.01)
        current = loader.current
        assert current is not None
        assert len(current.roles) == 2
    finally:
        loader.stop_polling()
    assert outcomes == ["loaded", "loaded"]
