"""The column kind registry (mlops_template.core.data.kinds): validate, JSON serving, Arrow serving, the features
and the monitor all ask it, so one bad value gets one verdict everywhere, an open category is open everywhere,
and a new kind is one entry."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from mlops_template.core.config import ConfigError, parse_params
from mlops_template.core.data import kinds
from mlops_template.core.data.kinds import _date_or_error
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec, build_schema, load_spec, validate
from mlops_template.core.features import branches
from mlops_template.core.model import build_pipeline
from mlops_template.core.profile import build_profile
from mlops_template.ops.monitoring.drift import compare
from mlops_template.ops.serving.columnar import ColumnarError, validate_table
from mlops_template.ops.serving.predictor import Predictor, probe_records
from mlops_template.ops.serving.validation import record_type, validate_records

SPEC = SchemaSpec(
    columns={
        "id": ColumnSpec(dtype="int64", role="identifier"),
        "x": ColumnSpec(dtype="float64", min=0, max=10),
        "when": ColumnSpec(dtype="str", role="date"),
        "plan": ColumnSpec(dtype="str", allowed=["basic", "pro"]),  # closed
        "note": ColumnSpec(dtype="str", open=True),  # open
        "flag": ColumnSpec(dtype="bool", nullable=True),
        "y": ColumnSpec(dtype="int64", allowed=[0, 1]),
    }
)
FEATURES = ["x", "when", "plan", "note", "flag"]
GOOD = {"x": 1.5, "when": "2024-03-01", "plan": "pro", "note": "calm", "flag": True}


def verdicts(row: dict[str, Any]) -> dict[str, set[str]]:
    """The columns each of the three gates names as bad for one record (an empty set: accepted)."""
    _, report = validate(pd.DataFrame([{"id": 1, **row, "y": 1}]), SPEC)
    by_validate = {f.column for f in report.failures}
    try:
        validate_records(record_type(SPEC, FEATURES), [row])
        by_json: set[str] = set()
    except ValidationError as err:
        by_json = {str(e["loc"][1]) for e in err.errors()}
    try:
        validate_table(pa.Table.from_pylist([row]), SPEC, FEATURES, max_rows=10)
        by_arrow: set[str] = set()
    except ColumnarError as err:
        by_arrow = {str(d["loc"][-1]) for d in err.body["detail"]}
    return {"validate": by_validate, "json": by_json, "arrow": by_arrow}


def test_a_good_record_passes_all_three_gates() -> None:
    assert verdicts(GOOD) == {"validate": set(), "json": set(), "arrow": set()}


def test_a_request_may_carry_identifier_columns_as_json_and_as_arrow() -> None:
    """An identifier/ignored column is carried with any value by both endpoints (never a 400), and is not used."""
    row = {**GOOD, "id": "not even an int"}
    validate_records(record_type(SPEC, FEATURES), [row])
    x = validate_table(pa.Table.from_pylist([row]), SPEC, FEATURES, max_rows=10)
    assert x.shape == (1, len(FEATURES))
    with pytest.raises(ColumnarError, match="validation error"):
        validate_table(pa.Table.from_pylist([{**GOOD, "colour": "red"}]), SPEC, FEATURES, max_rows=10)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("when", "not a date"),  # an unparseable date (was accepted and imputed by serving)
        ("when", "2024-13-45"),
        ("x", "not-a-number"),  # a wrong type: a string where a number belongs
        ("x", 11.0),  # out of range
        ("plan", "enterprise"),  # an unknown value of a closed category
        ("note", None),  # null where the schema says nullable: false
        ("flag", "False"),  # a string in a bool column (pandas would cast it to True)
    ],
)
def test_the_same_bad_value_gets_the_same_verdict_from_validate_json_and_arrow(column: str, bad: Any) -> None:
    assert verdicts({**GOOD, column: bad}) == {"validate": {column}, "json": {column}, "arrow": {column}}


def test_wrong_value_of_every_kind_is_rejected_by_every_gate() -> None:
    """make serve-check's invalid request: the registry's wrong value of each kind is bad input for each gate.
    (A data file has no types, so validate casts a number into a string column: that one only serving rejects.)"""
    for column in FEATURES:
        got = verdicts({**GOOD, column: kinds.wrong_value(SPEC.columns[column])})
        assert got["json"] == got["arrow"] == {column}, column
        assert got["validate"] == (set() if kinds.is_open(SPEC.columns[column]) else {column}), column


def test_a_new_value_of_an_open_category_is_accepted_everywhere_served_and_counted_as_drift() -> None:
    assert verdicts({**GOOD, "note": "a value never seen in training"}) == {
        "validate": set(),
        "json": set(),
        "arrow": set(),
    }
    rng = np.random.default_rng(0)
    n = 300
    train = pd.DataFrame(
        {
            "x": rng.uniform(0, 10, n),
            "when": [f"2024-{m:02d}-01" for m in rng.integers(1, 13, n)],
            "plan": rng.choice(["basic", "pro"], n),
            "note": rng.choice(["calm", "restless", "off feed"], n),
            "flag": rng.random(n) < 0.5,
            "y": rng.integers(0, 2, n),
        }
    )
    # served: the one-hot encoder encodes the new value as unknown (no error, a probability like any other)
    pipeline = build_pipeline(parse_params({"data": {"target": "y", "id_column": "id"}}), SPEC).fit(
        train[FEATURES], train["y"]
    )
    new = [{**GOOD, "note": "coughing a little"}]
    proba = Predictor(pipeline, FEATURES, SPEC).predict_proba(new)
    assert np.allclose(proba, pipeline.predict_proba(pd.DataFrame(new)))
    # the monitor: a window where a fifth of the notes are new drifts on that feature, and names the value
    profile = build_profile(train, SPEC, FEATURES, bins=10)
    assert profile["features"] == ["x", "plan", "note", "flag"]  # dates are not profiled: time always moves on
    assert profile["columns"]["note"]["open"] and not profile["columns"]["plan"]["open"]
    window = train.sample(200, random_state=1).reset_index(drop=True)
    window.loc[:39, "note"] = "coughing a little"
    note = {f.feature: f for f in compare(profile, window, parse_params({}).monitor).features}["note"]
    assert note.drifted and note.new_values == {"coughing a little": 40}
    assert note.unseen_share == pytest.approx(0.2)
    same = {f.feature: f for f in compare(profile, train.head(200), parse_params({}).monitor).features}["note"]
    assert not same.drifted and same.unseen_share == 0.0


def test_open_and_allowed_together_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("columns:\n  note:\n    dtype: str\n    open: true\n    allowed: [a, b]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"columns\.note.*open: true is for a str category without `allowed`"):
        load_spec(path)
    path.write_text("columns:\n  when:\n    dtype: str\n    role: date\n    open: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"columns\.when.*open: true is for a str category"):
        load_spec(path)
    path.write_text("columns:\n  when:\n    dtype: float64\n    role: date\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"columns\.when.*role date needs dtype str"):
        load_spec(path)
    path.write_text("columns:\n  n:\n    dtype: int32\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"columns\.n.*dtype 'int32' is not one of float64, int64, bool, str"):
        load_spec(path)


def test_each_consumer_answers_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering a dtype is one entry: the schema, the pandera dtype, the request type, the Arrow check,
    the feature branch, the profile and the probes all follow it."""
    int32 = dataclasses.replace(kinds.INTEGER, name="int32", pandas="int32")
    monkeypatch.setitem(kinds.DTYPES, "int32", int32)
    spec = SchemaSpec(columns={"n": ColumnSpec(dtype="int32", min=0, max=100), "y": ColumnSpec(dtype="int64")})
    assert str(build_schema(spec).columns["n"].dtype) == "int32"
    rec = record_type(spec, ["n"])
    assert validate_records(rec, [{"n": 7}]) == [{"n": 7}]
    with pytest.raises(ValidationError):
        validate_records(rec, [{"n": 7.5}])  # strict int
    with pytest.raises(ValidationError):
        validate_records(rec, [{"n": 101}])  # bounded
    assert validate_table(pa.table({"n": pa.array([1, 2], pa.int32())}), spec, ["n"], 10).tolist() == [[1.0], [2.0]]
    with pytest.raises(ColumnarError, match="validation error"):
        validate_table(pa.table({"n": [1.5]}), spec, ["n"], 10)
    assert branches(spec, ["n"]) == {"numeric": ["n"]}
    assert build_profile(pd.DataFrame({"n": [1, 2, 3]}), spec, ["n"], bins=2)["columns"]["n"]["kind"] == "numeric"
    assert [p["n"] for p in probe_records(spec, ["n"])] == [0, 25, 50, 100]
    # and a kind's answer changes every consumer with it: e.g. a kind the monitor does not profile
    monkeypatch.setitem(kinds.DTYPES, "int32", dataclasses.replace(int32, profile=None))
    assert build_profile(pd.DataFrame({"n": [1, 2, 3]}), spec, ["n"], bins=2)["features"] == []


def test_a_date_role_is_one_rule_everywhere() -> None:
    """The role has its own kind: date branch in the features, not profiled, dates as probes."""
    col = SPEC.columns["when"]
    assert kinds.kind_of(col) is kinds.DATE and kinds.branch(col) == "date" and kinds.profile_kind(col) is None
    probes = [p["when"] for p in probe_records(SPEC, FEATURES)]
    assert kinds.parse_dates(probes).notna().all()
    assert kinds.branch(SPEC.columns["id"]) == "ignored" and kinds.profile_kind(SPEC.columns["id"]) is None


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01",
        "2024-03-01T10:00",
        "2024-03-01 10:00:00",
        "2024-03-01T10:00:00.123456",
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00+05:30",
        "03/01/2024",
        "2024-02-30",
        "2024-13-45",
        "2024-03-01T25:00",
        "not a date",
    ],
)
def test_a_served_date_is_judged_by_the_rule_of_the_validate_stage(value: str) -> None:
    """The request field's quick ISO check never disagrees with parse_dates (what validate and features use)."""
    try:
        _date_or_error(value)
        served = True
    except ValueError:
        served = False
    assert served == bool(kinds.parse_dates([value]).notna().iloc[0])


def test_a_null_in_a_nullable_closed_category_is_accepted_by_every_gate() -> None:
    """Arrow's is_in says False for a null: the Arrow gate rejected what validate and JSON accept."""
    spec = SPEC.model_copy(
        update={"columns": {**SPEC.columns, "plan": ColumnSpec(dtype="str", allowed=["basic", "pro"], nullable=True)}}
    )
    rows = [GOOD, {**GOOD, "plan": None}]
    _, report = validate(pd.DataFrame([{"id": i, **r, "y": 1} for i, r in enumerate(rows)]), spec)
    assert report.failures == []
    validate_records(record_type(spec, FEATURES), rows)
    matrix = validate_table(pa.Table.from_pylist(rows), spec, FEATURES, max_rows=10)
    assert matrix.shape[0] == 2
    unknown = pa.Table.from_pylist([GOOD, {**GOOD, "plan": "gold"}])
    with pytest.raises(ColumnarError) as err:  # a value outside the list is still rejected
        validate_table(unknown, spec, FEATURES, max_rows=10)
    assert err.value.body["detail"][0]["loc"] == ["records", 1, "plan"]
