"""End to end: `make pr-report` / `make gate` in a temporary git repository with main and four PR branches.

One session-scoped repository: main (a deliberately weak model, so an improvement can be significant),
then branches that (a) improve the model, (b) change nothing that matters, (c) cripple it, (d) change the
split. The baseline is obtained three ways along the way: rebuilt in a git worktree (empty DVC cache, no
remote), read from the DVC cache, and reused from .cache/pr-baseline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import copy_repo, env_with_venv, git, run

pytestmark = pytest.mark.slow

HGB = "hist_gradient_boosting"
MAIN = {
    "model": {"type": HGB, HGB: {"max_iter": 2, "max_leaf_nodes": 2}},
    # replaces the project's floors; below the one-tree model's cross-validated AUC (0.4955)
    "compare": {"bootstrap_resamples": 300, "floors": {"roc_auc": 0.4}},
}
BRANCHES = {
    "improve": {"model": {"type": "linear"}},
    "unchanged": {"evaluate": {"calibration_bins": 12}},
    # no split possible: constant scores; and the PR tries to loosen the gate in the same change
    "degrade": {
        "model": {HGB: {"max_iter": 1, "min_samples_leaf": 400}},
        "compare": {"floors": {"roc_auc": 0.0}, "margins": {"roc_auc": 1.0}},
    },
    "resplit": {"split": {"test_size": 0.25}},
    "baddata": {},  # data/schema.yaml asks for more rows than there are: validation fails
    "adopt": {"task": "multiclass", "data": {"source": "sklearn:iris"}},  # a team adopts its own data
}


@dataclass
class Outcome:
    report: str
    comparison: dict
    files: set[str]
    gate: subprocess.CompletedProcess[str]
    pr_report: subprocess.CompletedProcess[str]


@dataclass
class PrRuns:
    repo: Path
    main_sha: str
    outcomes: dict[str, Outcome]
    without_prefetch: tuple[dict, subprocess.CompletedProcess[str]]  # "degrade" again: comparison, pr-report

    def __getitem__(self, branch: str) -> Outcome:
        return self.outcomes[branch]


def _patch_params(repo: Path, patch: dict) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())

    def merge(into: dict, new: dict) -> None:
        for k, v in new.items():
            if isinstance(v, dict) and k != "floors":  # floors are replaced, not merged
                merge(into[k], v)
            else:
                into[k] = v

    merge(params, patch)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _make(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # SETUP= RUN=: use this venv (on PATH), never sync one into the copy
    return run(["make", "SETUP=", "RUN=", *args], cwd=repo, check=False, timeout=900)


@pytest.fixture(scope="session")
def pr_outcomes(tmp_path_factory: pytest.TempPathFactory) -> PrRuns:
    repo = copy_repo(tmp_path_factory.mktemp("pr") / "repo")
    _patch_params(repo, MAIN)
    run(["mlops", "repro"], cwd=repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main: weak model, trained")
    git(repo, "update-ref", "refs/remotes/origin/main", "main")  # CI has only origin/main
    for name, patch in BRANCHES.items():
        git(repo, "checkout", "-qb", name, "main")
        _patch_params(repo, patch)
        if name == "baddata":
            schema = repo / "data" / "schema.yaml"
            schema.write_text(schema.read_text().replace("\nmin_rows: ", "\nmin_rows: 1000000 # was "))
        if name == "adopt":
            run(["mlops", "schema"], cwd=repo)
        git(repo, "commit", "-qam", f"PR: {name}")
    shutil.rmtree(repo / ".dvc" / "cache")  # a fresh clone with no DVC remote: the baseline must be rebuilt

    outcomes: dict[str, Outcome] = {}
    for name in BRANCHES:
        git(repo, "checkout", "-qf", name)
        if name == "unchanged":  # the rebuild above filled the DVC cache: now take the baseline from there
            shutil.rmtree(repo / ".cache" / "pr-baseline")
        base = "origin/main" if name == "resplit" else "main"
        pr = _make(repo, "pr-report", f"BASE={base}")
        out = repo / "reports" / "pr"
        assert pr.returncode == 0, pr.stderr[-4000:]
        outcomes[name] = Outcome(
            report=(out / "report.md").read_text(),
            comparison=json.loads((out / "comparison.json").read_text()),
            files={p.name for p in out.iterdir()},
            gate=_make(repo, "gate"),
            pr_report=pr,
        )
    return PrRuns(repo, git(repo, "rev-parse", "main").strip(), outcomes, _without_prefetch(repo, "degrade"))


def _without_prefetch(repo: Path, branch: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    """``branch`` again with ``--no-prefetch`` and no .cache/pr-baseline: every step after the pipeline."""
    git(repo, "checkout", "-qf", branch)
    shutil.rmtree(repo / ".cache" / "pr-baseline")
    cmd = ["python", "-m", "mlops_template.cli", "pr-report", "--repro", "--no-prefetch", "--out", "reports/pr-np"]
    pr = run(cmd, cwd=repo, env=env_with_venv(), check=False, timeout=900)
    assert pr.returncode == 0, pr.stderr[-4000:]
    return json.loads((repo / "reports" / "pr-np" / "comparison.json").read_text()), pr


def _metric(o: Outcome, name: str) -> dict:
    return next(m for m in o.comparison["metrics"] if m["name"] == name)


def test_improved_model(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["improve"]
    assert o.comparison["paired"] is True
    assert o.comparison["method"].startswith("repeated cross-validation (5 folds x 3 repetitions, 569 rows)")
    assert o.comparison["verdict"] == "improved", o.report
    assert o.report.splitlines()[0].endswith("✅ ready to merge (the gate passed)")
    auc = _metric(o, "roc_auc")
    assert auc["ci_low"] > 0 and auc["candidate"] > auc["baseline"]
    assert o.gate.returncode == 0 and "gate passed" in o.gate.stdout
    assert o.report.startswith("## Model comparison") and "✅ **Gate passed**" in o.report.splitlines()[2]
    assert "| `model.type` | hist_gradient_boosting | linear |" in o.report
    assert "rebuilt by reproducing the base pipeline" in o.comparison["baseline_source"]
    assert pr_outcomes.main_sha in o.report
    assert "reproducing" in o.pr_report.stderr  # progress goes to stderr
    # no MLFLOW_TRACKING_URI: the candidate's stages logged no run to the local mlflow.db (nothing reads it)
    assert "MLflow: not logged (pr-report" in o.pr_report.stderr
    assert "baseline not fetched ahead" in o.pr_report.stderr  # not in the DVC cache: rebuilt after the pipeline


def test_change_that_does_not_matter(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["unchanged"]
    assert o.comparison["verdict"] == "no detectable change"
    assert all(m["delta"] == 0 and m["ci_low"] == 0 == m["ci_high"] for m in o.comparison["metrics"])
    assert "| **roc_auc** (primary) ↑ |" in o.report and "| 0 | [0, 0] | 0.005 | ⚪ no detectable change |" in o.report
    assert o.gate.returncode == 0
    assert "| `evaluate.calibration_bins` | 10 | 12 |" in o.report
    assert o.comparison["baseline_source"].startswith("DVC cache/remote")  # refilled by the earlier rebuild
    # so both models were cross-validated while the candidate's pipeline ran, and not again after it
    assert "while the pipeline runs" in o.pr_report.stderr
    assert "cross-validating the candidate" not in o.pr_report.stderr
    assert "No schema changes." in o.report and "Same test rows: yes" in o.report


def test_degraded_model_fails_the_gate(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["degrade"]
    assert o.comparison["verdict"] == "regressed"
    assert o.comparison["gate"]["passed"] is False
    assert o.gate.returncode != 0
    # the PR's own compare: (margin 1.0, roc_auc floor 0.0) would pass it; the base's policy decides
    assert "gate FAILED" in o.gate.stderr and "roc_auc regressed beyond its margin" in o.gate.stderr
    assert "margin 0.005" in o.gate.stderr
    assert o.report.splitlines()[0].endswith("❌ blocked: roc_auc regressed beyond its margin")
    assert "❌ **Gate failed**" in o.report and "**Why the gate failed:**" in o.report
    assert "proposes a new gate policy" in o.report and "| `compare.margins.roc_auc` | — | 1 |" in o.report
    assert "| **roc_auc** (primary) ↑ |" in o.report and "🔴 regressed" in o.report
    assert "(reused)" in o.comparison["baseline_source"]
    # images are written and referenced with alt text; the confusion matrices are tables too
    assert {"roc.png", "pr.png", "confusion_baseline.png", "confusion_candidate.png"} <= o.files
    assert "![ROC curves of baseline and candidate" in o.report and "Confusion matrix, candidate:" in o.report


def _result(comparison: dict) -> dict:
    """The comparison without where the baseline came from and the timed latency."""
    gate = {**comparison["gate"], "checks": [c for c in comparison["gate"]["checks"] if "latency" not in c]}
    return {**{k: v for k, v in comparison.items() if k != "baseline_source"}, "gate": gate}


def test_the_prefetch_does_not_change_the_comparison(pr_outcomes: PrRuns) -> None:
    with_prefetch = pr_outcomes["degrade"]
    comparison, pr = pr_outcomes.without_prefetch
    # the prefetched run cross-validated the candidate while its pipeline ran; this one after it
    assert "while the pipeline runs" in with_prefetch.pr_report.stderr
    assert "cross-validating the candidate" not in with_prefetch.pr_report.stderr
    assert "while the pipeline runs" not in pr.stderr and "cross-validating the candidate" in pr.stderr
    assert comparison["baseline_source"].startswith("DVC cache/remote")  # fetched again, not reused
    assert comparison["method"].startswith("repeated cross-validation")
    assert _result(comparison) == _result(with_prefetch.comparison)


def test_changed_split_is_reported_unpaired(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["resplit"]
    assert o.comparison["paired"] is False
    assert "⚠️ **Unpaired comparison**" in o.report and "Same test rows: **no**" in o.report
    assert "| test rows | 114 | 143 |" in o.report
    assert "| `split.test_size` | 0.2 | 0.25 |" in o.report
    assert "Model comparison: candidate vs `origin/main`" in o.report
    assert o.gate.returncode == 0  # a split change alone is not a regression of this model


def test_failed_pipeline_still_gives_a_report_and_fails_the_gate(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["baddata"]
    assert o.comparison["verdict"] == "pipeline failed"
    assert o.report.splitlines()[2].startswith("❌ **Gate failed** — the candidate's pipeline")
    assert "Data validation FAILED" in o.report and "at least 1000000 rows are required" in o.report
    assert o.gate.returncode != 0 and "pipeline failed" in o.gate.stderr


def test_adoption_pr_is_not_comparable_and_gated_by_floors_only(pr_outcomes: PrRuns) -> None:
    o = pr_outcomes["adopt"]
    assert o.comparison["verdict"] == "not comparable" and o.comparison["gate"]["passed"] is True, o.report
    assert o.gate.returncode == 0
    assert "**not comparable**" in o.report and "`task` binary → multiclass" in o.report
    assert "`data.source` sklearn:breast_cancer → sklearn:iris" in o.report
    assert "| **f1_macro** (primary) |" in o.report  # the candidate's own metrics
    assert "compare.floors.roc_auc: skipped, not a metric of the candidate's task" in o.report


def test_no_worktree_left_behind(pr_outcomes: PrRuns) -> None:
    repo = pr_outcomes.repo
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_unknown_base_ref_is_a_clear_error(pr_outcomes: PrRuns) -> None:
    repo = pr_outcomes.repo
    result = run(
        ["mlops", "pr-report", "--base", "nosuchbranch", "--out", "reports/x"],
        cwd=repo,
        env=env_with_venv(),
        check=False,
    )
    assert result.returncode == 1 and "base ref 'nosuchbranch' is not a commit" in result.stderr
