"""Model factory: params -> an sklearn Pipeline (preprocessing + estimator)."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec
from mlops_template.core.features import build_preprocessor


def build_estimator(params: Params) -> BaseEstimator:
    """The estimator named by ``model.type``, configured by its block in params.yaml."""
    kind = params.model.type
    regression = params.task == "regression"
    hp: dict[str, Any] = params.model.selected().model_dump()
    seed = params.seed
    if kind == "linear":
        if regression:
            return Ridge(alpha=1.0 / hp["C"], random_state=seed)
        return LogisticRegression(
            C=hp["C"], max_iter=hp["max_iter"], class_weight=hp["class_weight"], random_state=seed
        )
    if kind == "random_forest":
        if regression:
            hp.pop("class_weight")
            return RandomForestRegressor(random_state=seed, **hp)
        return RandomForestClassifier(random_state=seed, **hp)
    if kind == "hist_gradient_boosting":
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(random_state=seed, **hp)
    raise ValueError(f"model.type: unknown estimator {kind!r}")  # unreachable: config validates it


def build_pipeline(params: Params, spec: SchemaSpec) -> Pipeline:
    features = spec.feature_columns(params.data.target, params.data.id_column)
    return Pipeline(
        [
            ("features", build_preprocessor(spec, features, params.features)),
            ("model", build_estimator(params)),
        ]
    )
