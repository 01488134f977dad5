"""Promote, don't rebuild blindly: the release's check of materialised outputs against the committed dvc.lock."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_template.lineage import file_md5, locked_outs, output_md5
from mlops_template.release.materialize import materialize, verify
from mlops_template.release.plan import ReleaseError


def _lock(outs: dict[str, str]) -> str:
    return yaml.safe_dump(
        {"schema": "2.0", "stages": {"s": {"cmd": "x", "outs": [{"path": p, "md5": m} for p, m in outs.items()]}}}
    )


def test_dir_hash_is_dvcs(tmp_path: Path) -> None:
    """Same algorithm as dvc_data's Tree.digest: md5 of the sorted JSON listing, suffixed .dir."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.csv").write_text("1,2\n")
    (folder / "a.png").write_bytes(b"\x89PNG")
    (folder / "sub" / "c.txt").write_text("c")
    odb = HashFileDB(LocalFileSystem(), str(tmp_path / "odb"))
    _, _, obj = build(odb, str(folder), LocalFileSystem(), "md5")
    assert output_md5(folder) == obj.hash_info.value


def test_verify_names_each_output_and_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"model-a")
    (tmp_path / "pred.csv").write_text("1\n")
    pins = {"model.joblib": "0" * 32, "pred.csv": file_md5(tmp_path / "pred.csv"), "gone.parquet": "1" * 32}
    bad = {m.path: (m.pinned, m.actual) for m in verify(pins, tmp_path)}
    assert bad == {"model.joblib": ("0" * 32, file_md5(tmp_path / "model.joblib")), "gone.parquet": ("1" * 32, None)}


def _git_repo(root: Path, files: dict[str, bytes], lock: dict[str, str]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "dvc.lock").write_text(_lock(lock))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    for cmd in (["init", "-q"], ["add", "dvc.lock"], ["commit", "-qm", "lock"]):
        subprocess.run(["git", *cmd], cwd=root, check=True, env={**env, "PATH": "/usr/bin:/bin"})


def test_materialize_rebuilds_then_fails_on_a_stale_lock(tmp_path: Path) -> None:
    _git_repo(tmp_path, {}, {"models/model.joblib": "a" * 32, "metrics/predictions.csv": "b" * 32})
    calls: list[list[str]] = []

    def rebuild(cmd: list[str]) -> None:  # what `dvc repro` would produce, and a rewritten workspace lock
        calls.append(cmd)
        (tmp_path / "models").mkdir()
        (tmp_path / "models/model.joblib").write_bytes(b"other model")
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics/predictions.csv").write_bytes(b"other predictions")
        (tmp_path / "dvc.lock").write_text(_lock({"models/model.joblib": "c" * 32}))

    with pytest.raises(ReleaseError) as err:
        materialize(tmp_path, remote_configured=False, run=rebuild, log=lambda _: None)
    assert calls == [["dvc", "repro"]]
    text = str(err.value)
    assert (
        f"models/model.joblib: dvc.lock pins {'a' * 32}, materialised {file_md5(tmp_path / 'models/model.joblib')}"
        in text
    )
    assert "metrics/predictions.csv: dvc.lock pins" in text
    assert "commit dvc.lock" in text


def test_materialize_pulls_when_a_remote_is_configured(tmp_path: Path) -> None:
    model = b"the reviewed model"
    _git_repo(tmp_path, {}, {"models/model.joblib": hashlib.md5(model).hexdigest()})
    calls: list[list[str]] = []

    def pull(cmd: list[str]) -> None:
        calls.append(cmd)
        (tmp_path / "models").mkdir()
        (tmp_path / "models/model.joblib").write_bytes(model)

    pins = materialize(tmp_path, remote_configured=True, run=pull, log=lambda _: None)
    assert calls == [["dvc", "pull", "--remote", "release"]]
    assert pins == locked_outs((tmp_path / "dvc.lock").read_text())
