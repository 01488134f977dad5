"""THE schema (data/schema.yaml) against the real default data and against each bad-data class."""

import pandas as pd
import pytest

from mlops_template.config import Params
from mlops_template.data.schema import SchemaSpec, build_schema, validate
from tests.fixtures.bad_data import BAD_CASES, expected_column


def test_real_data_passes(raw_frame: pd.DataFrame, spec: SchemaSpec) -> None:
    validated, report = validate(raw_frame, spec)
    assert report.ok, report.to_markdown()
    assert validated is not None
    assert list(validated.columns) == list(spec.columns)


def test_schema_covers_every_column_with_rules(raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params) -> None:
    assert set(spec.columns) == set(raw_frame.columns)
    assert spec.columns[params.data.id_column].unique
    assert spec.columns[params.data.target].allowed == [0, 1]
    for name in spec.feature_columns(params.data.target, params.data.id_column):
        col = spec.columns[name]
        assert col.min is not None, name
        assert col.max is not None, name
        assert not col.nullable
    assert spec.unique_rows
    assert spec.min_rows > 0


@pytest.mark.parametrize(("name", "make_bad", "column", "check"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_data_is_rejected_with_column_and_check(
    name: str, make_bad, column: str, check: str, raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params
) -> None:
    feature = spec.feature_columns(params.data.target, params.data.id_column)[0]
    bad = make_bad(raw_frame, params.data.target, params.data.id_column, feature)
    out, report = validate(bad, spec)
    assert out is None
    assert not report.ok
    want = expected_column(column, params.data.target, feature)
    hits = [f for f in report.failures if f.column == want and check in f.check]
    assert hits, f"expected a failure on {want!r} / {check!r}, got {report.failures}"
    assert all(f.failing_rows >= 1 for f in hits)
    assert want in report.to_markdown()


def test_serving_schema_is_the_same_schema_without_table_rules(spec: SchemaSpec, params: Params) -> None:
    features = spec.feature_columns(params.data.target, params.data.id_column)
    request_schema = build_schema(spec, columns=features, frame_checks=False)
    assert list(request_schema.columns) == features
    assert request_schema.checks == []
    assert request_schema.columns[features[0]].checks == build_schema(spec).columns[features[0]].checks
