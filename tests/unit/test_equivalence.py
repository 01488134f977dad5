"""The tolerance rule for outputs rebuilt on another machine (src/mlops_template/ops/release/equivalence.py)."""

from __future__ import annotations

import pandas as pd

from mlops_template.ops.release.equivalence import SCORE_ATOL, compare_predictions

BINARY = pd.DataFrame(
    {"id": [256, 428, 7], "label": [0, 1, 1], "prediction": [0, 1, 1], "score": [5.88e-08, 0.9999886648327754, 0.61]}
)


def csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def with_scores(frame: pd.DataFrame, column: str, delta: list[float]) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column] + delta
    return out


def test_identical_tables_are_equivalent() -> None:
    result = compare_predictions(csv(BINARY), csv(BINARY))
    assert result.equivalent and result.max_abs_diff == 0.0


def test_scores_differing_in_their_last_digits_are_equivalent() -> None:
    result = compare_predictions(csv(BINARY), csv(with_scores(BINARY, "score", [1e-12, -3e-13, 2e-16])))
    assert result.equivalent, result.detail
    assert 0 < result.max_abs_diff < SCORE_ATOL


def test_a_score_beyond_the_tolerance_is_rejected_naming_the_row() -> None:
    result = compare_predictions(csv(BINARY), csv(with_scores(BINARY, "score", [0.0, 0.0, 1e-7])))
    assert not result.equivalent
    assert "score differs beyond the tolerance on test row 2" in result.detail


def test_one_flipped_label_is_rejected_even_with_equal_scores() -> None:
    flipped = BINARY.copy()
    flipped.loc[2, "prediction"] = 0
    result = compare_predictions(csv(BINARY), csv(flipped))
    assert not result.equivalent and "predicted class differs on test row 2 (id 7)" in result.detail


def test_other_test_rows_are_rejected() -> None:
    other = BINARY.copy()
    other.loc[0, "id"] = 999
    assert not compare_predictions(csv(BINARY), csv(other)).equivalent
    assert "number of test rows" in compare_predictions(csv(BINARY), csv(BINARY.iloc[:2])).detail
    assert "other columns" in compare_predictions(csv(BINARY), csv(BINARY.drop(columns="score"))).detail


def test_regression_predictions_use_the_relative_tolerance() -> None:
    values = [1.5e6, -20.25, 3.0]
    reg = pd.DataFrame({"id": [1, 2, 3], "label": [1.4e6, -20.0, 3.5], "prediction": values, "score": values})
    near = reg.copy()
    near["prediction"] = near["score"] = [1.5e6 + 1e-4, -20.25 + 1e-12, 3.0]  # 1e-4 on 1.5e6: ~7e-11 relative
    assert compare_predictions(csv(reg), csv(near)).equivalent
    far = reg.copy()
    far["prediction"] = far["score"] = [1.5e6 + 1.0, -20.25, 3.0]
    result = compare_predictions(csv(reg), csv(far))
    assert not result.equivalent and "prediction differs beyond the tolerance on test row 0" in result.detail


def test_multiclass_probabilities_are_compared_and_classes_exactly() -> None:
    multi = pd.DataFrame(
        {"id": [1, 2], "label": ["a", "b"], "prediction": ["a", "b"], "score": [0.7, 0.6], "proba_a": [0.7, 0.4]}
    )
    assert compare_predictions(csv(multi), csv(with_scores(multi, "proba_a", [1e-12, 0.0]))).equivalent
    assert not compare_predictions(csv(multi), csv(with_scores(multi, "proba_a", [1e-6, 0.0]))).equivalent
    other = multi.copy()
    other.loc[1, "prediction"] = "a"
    assert not compare_predictions(csv(multi), csv(other)).equivalent
