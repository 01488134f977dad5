"""The guarded `dvc repro` (repro.py) and how `pr-report` starts it, with a stand-in `dvc` on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlops_template.core.tracking import SKIP_LOCAL_ENV, local_logging_skipped
from mlops_template.experiment.repro import GuardedRepro, start_candidate_pipeline

RAW = Path("data/raw/data.parquet")


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dvc_body: str) -> dict[str, str]:
    """A folder with dvc.lock, data/raw and a `dvc` script (``dvc_body``) first on PATH; returns its env."""
    monkeypatch.chdir(tmp_path)
    Path("dvc.lock").write_text("before\n")
    RAW.parent.mkdir(parents=True)
    RAW.write_bytes(b"raw before")
    Path("params.yaml").write_text("seed: 1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    dvc.write_text("#!/bin/sh\n" + dvc_body)
    dvc.chmod(dvc.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return {**os.environ}


def test_a_failed_repro_puts_dvc_lock_and_raw_data_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _project(
        tmp_path, monkeypatch, f"echo after > dvc.lock; echo bad > {RAW}; echo 'validate: 3 rows failed' >&2; exit 2\n"
    )
    run = GuardedRepro(capture=True, env=env)
    assert run.wait() == 2
    assert Path("dvc.lock").read_text() == "before\n" and RAW.read_bytes() == b"raw before"
    assert "validate: 3 rows failed" in run.output  # stderr captured with stdout


def test_a_successful_repro_keeps_what_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _project(tmp_path, monkeypatch, 'echo after > dvc.lock; echo "args: $*"\n')
    run = GuardedRepro(["-f", "train"], capture=True, env=env)
    assert run.wait() == 0
    assert Path("dvc.lock").read_text() == "after\n" and "args: repro -f train" in run.output


def test_pr_report_pipeline_skips_local_mlflow_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(tmp_path, monkeypatch, f'echo "skip=${SKIP_LOCAL_ENV}"\n')
    monkeypatch.delenv(SKIP_LOCAL_ENV, raising=False)
    run = start_candidate_pipeline()
    assert run.wait() == 0 and "skip=1" in run.output
    monkeypatch.setenv(SKIP_LOCAL_ENV, "0")  # the user asked for local runs
    run = start_candidate_pipeline()
    assert run.wait() == 0 and "skip=0" in run.output


def test_pr_report_pipeline_with_bad_params_does_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, "echo started > started\n")
    Path("params.yaml").write_text("sed: 1\n")
    run = start_candidate_pipeline()
    assert not run.running and run.wait() == 1
    assert run.output.startswith("ERROR: ") and "sed" in run.output
    assert not Path("started").exists()


def test_local_logging_is_skipped_only_when_asked_and_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(SKIP_LOCAL_ENV, raising=False)
    assert not local_logging_skipped()  # make repro: always logged
    monkeypatch.setenv(SKIP_LOCAL_ENV, "1")
    assert local_logging_skipped()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # an unset GitHub variable: still no server
    assert local_logging_skipped()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert not local_logging_skipped()  # a server: the report links the run
