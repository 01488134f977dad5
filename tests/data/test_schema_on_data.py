"""The project's data contract: THE schema (data/schema.yaml) against the project's data and params.yaml.

Everything here is derived from params.yaml and the schema, so it holds for any dataset after `make init`:
edit the schema (ranges, categories, nullability, roles) and these tests follow.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec, build_schema, validate
from tests.fixtures.bad_data import BAD_CASES, expected_column


def test_the_data_passes_the_schema(raw_frame: pd.DataFrame, spec: SchemaSpec) -> None:
    validated, report = validate(raw_frame, spec)
    assert report.ok, report.to_markdown()
    assert validated is not None
    assert list(validated.columns) == list(spec.columns)


def test_the_schema_covers_every_column_and_names_the_roles(
    raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params
) -> None:
    d = params.data
    assert set(spec.columns) == set(raw_frame.columns)
    assert d.target in spec.columns, f"data.target {d.target!r} is not in {d.schema_path}"
    features = spec.feature_columns(d.target, d.id_column)
    assert features, f"{d.schema_path} has no feature columns (role: feature or date)"
    assert d.id_column not in features
    for name in spec.passthrough_columns():
        assert name not in features, f"{name}: role {spec.columns[name].role} must not be a model input"
    if d.id_column in spec.columns:
        id_col = spec.columns[d.id_column]
        assert id_col.unique or id_col.role == "identifier", f"{d.id_column}: mark it unique or role: identifier"
    assert spec.min_rows > 0


def test_labels_match_the_task(raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params) -> None:
    target = spec.columns[params.data.target]
    assert not target.nullable, "the target must not be nullable (set data.missing_labels: drop to drop those rows)"
    if params.task == "regression":
        assert target.dtype in ("int64", "float64")
        return
    seen = set(raw_frame[params.data.target].dropna().unique())
    assert target.allowed is not None or target.dtype == "bool", "a classification target needs its allowed labels"
    labels = set(target.allowed) if target.allowed is not None else {True, False}
    assert seen <= labels
    if params.task == "binary":
        assert len(labels) == 2, f"task binary needs exactly 2 labels, the schema allows {sorted(map(str, labels))}"
    else:
        assert len(labels) >= 3, f"task multiclass needs 3+ labels, the schema allows {sorted(map(str, labels))}"
    assert len(seen) >= 2, f"only one label in the data: {seen}"


def test_each_column_rule_holds_on_the_data(raw_frame: pd.DataFrame, spec: SchemaSpec) -> None:
    """Per column: nullability, range, categories, uniqueness (one message listing every broken column)."""
    broken = []
    for name, col in spec.columns.items():
        s = raw_frame[name]
        if not col.nullable and s.isna().any():
            broken.append(f"{name}: {int(s.isna().sum())} missing values, nullable: false")
        present = s.dropna()
        if col.min is not None and (pd.to_numeric(present) < col.min).any():
            broken.append(f"{name}: values below min {col.min}")
        if col.max is not None and (pd.to_numeric(present) > col.max).any():
            broken.append(f"{name}: values above max {col.max}")
        if col.allowed is not None and not set(present.unique()) <= set(col.allowed):
            broken.append(
                f"{name}: values outside allowed: {sorted(map(str, set(present.unique()) - set(col.allowed)))[:5]}"
            )
        if col.unique and not present.is_unique:
            broken.append(f"{name}: unique: true but values repeat")
    assert not broken, "\n".join(broken)


def _column_for(case: str, spec: SchemaSpec, params: Params) -> str | None:
    """A feature column the bad-data case can be applied to, chosen from the schema."""
    features = spec.feature_columns(params.data.target, params.data.id_column)
    cols = spec.columns
    want = {
        "wrong dtype": lambda c: cols[c].dtype in ("int64", "float64"),
        "out of range": lambda c: cols[c].min is not None and cols[c].min > -1e9,
        "nulls": lambda c: not cols[c].nullable,
    }.get(case, lambda c: True)
    return next((c for c in features if want(c)), None)


@pytest.mark.parametrize(("name", "make_bad", "column", "check"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_data_is_rejected_with_column_and_check(
    name: str, make_bad, column: str, check: str, raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params
) -> None:
    d = params.data
    if name == "unknown label" and params.task == "regression":
        pytest.skip("a regression target has a range, not a label set")
    if name == "duplicated rows" and (not spec.unique_rows or d.id_column not in spec.columns):
        pytest.skip("the schema allows duplicated rows (unique_rows: false) or has no id column")
    feature = _column_for(name, spec, params)
    if feature is None:
        pytest.skip(f"no feature column in {d.schema_path} that the {name!r} case applies to")
    bad = make_bad(raw_frame, d.target, d.id_column, feature)
    out, report = validate(bad, spec)
    assert out is None
    assert not report.ok
    want = expected_column(column, d.target, feature)
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
