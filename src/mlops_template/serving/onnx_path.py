"""The fitted estimator as an ONNX Runtime session (the fast path for every estimator on offer).

The pipeline's preprocessing (imputers, scalers, one-hot) stays in :mod:`predictor` (numpy kernels or
the fitted transformers on a numpy matrix); only the final estimator is converted with ``skl2onnx``,
fed the transformed matrix. Conversion tries float32 input first for tree models
(scikit-learn itself casts their input to float32; ONNX Runtime's tree operators need it), double
precision first for linear models. ``make bento`` checks the converted path against
the scikit-learn pipeline on the test split (:func:`agreement`) and stores the ONNX file only when it
agrees within :data:`TOLERANCE`; otherwise the service falls back to the plain pipeline path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# max |served - sklearn| per probability (classifiers) / per prediction, relative to max(1, |y|) (regression);
# classifiers must also give the same label on every checked row.
TOLERANCE = 1e-4


@contextlib.contextmanager
def _skl2onnx_attribute_fix() -> Iterator[None]:
    """skl2onnx 1.20 passes numpy bools/uint32 in integer-list attributes (HistGradientBoosting's trees),
    which onnx >= 1.17 rejects ("Expected an int, got a boolean"). Cast them to int while converting."""
    import skl2onnx.common._container as container

    original = container.make_node

    def make_node(op_type: str, inputs: Any, outputs: Any, name: str | None = None, **attrs: Any) -> Any:
        for key, value in attrs.items():
            if (
                isinstance(value, list | tuple)
                and value
                and all(isinstance(v, bool | np.bool_ | np.integer) for v in value)
            ):
                attrs[key] = [int(v) for v in value]
        return original(op_type, inputs, outputs, name=name, **attrs)

    container.make_node = make_node
    try:
        yield
    finally:
        container.make_node = original


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX estimator: its bytes and the input dtype it was converted for ("float64"/"float32")."""

    onnx: bytes
    dtype: str


class OnnxEstimator:
    """``predict_proba`` / ``predict`` of the converted estimator on a transformed numpy matrix."""

    def __init__(self, model: OnnxModel, is_classifier: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one server worker = one core; no thread pool per call
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.onnx, options, providers=["CPUExecutionProvider"])
        self.dtype = np.dtype(model.dtype)
        self.input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        # classifiers: [label, probabilities]; regressors: [variable]
        self.output = [outputs[1] if is_classifier else outputs[0]]
        self.is_classifier = is_classifier

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(self.output, {self.input: np.ascontiguousarray(x, dtype=self.dtype)})[0]
        out = np.asarray(out, dtype=np.float64)
        return out if self.is_classifier else out.reshape(-1)


def is_tree_model(estimator: Any) -> bool:
    """Forests and (histogram) gradient boosting: scikit-learn scores them on float32 input."""
    return hasattr(estimator, "estimators_") or type(estimator).__name__.startswith("HistGradientBoosting")


def convert_estimator(estimator: Any, n_inputs: int) -> tuple[OnnxModel | None, str]:
    """Convert a fitted estimator; (model, note). The model is None when no dtype converts and loads."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as err:  # pragma: no cover - a dependency of the project
        return None, f"skl2onnx not installed: {err}"
    is_classifier = hasattr(estimator, "predict_proba")
    options = {id(estimator): {"zipmap": False}} if is_classifier else None
    notes = []
    candidates = [(DoubleTensorType, "float64"), (FloatTensorType, "float32")]
    if is_tree_model(estimator):
        candidates.reverse()  # scikit-learn's trees compare float32(x) with the threshold: float32 matches it
    for tensor, dtype in candidates:
        try:
            with _skl2onnx_attribute_fix():
                onx = convert_sklearn(
                    estimator,
                    initial_types=[("x", tensor([None, n_inputs]))],
                    options=options,
                    target_opset={"": 17, "ai.onnx.ml": 3},
                )
            model = OnnxModel(onx.SerializeToString(), dtype)
            OnnxEstimator(model, is_classifier)(np.zeros((1, n_inputs)))  # loads and runs
            return model, f"converted ({dtype})"
        except Exception as err:  # any converter/runtime failure means: try the next, then fall back
            notes.append(f"{dtype}: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
    return None, "; ".join(notes)


def agreement(fast: np.ndarray, slow: np.ndarray, is_classifier: bool) -> tuple[bool, float]:
    """(within tolerance, max deviation) of served vs scikit-learn outputs on the same rows."""
    fast, slow = np.asarray(fast, dtype=np.float64), np.asarray(slow, dtype=np.float64)
    if fast.shape != slow.shape or not np.isfinite(fast).all():
        return False, float("inf")
    if is_classifier:
        dev = float(np.abs(fast - slow).max()) if fast.size else 0.0
        same_labels = bool((fast.argmax(axis=1) == slow.argmax(axis=1)).all())
        return dev <= TOLERANCE and same_labels, dev
    dev = float((np.abs(fast - slow) / np.maximum(1.0, np.abs(slow))).max()) if fast.size else 0.0
    return dev <= TOLERANCE, dev
