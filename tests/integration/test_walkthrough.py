"""The README's "Adapt it to your data" walkthrough, followed step by step on three other datasets.

Each case starts from a fresh copy of the repository and runs the documented Make targets:
`make init ...`, review (here: assert on) data/schema.yaml, `make repro`, commit; then a pull-request
branch that switches the estimator, and `make pr-report BASE=main` for its report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_template.config import load_params
from mlops_template.data.schema import load_spec
from tests.integration.datasets import mixed_churn_frame
from tests.support import copy_repo, env_with_venv, git, run

pytestmark = pytest.mark.slow

CASES = {
    "wine-multiclass": {
        "make": {"SOURCE": "sklearn:wine", "TARGET": "target", "ID": "id", "TASK": "multiclass"},
        "metrics": {"accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss"},
        "plots": {"confusion.csv", "confusion.png"},
        "floor": ("f1_macro", 0.85),
        "primary": "f1_macro",
    },
    "diabetes-regression": {
        "make": {"SOURCE": "sklearn:diabetes", "TARGET": "target", "ID": "id", "TASK": "regression"},
        "metrics": {"rmse", "mae", "r2"},
        "plots": {"residuals.csv", "residuals.png"},
        "floor": ("r2", 0.3),
        "primary": "rmse",
    },
    "mixed-types-binary": {
        "make": {"SOURCE": "data/source/churn.csv", "TARGET": "churned", "ID": "customer_id", "TASK": "binary"},
        "metrics": {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"},
        "plots": {"roc.png", "pr.png", "confusion.png", "calibration.png"},
        "floor": ("roc_auc", 0.7),
        "primary": "roc_auc",
    },
}


def make(repo: Path, *args: str, check: bool = True):
    """`make` exactly as the README says, using this test session's environment."""
    return run(["make", "SETUP=", "RUN=", *args], cwd=repo, env=env_with_venv(), check=check)


@pytest.fixture(scope="module", params=list(CASES))
def adapted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    repo = copy_repo(tmp_path_factory.mktemp(name) / "my-project")
    # Step 1: put the data in data/source/ (or use a URL / bundled dataset).
    if name == "mixed-types-binary":
        mixed_churn_frame().to_csv(repo / "data/source/churn.csv", index=False)
    # Step 2: make init with the data settings.
    out = make(repo, "init", *(f"{k}={v}" for k, v in CASES[name]["make"].items())).stdout
    assert "project name: my-project" in out
    assert "MLFLOW_TRACKING_URI" in out  # the checklist of optional cloud parts
    # Step 4: make repro; step 5: commit.
    make(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Adopt the template for {name}")
    # Step 7: a pull request that proposes another estimator, and its report.
    git(repo, "checkout", "-q", "-b", "try-random-forest")
    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("  type: linear ", "  type: random_forest "))
    git(repo, "commit", "-qam", "Try a random forest")
    make(repo, "pr-report", "BASE=main")
    return name, repo


def test_init_renamed_the_project_and_reset_the_demo(adapted) -> None:
    name, repo = adapted
    params = load_params(repo / "params.yaml")
    settings = CASES[name]["make"]
    assert params.data.source == settings["SOURCE"]
    assert params.data.target == settings["TARGET"]
    assert params.data.id_column == settings["ID"]
    assert params.task == settings["TASK"]
    assert params.mlflow.experiment == "my-project"
    assert params.mlflow.registered_model_name == "my-project-model"
    assert params.serving.name == "my-project"
    assert params.serving.model_name == "my-project-model"
    assert "name: my-project\n" in (repo / "k8s/deployment.yaml").read_text()
    assert "mlops-template" not in (repo / "k8s/service.yaml").read_text()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["extract"]["params"]["params.yaml"]["data"]["source"] == settings["SOURCE"]


def test_schema_was_drafted_from_the_new_data(adapted) -> None:
    _, repo = adapted
    params = load_params(repo / "params.yaml")
    spec = load_spec(repo / "data/schema.yaml")
    assert params.data.target in spec.columns
    assert spec.columns[params.data.id_column].unique
    assert "mean_radius" not in spec.columns  # nothing left of the demo's schema
    assert "make schema" in (repo / "data/schema.yaml").read_text()  # the review guidance header


def test_pipeline_ran_with_task_specific_metrics_and_plots(adapted) -> None:
    name, repo = adapted
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert CASES[name]["metrics"] <= set(metrics)
    key, floor = CASES[name]["floor"]
    assert metrics[key] >= floor, metrics
    plots = {p.name for p in (repo / "plots").iterdir()}
    assert CASES[name]["plots"] <= plots
    assert "roc.csv" not in plots or name == "mixed-types-binary"  # no stale demo plots
    meta = json.loads((repo / "models/metadata.json").read_text())
    assert meta["task"] == CASES[name]["make"]["TASK"]
    assert CASES[name]["make"]["ID"] not in meta["features"]
    status = run(["dvc", "status"], cwd=repo)
    assert "up to date" in status.stdout


def test_pull_request_report_compares_the_two_estimators(adapted) -> None:
    name, repo = adapted
    report = (repo / "reports/pr/report.md").read_text()
    comparison = json.loads((repo / "reports/pr/comparison.json").read_text())
    primary = CASES[name]["primary"]
    assert comparison["primary_metric"] == primary
    assert comparison["paired"] is True
    assert comparison["verdict"] in ("improved", "no significant change", "regressed")
    assert primary in report
    assert "model.type" in report and "random_forest" in report
    assert CASES[name]["metrics"] <= {m["name"] for m in comparison["metrics"]}
