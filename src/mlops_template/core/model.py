"""Model factory: params -> an sklearn Pipeline (preprocessing + estimator)."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

from mlops_template.core import estimators
from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec
from mlops_template.core.features import build_preprocessor


def build_estimator(params: Params) -> Any:
    """The estimator named by ``model.type`` (an entry of ``core/estimators.py``), configured by its block."""
    return estimators.get(params.model.type).build(params.model.selected(), params.task, params.seed)


def build_pipeline(params: Params, spec: SchemaSpec) -> Pipeline:
    features = spec.feature_columns(params.data.target, params.data.id_column)
    return Pipeline(
        [
            ("features", build_preprocessor(spec, features, params.features)),
            ("model", build_estimator(params)),
        ]
    )
