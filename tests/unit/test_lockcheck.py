"""make lock-check: the committed dvc.lock against the one the pipeline just wrote (own fixtures, no project files)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_template.cli import main as mlops
from mlops_template.core.lineage import DvcLock
from mlops_template.experiment import lockcheck


def lock() -> dict[str, Any]:
    return {
        "schema": "2.0",
        "stages": {
            "prepare": {
                "cmd": "python -m pkg.prepare",
                "deps": [{"path": "data/source", "md5": "aaa.dir"}, {"path": "src/pkg/prepare.py", "md5": "p1"}],
                "params": {"params.yaml": {"seed": 1}},
                "outs": [{"path": "data/clean.parquet", "md5": "c1"}],
            },
            "train": {
                "cmd": "python -m pkg.train",
                "deps": [{"path": "data/clean.parquet", "md5": "c1"}, {"path": "src/pkg/model.py", "md5": "m1"}],
                "params": {"params.yaml": {"model": {"C": 1.0, "kind": "linear"}}},
                "outs": [{"path": "models/model.joblib", "md5": "w1"}, {"path": "models/metadata.json", "md5": "x1"}],
            },
        },
    }


def compare(old: dict[str, Any], new: dict[str, Any], strict_outputs: bool = False) -> list[lockcheck.Finding]:
    return lockcheck.compare(DvcLock.from_mapping(old), DvcLock.from_mapping(new), strict_outputs=strict_outputs)


def blocking(findings: list[lockcheck.Finding]) -> list[str]:
    return [f.line() for f in findings if f.blocking]


def test_identical_locks_pass() -> None:
    assert compare(lock(), lock()) == []


def test_a_changed_param_names_the_stage_and_the_key() -> None:
    new = lock()
    new["stages"]["train"]["params"]["params.yaml"]["model"]["C"] = 0.5
    assert blocking(compare(lock(), new)) == ["train: params.yaml:model.C: committed 1.0, now 0.5"]


def test_changed_code_or_data_names_the_file() -> None:
    new = lock()
    new["stages"]["train"]["deps"][1]["md5"] = "m2"
    new["stages"]["prepare"]["deps"][0]["md5"] = "bbb.dir"
    lines = blocking(compare(lock(), new))
    assert any(line.startswith("train: src/pkg/model.py: md5 committed m1") for line in lines)
    assert any(line.startswith("prepare: data/source: md5 committed aaa.dir") for line in lines)


def test_a_stage_not_rerun_after_its_upstream_is_stale() -> None:
    old = lock()
    old["stages"]["prepare"]["outs"][0]["md5"] = "c2"  # prepare re-run, train not
    new = copy.deepcopy(old)
    new["stages"]["train"]["deps"][0]["md5"] = "c2"
    lines = blocking(compare(old, new))
    assert len(lines) == 1 and lines[0].startswith("train: data/clean.parquet:") and "not re-run" in lines[0]


def test_other_output_bytes_from_identical_inputs_are_a_note_unless_strict() -> None:
    new = lock()
    new["stages"]["train"]["outs"][0]["md5"] = "w2"  # e.g. another CPU's floating point
    new["stages"]["train"]["outs"][1]["md5"] = "x2"  # run id in the metadata
    findings = compare(lock(), new)
    assert [f.what for f in findings] == ["models/metadata.json", "models/model.joblib"]
    assert not blocking(findings)
    assert len(blocking(compare(lock(), new, strict_outputs=True))) == 2


def test_added_or_removed_stages_are_stale() -> None:
    new = lock()
    new["stages"]["evaluate"] = {"cmd": "python -m pkg.evaluate"}
    del new["stages"]["prepare"]
    assert sorted(blocking(compare(lock(), new))) == [
        "evaluate: stage: not in the committed dvc.lock",
        "prepare: stage: in the committed dvc.lock but no longer in dvc.yaml",
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock()), encoding="utf-8")
    git("add", "dvc.lock")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "lock")
    return tmp_path


def test_cli_fails_with_the_fixing_command_and_appends_to_the_report(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert mlops(["lock-check"]) == 0
    new = lock()
    new["stages"]["train"]["params"]["params.yaml"]["model"]["kind"] = "forest"
    (repo / "dvc.lock").write_text(yaml.safe_dump(new), encoding="utf-8")
    report = repo / "report.md"
    report.write_text("# report\n", encoding="utf-8")
    assert mlops(["lock-check", "--report", str(report)]) == 1
    out = capsys.readouterr()
    assert "STALE train: params.yaml:model.kind: committed 'linear', now 'forest'" in out.out
    assert "Fix: make repro, then commit dvc.lock" in out.err
    text = report.read_text(encoding="utf-8")
    assert "The committed `dvc.lock` is stale" in text and "`make repro, then commit dvc.lock" in text


def test_outputs_of_a_stale_stage_and_its_downstream_are_not_listed_as_notes() -> None:
    new = lock()
    new["stages"]["prepare"]["params"]["params.yaml"]["seed"] = 2
    new["stages"]["prepare"]["outs"][0]["md5"] = "c2"
    new["stages"]["train"]["deps"][0]["md5"] = "c2"
    new["stages"]["train"]["outs"][0]["md5"] = "w2"
    findings = compare(lock(), new)
    assert [f.line() for f in findings] == ["prepare: params.yaml:seed: committed 1, now 2"]


def test_a_library_bump_says_dependency_bump(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Dependabot PR changes only uv.lock (a dependency of train): the failure says what it is and what to do."""
    monkeypatch.chdir(repo)
    committed = lock()
    committed["stages"]["train"]["deps"].append({"path": "uv.lock", "md5": "u1"})
    (repo / "dvc.lock").write_text(yaml.safe_dump(committed), encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "commit", "-qam", "uv.lock dep"], check=True)
    assert mlops(["lock-check"]) == 0
    assert "dependency bump" not in capsys.readouterr().err
    bumped = copy.deepcopy(committed)
    bumped["stages"]["train"]["deps"][-1]["md5"] = "u2"
    (repo / "dvc.lock").write_text(yaml.safe_dump(bumped), encoding="utf-8")
    report = repo / "report.md"
    report.write_text("# report\n", encoding="utf-8")
    assert mlops(["lock-check", "--report", str(report)]) == 1
    out = capsys.readouterr()
    assert "STALE train: uv.lock: md5 committed u1, now u2" in out.out
    assert "dependency bump: run make repro and commit dvc.lock" in out.err
    assert "dependency bump: run make repro and commit dvc.lock" in report.read_text(encoding="utf-8")
