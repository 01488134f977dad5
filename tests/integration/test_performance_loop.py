"""The fifth trigger end to end on a trained repository: the trained model's own predictions on its test rows,
logged in the prediction-log format with their ids, ground-truth labels under which the model is wrong more
often, `make monitor LOG=... LABELS=...` for real -> degraded; `make monitor-issue` and `make retrain-dispatch`
(with the reason the monitor hands the workflow) reach the recording GitHub API stand-in.

(Requests through the served bento carry ids too: serving's tests; here the log is written from the model.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.metrics import predict
from tests.support import env_with_venv, run

pytestmark = pytest.mark.slow


def write_log(repo: Path, log: Path) -> pd.DataFrame:
    """The champion's predictions on the test rows, one contract line each (id = the row's id)."""
    params = load_params(repo / "params.yaml")
    d = params.data
    test = pd.read_parquet(repo / paths.TEST_DATA)
    p = predict(joblib.load(repo / paths.MODEL), test, d.target, d.id_column, params.evaluate.threshold)
    inputs = test.drop(columns=[d.target, d.id_column]).to_dict("records")
    ts = datetime.now(UTC).isoformat()
    lines = [
        {"ts": ts, "request_id": f"req-{i}", "id": int(row_id), "role": "champion", "endpoint": "predict_batch"}
        | {"model_version": "mlops-template-model:e2e", "inputs": x, "label": int(label), "score": float(score)}
        for i, (row_id, x, label, score) in enumerate(zip(p.ids, inputs, p.y_pred, p.positive_score, strict=True))
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return pd.DataFrame({d.id_column: p.ids, d.target: p.y_true})


def test_labels_the_model_gets_wrong_trigger_degraded_the_issue_and_retraining(
    trained_repo: Path, tmp_path: Path
) -> None:
    from emulation.github_api import GitHubStandIn

    log = tmp_path / "predictions.jsonl"
    truth = write_log(trained_repo, log)
    target = truth.columns[1]
    wrong = np.random.default_rng(0).random(len(truth)) < 0.35  # the world changed: 35% of the labels flip
    labels = truth.assign(**{target: np.where(wrong, 1 - truth[target], truth[target])})
    labels.assign(ts=datetime.now(UTC).isoformat()).to_csv(tmp_path / "labels.csv", index=False)
    out, output = tmp_path / "monitor", tmp_path / "github_output"
    env = env_with_venv({"GITHUB_OUTPUT": str(output)})
    monitor = ["make", "-o", ".venv/.synced", "monitor", "RUN=", f"LOG={log}", f"LABELS={tmp_path / 'labels.csv'}"]
    result = run([*monitor, f"MONITOR_OUT={out}"], cwd=trained_repo, env=env, check=False)
    assert result.returncode != 0 and "[monitor] degraded:" in result.stdout, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    performance = summary["performance"]
    assert (summary["status"], summary["retrain"], summary["drifted_features"]) == ("degraded", True, [])
    assert performance["labelled_rows"] == len(truth) and performance["label_coverage"] == 1.0
    assert performance["ci_high"] < performance["test_value"] - performance["margin"]
    reason = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())["reason"]
    assert reason == "performance degraded"
    with GitHubStandIn() as github:
        env |= {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/service", "GITHUB_TOKEN": "t"}
        run(["make", "monitor-issue", f"MONITOR_OUT={out}"], cwd=trained_repo, env=env)
        run(["make", "retrain-dispatch"], cwd=trained_repo, env=env | {"RETRAIN_REASON": reason})
        [issue] = github.plain_issues()
        assert "PERFORMANCE DEGRADED" in issue["body"] and "### Live performance: DEGRADED" in issue["body"]
        dispatch = github.calls("POST", r"/actions/workflows/retrain\.yml/dispatches$")
        assert [d["json"] for d in dispatch] == [{"ref": "main", "inputs": {"reason": "performance degraded"}}]
