"""The smoke check's comparison: any label or score that differs from the in-process model fails, naming the row."""

from __future__ import annotations

import pytest

from mlops_template.ops.serving.smoke import Expected, SmokeFailed, compare

EXPECTED = Expected(records=[{"a": 1.0}, {"a": 2.0}], labels=[0, 1], scores=[0.25, 0.75])


def test_identical_output_passes() -> None:
    compare(EXPECTED, [0, 1], [0.25, 0.75], "/predict_batch")
    compare(EXPECTED, ["0", "1"], [0.25, 0.75 + 1e-12], "/predict_batch")  # JSON label types; float noise
    # float32 trees of the ONNX fast path (accepted by `make bento` within onnx_path.TOLERANCE) pass the smoke too
    compare(EXPECTED, [0, 1], [0.25 + 2e-8, 0.75 - 5e-5], "/predict_batch")


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 0], [0.25, 0.75], "row 1: label 0"),
        ([0, 1], [0.25, 0.7503], "row 1: score 0.7503"),  # beyond the served path's tolerance (1e-4)
        ([0], [0.25], "1 labels / 1 scores for 2 records"),
    ],
)
def test_any_difference_fails_naming_the_row(labels: list[int], scores: list[float], message: str) -> None:
    with pytest.raises(SmokeFailed, match=message):
        compare(EXPECTED, labels, scores, "/predict_batch")
