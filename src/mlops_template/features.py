"""The one preprocessing pipeline, used by training and (inside the saved model) by serving.

Column roles come from the schema: numeric and boolean columns are imputed and scaled,
string columns are imputed and one-hot encoded. The id and target columns never reach the model.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from mlops_template.config import FeatureParams
from mlops_template.data.schema import SchemaSpec


def split_feature_types(spec: SchemaSpec, features: list[str]) -> tuple[list[str], list[str], list[str]]:
    numeric = [c for c in features if spec.columns[c].dtype in ("int64", "float64")]
    boolean = [c for c in features if spec.columns[c].dtype == "bool"]
    categorical = [c for c in features if spec.columns[c].dtype == "str"]
    return numeric, boolean, categorical


def _to_float(x):
    return x.astype("float64")


def build_preprocessor(spec: SchemaSpec, features: list[str], params: FeatureParams) -> ColumnTransformer:
    numeric, boolean, categorical = split_feature_types(spec, features)
    scaler = {"standard": StandardScaler(), "minmax": MinMaxScaler(), "none": "passthrough"}[params.scaler]
    transformers: list[tuple[str, object, list[str]]] = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy=params.numeric_imputer)), ("scale", scaler)]),
                numeric,
            )
        )
    if boolean:
        transformers.append(
            (
                "boolean",
                Pipeline(
                    [
                        ("to_float", FunctionTransformer(_to_float, feature_names_out="one-to-one")),
                        ("impute", SimpleImputer(strategy="most_frequent")),
                    ]
                ),
                boolean,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy=params.categorical_imputer, fill_value="missing")),
                        (
                            "encode",
                            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=params.max_categories),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
