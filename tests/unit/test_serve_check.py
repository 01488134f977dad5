"""`make serve-check`'s invalid request: derived from data/schema.yaml, rejected by the service's own request type."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.ops.serving.check import Result, _field_named, invalid_record, wrong_value
from mlops_template.ops.serving.validation import describe_errors, record_type, validate_records

COLUMNS = {
    "count": ColumnSpec(dtype="int64", min=0),
    "ratio": ColumnSpec(dtype="float64", nullable=True),
    "flag": ColumnSpec(dtype="bool"),
    "note": ColumnSpec(dtype="str"),
    "colour": ColumnSpec(dtype="str", allowed=["red", "blue"]),
    "grade": ColumnSpec(dtype="int64", allowed=[1, 2, 3]),
}
VALID: dict[str, Any] = {"count": 3, "ratio": 0.5, "flag": True, "note": "x", "colour": "red", "grade": 2}


@pytest.mark.parametrize("feature", sorted(COLUMNS))
def test_the_broken_field_is_rejected_by_the_services_request_type_and_named(feature: str) -> None:
    spec = SchemaSpec(columns=COLUMNS)
    record = record_type(spec, list(COLUMNS))
    assert validate_records(record, [VALID])  # the valid record passes
    bad = invalid_record(VALID, feature, COLUMNS[feature])
    assert bad[feature] != VALID[feature] and {k: v for k, v in bad.items() if k != feature} == {
        k: v for k, v in VALID.items() if k != feature
    }
    with pytest.raises(ValidationError) as err:
        validate_records(record, [bad])
    assert [e["field"] for e in describe_errors(err.value)] == [f"0.{feature}"]


def test_a_category_list_holding_the_marker_still_gets_a_wrong_value() -> None:
    col = ColumnSpec(dtype="str", allowed=["<not-a-category>", "a"])
    assert wrong_value(col) not in col.allowed  # type: ignore[operator]


def test_a_4xx_body_must_name_the_field() -> None:
    detail = {"error": "1 validation error", "detail": [{"type": "float_type", "loc": ["record", "mean_radius"]}]}
    assert _field_named(detail, "mean_radius")
    assert not _field_named(detail, "mean_texture")
    assert not _field_named({"error": "bad request"}, "mean_radius")


def test_the_verdict_says_what_was_checked() -> None:
    ok = Result("svc:abc", "the bento's own code", 20, 1.2, valid="200", invalid="400 naming `x`")
    assert "passed" in ok.markdown() and "svc:abc" in ok.markdown() and "400 naming `x`" in ok.markdown()
    failed = Result("svc:abc", "", 0, 0.5, problems=["the bento svc:abc does not load: ImportError"])
    assert "FAILED" in failed.markdown() and "could not be loaded" in failed.markdown()
    assert "does not load" in failed.markdown()


def test_scores_may_differ_by_the_fast_paths_tolerance_labels_not_at_all() -> None:
    """The bento may serve float32 trees through ONNX (accepted by `make bento` within TOLERANCE)."""
    from mlops_template.ops.serving.onnx_path import TOLERANCE
    from mlops_template.ops.serving.smoke import Expected, SmokeFailed, compare  # the container smoke test's too

    want = Expected([{}, {}], [0, 1], [0.2, 0.6263736263736264])
    compare(want, [0, 1], [0.2, 0.6263736486434937], "/predict_batch")  # measured: hist gradient boosting
    with pytest.raises(SmokeFailed, match=r"/predict_batch: row 1: score"):
        compare(want, [0, 1], [0.2, 0.6263736263736264 + 2 * TOLERANCE], "/predict_batch")
    with pytest.raises(SmokeFailed, match=r"row 0: label 1, in-process 0"):
        compare(want, [1, 1], [0.2, 0.6263736263736264], "/predict_batch")
