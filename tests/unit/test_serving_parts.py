"""The serving parts without a server: schema-derived validation, the fast predictor, limits, the log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_template.config import Params, parse_params
from mlops_template.data.schema import ColumnSpec, SchemaSpec
from mlops_template.model import build_pipeline
from mlops_template.serving.limits import BodySizeLimit
from mlops_template.serving.predictor import Predictor, labels_and_scores, probe_records
from mlops_template.serving.predlog import PredictionLog, log_lines, read_log
from mlops_template.serving.validation import describe_errors, record_type, validate_records


@pytest.fixture(scope="module")
def features(params: Params, spec: SchemaSpec) -> list[str]:
    return spec.feature_columns(params.data.target, params.data.id_column)


@pytest.fixture(scope="module")
def fitted(params: Params, spec: SchemaSpec, raw_frame: pd.DataFrame, features: list[str]) -> Any:
    pipeline = build_pipeline(params, spec)
    return pipeline.fit(raw_frame[features], raw_frame[params.data.target])


@pytest.fixture(scope="module")
def good(raw_frame: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = raw_frame[features].iloc[0].to_dict()
    return record


def errors_of(record_cls: type, rows: list[Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as info:
        validate_records(record_cls, rows)
    return describe_errors(info.value)


# ------------------------------------------------------------------ validation from the spec


def test_every_feature_rule_comes_from_the_spec(spec: SchemaSpec, features: list[str]) -> None:
    record_cls = record_type(spec, features)
    props = record_cls.__annotations__
    assert list(props) == features
    name = features[0]
    col = spec.columns[name]
    from pydantic import TypeAdapter

    schema = TypeAdapter(record_cls).json_schema()
    assert schema["properties"][name]["minimum"] == col.min
    assert schema["properties"][name]["maximum"] == col.max
    assert schema["required"] == features
    assert schema["additionalProperties"] is False


def test_valid_record_passes_and_int_is_a_number(spec: SchemaSpec, features: list[str], good: dict[str, Any]) -> None:
    record_cls = record_type(spec, features)
    assert validate_records(record_cls, [good]) == [good]
    as_int = {**good, features[0]: 12}
    assert validate_records(record_cls, [as_int])[0][features[0]] == 12


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda r, f: r.pop(f), "missing"),
        (lambda r, f: r.__setitem__(f, None), "float_type"),
        (lambda r, f: r.__setitem__(f, "1.0"), "float_type"),
        (lambda r, f: r.__setitem__(f, True), "float_type"),
        (lambda r, f: r.__setitem__(f, 1e9), "less_than_equal"),
        (lambda r, f: r.__setitem__(f, -1.0), "greater_than_equal"),
        (lambda r, f: r.__setitem__(f, float("nan")), "finite_number"),
    ],
    ids=["missing", "null", "string", "bool", "above_max", "below_min", "nan"],
)
def test_each_bad_input_names_field_and_rule(
    spec: SchemaSpec, features: list[str], good: dict[str, Any], change: Any, rule: str
) -> None:
    record_cls = record_type(spec, features)
    bad = dict(good)
    change(bad, "mean_radius")
    errors = errors_of(record_cls, [bad])
    assert len(errors) == 1, errors
    assert errors[0]["field"] == "0.mean_radius"
    assert errors[0]["rule"] == rule


def test_extra_field_is_rejected_by_name(spec: SchemaSpec, features: list[str], good: dict[str, Any]) -> None:
    errors = errors_of(record_type(spec, features), [{**good, "colour": "red"}])
    assert errors == [{"field": "0.colour", "rule": "extra_forbidden", "message": "Extra inputs are not permitted"}]


def test_categories_nullability_and_ints_follow_the_spec() -> None:
    spec = SchemaSpec(
        columns={
            "size": ColumnSpec(dtype="str", allowed=["S", "M", "L"], nullable=True),
            "count": ColumnSpec(dtype="int64", min=0, max=10),
            "flag": ColumnSpec(dtype="bool"),
        }
    )
    record_cls = record_type(spec, ["size", "count", "flag"])
    assert validate_records(record_cls, [{"size": None, "count": 3, "flag": False}])
    rules = {e["field"]: e["rule"] for e in errors_of(record_cls, [{"size": "XL", "count": 2.5, "flag": 1}])}
    assert rules == {"0.size": "literal_error", "0.count": "int_type", "0.flag": "bool_type"}


# ------------------------------------------------------------------ predictor


def test_fast_path_is_exact_and_used(
    fitted: Any, spec: SchemaSpec, features: list[str], raw_frame: pd.DataFrame
) -> None:
    """Equal to the pipeline on a DataFrame made from the same records (what a naive server does).

    (The last bit of a linear model's output depends on the memory layout numpy hands to BLAS, so a
    DataFrame *view* of a bigger block, e.g. ``raw_frame.head()``, can differ by 1 ulp even in-process.)
    """
    predictor = Predictor(fitted, features, spec)
    assert predictor.fast
    records = raw_frame[features].head(50).to_dict("records")
    rows = pd.DataFrame.from_records(records, columns=features)
    assert np.array_equal(predictor.predict_proba(records), fitted.predict_proba(rows))
    for i in range(5):
        one = pd.DataFrame.from_records([records[i]], columns=features)
        assert np.array_equal(predictor.predict_proba([records[i]]), fitted.predict_proba(one))


def test_slow_path_matches_too(fitted: Any, spec: SchemaSpec, features: list[str], raw_frame: pd.DataFrame) -> None:
    predictor = Predictor(fitted, features, spec, fast=False)
    assert not predictor.fast
    records = raw_frame[features].head(20).to_dict("records")
    rows = pd.DataFrame.from_records(records, columns=features)
    assert np.array_equal(predictor.predict_proba(records), fitted.predict_proba(rows))


def test_labels_follow_the_threshold(fitted: Any, spec: SchemaSpec, features: list[str]) -> None:
    predictor = Predictor(fitted, features, spec)
    probes = probe_records(spec, features)
    labels, scores, proba = labels_and_scores(predictor, probes, threshold=0.5)
    assert proba is not None and scores == proba[:, 1].tolist()
    assert labels == [1 if s >= 0.5 else 0 for s in scores]
    labels_hi, _, _ = labels_and_scores(predictor, probes, threshold=0.999999)
    assert labels_hi == [1 if s >= 0.999999 else 0 for s in scores]


def test_mixed_dtype_pipeline_uses_an_exact_path(raw_frame: pd.DataFrame) -> None:
    """A categorical + boolean + numeric schema: the fast path must match, or the predictor falls back."""
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "size": rng.choice(["S", "M", "L"], n),
            "flag": rng.random(n) > 0.5,
            "x": rng.normal(5, 1, n),
            "target": rng.integers(0, 2, n),
        }
    )
    spec = SchemaSpec(
        columns={
            "id": ColumnSpec(dtype="int64", unique=True),
            "size": ColumnSpec(dtype="str", allowed=["S", "M", "L"]),
            "flag": ColumnSpec(dtype="bool"),
            "x": ColumnSpec(dtype="float64", min=0, max=10),
            "target": ColumnSpec(dtype="int64", allowed=[0, 1]),
        }
    )
    params = parse_params({})
    features = ["size", "flag", "x"]
    pipeline = build_pipeline(params, spec).fit(frame[features], frame["target"])
    predictor = Predictor(pipeline, features, spec)
    assert predictor.fast  # sparse one-hot blocks are densified like the ColumnTransformer does
    records = frame[features].head(30).to_dict("records")
    rows = pd.DataFrame.from_records(records, columns=features)
    assert np.array_equal(predictor.predict_proba(records), pipeline.predict_proba(rows))


# ------------------------------------------------------------------ limits and log


def run_asgi(max_bytes: int, body: bytes, content_length: bool) -> tuple[int, bytes, bool]:
    called = {"app": False}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called["app"] = True
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    sent: list[dict[str, Any]] = []
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())] if content_length else []
    scope = {"type": "http", "method": "POST", "headers": headers}
    asyncio.run(BodySizeLimit(app, max_bytes)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), called["app"]


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
def test_body_limit(content_length: bool) -> None:
    status, body, reached = run_asgi(1000, b"x" * 1001, content_length)
    assert (status, reached) == (413, False)
    assert json.loads(body)["detail"][0]["rule"] == "max_request_bytes"
    status, body, reached = run_asgi(1000, b"y" * 1000, content_length)
    assert (status, body[:3], reached) == (200, b"yyy", True)


def test_prediction_log_round_trip(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "sub" / "p.jsonl")
    log.write(log_lines("predict", "m:1", [{"a": 1.0}], [1], [0.9]))
    log.write(log_lines("predict_batch", "m:1", [{"a": 2.0}, {"a": 3.0}], [0, 1], [0.1, 0.6]))
    entries = read_log(tmp_path / "sub" / "p.jsonl")
    assert [e["inputs"]["a"] for e in entries] == [1.0, 2.0, 3.0]
    assert [e["label"] for e in entries] == [1, 0, 1]
    assert entries[1]["request_id"] == entries[2]["request_id"] != entries[0]["request_id"]
    assert {"ts", "model_version", "endpoint", "score"} <= set(entries[0])


def test_serving_params_defaults_and_rejects(params: Params) -> None:
    assert params.serving.prediction_log is False
    from mlops_template.config import ConfigError

    with pytest.raises(ConfigError, match=r"serving\.max_batch_sise: unknown key"):
        parse_params({"serving": {"max_batch_sise": 3}})
    with pytest.raises(ConfigError, match=r"serving\.name"):
        parse_params({"serving": {"name": "Has Spaces"}})


def test_default_model_uses_numpy_kernels(fitted: Any, spec: SchemaSpec, features: list[str]) -> None:
    assert Predictor(fitted, features, spec).mode == "numpy+kernels (F-order)"


@pytest.mark.parametrize("model_type", ["random_forest", "hist_gradient_boosting"])
def test_other_estimators_stay_exact(
    model_type: str, spec: SchemaSpec, features: list[str], raw_frame: pd.DataFrame
) -> None:
    params = parse_params(
        {
            "model": {
                "type": model_type,
                "random_forest": {"n_estimators": 10},
                "hist_gradient_boosting": {"max_iter": 10},
            },
            "features": {"scaler": "minmax"},
        }
    )
    pipeline = build_pipeline(params, spec).fit(raw_frame[features], raw_frame["target"])
    predictor = Predictor(pipeline, features, spec)
    assert predictor.fast, predictor.mode
    records = raw_frame[features].head(40).to_dict("records")
    rows = pd.DataFrame.from_records(records, columns=features)
    assert np.array_equal(predictor.predict_proba(records), pipeline.predict_proba(rows))
