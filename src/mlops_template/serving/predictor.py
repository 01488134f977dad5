"""Scoring validated records with the trained pipeline, without a pandas DataFrame on the hot path.

The saved model is ``Pipeline([("features", ColumnTransformer), ("model", estimator)])``. Building a
DataFrame per request costs more than the model itself, so :class:`Predictor` "compiles" the fitted
pipeline once: for each branch of the ColumnTransformer it keeps a copy of the fitted transformer and
the positions of its columns, then feeds it a numpy slice of a matrix built straight from the records.
At load time it checks that this fast path gives bit-identical probabilities to the DataFrame path
on probe rows made from the schema; if it does not (or the pipeline has another shape, e.g. sparse
output), it falls back to the DataFrame path. Pure functions and objects only: no I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mlops_template.data import kinds
from mlops_template.data.schema import SchemaSpec
from mlops_template.serving.onnx_path import OnnxEstimator, OnnxModel, agreement

_NUMERIC = ("int64", "float64", "bool")


@dataclass(frozen=True)
class Branch:
    transformer: Any  # a fitted transformer, or None for "passthrough"
    columns: np.ndarray  # positions in the feature order
    numeric: bool
    kernel: Callable[[np.ndarray], np.ndarray] | None = None  # numpy re-implementation, if any


# ----------------------------------------------------------------------------- numpy kernels
# The same arithmetic as the fitted sklearn objects' transform/predict_proba, minus the per-call input
# checks (which cost more than the maths for one record). They are only used when the self-check finds
# them bit-identical to the real pipeline; anything unknown is called through sklearn as usual.


def _impute_kernel(step: SimpleImputer) -> Callable[[np.ndarray], np.ndarray] | None:
    stats = np.asarray(step.statistics_)
    missing = step.missing_values
    if step.add_indicator or stats.dtype.kind != "f" or np.isnan(stats).any():
        return None
    if not (isinstance(missing, float) and np.isnan(missing)):
        return None

    def impute(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64, order="K", copy=True)
        mask = np.isnan(x)
        if mask.any():
            x[mask] = np.broadcast_to(stats, x.shape)[mask]
        return x

    return impute


def _step_kernel(step: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    if type(step) is SimpleImputer:
        return _impute_kernel(step)
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standardize(x: np.ndarray) -> np.ndarray:
            x = np.array(x, dtype=np.float64, order="K", copy=True)
            if mean is not None:
                x -= mean
            if scale is not None:
                x /= scale
            return x

        return standardize
    if type(step) is MinMaxScaler and not step.clip:
        mult, add = step.scale_, step.min_

        def minmax(x: np.ndarray) -> np.ndarray:
            x = np.array(x, dtype=np.float64, order="K", copy=True)
            x *= mult
            x += add
            return x

        return minmax
    return None


def transformer_kernel(trans: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy function for a fitted transformer (or Pipeline of them); None if any step is unknown."""
    steps = [step for _, step in trans.steps] if isinstance(trans, Pipeline) else [trans]
    kernels = [_step_kernel(step) for step in steps if not (isinstance(step, str) and step == "passthrough")]
    if any(k is None for k in kernels):
        return None
    chain = [k for k in kernels if k is not None]

    def run(x: np.ndarray) -> np.ndarray:
        for kernel in chain:
            x = kernel(x)
        return x

    return run


def proba_kernel(est: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """Binary LogisticRegression.predict_proba as numpy (decision_function + expit, as sklearn does)."""
    if type(est) is not LogisticRegression or len(est.classes_) != 2 or est.coef_.shape[0] != 1:
        return None
    coef_t, intercept = est.coef_.T, est.intercept_

    def proba(x: np.ndarray) -> np.ndarray:
        scores = (x @ coef_t + intercept).reshape(-1)
        prob = expit(scores, out=scores)
        return np.stack([1 - prob, prob], axis=1)

    return proba


def _strip_feature_names(est: Any) -> Any:
    """A copy of a fitted estimator that accepts numpy input without the feature-name warning."""
    est = copy.deepcopy(est)
    parts = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    for part in parts:
        if hasattr(part, "feature_names_in_"):
            del part.feature_names_in_
    return est


def compile_branches(pipeline: Pipeline, features: list[str], spec: SchemaSpec) -> list[Branch] | None:
    """The ColumnTransformer as a list of numpy branches, or None when the shape is not supported."""
    if len(pipeline.steps) != 2 or not isinstance(pipeline.steps[0][1], ColumnTransformer):
        return None
    ct: ColumnTransformer = pipeline.steps[0][1]
    if getattr(ct, "sparse_output_", False):
        return None
    branches: list[Branch] = []
    for name, trans, cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        if name == "remainder" or (isinstance(trans, str) and trans != "passthrough"):
            return None
        names = [features[c] for c in cols] if len(cols) and not isinstance(cols[0], str) else list(cols)
        if not names:
            continue
        numeric = all(spec.columns[c].dtype in _NUMERIC for c in names)
        branches.append(
            Branch(
                transformer=None if isinstance(trans, str) else _strip_feature_names(trans),
                columns=np.array([features.index(c) for c in names], dtype=np.intp),
                numeric=numeric,
                kernel=None if isinstance(trans, str) or not numeric else transformer_kernel(trans),
            )
        )
    return branches


def probe_records(spec: SchemaSpec, features: list[str]) -> list[dict[str, Any]]:
    """A few valid records spanning the schema's ranges (and nulls where allowed), for self-checks."""
    rows: list[dict[str, Any]] = []
    for k, where in enumerate((0.0, 0.25, 0.5, 1.0)):
        row: dict[str, Any] = {}
        for i, name in enumerate(features):
            col = spec.columns[name]
            row[name] = kinds.probe_value(col, i, k, where)  # the column kind registry: a valid value
            if col.nullable and k == 2:
                row[name] = None
        rows.append(row)
    return rows


class Predictor:
    """Probabilities / predictions for validated records (dicts keyed by feature name)."""

    def __init__(
        self,
        pipeline: Pipeline,
        features: list[str],
        spec: SchemaSpec,
        fast: bool = True,
        onnx: OnnxModel | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.features = list(features)
        self.spec = spec
        self.dtypes = {f: spec.columns[f].dtype for f in self.features}
        self.all_numeric = all(d in _NUMERIC for d in self.dtypes.values())
        self.any_nullable = any(spec.columns[f].nullable for f in self.features)
        self._row = itemgetter(*self.features)
        self.estimator = pipeline.steps[-1][1]
        self.is_classifier = hasattr(pipeline, "predict_proba")
        self.classes: list[Any] | None = (
            [c.item() if hasattr(c, "item") else c for c in pipeline.classes_] if self.is_classifier else None
        )
        self.branches = compile_branches(pipeline, self.features, spec) if fast else None
        self._proba_kernel = proba_kernel(self.estimator) if fast else None
        self._order = "F"
        self._kernels = False
        self._onnx: OnnxEstimator | None = None
        self.mode = "dataframe"
        if self.branches is not None and onnx is not None:
            # ONNX Runtime for the estimator (preprocessing as below): within onnx_path.TOLERANCE, not bit-exact
            try:
                self._onnx, self._kernels, self._order = OnnxEstimator(onnx, self.is_classifier), True, "C"
            except Exception:  # an unloadable file means: serve without it
                self._onnx = None
            if self._onnx is not None and self._onnx_agrees():
                self.mode = f"numpy+onnx ({onnx.label})"
            else:
                self._onnx, self._kernels = None, False
        if self.branches is not None and self._onnx is None:
            # fastest first; the first mode that is bit-identical to the DataFrame path on probes wins
            for kernels, order in ((True, "F"), (True, "C"), (False, "F"), (False, "C")):
                self._kernels, self._order = kernels, order
                if self._fast_path_is_exact():
                    self.mode = f"numpy{'+kernels' if kernels else ''} ({order}-order)"
                    break
            else:
                self.branches = None
                self._kernels = False

    @property
    def fast(self) -> bool:
        return self.branches is not None

    # ------------------------------------------------------------------ input conversion

    def matrix(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """Records -> 2-D array in feature order (float64 when every feature is numeric, else object)."""
        if len(self.features) == 1:
            return np.array([[self._row(r)] for r in records], dtype=np.float64 if self.all_numeric else object)
        if self.all_numeric and not self.any_nullable:
            # one flat pass: much cheaper than numpy discovering a nested list of tuples
            flat = chain.from_iterable(map(self._row, records))
            return np.fromiter(flat, dtype=np.float64, count=len(records) * len(self.features)).reshape(
                len(records), len(self.features)
            )
        return np.array(list(map(self._row, records)), dtype=np.float64 if self.all_numeric else object)

    def frame(self, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
        """Records -> DataFrame with the training dtypes (the reference path)."""
        frame = pd.DataFrame.from_records(list(records), columns=self.features)
        casts = {f: d for f, d in self.dtypes.items() if str(frame[f].dtype) != d and not frame[f].isna().any()}
        return frame.astype(casts) if casts else frame

    # ------------------------------------------------------------------ scoring

    def _transform(self, x: np.ndarray) -> np.ndarray:
        assert self.branches is not None
        parts = []
        for b in self.branches:
            block = x[:, b.columns]
            if b.numeric and block.dtype != np.float64:
                block = block.astype(np.float64)
            if b.transformer is None:
                part = block
            elif self._kernels and b.kernel is not None:
                part = b.kernel(block)
            else:
                part = b.transformer.transform(block)
            parts.append(part.toarray() if hasattr(part, "toarray") else part)
        # The estimator's BLAS kernels are memory-layout sensitive in the last bit: hand it the layout
        # the DataFrame path produces for a frame built from records (chosen by the self-check).
        out = np.hstack(parts)
        return np.asfortranarray(out) if self._order == "F" else np.ascontiguousarray(out)

    def frame_of_matrix(self, x: np.ndarray) -> pd.DataFrame:
        """A feature matrix -> DataFrame with the training dtypes (the reference path)."""
        frame = pd.DataFrame(x, columns=self.features)
        casts = {f: d for f, d in self.dtypes.items() if str(frame[f].dtype) != d and not frame[f].isna().any()}
        return frame.astype(casts) if casts else frame

    def proba_matrix(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for a feature matrix (rows in feature order, as :meth:`matrix` builds)."""
        if self.branches is None:
            return np.asarray(self.pipeline.predict_proba(self.frame_of_matrix(x)))
        t = self._transform(x)
        if self._onnx is not None:
            return self._onnx(t)
        if self._kernels and self._proba_kernel is not None:
            return self._proba_kernel(t)
        return np.asarray(self.estimator.predict_proba(t))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Predictions (regression values / class labels) for a feature matrix."""
        if self.branches is None:
            return np.asarray(self.pipeline.predict(self.frame_of_matrix(x)))
        t = self._transform(x)
        if self._onnx is not None and not self.is_classifier:
            return self._onnx(t)
        return np.asarray(self.estimator.predict(t))

    def predict_proba(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        if self.branches is None:
            return np.asarray(self.pipeline.predict_proba(self.frame(records)))
        return self.proba_matrix(self.matrix(records))

    def predict(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        if self.branches is None:
            return np.asarray(self.pipeline.predict(self.frame(records)))
        return self.predict_matrix(self.matrix(records))

    def outputs(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """``predict_proba`` for classifiers, ``predict`` for regressors (what the service scores)."""
        return self.predict_proba(records) if self.is_classifier else self.predict(records)

    def _reference(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        frame = self.frame(records)
        return np.asarray(self.pipeline.predict_proba(frame) if self.is_classifier else self.pipeline.predict(frame))

    def _onnx_agrees(self) -> bool:
        probes = probe_records(self.spec, self.features)
        try:
            checks = [(self.outputs(probes), self._reference(probes))]
            checks += [(self.outputs([p]), self._reference([p])) for p in probes]
        except Exception:  # any failure means: do not serve this path
            return False
        return all(agreement(fast, slow, self.is_classifier)[0] for fast, slow in checks)

    def _fast_path_is_exact(self) -> bool:
        probes = probe_records(self.spec, self.features)
        try:
            if self.is_classifier:
                fast, slow = self.predict_proba(probes), self.pipeline.predict_proba(self.frame(probes))
            else:
                fast, slow = self.predict(probes), self.pipeline.predict(self.frame(probes))
            single = [
                np.array_equal(
                    self.predict_proba([p]) if self.is_classifier else self.predict([p]),
                    self.pipeline.predict_proba(self.frame([p]))
                    if self.is_classifier
                    else self.pipeline.predict(self.frame([p])),
                )
                for p in probes
            ]
        except Exception:
            return False
        return bool(np.array_equal(fast, slow)) and all(single)


def labels_and_scores(
    predictor: Predictor, records: Sequence[dict[str, Any]], threshold: float
) -> tuple[list[Any], list[float], np.ndarray | None]:
    """Labels and scores of validated records (see :func:`decide`)."""
    if not predictor.is_classifier:
        return decide(predictor, predictor.predict(records), threshold)
    return decide(predictor, predictor.predict_proba(records), threshold)


def decide(predictor: Predictor, out: np.ndarray, threshold: float) -> tuple[list[Any], list[float], np.ndarray | None]:
    """Decision rule of the evaluation stage: binary -> P(positive) >= threshold; multiclass -> argmax.

    Returns (labels, scores, probabilities or None). ``score`` is P(positive class) for binary, the
    top-class probability for multiclass and the prediction for regression.
    """
    if not predictor.is_classifier:
        return out.tolist(), out.astype(float).tolist(), None
    proba = out
    classes = predictor.classes
    assert classes is not None
    if proba.shape[1] == 2:
        pos = proba[:, 1]
        labels = np.where(pos >= threshold, 1, 0).choose(np.array(classes, dtype=object)).tolist()
        return labels, pos.tolist(), proba
    idx = proba.argmax(axis=1)
    return [classes[i] for i in idx.tolist()], proba.max(axis=1).tolist(), proba


def serving_scorer(pipeline: Pipeline, row: pd.DataFrame, spec: SchemaSpec | None) -> Callable[[], Any]:
    """A no-argument call that scores ``row`` (one row, feature columns) the way the service does.

    Used by the PR gate's latency check: the estimator converted to ONNX when it converts and agrees
    (as ``make bento`` does), else the numpy path, else (no usable spec) the DataFrame path.
    """
    from mlops_template.serving.onnx_path import convert_estimator

    features = [str(c) for c in row.columns]
    is_classifier = hasattr(pipeline, "predict_proba")
    if spec is None or not all(f in spec.columns for f in features):
        fn = pipeline.predict_proba if is_classifier else pipeline.predict
        return lambda: fn(row)
    record = [{str(k): v for k, v in r.items()} for r in row.to_dict("records")]
    predictor = Predictor(pipeline, features, spec)
    if predictor.branches is not None:
        width = predictor._transform(predictor.matrix(record)).shape[1]
        model, _ = convert_estimator(predictor.estimator, width)
        if model is not None:
            served = Predictor(pipeline, features, spec, onnx=model)
            predictor = served if served.mode.startswith("numpy+onnx") else predictor
    return lambda: predictor.outputs(record)
