"""Live performance: labels joined to logged predictions by id, the degradation verdict with the gate's statistics,
bad label rows counted and bounded, the CBPE estimate, and the CLI end to end (synthetic data, own files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlops_template.cli import main as mlops
from mlops_template.core.config import Params, parse_params
from mlops_template.core.profile import build_profile
from mlops_template.ops.monitoring.performance import performance_block, setup_of
from tests.unit.test_drift_monitor import FEATURES, SPEC, population

NOW = datetime.now(UTC)


def scored(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores and labels drawn from them (the model is right as often as it says)."""
    rng = np.random.default_rng(seed)
    score = rng.beta(0.6, 0.6, n)
    return score, (rng.random(n) < score).astype(int)


def predictions(score: np.ndarray, hours_ago: float = 2.0) -> pd.DataFrame:
    n = len(score)
    ts = [NOW - timedelta(hours=hours_ago)] * n
    return pd.DataFrame({"id": np.arange(n), "label": (score >= 0.5).astype(int), "score": score, "ts": ts})


def flipped(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    out = y.copy()
    mask = np.random.default_rng(seed).random(len(y)) < share
    out[mask] = 1 - out[mask]
    return out


TRUE_AUC = float(roc_auc_score(*reversed(scored(200_000, 99))))
SETUP = setup_of(Params(), [0, 1], {"roc_auc": TRUE_AUC})


def labels(ids: object, y: object, ts: object = pd.NaT) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "y": y, "ts": ts})


def test_labels_from_the_model_s_own_distribution_are_not_degraded() -> None:
    score, y = scored(600, 1)
    block = performance_block(predictions(score), labels(np.arange(600), y), SETUP, NOW)
    assert block["status"] == "ok", block["message"]
    assert block["ci_low"] < block["live_value"] < block["ci_high"] and block["labelled_rows"] == 600
    assert block["test_value"] == TRUE_AUC and block["margin"] == 0.005  # the gate's DEFAULT_MARGINS


def test_a_model_wrong_more_often_is_degraded() -> None:
    score, y = scored(600, 2)
    block = performance_block(predictions(score), labels(np.arange(600), flipped(y, 0.2, 3)), SETUP, NOW)
    assert block["status"] == "degraded", block["message"]
    assert block["ci_high"] < TRUE_AUC - 0.005 and "entirely below" in block["message"]


def test_lower_is_better_metrics_degrade_upwards() -> None:
    """rmse: degraded when the interval lies entirely ABOVE test + margin (1% of the test rmse by default)."""
    rng = np.random.default_rng(4)
    truth = rng.normal(0, 1, 500)
    frame = pd.DataFrame({"id": np.arange(500), "label": truth, "score": truth, "ts": NOW})
    setup = setup_of(parse_params({"task": "regression"}), None, {"rmse": 0.5})
    good = performance_block(frame, labels(np.arange(500), truth + rng.normal(0, 0.5, 500)), setup, NOW)
    bad = performance_block(frame, labels(np.arange(500), truth + rng.normal(0, 0.8, 500)), setup, NOW)
    assert (good["status"], bad["status"]) == ("ok", "degraded"), (good["message"], bad["message"])
    assert setup.margin == pytest.approx(0.005) and bad["ci_low"] > 0.505


def test_join_counts_every_kind_of_bad_label_row_and_spells_ids_alike() -> None:
    score, y = scored(400, 5)
    preds = predictions(score)
    old = predictions(score[:10], hours_ago=24 * 40).assign(id=np.arange(1000, 1010))  # outside the 30-day horizon
    ids = [str(i) for i in range(300)] + [7.0, "zzz", 1000, None, 12]  # "7", 7.0 and 7 are one id
    ys = [*y[:300], 1, 1, 0, 1, "maybe"]
    block = performance_block(pd.concat([preds, old]), labels(ids, ys), SETUP, NOW, malformed=1)
    c = block["counts"]
    assert (c["label_rows"], c["malformed"], c["type_errors"], c["duplicate_ids"]) == (306, 1, 2, 1)
    assert (c["unknown_ids"], c["outside_horizon"], c["labelled"], c["bad"]) == (1, 1, 300, 5)
    assert block["predictions_in_window"] == 400 and block["label_coverage"] == 0.75
    assert any("'maybe' is not a class of the model (0, 1)" in e for e in block["bad_label_examples"])
    assert any("'zzz': no logged prediction has it" in e for e in block["bad_label_examples"])
    assert block["status"] in ("ok", "degraded")  # 5 of 306 bad: under the 10% limit


def test_too_many_bad_label_rows_is_an_error_naming_the_reasons() -> None:
    score, y = scored(200, 6)
    block = performance_block(predictions(score), labels(np.arange(200) + 5000, y), SETUP, NOW)
    assert block["status"] == "error" and block["counts"]["unknown_ids"] == 200
    assert "200 of 200 label rows are unusable" in block["message"] and "max_bad_label_share" in block["message"]


def test_few_or_no_labels_give_no_verdict_and_no_error() -> None:
    score, y = scored(400, 7)
    few = performance_block(predictions(score), labels(np.arange(50), y[:50]), SETUP, NOW)
    assert few["status"] == "insufficient_labels" and "min_labelled_rows = 100" in few["message"]
    empty = performance_block(predictions(score), labels([], []), SETUP, NOW)
    assert empty["status"] == "insufficient_labels" and "no rows" in empty["message"]


def test_label_delay_from_the_label_times() -> None:
    score, y = scored(300, 8)
    ts = [NOW - timedelta(hours=2) + timedelta(hours=h) for h in np.linspace(1, 10, 300)]
    block = performance_block(predictions(score), labels(np.arange(300), y, ts), SETUP, NOW)
    delay = block["label_delay"]
    assert delay["rows"] == 300 and delay["median_hours"] == pytest.approx(5.5, abs=0.05)
    assert delay["p90_hours"] == pytest.approx(9.1, abs=0.05)


def test_cbpe_estimates_the_unlabelled_part_and_never_triggers() -> None:
    """Calibrated scores: the estimate of the unlabelled rows' AUC is close to the true one, even under a
    covariate shift (scores pushed towards the uncertain middle); flipped labels do not move it."""
    score, _ = scored(4000, 9)
    shifted = 0.5 + 0.5 * (score - 0.5)  # a covariate shift: less confident predictions, still calibrated
    y_shifted = (np.random.default_rng(10).random(4000) < shifted).astype(int)
    block = performance_block(
        predictions(shifted), labels(np.arange(2000), flipped(y_shifted[:2000], 0.3, 11)), SETUP, NOW
    )
    estimate = block["estimate"]
    true_unlabelled = roc_auc_score(y_shifted[2000:], shifted[2000:])
    assert estimate["unlabelled_rows"] == 2000 and abs(estimate["value"] - true_unlabelled) < 0.02
    assert block["status"] == "degraded"  # from the labels; the estimate is still the model's own view
    assert estimate["metric"] == "roc_auc" and "never triggers" in estimate["note"]


def test_multiclass_uses_the_predicted_labels_and_estimates_accuracy() -> None:
    rng = np.random.default_rng(12)
    pred = rng.choice(["a", "b", "c"], 300)
    frame = pd.DataFrame({"id": np.arange(300), "label": pred, "score": 0.9, "ts": NOW})
    setup = setup_of(parse_params({"task": "multiclass"}), ["a", "b", "c"], {"f1_macro": 0.9})
    block = performance_block(frame, labels(np.arange(150), pred[:150]), setup, NOW)
    assert block["metric"] == "f1_macro" and block["live_value"] == 1.0 and block["status"] == "ok"
    assert block["estimate"]["metric"] == "accuracy" and block["estimate"]["value"] == pytest.approx(0.9)
    logloss = setup_of(
        parse_params({"task": "multiclass", "compare": {"primary_metric": "log_loss"}}),
        ["a", "b", "c"],
        {"log_loss": 1},
    )
    assert performance_block(frame, labels(np.arange(150), pred[:150]), logloss, NOW)["status"] == "unavailable"


# ----------------------------------------------------------------------------- the CLI, files on disk

CARD = {
    "task": "binary",
    "target": "label",
    "id_column": "id",
    "features": FEATURES,
    "classes": [0, 1],
    "model_type": "linear",
    "hyperparameters": {},
    "seed": 42,
    "threshold": 0.5,
    "train_rows": 1000,
    "train_metrics": {},
    "sklearn_version": "1",
    "data": {"data_md5": "x", "data_source": "test"},
}


def write_log(path: Path, score: np.ndarray) -> None:
    frame = population(len(score), 31)
    records = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None).to_dict("records")
    ts = (NOW - timedelta(hours=1)).isoformat()
    lines = [
        {"ts": ts, "request_id": f"r{i}", "id": i, "role": "champion", "endpoint": "predict", "model_version": "m:1"}
        | {"inputs": rec, "label": int(s >= 0.5), "score": float(s)}
        for i, (rec, s) in enumerate(zip(records, score, strict=True))
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    profile = build_profile(population(2000, seed=1), SPEC, FEATURES, bins=10)
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    (tmp_path / "params.yaml").write_text("data:\n  target: label\nmonitor:\n  min_rows: 50\n", encoding="utf-8")
    (tmp_path / "card.json").write_text(json.dumps(CARD), encoding="utf-8")
    (tmp_path / "metrics.json").write_text(json.dumps({"roc_auc": TRUE_AUC}), encoding="utf-8")
    return tmp_path


def run(workdir: Path, *extra: str) -> tuple[int, dict]:
    out = workdir / "out"
    files = {"--profile": "profile.json", "--card": "card.json", "--metrics": "metrics.json", "--params": "params.yaml"}
    args = [arg for flag, name in files.items() for arg in (flag, str(workdir / name))]
    code = mlops(["monitor", "--log", str(workdir / "log.jsonl"), "--out", str(out), *args, *extra])
    return code, json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_degraded_exits_5_with_the_performance_section_and_the_retraining_reason(
    workdir: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    score, y = scored(400, 13)
    write_log(workdir / "log.jsonl", score)
    frame = pd.DataFrame({"id": np.arange(400), "label": flipped(y, 0.3, 14), "ts": NOW.isoformat()})
    path = workdir / f"labels.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "parquet":
        frame.to_parquet(path)
    else:
        path.write_text(frame.to_json(orient="records", lines=True), encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(workdir / "output"))
    monkeypatch.setenv("PREDICTION_LABELS", str(path))  # the workflow's way; --labels does the same
    code, summary = run(workdir)
    assert (code, summary["status"], summary["retrain"]) == (5, "degraded", True), summary["message"]
    assert summary["performance"]["labelled_rows"] == 400 and summary["drifted_features"] == []
    assert "reason=performance degraded" in (workdir / "output").read_text(encoding="utf-8")
    for name in ("drift.md", "issue.md"):
        text = (workdir / "out" / name).read_text(encoding="utf-8")
        assert "PERFORMANCE DEGRADED" in text and "### Live performance: DEGRADED" in text and "| roc_auc |" in text
    assert run(workdir, "--exit-zero")[0] == 0


def test_good_labels_keep_the_drift_verdict_and_no_labels_say_how(workdir: Path) -> None:
    score, y = scored(400, 15)
    write_log(workdir / "log.jsonl", score)
    pd.DataFrame({"id": np.arange(400), "label": y}).to_csv(workdir / "labels.csv", index=False)
    code, summary = run(workdir, "--labels", str(workdir / "labels.csv"))
    assert (code, summary["status"], summary["performance"]["status"]) == (0, "ok", "ok"), summary["message"]
    assert summary["performance"]["label_delay"] is None
    code, summary = run(workdir)
    assert (code, summary["performance"]) == (0, None)
    assert "Live performance: no labels" in (workdir / "out" / "drift.md").read_text(encoding="utf-8")


def test_bad_label_sources_give_a_clear_error_or_message(workdir: Path) -> None:
    score, _ = scored(200, 16)
    write_log(workdir / "log.jsonl", score)
    pd.DataFrame({"ident": [1], "label": [1]}).to_csv(workdir / "wrong.csv", index=False)
    code, summary = run(workdir, "--labels", str(workdir / "wrong.csv"))
    assert (code, summary["status"]) == (1, "error")
    assert "no column `id` (data.id_column)" in summary["message"] and "ident" in summary["message"]
    code, summary = run(workdir, "--labels", str(workdir / "missing-*.csv"))
    assert (code, summary["status"]) == (1, "error") and "no such file" in summary["message"]
    (workdir / "empty.jsonl").write_text("", encoding="utf-8")
    code, summary = run(workdir, "--labels", str(workdir / "empty.jsonl"))
    assert (code, summary["performance"]["status"]) == (0, "insufficient_labels")
    assert "no rows" in summary["performance"]["message"]
    (workdir / "junk.jsonl").write_text("not json\n[1]\n" + '{"id": 1, "label": 1}\n', encoding="utf-8")
    code, summary = run(workdir, "--labels", str(workdir / "junk.jsonl"))
    assert (code, summary["status"]) == (1, "error") and "2 unreadable" in summary["message"]
    assert "junk.jsonl:1: not JSON" in summary["message"] or "junk.jsonl:1" in json.dumps(summary["performance"])


def test_precedence_error_then_degraded_then_drift() -> None:
    from mlops_template.ops.monitoring.monitor import combine

    assert combine("drift", "d.", {"status": "degraded", "message": "p."})[0] == "degraded"
    assert combine("insufficient_data", "d.", {"status": "degraded", "message": "p."})[0] == "degraded"
    assert combine("drift", "d.", {"status": "error", "message": "bad labels."}) == ("error", "labels: bad labels.")
    assert combine("error", "no log.", {"status": "degraded", "message": "p."}) == ("error", "no log.")
    assert combine("drift", "d.", {"status": "insufficient_labels", "message": "few."})[0] == "drift"
    assert combine("ok", "d.", None) == ("ok", "d.")


# ----------------------------------------------------------------------------- the test metric's own uncertainty


def test_standard_errors_are_the_spread_of_the_metrics_over_bootstrap_resamples() -> None:
    from mlops_template.core.metric_kernels import resample_counts
    from mlops_template.core.metrics import Predictions, compute_metrics, standard_errors

    score, y = scored(114, 21)
    classes = np.array([0, 1])
    p = Predictions(np.arange(114), y, (score >= 0.5).astype(int), np.column_stack([1 - score, score]), classes)
    errors = standard_errors("binary", p, 60, seed=3)
    rows = [np.repeat(np.arange(114), w.astype(int)) for block in resample_counts(114, 60, 3) for w in block]
    naive = [compute_metrics("binary", y[i], p.y_pred[i], p.proba[i], classes) for i in rows]
    for name in ("roc_auc", "accuracy", "brier"):
        assert errors[name] == pytest.approx(np.std([m[name] for m in naive], ddof=1), abs=2e-6), name
    assert 0.0 < errors["roc_auc"] < 0.1


def test_a_lucky_test_metric_is_no_false_alarm_once_its_standard_error_is_allowed_for() -> None:
    """The model's test AUC came out 0.03 above its true AUC (114 test rows: a standard error of ~0.03): live labels
    from the model's own distribution fall below it. Taken as exact, that is "degraded"; with its standard error,
    the widened interval reaches the test metric minus the margin: ok. A model really made worse stays degraded."""
    score, y = scored(1000, 22)
    exact = setup_of(Params(), [0, 1], {"roc_auc": TRUE_AUC + 0.03})
    allowed = setup_of(Params(), [0, 1], {"roc_auc": TRUE_AUC + 0.03}, {"roc_auc": 0.03, "accuracy": 0.04})
    assert (exact.test_se, allowed.test_se) == (None, 0.03)
    good = labels(np.arange(1000), y)
    old, new = (performance_block(predictions(score), good, s, NOW) for s in (exact, allowed))
    assert (old["status"], new["status"]) == ("degraded", "ok"), (old["message"], new["message"])
    assert old["ci_high"] == new["ci_high"] == old["rule_high"] < new["rule_high"]  # the same live interval, widened
    from scipy.stats import norm

    z = norm.ppf(0.5 + allowed.confidence / 2)
    half = new["ci_high"] - new["live_value"]
    assert new["rule_high"] == pytest.approx(new["live_value"] + np.hypot(half, z * 0.03), abs=2e-6)
    assert "standard error 0.0300" in new["message"] and "taken as exact" in old["message"]
    worse = performance_block(predictions(score), labels(np.arange(1000), flipped(y, 0.3, 23)), allowed, NOW)
    assert worse["status"] == "degraded", worse["message"]


def test_the_monitor_reads_the_standard_errors_beside_the_test_metrics(workdir: Path) -> None:
    score, y = scored(400, 24)
    write_log(workdir / "log.jsonl", score)
    pd.DataFrame({"id": np.arange(400), "label": y}).to_csv(workdir / "labels.csv", index=False)
    code, summary = run(workdir, "--labels", str(workdir / "labels.csv"))
    assert summary["performance"]["test_se"] is None and "taken as exact" in summary["performance"]["message"]
    recorded = {"rows": 114, "resamples": 1000, "standard_errors": {"roc_auc": 0.021}}
    (workdir / "test_uncertainty.json").write_text(json.dumps(recorded), encoding="utf-8")
    code, summary = run(workdir, "--labels", str(workdir / "labels.csv"))
    assert (code, summary["performance"]["test_se"]) == (0, 0.021), summary["message"]
    assert summary["performance"]["rule_high"] > summary["performance"]["ci_high"]
    (workdir / "test_uncertainty.json").write_text('{"standard_errors": {"roc_auc": "small"}}', encoding="utf-8")
    code, summary = run(workdir, "--labels", str(workdir / "labels.csv"))
    assert (code, summary["status"]) == (1, "error") and "test_uncertainty.json" in summary["message"]
