"""The project's model contract: behaviour that holds for any dataset and any estimator.

Derived from params.yaml (task, target, id column, model, compare.floors) and data/schema.yaml; the model
is the one `make repro` trains (same params, same split, same seed). The quality floor has ONE source:
`compare.floors` in params.yaml, which the PR gate also applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec, coerce
from mlops_template.core.data.split import split_frame
from mlops_template.core.metric_catalogue import HIGHER_IS_BETTER
from mlops_template.core.metrics import metrics_of, predict
from mlops_template.core.model import build_pipeline


@pytest.fixture(scope="module")
def splits(raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = coerce(raw_frame, spec)
    stratify = params.split.stratify and params.task != "regression"
    return split_frame(frame, params.data.target, params.split.test_size, params.seed, stratify)


@pytest.fixture(scope="module")
def features(spec: SchemaSpec, params: Params) -> list[str]:
    return spec.feature_columns(params.data.target, params.data.id_column)


def _fit(params: Params, spec: SchemaSpec, train: pd.DataFrame) -> Pipeline:
    return build_pipeline(params, spec).fit(train, train[params.data.target])


@pytest.fixture(scope="module")
def model(params: Params, spec: SchemaSpec, splits) -> Pipeline:
    return _fit(params, spec, splits[0])


def _outputs(model: Pipeline, x: pd.DataFrame, task: str) -> np.ndarray:
    return model.predict(x) if task == "regression" else model.predict_proba(x)


def test_quality_floors_from_params(model: Pipeline, splits, params: Params) -> None:
    floors = params.compare.floors
    if not floors:
        pytest.skip("compare.floors is empty in params.yaml: no quality floor is set (e.g. floors: {f1_macro: 0.8})")
    d = params.data
    metrics = metrics_of(params.task, predict(model, splits[1], d.target, d.id_column, params.evaluate.threshold))
    broken = []
    for name, floor in floors.items():
        if name not in metrics:
            broken.append(f"{name}: not a metric of task {params.task} (has {', '.join(metrics)})")
        elif HIGHER_IS_BETTER[name] and metrics[name] < floor:
            broken.append(f"{name} = {metrics[name]:.4f} < floor {floor}")
        elif not HIGHER_IS_BETTER[name] and metrics[name] > floor:
            broken.append(f"{name} = {metrics[name]:.4f} > ceiling {floor}")
    assert not broken, "compare.floors in params.yaml: " + "; ".join(broken)


def test_retraining_is_deterministic(model: Pipeline, params: Params, spec: SchemaSpec, splits) -> None:
    again = _fit(params, spec, splits[0])
    x = splits[1]
    np.testing.assert_array_equal(_outputs(again, x, params.task), _outputs(model, x, params.task))


def test_predictions_do_not_depend_on_row_order(model: Pipeline, splits, params: Params) -> None:
    x = splits[1]
    order = np.random.default_rng(0).permutation(len(x))
    base = _outputs(model, x, params.task)
    shuffled = _outputs(model, x.iloc[order], params.task)
    np.testing.assert_allclose(shuffled, base[order], rtol=0, atol=1e-9)


def test_predictions_do_not_depend_on_the_id_or_ignored_columns(
    model: Pipeline, splits, params: Params, spec: SchemaSpec, features: list[str]
) -> None:
    x = splits[1]
    changed = x.copy()
    for name in {params.data.id_column, *spec.passthrough_columns()} & set(x.columns):
        changed[name] = changed[name].sample(frac=1.0, random_state=1).to_numpy()  # other rows' values
    assert params.data.id_column not in features
    np.testing.assert_array_equal(_outputs(model, changed, params.task), _outputs(model, x, params.task))


def test_output_shape_and_type_for_the_task(model: Pipeline, splits, params: Params, spec: SchemaSpec) -> None:
    x = splits[1]
    pred = model.predict(x)
    assert pred.shape == (len(x),)
    if params.task == "regression":
        assert np.issubdtype(pred.dtype, np.number) and np.isfinite(pred).all()
        return
    allowed = spec.columns[params.data.target].allowed
    labels = set(allowed) if allowed is not None else {True, False}
    assert set(model.classes_) <= labels
    assert set(pred) <= set(model.classes_)
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), len(model.classes_))
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    if params.task == "binary":
        assert len(model.classes_) == 2


def test_nullable_features_accept_missing_values(
    model: Pipeline, splits, params: Params, spec: SchemaSpec, features: list[str]
) -> None:
    nullable = [c for c in features if spec.columns[c].nullable]
    if not nullable:
        pytest.skip("no feature is nullable in data/schema.yaml")
    x = splits[1].head(20).copy()
    for name in nullable:
        x[name] = x[name].astype("object" if spec.columns[name].dtype in ("str", "bool") else "float64")
        x[name] = None if spec.columns[name].dtype in ("str", "bool") else np.nan
    out = _outputs(model, x, params.task)
    assert np.isfinite(out.astype("float64")).all()
