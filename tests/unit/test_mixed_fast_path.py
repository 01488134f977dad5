"""The fast path on mixed-type records (issue 19): one-hot categoricals (unknown and infrequent values),
missing values, booleans, date parts and identifier/ignored columns, against the scikit-learn pipeline.

The data are the walkthrough's generated tables (tests/integration/datasets.py); the schema is drafted from
them as ``make init`` does. The reference is the pipeline on a DataFrame cast to the training dtypes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, RobustScaler

from mlops_template.core.config import parse_params
from mlops_template.core.data.schema import SchemaSpec, coerce, draft_spec
from mlops_template.core.features import _date_parts
from mlops_template.core.model import build_pipeline
from mlops_template.ops.serving.onnx_path import agreement, convert_estimator
from mlops_template.ops.serving.predictor import (
    FOREST_BATCH_ROWS,
    LOGISTIC_BATCH_ROWS,
    UNSEEN,
    Predictor,
    _date_parts_kernel,
    _onehot_kernel,
    decide,
    edge_records,
    forest_kernel,
    same_outputs,
)
from tests.integration.datasets import messy_animal_frame, mixed_churn_frame

ESTIMATORS = ["linear", "random_forest", "hist_gradient_boosting"]
# (table, target, id column, task, columns switched to role: date)
CASES = {
    "churn-binary": ("churn", "churned", "customer_id", "binary", ()),
    "churn-multiclass": ("churn", "region", "customer_id", "multiclass", ()),
    "churn-regression": ("churn", "income", "customer_id", "regression", ()),
    "animal-binary": ("animal", "Outcome (30 days)", "Animal ID", "binary", ("Visit date",)),
}


def churn() -> pd.DataFrame:
    """The churn table plus a nullable boolean and a boolean held as strings ("True"/"False": a category)."""
    frame = mixed_churn_frame(400)
    rng = np.random.default_rng(3)
    frame["has_app"] = pd.Series(rng.random(len(frame)) < 0.5, dtype=object)
    frame.loc[rng.random(len(frame)) < 0.1, "has_app"] = None
    frame["paperless"] = np.where(rng.random(len(frame)) < 0.3, "True", "False")
    return frame


@cache
def fitted(
    case: str, model: str, max_categories: int = 20, small: bool = True
) -> tuple[Any, list[str], SchemaSpec, pd.DataFrame]:
    """(fitted pipeline, features, drafted spec, raw table); ``small``: 10 trees (tests), else params defaults."""
    table, target, id_column, task, dates = CASES[case]
    raw = churn() if table == "churn" else messy_animal_frame(300)
    draft = draft_spec(raw, target, id_column, task=task, drop_missing_labels=True)
    columns = {n: c.model_copy(update={"role": "date"}) if n in dates else c for n, c in draft.spec.columns.items()}
    spec = draft.spec.model_copy(update={"columns": columns})
    frame = coerce(raw[raw[target].notna()], spec)
    params = parse_params(
        {
            "task": task,
            "data": {"target": target, "id_column": id_column},
            "features": {"max_categories": max_categories},
            "model": {"type": model}
            | ({"random_forest": {"n_estimators": 10}, "hist_gradient_boosting": {"max_iter": 10}} if small else {}),
        }
    )
    features = spec.feature_columns(target, id_column)
    pipeline = build_pipeline(params, spec).fit(frame[features], frame[target])
    return pipeline, features, spec, raw


def requests(pipeline: Any, raw: pd.DataFrame, features: list[str], spec: SchemaSpec) -> list[dict[str, Any]]:
    """Records as a client sends them (null for missing, identifier/ignored columns included), plus the
    edge rows: every category, unseen values, every nullable feature missing."""
    keep = [c for c in raw.columns if c in features or spec.columns[c].role in ("identifier", "ignored")]
    rows = [{k: None if pd.isna(v) else v for k, v in r.items()} for r in raw[keep].head(60).to_dict("records")]
    return rows + edge_records(pipeline, features, spec, rows[:5])


def reference(predictor: Predictor, records: list[dict[str, Any]]) -> np.ndarray:
    """The scikit-learn pipeline on a DataFrame of the same records, cast as training casts (coerce)."""
    frame = coerce(pd.DataFrame.from_records(records)[predictor.features], predictor.spec)
    pipeline = predictor.pipeline
    return np.asarray(pipeline.predict_proba(frame) if predictor.is_classifier else pipeline.predict(frame))


@pytest.mark.parametrize("model", ESTIMATORS)
@pytest.mark.parametrize("case", list(CASES))
def test_kernels_are_exact_on_mixed_records(case: str, model: str) -> None:
    pipeline, features, spec, raw = fitted(case, model)
    predictor = Predictor(pipeline, features, spec)
    assert predictor.mode.startswith("numpy+kernels"), (predictor.mode, predictor.why)
    assert predictor.why == ""  # every step of every branch has a kernel
    records = requests(pipeline, raw, features, spec)
    assert any(v == UNSEEN for r in records for v in r.values())  # unknown categories are in the check
    assert any(all(r[f] is None for f in features if spec.columns[f].nullable) for r in records)
    assert same(predictor, predictor.outputs(records), reference(predictor, records))
    for record in records[-8:]:  # one by one, as /predict scores them
        assert same(predictor, predictor.outputs([record]), reference(predictor, [record]))


def same(predictor: Predictor, got: np.ndarray, want: np.ndarray) -> bool:
    """Equal to the last few bits: a dot product's summation order (BLAS threads, memory alignment) can move the
    last digit of a value like 52839.62 between runs and machines. Classifiers: the same top class, too."""
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-12, atol=1e-15):
        return False
    return not predictor.is_classifier or bool(np.array_equal(got.argmax(axis=1), want.argmax(axis=1)))


@pytest.mark.parametrize("model", ESTIMATORS)
@pytest.mark.parametrize("case", ["churn-binary", "churn-multiclass", "churn-regression"])
def test_onnx_path_agrees_on_mixed_records(case: str, model: str) -> None:
    """What ``make bento`` attaches: the kernels feeding the estimator in ONNX Runtime, within the tolerance."""
    pipeline, features, spec, raw = fitted(case, model)
    plain = Predictor(pipeline, features, spec)
    records = requests(pipeline, raw, features, spec)
    width = plain.transform(plain.matrix(records[:1])).shape[1]
    model_onnx, note = convert_estimator(plain.estimator, width)
    assert model_onnx is not None, note
    served = Predictor(pipeline, features, spec, onnx=model_onnx)
    assert served.mode.startswith("numpy+onnx"), (served.mode, served.why)
    ok, dev = agreement(served.outputs(records), reference(served, records), served.is_classifier)
    assert ok, dev


def test_infrequent_categories_share_one_column() -> None:
    """max_categories: 2 groups the rarer plans and regions; an unseen value goes to that column too."""
    pipeline, features, spec, raw = fitted("churn-binary", "linear", max_categories=2)
    encoder = pipeline.named_steps["features"].named_transformers_["categorical"].named_steps["encode"]
    assert any(rare is not None for rare in encoder.infrequent_categories_)
    predictor = Predictor(pipeline, features, spec)
    assert predictor.mode.startswith("numpy+kernels"), predictor.why
    records = requests(pipeline, raw, features, spec)
    assert same(predictor, predictor.outputs(records), reference(predictor, records))


@pytest.mark.parametrize("handle_unknown", ["ignore", "infrequent_if_exist", "error"])
def test_onehot_kernel_follows_the_fitted_encoder(handle_unknown: str) -> None:
    """Whatever the encoder does with an unknown value (zeros, the infrequent column, an error), so does the
    kernel: an open category's unseen value is encoded, a closed one's is an error in both."""
    x = np.array([["a"], ["a"], ["a"], ["b"], ["b"], ["c"]], dtype=object)
    encoder = OneHotEncoder(handle_unknown=handle_unknown, max_categories=2, sparse_output=False).fit(x)
    kernel, why = _onehot_kernel(encoder)
    assert kernel is not None, why
    known = np.array([["a"], ["b"], ["c"]], dtype=object)
    assert np.array_equal(kernel(known), encoder.transform(known))
    unseen = np.array([["zzz"]], dtype=object)
    if handle_unknown == "error":
        with pytest.raises(ValueError, match="unknown categor"):
            encoder.transform(unseen)
        with pytest.raises(ValueError, match="unknown categor"):
            kernel(unseen)
    else:
        assert np.array_equal(kernel(unseen), encoder.transform(unseen))


def test_an_encoder_with_drop_is_named_as_the_reason() -> None:
    encoder = OneHotEncoder(drop="first").fit(np.array([["a"], ["b"]], dtype=object))
    assert _onehot_kernel(encoder) == (None, "OneHotEncoder(drop='first')")


DATES = [
    "2024-03-01",
    "1999-12-31",
    "2024-02-29T23:59:59",
    "2024-02-29 23:59:59.123456789",
    "2024-12-31T23:30:00Z",
    "2024-12-31T23:30:00+02:00",  # an offset moves the day in UTC: parsed by pandas
    "2024-12-31T20:30:00-05:00",
    "2023-02-29",  # no such day
    "2024-13-01",
    "2024-01-01T24:00:00",
    "1 March 2021",
    "03/04/2021",
    "20240301",
    "not a date",
    "",
    None,
]
# Outside pandas' nanosecond Timestamp range the pipeline's own answer depends on the other rows of the batch
# (a date alone is parsed, among in-range dates it is NaT): the kernel answers as for a one-record request.
OUT_OF_RANGE = ["1600-01-01", "2300-01-01"]


def test_date_parts_kernel_equals_the_pipeline_function() -> None:
    kernel = _date_parts_kernel(_date_parts)
    x = np.array([[d, DATES[-1 - i]] for i, d in enumerate(DATES)], dtype=object)
    expected = _date_parts(pd.DataFrame(x).astype("str"))
    assert np.array_equal(kernel(x), expected, equal_nan=True)
    assert np.array_equal(kernel(x), expected, equal_nan=True)  # second call: from the cache
    for row in [*x, *np.array([[d] for d in OUT_OF_RANGE], dtype=object)]:  # one by one
        assert np.array_equal(kernel(row[None, :]), _date_parts(pd.DataFrame([row]).astype("str")), equal_nan=True)


def test_fallback_and_slow_branches_say_why() -> None:
    _, features, spec, raw = fitted("churn-binary", "linear")
    robust = build_pipeline(
        parse_params({"data": {"target": "churned", "id_column": "customer_id"}}), spec
    )  # same shape, another scaler: no kernel for it
    robust.named_steps["features"].transformers[0][1].steps[-1] = ("scale", RobustScaler())
    frame = coerce(raw, spec)
    robust.fit(frame[features], frame["churned"])
    predictor = Predictor(robust, features, spec)
    assert predictor.fast and "RobustScaler" in predictor.why and "'numeric'" in predictor.why
    bare = Predictor(Pipeline([("model", robust.named_steps["model"])]), features, spec)  # no ColumnTransformer
    assert bare.mode == "dataframe" and "ColumnTransformer" in bare.why


def test_a_kernel_wrong_on_unseen_values_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-check scores unseen categories: a one-hot kernel that drops them is not served."""
    from mlops_template.ops.serving import predictor as module

    real = _onehot_kernel

    def zeros_for_unseen(enc: OneHotEncoder) -> Any:
        kernel, why = real(enc)
        return (lambda x: kernel(np.where(x == UNSEEN, x[0, 0], x))), why  # wrong: as if a known value

    pipeline, features, spec, _ = fitted("churn-binary", "linear", max_categories=2)
    assert Predictor(pipeline, features, spec).mode.startswith("numpy+kernels")
    monkeypatch.setattr(module, "_onehot_kernel", zeros_for_unseen)
    predictor = Predictor(pipeline, features, spec)
    assert not predictor.mode.startswith("numpy+kernels"), predictor.mode
    assert "the kernels differ from the pipeline" in predictor.why, predictor.why


def test_the_dataframe_fallback_imputes_a_missing_category() -> None:
    """A record alone with ``null`` in a categorical column: imputed as in training (the reference casts the
    frame like ``coerce``), not encoded as an unknown value."""
    pipeline, features, spec, raw = fitted("churn-binary", "linear", max_categories=2)
    record = {k: None if pd.isna(v) else v for k, v in raw[features].iloc[0].to_dict().items()}
    missing = {**record, "plan": None}
    slow = Predictor(pipeline, features, spec, fast=False)
    assert np.array_equal(slow.outputs([missing]), reference(slow, [missing]))
    filled = pipeline.named_steps["features"].named_transformers_["categorical"].named_steps["impute"].statistics_
    assert np.array_equal(slow.outputs([missing]), slow.outputs([{**record, "plan": filled[0]}]))


@pytest.mark.parametrize("model", ESTIMATORS)
@pytest.mark.parametrize("case", list(CASES))
def test_one_record_in_python_scalars_equals_the_numpy_kernels(case: str, model: str) -> None:
    """/predict's scalar path gives the numpy kernels' estimator input bit for bit: every category, unseen
    values, missing values, booleans, dates and identifier columns included."""
    pipeline, features, spec, raw = fitted(case, model)
    predictor = Predictor(pipeline, features, spec)
    assert predictor._row_kernel is not None and predictor._use_row, predictor.mode  # noqa: SLF001 (the one-record kernel is what this test checks)
    for record in requests(pipeline, raw, features, spec):
        row = predictor._row_kernel(record)  # noqa: SLF001
        assert np.array_equal(row, predictor.transform(predictor.matrix([record])), equal_nan=True), record


@pytest.mark.parametrize("case", ["churn-binary", "churn-multiclass", "churn-regression"])
def test_forest_kernel_sums_the_trees_as_scikit_learn_does(case: str) -> None:
    pipeline, features, spec, raw = fitted(case, "random_forest")
    predictor = Predictor(pipeline, features, spec)
    forest = forest_kernel(predictor.estimator)
    assert forest is not None
    t = predictor.transform(predictor.matrix(requests(pipeline, raw, features, spec)))
    est = predictor.estimator
    assert np.array_equal(forest(t), est.predict_proba(t) if predictor.is_classifier else est.predict(t))
    assert forest_kernel(fitted(case, "linear")[0].named_steps["model"]) is None  # not a forest


def with_onnx(case: str, model: str) -> tuple[Predictor, list[dict[str, Any]], Any]:
    """The case's model served with its estimator converted to ONNX (as ``make bento`` does), its requests."""
    pipeline, features, spec, raw = fitted(case, model)
    plain = Predictor(pipeline, features, spec)
    records = requests(pipeline, raw, features, spec)
    width = plain.transform(plain.matrix(records[:1])).shape[1]
    model_onnx, note = convert_estimator(plain.estimator, width)
    assert model_onnx is not None, note
    return Predictor(pipeline, features, spec, onnx=model_onnx), records, model_onnx


@pytest.mark.parametrize("case", ["churn-binary", "churn-regression"])
def test_large_forest_batches_leave_onnx_for_the_trees_within_the_check(case: str) -> None:
    """With ONNX attached, a forest scores FOREST_BATCH_ROWS rows and more with its own trees (faster there);
    small batches and single records stay on ONNX Runtime; both agree with the pipeline."""
    served, records, model_onnx = with_onnx(case, "random_forest")
    assert served.mode == f"numpy+onnx ({model_onnx.label}), forest trees from {FOREST_BATCH_ROWS} rows"
    big = (records * (FOREST_BATCH_ROWS // len(records) + 1))[:FOREST_BATCH_ROWS]
    assert same(served, served.outputs(big), reference(served, big))  # the trees: exact
    small = served.outputs(records)
    assert agreement(small, reference(served, records), served.is_classifier)[0]  # ONNX: within the tolerance
    assert np.array_equal(small, served._onnx(served.transform(served.matrix(records))))  # ... and it is ONNX  # noqa: SLF001


@pytest.mark.parametrize("case", ["churn-binary", "animal-binary"])
def test_batches_of_a_binary_logistic_model_leave_onnx_for_its_own_arithmetic_within_the_check(case: str) -> None:
    """With ONNX attached, a binary logistic regression scores LOGISTIC_BATCH_ROWS rows and more with its numpy
    kernel (sklearn's own arithmetic: exact); one record stays on ONNX Runtime; the transform never changes
    the caller's matrix (the kernels copy only where they write)."""
    served, records, model_onnx = with_onnx(case, "linear")
    assert served.mode == f"numpy+onnx ({model_onnx.label}), numpy logistic from {LOGISTIC_BATCH_ROWS} rows"
    big = (records * (LOGISTIC_BATCH_ROWS // len(records) + 2))[: 2 * LOGISTIC_BATCH_ROWS]
    assert same(served, served.outputs(big), reference(served, big))  # the kernel: exact
    one = served.outputs(records[:1])
    assert np.array_equal(one, served._onnx(served.transform(served.matrix(records[:1]))))  # ONNX  # noqa: SLF001
    x = served.matrix(big)
    before = x.copy()
    served.proba_matrix(x)
    assert np.array_equal(pd.isna(x), pd.isna(before)) and (x[~pd.isna(x)] == before[~pd.isna(before)]).all()


@pytest.mark.parametrize("missing", [False, True])
def test_numeric_kernels_equal_sklearn_and_never_change_their_input(missing: bool) -> None:
    """Impute + scale as kernels: sklearn's values bit for bit; the input matrix is left as it was (the
    imputer copies only when it fills a value in, the scalers write a new array)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from mlops_template.ops.serving.predictor import transformer_kernel

    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 4))
    train[rng.random(train.shape) < 0.1] = np.nan
    x = rng.normal(size=(50, 4)) * 3
    if missing:
        x[rng.random(x.shape) < 0.2] = np.nan
    for scaler in (StandardScaler(), MinMaxScaler()):
        pipe = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", scaler)]).fit(train)
        kernel, why = transformer_kernel(pipe)
        assert kernel is not None, why
        before = x.copy()
        out = kernel(x)
        assert np.array_equal(out, pipe.transform(x)) and out is not x
        assert np.array_equal(x, before, equal_nan=True)


class Nudged(Predictor):
    """The pipeline's reference moved by a relative ``NUDGE``: what another CPU's summation order does."""

    NUDGE = 0.0

    def reference(self, records: Any) -> np.ndarray:
        return super().reference(records) * (1 + self.NUDGE)


@pytest.mark.parametrize(("nudge", "kept"), [(0.0, True), (4e-16, True), (1e-13, True), (1e-9, False)])
def test_the_self_check_takes_last_bit_differences_not_more(nudge: float, kept: bool) -> None:
    """A regression model whose fast path differs from the pipeline in the last bits keeps the fast path (a
    relative 1e-12, as tests/unit/test_mixed_fast_path.same); a real difference sends it to the fallback."""
    pipeline, features, spec, _ = fitted("churn-regression", "linear")
    Nudged.NUDGE = nudge
    predictor = Nudged(pipeline, features, spec)
    assert predictor.mode.startswith("numpy+kernels") is kept, (predictor.mode, predictor.why)
    if not kept:
        assert predictor.mode == "dataframe" and "differs from the pipeline" in predictor.why


def test_same_outputs_wants_the_same_top_class() -> None:
    close = np.array([[0.5, 0.5 + 1e-16]])  # within 1e-12, but the other class on top
    assert same_outputs(np.array([[0.5 + 1e-16, 0.5]]), np.array([[0.5 + 1e-16, 0.5]]), True)
    assert not same_outputs(close, np.array([[0.5 + 1e-16, 0.5]]), True)
    assert same_outputs(np.array([52839.62]), np.array([np.nextafter(52839.62, 1e6)]), False)
    assert not same_outputs(np.array([1.0, 2.0]), np.array([1.0]), False)


@pytest.mark.parametrize("case", ["churn-binary", "churn-multiclass"])
def test_one_record_is_decided_as_in_a_batch(case: str) -> None:
    """decide's plain-Python branch for one row gives the batch branch's label and score: at the threshold,
    on both sides of it, and on a tie between classes (the first maximum wins, as argmax)."""
    pipeline, features, spec, _ = fitted(case, "linear")
    predictor = Predictor(pipeline, features, spec)
    k = len(predictor.classes or [])
    if k == 2:
        rows = np.array([[0.5, 0.5], [0.7, 0.3], [0.2, 0.8], [0.5000001, 0.4999999]])
    else:
        tie_first = np.r_[[0.4, 0.4], np.full(k - 2, 0.2 / (k - 2))]
        tie_last = np.r_[np.full(k - 2, 0.1 / (k - 2)), [0.45, 0.45]]
        rows = np.vstack([np.eye(k), tie_first, tie_last])
    labels, scores, _ = decide(predictor, rows, 0.5)
    for i, row in enumerate(rows):
        one_label, one_score, _ = decide(predictor, row[None, :], 0.5)
        assert (one_label, one_score) == ([labels[i]], [scores[i]]), row
