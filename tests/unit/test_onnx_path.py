"""The ONNX conversion variants: HistGradientBoosting in double precision where float32 rounding matters."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest

from mlops_template.core.config import parse_params
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.core.model import build_pipeline
from mlops_template.ops.serving.onnx_path import TOLERANCE, OnnxModel, agreement, convert_estimator, variants_for
from mlops_template.ops.serving.predictor import Predictor

SPEC = SchemaSpec(
    columns={
        "x1": ColumnSpec(dtype="float64", min=-10, max=10),
        "x2": ColumnSpec(dtype="float64", min=-10, max=10),
        "target": ColumnSpec(dtype="float64"),
    }
)
FEATURES = ["x1", "x2"]


def near_twins(task: str, n: int = 240) -> pd.DataFrame:
    """x1 takes values in pairs that differ in float64 but round to the same float32, also after scaling
    (near-duplicates as in normalised data sets such as scikit-learn's diabetes, where they moved HGB's
    predictions by 8.8e-3): the target follows the twin, so the useful splits sit between twins."""
    rng = np.random.default_rng(5)
    twin = rng.integers(0, 2, n)
    base = rng.integers(1, 4, n) / 7
    frame = pd.DataFrame({"x1": base * (1 + 1e-12 * twin), "x2": rng.normal(0, 2, n)})
    assert frame["x1"].nunique() == 6 and frame["x1"].astype(np.float32).nunique() == 3
    if task == "regression":
        frame["target"] = 300.0 * twin + rng.normal(0, 1, n)
    else:
        frame["target"] = twin.astype("int64")
    return frame


def fitted(task: str) -> tuple[Predictor, list[dict[str, Any]], int]:
    frame = near_twins(task)
    params = parse_params(
        {"task": task, "model": {"type": "hist_gradient_boosting", "hist_gradient_boosting": {"max_iter": 5}}}
    )
    pipeline = build_pipeline(params, SPEC).fit(frame[FEATURES], frame["target"])
    plain = Predictor(pipeline, FEATURES, SPEC)
    records = frame[FEATURES].to_dict("records")
    width = plain.transform(plain.matrix(records[:1])).shape[1]
    return plain, records, width


def check(plain: Predictor, records: list[dict[str, Any]]) -> Any:
    """The acceptance test ``make bento`` applies (store.prepare_fast_path): served vs the pipeline."""
    reference = plain.reference(records)

    def accept(model: OnnxModel) -> tuple[bool, str]:
        served = Predictor(plain.pipeline, FEATURES, SPEC, onnx=model)
        ok, dev = agreement(served.outputs(records), reference, served.is_classifier)
        return ok and served.mode.startswith("numpy+onnx"), f"{served.mode}: {dev:.2e}"

    return accept


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_hist_gradient_boosting_converts_in_double_and_agrees(task: str) -> None:
    plain, records, width = fitted(task)
    assert variants_for(plain.estimator)[0] == "float64-trees"
    accept = check(plain, records)

    # float32 input cannot tell the twins apart: that variant converts but does not agree (the test can fail)
    float32, _ = convert_estimator(plain.estimator, width, accept=lambda m: (m.variant == "float32", "skip"))
    assert float32 is not None and not accept(float32)[0]

    model, note = convert_estimator(plain.estimator, width, accept=accept)
    assert model is not None and model.variant == "float64-trees", note
    served = Predictor(plain.pipeline, FEATURES, SPEC, onnx=model)
    assert served.mode == "numpy+onnx (float64-trees)"
    ok, dev = agreement(served.outputs(records), plain.reference(records), served.is_classifier)
    assert ok and dev <= TOLERANCE, dev
    for one in records[:5]:  # single records, as /predict scores them
        assert agreement(served.outputs([one]), plain.reference([one]), served.is_classifier)[0]

    # the graph: thresholds and leaf values as double tensors (ml opset 3), no Cast to float anywhere
    graph = onnx.load_from_string(model.onnx)
    assert {o.domain: o.version for o in graph.opset_import}["ai.onnx.ml"] == 3
    (tree,) = [n for n in graph.graph.node if n.op_type.startswith("TreeEnsemble")]
    tensors = {a.name: a.t for a in tree.attribute if a.name.endswith("_as_tensor")}
    assert tensors["nodes_values_as_tensor"].data_type == onnx.TensorProto.DOUBLE
    assert not any(a.name == "nodes_values" for a in tree.attribute)
    casts = [a.i for n in graph.graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert onnx.TensorProto.FLOAT not in casts
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_forests_keep_float32_first() -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge

    forest = RandomForestRegressor(n_estimators=2).fit(np.eye(3), [0.0, 1.0, 2.0])
    assert variants_for(forest) == ["float32", "float64-trees"]  # scikit-learn casts the input to float32
    assert variants_for(Ridge()) == ["float64", "float32"]
