"""The one preprocessing pipeline, used by training and (inside the saved model) by serving.

Column kinds come from the schema (mlops_template.core.data.kinds): numeric and boolean columns are imputed
and scaled, categories are imputed and one-hot encoded (a value unseen in training, possible only in an
open category, is encoded as unknown: the infrequent column, or all zeros), ``role: date`` columns become
year/month/weekday numbers. Only ``feature``/``date`` columns reach the model: the id, the target and every
``identifier``/``ignored`` column are dropped (see ``SchemaSpec.feature_columns``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from mlops_template.core.config import FeatureParams
from mlops_template.core.data import kinds
from mlops_template.core.data.schema import SchemaSpec, parse_dates


def branches(spec: SchemaSpec, features: list[str]) -> dict[str, list[str]]:
    """Feature columns by preprocessing branch (numeric, boolean, categorical, date, ignored): the column
    kind registry (mlops_template.core.data.kinds) decides."""
    out: dict[str, list[str]] = {}
    for c in features:
        out.setdefault(kinds.branch(spec.columns[c]), []).append(c)
    return out


def split_feature_types(spec: SchemaSpec, features: list[str]) -> tuple[list[str], list[str], list[str]]:
    by = branches(spec, features)
    return by.get("numeric", []), by.get("boolean", []), by.get("categorical", [])


def _to_float(x):
    return x.astype("float64")


DATE_PARTS = ("year", "month", "weekday")


def _date_parts(x):
    """Each date column -> year, month, weekday (NaN where missing or not a date)."""
    frame = pd.DataFrame(x)
    out = []
    for i in range(frame.shape[1]):
        stamps = parse_dates(frame.iloc[:, i].reset_index(drop=True))
        out += [stamps.dt.year, stamps.dt.month, stamps.dt.weekday]
    return np.column_stack([part.to_numpy(dtype="float64", na_value=np.nan) for part in out])


def _date_names(_transformer, names):  # sklearn's feature_names_out(transformer, input_features) signature
    return np.array([f"{name}_{part}" for name in names for part in DATE_PARTS], dtype=object)


# The functions inside every fitted pipeline's FunctionTransformers. A saved model refers to them by their private
# names (pickle), so those names stay; the serving fast path (ops/serving/predictor.py) recognises them by these.
TO_FLOAT_FUNC = _to_float
DATE_PARTS_FUNC = _date_parts


def build_preprocessor(spec: SchemaSpec, features: list[str], params: FeatureParams) -> ColumnTransformer:
    """One branch per column kind present (numeric, boolean, categorical, date; in that order), the rest dropped."""
    by = branches(spec, features)
    if by.get("ignored"):
        raise ValueError(f"not model inputs (role identifier/ignored in the schema): {', '.join(by['ignored'])}")
    transformers = [(name, build(params), by[name]) for name, build in BRANCHES.items() if by.get(name)]
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def _scaler(params: FeatureParams):
    return {"standard": StandardScaler(), "minmax": MinMaxScaler(), "none": "passthrough"}[params.scaler]


def _numeric_branch(params: FeatureParams) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy=params.numeric_imputer)), ("scale", _scaler(params))])


def _boolean_branch(_params: FeatureParams) -> Pipeline:
    return Pipeline(
        [
            ("to_float", FunctionTransformer(_to_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent")),
        ]
    )


def _categorical_branch(params: FeatureParams) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy=params.categorical_imputer, fill_value="missing")),
            ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=params.max_categories)),
        ]
    )


def _date_branch(params: FeatureParams) -> Pipeline:
    return Pipeline(
        [
            ("parts", FunctionTransformer(_date_parts, feature_names_out=_date_names)),
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ("scale", _scaler(params)),
        ]
    )


# kinds.branch(column) -> the preprocessing of that branch (the registry's "feature branch"), in ColumnTransformer order
BRANCHES: dict[str, Callable[[FeatureParams], Pipeline]] = {
    "numeric": _numeric_branch,
    "boolean": _boolean_branch,
    "categorical": _categorical_branch,
    "date": _date_branch,
}
