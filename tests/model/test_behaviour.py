"""Behavioural tests of the model on the default data: minimum quality, invariance, direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops_template.config import Params
from mlops_template.data.schema import SchemaSpec, coerce
from mlops_template.data.split import split_frame
from mlops_template.evaluation.metrics import metrics_of, predict
from mlops_template.model import build_pipeline

MODEL_TYPES = ["linear", "random_forest", "hist_gradient_boosting"]
MIN_ROC_AUC = 0.97
MIN_ACCURACY = 0.92


@pytest.fixture(scope="module")
def splits(raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = coerce(raw_frame, spec)
    return split_frame(frame, params.data.target, params.split.test_size, params.seed, True)


def _fit(params: Params, spec: SchemaSpec, train: pd.DataFrame, model_type: str) -> Pipeline:
    p = params.model_copy(update={"model": params.model.model_copy(update={"type": model_type})})
    features = spec.feature_columns(params.data.target, params.data.id_column)
    return build_pipeline(p, spec).fit(train[features], train[params.data.target])


@pytest.fixture(scope="module")
def models(params: Params, spec: SchemaSpec, splits) -> dict[str, Pipeline]:
    return {t: _fit(params, spec, splits[0], t) for t in MODEL_TYPES}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_minimum_performance(model_type: str, models, splits, params: Params) -> None:
    m = metrics_of("binary", predict(models[model_type], splits[1], params.data.target, params.data.id_column))
    assert m["roc_auc"] >= MIN_ROC_AUC, m
    assert m["accuracy"] >= MIN_ACCURACY, m


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_predictions_do_not_depend_on_test_row_order(model_type: str, models, splits, params: Params) -> None:
    test = splits[1]
    features = [c for c in test.columns if c not in (params.data.target, params.data.id_column)]
    order = np.random.default_rng(0).permutation(len(test))
    base = models[model_type].predict_proba(test[features])[:, 1]
    shuffled = models[model_type].predict_proba(test[features].iloc[order])[:, 1]
    np.testing.assert_allclose(shuffled, base[order], rtol=0, atol=1e-12)


def test_training_row_order_does_not_change_the_model(params: Params, spec: SchemaSpec, splits) -> None:
    train, test = splits
    features = spec.feature_columns(params.data.target, params.data.id_column)
    a = _fit(params, spec, train, "linear").predict_proba(test[features])[:, 1]
    shuffled = train.sample(frac=1.0, random_state=3).reset_index(drop=True)
    b = _fit(params, spec, shuffled, "linear").predict_proba(test[features])[:, 1]
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_larger_worst_radius_makes_benign_less_likely(model_type: str, models, splits, params: Params) -> None:
    """Directional: bigger, more concave tumours are more likely malignant (class 0), i.e. P(benign) drops."""
    test = splits[1]
    features = [c for c in test.columns if c not in (params.data.target, params.data.id_column)]
    x = test[features]
    bigger = x.copy()
    for col in ("worst_radius", "worst_perimeter", "worst_area", "worst_concave_points"):
        bigger[col] = x[col] * 1.5
    p0 = models[model_type].predict_proba(x)[:, 1]
    p1 = models[model_type].predict_proba(bigger)[:, 1]
    assert (p1 <= p0 + 1e-9).mean() >= 0.95
    assert p1.mean() < p0.mean()
