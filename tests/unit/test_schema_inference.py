"""`make schema` round trip: an inferred schema accepts the data it came from and rejects every bad class."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_template.core.data.extract import extract
from mlops_template.core.data.schema import SchemaSpec, draft_spec, validate
from tests.fixtures.bad_data import BAD_CASES, expected_column
from tests.integration.datasets import mixed_churn_frame

DATASETS = {
    "breast_cancer": (lambda: extract("sklearn:breast_cancer", "auto", "target", "id"), "target", "id", "binary"),
    "wine": (lambda: extract("sklearn:wine", "auto", "target", "id"), "target", "id", "multiclass"),
    "diabetes": (lambda: extract("sklearn:diabetes", "auto", "target", "id"), "target", "id", "regression"),
    "mixed": (mixed_churn_frame, "churned", "customer_id", "binary"),
}


@pytest.fixture(scope="module", params=list(DATASETS))
def inferred(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, SchemaSpec, str, str, str]:
    make, target, id_column, task = DATASETS[request.param]
    frame = make()
    return frame, draft_spec(frame, target, id_column, task=task).spec, target, id_column, task


def _plain_numeric_feature(spec: SchemaSpec, target: str, id_column: str) -> str:
    return next(
        n
        for n in spec.feature_columns(target, id_column)
        if spec.columns[n].dtype in ("int64", "float64") and not spec.columns[n].nullable
    )


def test_inferred_schema_accepts_its_own_data(inferred) -> None:
    frame, spec, *_ = inferred
    _, report = validate(frame, spec)
    assert report.ok, report.to_markdown()


def test_inferred_target_matches_task(inferred) -> None:
    frame, spec, target, _, task = inferred
    col = spec.columns[target]
    if task == "regression":
        assert col.allowed is None
        assert col.dtype == "float64"
        assert col.min is not None
    else:
        assert col.allowed is not None
        assert sorted(map(str, col.allowed)) == sorted(map(str, frame[target].unique()))


@pytest.mark.parametrize(("name", "make_bad", "column", "check"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_inferred_schema_rejects_each_bad_class(inferred, name, make_bad, column, check) -> None:
    frame, spec, target, id_column, task = inferred
    if name == "unknown label" and task == "regression":
        pytest.skip("a regression target has a range, not a label set (out-of-range is covered)")
    feature = _plain_numeric_feature(spec, target, id_column)
    bad = make_bad(frame, target, id_column, feature)
    _, report = validate(bad, spec)
    want = expected_column(column, target, feature)
    assert any(f.column == want and check in f.check for f in report.failures), report.to_markdown()


def test_mixed_types_are_inferred() -> None:
    cols = draft_spec(mixed_churn_frame(), "churned", "customer_id", task="binary").spec.columns
    assert cols["customer_id"].dtype == "str"
    assert cols["customer_id"].unique
    assert cols["is_member"].dtype == "bool"
    assert cols["plan"].dtype == "str"
    assert cols["plan"].nullable
    assert cols["plan"].allowed == ["basic", "plus", "pro"]
    assert cols["age"].nullable
    assert not cols["income"].nullable
