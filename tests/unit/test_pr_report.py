"""Report rendering and the params / data / schema diffs of the PR comparison."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.experiment.compare import Comparison, GateResult, MetricComparison
from mlops_template.experiment.diffs import Change, DataDiff, DataSide, params_diff, same_rows, schema_diff
from mlops_template.experiment.report import (
    Confusion,
    Image,
    ModelFacts,
    NotComparableInput,
    ReportInput,
    render,
    render_not_comparable,
)


def test_params_diff_flattens_and_lists_added_removed_changed() -> None:
    base = {"seed": 1, "model": {"type": "linear", "linear": {"C": 1.0}}, "old": 3}
    cand = {"seed": 1, "model": {"type": "linear", "linear": {"C": 0.1}}, "compare": {"max_drop": 0.01}}
    changes = {c.key: (c.baseline, c.candidate) for c in params_diff(base, cand)}
    assert changes == {"model.linear.C": (1.0, 0.1), "old": (3, "—"), "compare.max_drop": ("—", 0.01)}


def test_schema_diff_names_columns_and_attributes() -> None:
    base = SchemaSpec(columns={"a": ColumnSpec(dtype="float64", max=1.0), "b": ColumnSpec(dtype="int64")})
    cand = SchemaSpec(min_rows=10, columns={"a": ColumnSpec(dtype="float64", max=2.0), "c": ColumnSpec(dtype="str")})
    changes = {c.key: (c.baseline, c.candidate) for c in schema_diff(base, cand)}
    assert changes == {
        "min_rows": (1, 10),
        "a.max": (1.0, 2.0),
        "column b": ("int64", "(removed)"),
        "column c": ("(absent)", "added (str)"),
    }
    assert schema_diff(base, base) == []


def test_same_rows_ignores_order_but_not_values() -> None:
    a = pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]})
    assert same_rows(a, a.iloc[::-1], "id")
    assert not same_rows(a, a.assign(x=[0.1, 0.2, 0.31]), "id")
    assert not same_rows(a, a.iloc[:2], "id")


def _report(passed: bool, paired: bool) -> ReportInput:
    verdict = "no detectable change" if passed else "regressed"
    metrics = [
        MetricComparison(
            "roc_auc",
            0.99,
            0.9 if not passed else 0.99,
            -0.09 if not passed else 0.0,
            -0.12 if not passed else -0.01,
            -0.05 if not passed else 0.01,
            True,
            0.005,
            verdict,
        ),
        MetricComparison("log_loss", 0.1, 0.5, 0.4, 0.3, 0.5, False, 0.01, "regressed"),
    ]
    reasons = [] if passed else ["roc_auc regressed beyond its margin: roc_auc 0.9900 -> 0.9000"]
    gate = GateResult(passed, reasons, ["size ok"])
    comparison = Comparison(paired, "test split", 114, "roc_auc", 0.95, 200, 200, metrics, verdict, gate)
    side = DataSide(569, 455, 114, "abc", "def", {"0": 0.37, "1": 0.63})
    other = DataSide(569, 426 if not paired else 455, 143 if not paired else 114, "abc", "xyz", {"0": 0.37, "1": 0.63})
    conf = Confusion(["0", "1"], [[40, 2], [3, 69]])
    return ReportInput(
        base_ref="origin/main",
        baseline=ModelFacts("a" * 40, 0.005, 1.5, conf, None),
        candidate=ModelFacts("b" * 40, 0.006, 1.7, conf, "http://mlflow.example:5000/#/experiments/1/runs/r1"),
        baseline_source="rebuilt by reproducing the base pipeline in a git worktree",
        comparison=comparison,
        params_changes=[Change("model.type", "linear", "hist_gradient_boosting"), Change("x", "a|b", "c")],
        data=DataDiff(side, other, paired, [Change("column c", "(absent)", "added (str)")]),
        validation_md="Data validation passed: 569 rows.",
        images=[Image("roc.png", "ROC curves of baseline and candidate")],
    )


def test_report_puts_the_verdict_first_and_explains_a_failed_gate() -> None:
    text = render(_report(passed=False, paired=True))
    head = text.split("### Metrics")[0]
    assert text.splitlines()[0].endswith("❌ blocked: roc_auc regressed beyond its margin")  # what blocked it
    assert "❌ **Gate failed**" in head and "**regressed**" in head and "`roc_auc`" in head
    assert "roc_auc regressed beyond its margin: roc_auc 0.9900 -> 0.9000" in head
    assert "Other metrics that regressed beyond their margin" in head and "log_loss" in head
    row = "| **roc_auc** (primary) ↑ | 0.9900 | 0.9000 | -0.0900 | [-0.1200, -0.0500] | 0.005 | 🔴 regressed |"
    assert row in text
    assert "| log_loss ↓ |" in text
    assert "Unpaired" not in text


def test_report_is_complete_without_images_and_flags_unpaired() -> None:
    text = render(_report(passed=True, paired=False))
    assert text.startswith("## Model comparison: candidate vs `origin/main` — ✅ ready to merge")
    assert "✅ **Gate passed**" in text and "⚠️ **Unpaired comparison**" in text
    assert "![ROC curves of baseline and candidate](roc.png)" in text  # alt text carries the meaning
    assert "| `1` | 3 | 69 |" in text  # the confusion matrix is also a table
    assert "| `model.type` | linear | hist_gradient_boosting |" in text
    assert "a\\|b" in text  # pipes in values do not break the table
    assert "| test rows | 114 | 143 |" in text and "| train rows | 455 | 426 |" in text
    assert "| `column c` | (absent) | added (str) |" in text
    assert "Data validation passed: 569 rows." in text
    assert f"`{'a' * 40}`" in text and f"`{'b' * 40}`" in text
    assert "MLflow run (candidate): http://mlflow.example:5000/#/experiments/1/runs/r1" in text
    assert "MLflow run (baseline)" not in text


def test_report_shows_a_policy_proposal_as_applying_after_merge() -> None:
    r = _report(passed=False, paired=True)
    proposal = [Change("compare.margins.roc_auc", "—", 1.0)]
    text = render(replace(r, policy_changes=proposal))
    gate = text.split("### Gate rules (`compare:` of `origin/main`'s params.yaml)")[1].split("### Params")[0]
    assert "proposes a new gate policy" in gate and "applies after merge" in gate
    assert "| `compare.margins.roc_auc` | — | 1 |" in gate
    assert "proposes" not in render(r)


def test_not_comparable_report_shows_candidate_metrics_and_floors_only() -> None:
    from mlops_template.core.config import CompareParams
    from mlops_template.core.metrics import Predictions
    from mlops_template.experiment.compare import candidate_only

    y = np.array([0, 1, 2, 1, 0, 2, 1, 0])
    proba = np.eye(3)[y] * 0.8 + 0.2 / 3
    pred = Predictions(np.arange(8), y, y, proba, np.array([0, 1, 2]))
    policy = CompareParams(floors={"roc_auc": 0.99, "accuracy": 0.5})  # roc_auc: a binary metric of the base
    comparison = candidate_only("multiclass", pred, policy, 0.01, 1.0)
    assert comparison.verdict == "not comparable" and comparison.gate.passed, comparison.gate
    assert any("roc_auc: skipped" in c for c in comparison.gate.checks)
    text = render_not_comparable(
        NotComparableInput(
            base_ref="main",
            base_sha="a" * 40,
            candidate=ModelFacts("b" * 40, 0.01, 1.0),
            comparison=comparison,
            why=[Change("task", "binary", "multiclass"), Change("data.source", "sklearn:breast_cancer", "my.csv")],
            params_changes=[],
            policy_changes=[],
            test_rows=8,
            validation_md=None,
        )
    )
    assert text.splitlines()[0].endswith("✅ ready to merge (the gate passed)")
    assert "**not comparable**" in text and "`task` binary → multiclass" in text
    assert "| **f1_macro** (primary) | 1.0000 |" in text and "| accuracy | 1.0000 |" in text
    assert "accuracy >= 0.5: candidate 1.0000" in text
    bare = candidate_only("multiclass", pred, CompareParams(), 0.01, 1.0)
    assert bare.gate.passed and bare.gate.checks == [
        "no absolute limits are set (compare.floors, max_model_size_mb, max_latency_ms)"
    ]
    failing = candidate_only("multiclass", pred, CompareParams(floors={"accuracy": 1.1}), 0.01, 1.0)
    assert not failing.gate.passed and "accuracy >= 1.1" in failing.gate.reasons[0]


def test_report_states_what_the_comparison_can_detect_and_says_when_a_change_is_below_it() -> None:
    r = _report(passed=True, paired=True)
    primary = replace(r.comparison.metrics[0], verdict="not detectable at this data size")
    comparison = replace(
        r.comparison, metrics=[primary, *r.comparison.metrics[1:]], verdict=primary.verdict, minimum_detectable=0.008
    )
    head = render(replace(r, comparison=comparison)).split("### Metrics")[0]
    assert "🟡 **not detectable at this data size**" in head
    assert "with 114 rows it flags a drop of ≥ 0.0080 (0.8 points) in `roc_auc` 4 times in 5" in head
    assert "which is not the same as no change" in head
    # a conclusive "no change" states the sensitivity but not the warning
    plain = render(replace(r, comparison=replace(r.comparison, minimum_detectable=0.008))).split("### Metrics")[0]
    assert "4 times in 5" in plain and "not the same as no change" not in plain


def test_identical_predictions_have_no_change_to_size() -> None:
    r = _report(passed=True, paired=True)
    same = replace(r.comparison.metrics[0], delta=0.0, ci_low=0.0, ci_high=0.0)
    text = render(replace(r, comparison=replace(r.comparison, metrics=[same, *r.comparison.metrics[1:]])))
    assert "there is no change to size" in text and "4 times in 5" not in text
