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

from mlops_template.core.config import Params, parse_params
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.core.model import build_pipeline
from mlops_template.ops.serving import columnar
from mlops_template.ops.serving.limits import BodySizeLimit, ContentTypeGuard, content_type_problem
from mlops_template.ops.serving.onnx_path import TOLERANCE, agreement, convert_estimator
from mlops_template.ops.serving.predictor import Predictor, labels_and_scores, probe_records
from mlops_template.ops.serving.predlog import PredictionLog, log_lines, read_log
from mlops_template.ops.serving.validation import describe_errors, record_type, validate_records


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
    from mlops_template.core.config import ConfigError

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


# ------------------------------------------------------------------ ONNX fast path, every estimator and task

TASK_SPEC = SchemaSpec(
    columns={
        "x1": ColumnSpec(dtype="float64", min=-10, max=10, nullable=True),
        "x2": ColumnSpec(dtype="float64", min=-10, max=10),
        "n": ColumnSpec(dtype="int64", min=0, max=100),
        "target": ColumnSpec(dtype="float64"),
    }
)
TASK_FEATURES = ["x1", "x2", "n"]


def task_frame(task: str, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x1": rng.normal(0, 2, n), "x2": rng.normal(0, 2, n), "n": rng.integers(0, 100, n)})
    frame.loc[::17, "x1"] = np.nan
    signal = frame["x1"].fillna(0) + 0.5 * frame["x2"] + frame["n"] / 50
    if task == "regression":
        frame["target"] = signal * 10 + rng.normal(0, 1, n)
    else:
        frame["target"] = pd.cut(signal, 2 if task == "binary" else 3, labels=False).astype("int64")
    return frame


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def task(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("model_type", ["linear", "random_forest", "hist_gradient_boosting"])
def test_onnx_path_serves_every_estimator_within_tolerance(model_type: str, task: str) -> None:
    frame = task_frame(task)
    params = parse_params(
        {
            "task": task,
            "model": {
                "type": model_type,
                "random_forest": {"n_estimators": 10},
                "hist_gradient_boosting": {"max_iter": 10},
            },
        }
    )
    pipeline = build_pipeline(params, TASK_SPEC).fit(frame[TASK_FEATURES], frame["target"])
    plain = Predictor(pipeline, TASK_FEATURES, TASK_SPEC)
    width = plain.transform(plain.matrix(frame[TASK_FEATURES].head(1).to_dict("records"))).shape[1]
    model, note = convert_estimator(plain.estimator, width)
    assert model is not None, note
    served = Predictor(pipeline, TASK_FEATURES, TASK_SPEC, onnx=model)
    assert served.mode.startswith("numpy+onnx"), served.mode
    records = frame[TASK_FEATURES].to_dict("records")
    reference = served.reference(records)
    ok, dev = agreement(served.outputs(records), reference, served.is_classifier)
    assert ok, dev
    one = served.outputs(records[:1])
    assert np.allclose(one, reference[:1], atol=TOLERANCE, rtol=TOLERANCE)
    # the columnar path scores the same matrix
    import pyarrow as pa

    x = columnar.validate_table(pa.Table.from_pandas(frame[TASK_FEATURES]), TASK_SPEC, TASK_FEATURES, 1000)
    by_matrix = served.proba_matrix(x) if served.is_classifier else served.predict_matrix(x)
    assert np.array_equal(by_matrix, served.outputs(records))


def test_agreement_rejects_drift_and_label_flips() -> None:
    slow = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert agreement(slow + 1e-6 * np.array([1, -1]), slow, True)[0]
    assert not agreement(slow + 1e-3 * np.array([1, -1]), slow, True)[0]
    assert not agreement(np.array([[0.50001, 0.49999], [0.6, 0.4]]), np.array([[0.49999, 0.50001], [0.6, 0.4]]), True)[
        0
    ]
    assert agreement(np.array([1000.01]), np.array([1000.0]), False)[0]  # relative for large values
    assert not agreement(np.array([1.01]), np.array([1.0]), False)[0]


def test_unusable_onnx_falls_back_to_the_exact_path(fitted: Any, spec: SchemaSpec, features: list[str]) -> None:
    from mlops_template.ops.serving.onnx_path import OnnxModel

    served = Predictor(fitted, features, spec, onnx=OnnxModel(b"not onnx", "float64"))
    assert served.mode == "numpy+kernels (F-order)"
    wrong_width, _ = convert_estimator(fitted.steps[-1][1].__class__().fit(np.eye(3), [0, 1, 0]), 3)
    assert wrong_width is not None
    assert Predictor(fitted, features, spec, onnx=wrong_width).mode == "numpy+kernels (F-order)"


# ------------------------------------------------------------------ content types and the columnar body


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, None),
        ("application/json", None),
        ("application/json; charset=utf-8", None),
        ("multipart/form-data; boundary=xyz", None),
        ("multipart/form-data", 400),
        ("multipart/form-data; boundary=", 400),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("", None),
    ],
)
def test_content_types_the_json_routes_cannot_parse_get_4xx(header: str | None, status: int | None) -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    headers = [] if header is None else [(b"content-type", header.encode())]
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers}
    asyncio.run(ContentTypeGuard(app, ["/predict"])(scope, receive, send))
    assert sent[0]["status"] == (status or 200)
    if status:
        assert json.loads(sent[1]["body"])["detail"][0]["rule"] == "content_type"
    elif header is not None:
        assert content_type_problem(header.split(";")[0].strip() or None, {"boundary": "xyz"}) is None


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def test_columnar_body_parses_arrow_and_parquet_and_rejects_others() -> None:
    frame = task_frame("binary", 20)[TASK_FEATURES]
    table = columnar.read_table(arrow_bytes(frame), columnar.ARROW_STREAM)
    assert table.num_rows == 20
    buf = __import__("io").BytesIO()
    frame.to_parquet(buf)
    assert columnar.read_table(buf.getvalue(), columnar.PARQUET).num_rows == 20
    with pytest.raises(columnar.ColumnarError) as err:
        columnar.read_table(b"{}", "application/json")
    assert err.value.status == 415
    with pytest.raises(columnar.ColumnarError) as err:
        columnar.read_table(b"garbage", columnar.ARROW_STREAM)
    assert err.value.status == 400 and err.value.body["detail"][0]["type"] == "arrow_invalid"


@pytest.mark.parametrize(
    ("change", "rule", "loc"),
    [
        (lambda f: f.drop(columns=["x2"]), "missing", ["records", "*", "x2"]),
        (lambda f: f.assign(colour=1.0), "extra_forbidden", ["records", "*", "colour"]),
        (lambda f: f.assign(x2=f["x2"].where(f.index != 3)), "null", ["records", 3, "x2"]),
        (lambda f: f.assign(x2=f["x2"].where(f.index != 4, 11.0)), "less_than_equal", ["records", 4, "x2"]),
        (lambda f: f.assign(n=f["n"].where(f.index != 5, -1)), "greater_than_equal", ["records", 5, "n"]),
        (lambda f: f.assign(x1=f["x1"].where(f.index != 1, np.inf)), "finite_number", ["records", 1, "x1"]),
        (
            lambda f: f.assign(x1=f["x1"].where(f.index != 2).where(f.index != 6, np.inf)),
            "finite_number",
            ["records", 6, "x1"],
        ),
        (
            lambda f: f.assign(x1=f["x1"].where(f.index != 0).where(f.index != 7, -11.0)),
            "greater_than_equal",
            ["records", 7, "x1"],
        ),
        (lambda f: f.assign(n=f["n"].astype("float64")), "int64_type", ["records", "*", "n"]),
        (lambda f: f.assign(x2=f["x2"].astype(str)), "float64_type", ["records", "*", "x2"]),
        (lambda f: f.head(0), "too_short", ["records"]),
    ],
    ids=[
        "missing",
        "extra",
        "null",
        "above_max",
        "below_min",
        "inf",
        "inf_after_null",
        "below_min_after_null",
        "int_as_float",
        "string",
        "empty",
    ],
)
def test_columnar_validation_names_row_column_and_rule(change: Any, rule: str, loc: list[Any]) -> None:
    frame = change(task_frame("binary", 20)[TASK_FEATURES].assign(x1=lambda f: f["x1"].fillna(0.5)))
    table = columnar.read_table(arrow_bytes(frame), columnar.ARROW_STREAM)
    with pytest.raises(columnar.ColumnarError) as err:
        columnar.validate_table(table, TASK_SPEC, TASK_FEATURES, 1000)
    assert err.value.status == 400
    assert [(d["type"], d["loc"]) for d in err.value.body["detail"]] == [(rule, loc)]


def test_columnar_nulls_in_a_nullable_column_pass_as_nan() -> None:
    frame = task_frame("binary", 20)[TASK_FEATURES].assign(x1=lambda f: f["x1"].fillna(0.5).where(f.index % 3 != 0))
    x = columnar.validate_table(
        columnar.read_table(arrow_bytes(frame), columnar.ARROW_STREAM), TASK_SPEC, TASK_FEATURES, 1000
    )
    column = x[:, TASK_FEATURES.index("x1")].astype(float)
    assert np.array_equal(np.isnan(column), (np.arange(20) % 3 == 0))


def test_columnar_answer_json_or_arrow() -> None:
    import pyarrow as pa

    body, media = columnar.answer([1, 0], [0.9, 0.1], "m:1", "application/json")
    assert media == "application/json" and json.loads(body)["labels"] == [1, 0]
    body, media = columnar.answer([1, 0], [0.9, 0.1], "m:1", columnar.ARROW_STREAM)
    table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    assert table.column("score").to_pylist() == [0.9, 0.1] and table.schema.metadata[b"model_version"] == b"m:1"


def test_gate_latency_times_the_served_path(
    fitted: Any, spec: SchemaSpec, features: list[str], raw_frame: pd.DataFrame
) -> None:
    from mlops_template.experiment.gather import single_row_latency_ms
    from mlops_template.ops.serving.predictor import serving_scorer

    row = raw_frame[features].iloc[[0]]
    served = serving_scorer(fitted, row, spec)()
    assert np.allclose(served, fitted.predict_proba(row), atol=TOLERANCE)
    no_spec = serving_scorer(fitted, row, None)()  # no schema: the DataFrame path
    assert np.array_equal(no_spec, fitted.predict_proba(row))
    assert single_row_latency_ms(fitted, raw_frame.assign(target=0), "target", "id", 3, spec, serving_scorer) > 0
