"""`make serve-check` (the PR job's serving check) on a trained copy of the project: it builds the bento, loads it
in-process, gets the model's answers for the test rows and a 4xx naming the broken field; a bento that answers
other scores than the workspace's model fails it."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pytest

from tests.support import env_with_venv, run

pytestmark = pytest.mark.slow


def test_serve_check_builds_the_bento_and_checks_valid_and_invalid_requests(trained_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True, ignore=shutil.ignore_patterns(".bentoml", "build"))
    (repo / "reports/pr").mkdir(parents=True, exist_ok=True)
    (repo / "reports/pr/report.md").write_text("# PR report\n", encoding="utf-8")
    env = env_with_venv({"BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"})
    out = run(["make", "-o", ".venv/.synced", "serve-check", "RUN="], cwd=repo, env=env, timeout=300)
    assert "`make serve-check` passed" in out.stdout, out.stdout + out.stderr
    assert "(the bento's own code)" in out.stdout
    assert "the model's in-process labels, scores within 0.0001" in out.stdout
    assert "400 naming `mean_radius`" in out.stdout  # the first feature of data/schema.yaml, given a string
    assert "Traceback" not in out.stderr
    report = (repo / "reports/pr/report.md").read_text(encoding="utf-8")
    assert "### Serving check" in report and "passed" in report  # reaches the job summary and the comment

    # The bento now serves another model than the workspace's: the check names the row and fails.
    model = joblib.load(repo / "models/model.joblib")
    model[-1].coef_ = -model[-1].coef_
    joblib.dump(model, repo / "models/model.joblib")
    bad = run(["mlops", "serve-check"], cwd=repo, env=env, check=False, timeout=300)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "`make serve-check` FAILED" in bad.stdout
    assert "serve-check failed: valid requests: /predict_batch: row 0: " in bad.stderr
    assert "Traceback" not in bad.stderr


def test_serve_check_without_a_bento_says_what_to_run(tmp_path: Path) -> None:
    result = run(["mlops", "serve-check"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "no build/bento/tag.txt: build the bento first (make bento)" in result.stderr
