"""The README's "Adapt it to your data" walkthrough, followed step by step on four other datasets.

Each case starts from a fresh copy of the repository and runs the documented Make targets:
`make init ...`, review (here: assert on) data/schema.yaml, `make repro`, then what a fork's pull-request
CI runs (the jobs of .github/workflows/pr.yml: `make lint test-unit`, `make check-params test-data`, the
experiment `make pr-report` + `make gate`, and the model tests `make test-model`), commit; then a
pull-request branch that switches the estimator and its report. On the messy table, also `make bento`,
predictions against `make serve` with the prediction log on, and `make monitor` on that log.

To keep the CI budget: `make lint test-unit` and the bento run on ONE dataset (the messy one). Lint and the
unit tests do not depend on the project's data by construction (tests/unit reads only tests/fixtures), so
one fork proves that; the data and model tests, which do depend on it, run on every dataset.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_template.core.config import load_params
from mlops_template.core.data.schema import load_spec
from tests.integration.datasets import messy_animal_frame, mixed_churn_frame
from tests.support import REPO_ROOT, copy_repo, env_with_venv, free_port, git, run, server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a messy case runs ~8 make targets

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
    # Names with spaces and parentheses, a date, free-text comments, a constant column, a per-animal id
    # (several visits per animal), an open category (feed suppliers, some seen once) and rows without a label.
    "messy-binary": {
        "make": {
            "SOURCE": "data/source/visits.csv",
            "TARGET": "Outcome (30 days)",
            "ID": "Animal ID",
            "TASK": "binary",
        },
        "metrics": {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"},
        "plots": {"roc.png", "pr.png", "confusion.png", "calibration.png"},
        "floor": ("roc_auc", 0.6),
        "primary": "roc_auc",
        "full_ci": True,  # + make lint test-unit, make bento, make serve with the prediction log, make monitor
    },
}
WRITERS = {"mixed-types-binary": ("churn.csv", mixed_churn_frame), "messy-binary": ("visits.csv", messy_animal_frame)}
# What every fork's pull request runs (pr.yml jobs "lint + unit tests" and "data + model tests"); and on one dataset
# also the job "lint + unit tests".
CI_EVERY = ["check-params", "test-data", "test-model"]
CI_ONCE = ["lint", "test-unit"]


def _uv() -> str:
    """The uv the Makefile would use (a global one, else the one it bootstrapped)."""
    found = shutil.which("uv") or str(REPO_ROOT / ".cache/uv-bootstrap/bin/uv")
    assert Path(found).exists(), "no uv: run `make setup` first"
    return found


def _env() -> dict[str, str]:
    env = env_with_venv({"BENTOML_DO_NOT_TRACK": "True"})
    # bentoml build looks for uv on PATH; last, so the bootstrap venv's python never shadows the project's
    env["PATH"] = f"{env['PATH']}{os.pathsep}{Path(_uv()).parent}"
    return env


def make(repo: Path, *args: str, check: bool = True):
    """`make` exactly as the README says, using this test session's environment."""
    return run(make_cmd(*args), cwd=repo, env=_env(), check=check, timeout=900)


def make_cmd(*args: str) -> list[str]:
    """The `make` command line of :func:`make` (the venv and uv this session set up), for other environments."""
    return ["make", "SETUP=", "RUN=", f"UV={_uv()}", *args]


# mixed-types-binary is opt-in (make test-extended): messy-binary covers a binary fork with more kinds of column,
# and each walkthrough costs ~3 min of .ci/run's budget.
EXTENDED = {"mixed-types-binary"}


@pytest.fixture(
    scope="module",
    params=[pytest.param(n, marks=[pytest.mark.extended] if n in EXTENDED else []) for n in CASES],
)
def adapted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    repo = copy_repo(tmp_path_factory.mktemp(name) / "my-project")
    # Step 1: put the data in data/source/ (or use a URL / bundled dataset).
    if name in WRITERS:
        file, frame = WRITERS[name]
        frame().to_csv(repo / "data/source" / file, index=False)
    # Step 2: make init with the data settings.
    out = make(repo, "init", *(f"{k}={v}" for k, v in CASES[name]["make"].items())).stdout
    (repo.parent / "init.log").write_text(out)
    assert "project name: my-project" in out
    assert "MLFLOW_TRACKING_URI" in out  # the checklist of optional cloud parts
    # Step 4: make repro; step 5: what the fork's PR CI runs; step 6: commit.
    make(repo, "repro")
    full = CASES[name].get("full_ci", False)
    ci = make(repo, *(CI_ONCE if full else []), *CI_EVERY, "PYTEST_ARGS=-q -p no:cacheprovider -rs")
    (repo.parent / "ci.log").write_text(ci.stdout)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Adopt the template for {name}")
    # Step 7: a pull request that proposes another estimator, its report and the gate.
    git(repo, "checkout", "-q", "-b", "try-random-forest")
    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("  type: linear ", "  type: random_forest "))
    git(repo, "commit", "-qam", "Try a random forest")
    make(repo, "pr-report", "BASE=main")
    gate = make(repo, "gate", check=False)
    (repo.parent / "gate.log").write_text(f"{gate.returncode}\n{gate.stdout}{gate.stderr}")
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
    id_col = spec.columns[params.data.id_column]
    assert id_col.unique or id_col.role == "identifier"
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
    assert "roc.csv" not in plots or CASES[name]["make"]["TASK"] == "binary"  # no stale demo plots
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
    assert comparison["verdict"] in (
        "improved",
        "regressed",
        "changed, but within the margin",
        "no detectable change",
        "not detectable at this data size",
        "not comparable",
    )
    assert primary in report
    assert "model.type" in report and "random_forest" in report
    assert CASES[name]["metrics"] <= {m["name"] for m in comparison["metrics"]}


def test_the_forks_pull_request_ci_is_green(adapted) -> None:
    """check-params, the data and model tests (and lint + unit tests on the messy table) pass after init."""
    name, repo = adapted
    ci = (repo.parent / "ci.log").read_text()
    assert "are valid" in ci  # make check-params
    assert " passed" in ci and " failed" not in ci, ci[-3000:]
    if CASES[name].get("full_ci"):
        assert "All checks passed!" in ci and "Success: no issues found" in ci  # ruff, mypy
    gate = (repo.parent / "gate.log").read_text()
    assert gate.split("\n", 1)[0] in ("0", "2")  # make: 0 = gate passed, 2 = its recipe failed (the gate's verdict)
    assert "gate passed" in gate or "gate FAILED" in gate  # a verdict with reasons, never a crash


def test_the_demo_only_model_test_is_removed_and_said_so(adapted) -> None:
    _, repo = adapted
    assert not (repo / "tests/model/test_demo_behaviour.py").exists()
    assert "removed tests/model/test_demo_behaviour.py" in (repo.parent / "init.log").read_text()
    assert "compare.floors emptied" in (repo.parent / "init.log").read_text()


def test_messy_table_roles_and_missing_labels(adapted) -> None:
    name, repo = adapted
    if name != "messy-binary":
        pytest.skip("messy-table checks")
    spec = load_spec(repo / "data/schema.yaml")
    roles = {n: c.role for n, c in spec.columns.items() if c.role != "feature"}
    assert roles == {"Animal ID": "identifier", "Visit date": "ignored", "Farm": "ignored", "Vet comments": "ignored"}
    text = (repo / "data/schema.yaml").read_text()
    assert "# ignored: free text" in text and "# ignored: dates/timestamps" in text
    assert load_params(repo / "params.yaml").data.missing_labels == "drop"
    log = (repo.parent / "init.log").read_text()
    assert "rows have no label in 'Outcome (30 days)'" in log
    meta = json.loads((repo / "models/metadata.json").read_text())
    assert set(meta["features"]) == {"Weight (kg)", "Body temp (°C)", "Breed", "Housed indoors", "Feed supplier"}


def test_messy_table_bento_serves_a_prediction(adapted, tmp_path: Path) -> None:
    """`make bento` (on the fast path), `make serve` on 127.0.0.1 with the prediction log on: a record carrying
    a never-seen comment, date and feed supplier (an open category) is served, a never-seen breed (a closed one)
    is a 400 naming the column, and a window where new suppliers come in is drift on that feature (`make monitor`
    on the served log)."""
    name, repo = adapted
    if not CASES[name].get("full_ci"):
        pytest.skip("one bento + server for the messy dataset only (CI budget)")
    spec = load_spec(repo / "data/schema.yaml")
    assert spec.columns["Feed supplier"].open and spec.columns["Breed"].allowed  # as drafted by make init
    env = {**_env(), "BENTOML_HOME": str(tmp_path / "bentoml")}
    built = run(make_cmd("bento"), cwd=repo, env=env, timeout=600)
    # categoricals (closed and open), missing values, booleans: still the fast path, checked against the
    # pipeline (issue 19)
    assert "serving path: numpy+onnx" in built.stdout, built.stdout
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # README step 9: `MLOPS_PREDICTION_LOG=1 make serve`, then `make monitor LOG=logs/predictions.jsonl`
    serve = make_cmd("serve", "SERVE_HOST=127.0.0.1", f"SERVE_PORT={port}")
    record = {
        "Weight (kg)": 455.0,
        "Body temp (°C)": 39.4,
        "Breed": "Jersey",
        "Housed indoors": False,
        "Feed supplier": "a supplier nobody has heard of",
        "Vet comments": "a comment nobody has written before",
        "Visit date": "2031-07-04",
        "Animal ID": "COW-NEW",
    }
    # served traffic: the labelled source rows, a third of them from two suppliers never seen in training
    source = pd.read_csv(repo / "data/source/visits.csv")
    source = source[source["Outcome (30 days)"].notna()].drop(columns=["Outcome (30 days)"]).head(300)
    source = source.astype(object).where(source.notna(), None)
    source.loc[source.index[::3], "Feed supplier"] = "Hilltop Feeds"
    source.loc[source.index[1::9], "Feed supplier"] = "North Mill"
    traffic = json.loads(json.dumps(source.to_dict("records")))
    log = repo / "logs/predictions.jsonl"  # serving.prediction_log_path, under the project with make serve
    assert not log.exists()
    with server(
        serve,
        f"{url}/readyz",
        cwd=repo,
        log_path=tmp_path / "server.log",
        timeout=180,
        env={**env, "MLOPS_PREDICTION_LOG": "1"},
    ):
        import httpx

        ok = httpx.post(f"{url}/predict", json={"record": record}, timeout=30)
        assert ok.status_code == 200, ok.text
        assert ok.json()["label"] in ("healthy", "treated")
        bad = httpx.post(f"{url}/predict", json={"record": {**record, "Breed": "Unicorn"}}, timeout=30)
        assert bad.status_code == 400 and "Breed" in bad.text
        assert [d["loc"][-1] for d in bad.json()["detail"]] == ["Breed"]  # the open column is not an error
        batch = httpx.post(f"{url}/predict_batch", json={"records": traffic}, timeout=60)
        assert batch.status_code == 200, batch.text
    # the service says where its log goes: under the project, where make monitor reads it
    assert f"[service] prediction log: {log.resolve()}" in (tmp_path / "server.log").read_text(encoding="utf-8")
    out = tmp_path / "monitor"
    monitor = make(repo, "monitor", "LOG=logs/predictions.jsonl", f"MONITOR_OUT={out}")
    # one of five features drifts: below monitor.drift_share (30%), so reported, not a retraining trigger
    assert "[monitor] ok: 1 of 5 features drifted" in monitor.stdout, monitor.stdout + monitor.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["drifted_features"] == ["Feed supplier"], summary
    report = (out / "drift.md").read_text(encoding="utf-8")
    assert "`Hilltop Feeds` (100)" in report and "`North Mill` (" in report, report


def test_readme_walkthrough_is_what_this_test_runs() -> None:
    """Every Make command this test runs appears in the README's walkthrough, and the messy case is its example."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Adapt it to your data", 1)[1].split("\n## ", 1)[0]
    for step in ("make repro", " ".join(["make", *CI_ONCE, *CI_EVERY]), "make pr-report BASE=main", "make gate"):
        assert step in section, step
    assert "make bento" in section and "make serve" in section and "make monitor LOG=" in section
    example = " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in CASES["messy-binary"]["make"].items())
    assert f"make init {example}" in section
