"""The fitted estimator as an ONNX Runtime session (the fast path for every estimator on offer).

The pipeline's preprocessing (imputers, scalers, one-hot) stays in :mod:`predictor` (numpy kernels or
the fitted transformers on a numpy matrix); only the final estimator is converted with ``skl2onnx``,
fed the transformed matrix. :func:`convert_estimator` tries the input types in order and keeps the first one
that converts, loads and passes the caller's check (``make bento`` passes :func:`agreement` on the test split).
Which variants an estimator tries, in which order, is its registry entry's ``onnx_variants``
(``core/estimators.py``):

- ``float64-trees`` (tree models; first for HistGradientBoosting): double input and double thresholds and leaf
  values (``ai.onnx.ml`` opset 3's ``*_as_tensor`` attributes; skl2onnx 1.20 writes them as float32 lists even
  for double input). This is what HistGradientBoosting computes: float64 input against float64 bin
  thresholds. For forests the converter's thresholds reproduce scikit-learn's float32 comparison.
- ``float32`` (first for forests): float32 input and thresholds, as scikit-learn's forests compare. Close for
  most HGB models, but not where rounding an input to float32 crosses a threshold (on the diabetes regression
  data it moved HGB's predictions by 8.8e-3 relative, far outside the tolerance).
- ``float64``: double input, the converter's defaults (first for linear models).

The ONNX file is stored only when it agrees within :data:`TOLERANCE`; otherwise the service falls back to the
plain pipeline path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_template.core.estimators import entry_of

# skl2onnx's internals are patched only there, gated on the versions the patch was written for
from mlops_template.ops.serving._skl2onnx_compat import TREE_OPS
from mlops_template.ops.serving._skl2onnx_compat import attribute_fix as _skl2onnx_attribute_fix

# max |served - sklearn| per probability (classifiers) / per prediction, relative to max(1, |y|) (regression);
# classifiers must also give the same label on every checked row.
TOLERANCE = 1e-4


def _finish_double_trees(onx: Any) -> Any:
    """Make a graph converted with ``double_trees`` valid: ml opset 3 (the ``*_as_tensor`` attributes), and a
    Cast to double after each tree output that opset 3 defines as float (regression values, probabilities)
    where the converter declared it double. Raises when the graph holds anything else of the ml domain."""
    from onnx import TensorProto, helper

    trees = [n for n in onx.graph.node if n.op_type in TREE_OPS]
    others = [n.op_type for n in onx.graph.node if n.domain == "ai.onnx.ml" and n.op_type not in TREE_OPS]
    if not trees or others:
        raise ValueError(f"not a plain tree ensemble graph (ml nodes: {others or 'no trees'})")
    for opset in onx.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = 3
    declared = {v.name: v.type.tensor_type.elem_type for v in [*onx.graph.output, *onx.graph.value_info]}
    casts = []
    for node in trees:
        position = 0 if node.op_type == "TreeEnsembleRegressor" else 1  # classifier: (label, probabilities)
        if len(node.output) > position and declared.get(node.output[position]) == TensorProto.DOUBLE:
            double = node.output[position]
            node.output[position] = f"{double}_float32"
            casts.append(helper.make_node("Cast", [node.output[position]], [double], to=TensorProto.DOUBLE))
    for cast in casts:
        onx.graph.node.append(cast)  # after its producer: the graph stays topologically sorted
    return onx


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX estimator: its bytes, the input dtype it was converted for ("float64"/"float32") and the
    variant (``float64-trees``, ``float32``, ``float64``: see the module's docstring)."""

    onnx: bytes
    dtype: str
    variant: str = ""

    @property
    def label(self) -> str:
        return self.variant or self.dtype


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


def convert_estimator(
    estimator: Any,
    n_inputs: int,
    accept: Callable[[OnnxModel], tuple[bool, str]] | None = None,
) -> tuple[OnnxModel | None, str]:
    """Convert a fitted estimator; (model, note).

    Tries the variants in order of preference (see the module's docstring) and returns the first that
    converts, loads, runs and, when ``accept`` is given, is accepted by it (``accept`` returns (ok, note)).
    The model is None when no variant passes; the note then says why each failed.
    """
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as err:  # pragma: no cover - a dependency of the project
        return None, f"skl2onnx not installed: {err}"
    is_classifier = hasattr(estimator, "predict_proba")
    options = {id(estimator): {"zipmap": False}} if is_classifier else None
    notes = []
    tensors = {"float64": DoubleTensorType, "float32": FloatTensorType}
    for variant in variants_for(estimator):
        dtype = "float32" if variant == "float32" else "float64"
        double_trees = variant == "float64-trees"
        try:
            with _skl2onnx_attribute_fix(double_trees):
                onx = convert_sklearn(
                    estimator,
                    initial_types=[("x", tensors[dtype]([None, n_inputs]))],
                    options=options,
                    target_opset={"": 17, "ai.onnx.ml": 3},
                )
            if double_trees:
                onx = _finish_double_trees(onx)
            model = OnnxModel(onx.SerializeToString(), dtype, variant)
            OnnxEstimator(model, is_classifier)(np.zeros((1, n_inputs)))  # loads and runs
        except Exception as err:  # any converter/runtime failure means: try the next, then fall back
            notes.append(f"{variant}: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
            continue
        ok, why = accept(model) if accept is not None else (True, "")
        if ok:
            return model, "; ".join([*notes, f"converted ({variant}){f': {why}' if why else ''}"])
        notes.append(f"{variant}: {why}")
    return None, "; ".join(notes)


# An estimator that no registry entry builds: double input first, then float32.
DEFAULT_VARIANTS = ("float64", "float32")


def variants_for(estimator: Any) -> list[str]:
    """The conversion variants to try, preferred first: the estimator's registry entry says which
    (``onnx_variants`` in ``core/estimators.py``: the one that compares as scikit-learn does first).

    HistGradientBoosting compares float64 input with float64 thresholds (float64-trees); forests cast the
    input to float32 (float32). Per-row latency in ONNX Runtime is the same for both (measured: 35-80 us
    per row for 200 trees either way), so exactness decides.
    """
    entry = entry_of(estimator)
    return list(entry.onnx_variants if entry is not None else DEFAULT_VARIANTS)


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
