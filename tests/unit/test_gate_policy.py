"""The gate's policy comes from the base branch (git fixture: a tiny repository with two commits)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops_template.core.config import parse_params
from mlops_template.core.metrics import Predictions
from mlops_template.experiment.compare import compare_predictions
from mlops_template.experiment.policy import (
    incomparable_changes,
    policy_from_raw,
    proposed_policy_changes,
    read_base_policy,
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: default policy (margin 0.005 on roc_auc); branch `loosen`: margins and floors loosened."""
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"compare": {"bootstrap_resamples": 200}}))
    _git(tmp_path, "add", "params.yaml")
    _git(tmp_path, "commit", "-qm", "main")
    _git(tmp_path, "checkout", "-qb", "loosen")
    loose = {"compare": {"bootstrap_resamples": 200, "floors": {"roc_auc": 0.0}, "margins": {"roc_auc": 1.0}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(loose))
    _git(tmp_path, "commit", "-qam", "PR: loosen the gate")
    return tmp_path


def _binary(score: np.ndarray, y: np.ndarray) -> Predictions:
    return Predictions(np.arange(len(y)), y, (score >= 0.5).astype(int), np.c_[1 - score, score], np.array([0, 1]))


def test_a_degrading_pr_that_loosens_the_gate_still_fails(repo: Path) -> None:
    candidate = parse_params(yaml.safe_load((repo / "params.yaml").read_text()))
    assert candidate.compare.margins == {"roc_auc": 1.0}  # the PR's own policy would let anything through
    base = read_base_policy("main", repo)
    assert base.compare.margins == {} and base.compare.floors == {}

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    good = np.clip(y * 0.6 + rng.random(300) * 0.4, 0.01, 0.99)
    worse = np.clip(y * 0.15 + rng.random(300) * 0.85, 0.01, 0.99)
    base_pred, cand_pred = _binary(good, y), _binary(worse, y)
    gated = compare_predictions("binary", base_pred, cand_pred, base.compare, True, 0)
    assert gated.verdict == "regressed" and not gated.gate.passed
    assert "margin 0.005" in gated.gate.reasons[0]
    # the same comparison under the PR's policy would pass: that is exactly what must not decide
    assert compare_predictions("binary", base_pred, cand_pred, candidate.compare, True, 0).gate.passed

    proposal = {c.key: (c.baseline, c.candidate) for c in proposed_policy_changes(base, candidate)}
    assert proposal["compare.margins.roc_auc"] == ("—", 1.0) and proposal["compare.floors.roc_auc"] == ("—", 0.0)
    assert "compare.margins" not in proposal


def test_base_params_that_do_not_load_fall_back_to_their_compare_section() -> None:
    raw = {"compare": {"margins": {"roc_auc": 0.02}}, "model": {"type": "a_model_this_code_does_not_know"}}
    params, compare, notes = policy_from_raw(raw, "main:params.yaml")
    assert params is None and compare.margins == {"roc_auc": 0.02}
    assert "only its `compare:` applies" in notes[0] and "model.type" in notes[0]
    params, compare, notes = policy_from_raw({"compare": {"margins": "x"}}, "main:params.yaml")
    assert compare.margins == {} and "default policy" in notes[0]


def test_task_target_or_source_changes_make_the_models_incomparable(repo: Path) -> None:
    base = read_base_policy("main", repo)
    same = parse_params({})
    assert incomparable_changes(base, same) == []
    adopt = parse_params({"task": "multiclass", "data": {"source": "data/source/my.csv", "target": "species"}})
    keys = {c.key: (c.baseline, c.candidate) for c in incomparable_changes(base, adopt)}
    assert keys == {
        "task": ("binary", "multiclass"),
        "data.target": ("target", "species"),
        "data.source": ("sklearn:breast_cancer", "data/source/my.csv"),
    }
