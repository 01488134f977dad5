"""Scoring validated records with the trained pipeline, without a pandas DataFrame on the hot path.

The saved model is ``Pipeline([("features", ColumnTransformer), ("model", estimator)])``. Building a
DataFrame per request costs more than the model itself, so :class:`Predictor` "compiles" the fitted
pipeline once: for each branch of the ColumnTransformer it keeps a copy of the fitted transformer and
the positions of its columns, then feeds it a numpy slice of a matrix built straight from the records.
Each branch step (imputers, scalers, one-hot encoder, boolean and date FunctionTransformers) runs as a
numpy kernel built from the fitted object; one record (``/predict``) runs the same steps on Python scalars,
and a forest's trees are summed without joblib. At load time it checks that this fast path gives the
DataFrame path's outputs (to a relative 1e-12, the same top class: :func:`same_outputs`) on probe rows made
from the schema plus edge rows made from the fitted encoders (every category, unseen values, all missing),
all at once and one by one; if it does not (or the pipeline has another shape), it falls back to the
DataFrame path and ``Predictor.why`` says why. Pure functions and objects only: no I/O here.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from mlops_template.core import features as preprocessing
from mlops_template.core.data import kinds
from mlops_template.core.data.schema import SchemaSpec, pandas_dtype
from mlops_template.ops.serving.onnx_path import OnnxEstimator, OnnxModel, agreement


@dataclass(frozen=True)
class Branch:
    transformer: Any  # a fitted transformer, or None for "passthrough"
    columns: np.ndarray  # positions in the feature order
    numeric: bool
    kernel: Callable[[np.ndarray], np.ndarray] | None = None  # numpy re-implementation, if any


# ----------------------------------------------------------------------------- numpy kernels
# The same arithmetic as the fitted sklearn objects' transform/predict_proba, minus the per-call input
# checks (which cost more than the maths for one record). Each kernel is built from a fitted object's
# attributes (imputer statistics, scaler mean/scale, the encoder's categories); the predictor only uses
# them when the self-check finds the result identical to the real pipeline. A step without a kernel is
# called through sklearn as usual, and the reason is kept (``Predictor.why``).

Kernel = Callable[[np.ndarray], np.ndarray]
_RAISE = -2  # an unknown category where the encoder has handle_unknown="error"


def _is_missing(value: Any) -> bool:
    """None or NaN: what the reference DataFrame (cast to the schema's dtypes) holds as a missing value."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _impute_kernel(step: SimpleImputer) -> tuple[Kernel | None, str]:
    stats = np.asarray(step.statistics_)
    missing = step.missing_values
    if step.add_indicator:
        return None, "SimpleImputer(add_indicator=True)"
    if not (isinstance(missing, float) and np.isnan(missing)):
        return None, f"SimpleImputer(missing_values={missing!r})"
    if stats.dtype.kind == "O":
        if any(_is_missing(s) for s in stats):
            return None, "SimpleImputer learnt no value for a column (all missing in training)"
        fill = stats.tolist()

        def impute_objects(x: np.ndarray) -> np.ndarray:
            x = np.array(x, dtype=object, copy=True)
            for j, value in enumerate(fill):
                column = x[:, j]
                missing = pd.isna(column)  # None, NaN, pd.NA (what _is_missing says), vectorised
                if missing.any():
                    column[missing] = value
            return x

        return impute_objects, ""
    if stats.dtype.kind != "f" or np.isnan(stats).any():
        return None, "SimpleImputer learnt no value for a column (all missing in training)"

    def impute(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        mask = np.isnan(x)
        if mask.any():  # a copy only when a value is filled in (the caller's matrix is never changed)
            x = np.array(x, order="K", copy=True)
            x[mask] = np.broadcast_to(stats, x.shape)[mask]
        return x

    return impute, ""


def _onehot_layout(enc: OneHotEncoder) -> tuple[list[tuple[dict[Any, int], int]], int] | str:
    """Per input column: {category: output position} and the position of an unknown value, and the width.

    The encoder's documented layout: each column's categories in ``categories_`` order, except the
    infrequent ones, which share one last column ("infrequent_sklearn"). Unknown values go to that
    column (``handle_unknown`` "infrequent_if_exist"/"warn") or to none (all zeros), or are an error.
    """
    if enc.drop_idx_ is not None:
        return f"OneHotEncoder(drop={enc.drop!r})"
    infrequent = getattr(enc, "infrequent_categories_", None) or [None] * len(enc.categories_)
    columns, offset = [], 0
    for cats, rare in zip(enc.categories_, infrequent, strict=True):
        if any(_is_missing(c) for c in cats):
            return "OneHotEncoder saw missing values as a category"
        rare_set = set() if rare is None else set(rare.tolist())
        frequent = [c for c in cats.tolist() if c not in rare_set]
        lookup = {c: offset + k for k, c in enumerate(frequent)}
        width = len(frequent) + (1 if rare_set else 0)
        rare_pos = offset + len(frequent) if rare_set else -1
        lookup.update({c: rare_pos for c in rare_set})
        # "ignore": all zeros; "infrequent_if_exist"/"warn": the infrequent column when there is one
        unknown = {"error": _RAISE, "ignore": -1}.get(enc.handle_unknown, rare_pos)
        columns.append((lookup, unknown))
        offset += width
    return columns, offset


def _onehot_kernel(enc: OneHotEncoder) -> tuple[Kernel | None, str]:
    layout = _onehot_layout(enc)
    if isinstance(layout, str):
        return None, layout
    if np.dtype(enc.dtype) != np.float64:
        return None, f"OneHotEncoder(dtype={np.dtype(enc.dtype)})"
    columns, width = layout

    def onehot(x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        out = np.zeros((n, width))
        rows = np.arange(n)
        for j, (lookup, unknown) in enumerate(columns):
            # map over the builtin lookup (no Python frame per value): 10,000 values ~3x faster than a generator
            pos = np.fromiter(map(lookup.get, x[:, j].tolist(), repeat(unknown, n)), dtype=np.intp, count=n)
            if (pos == _RAISE).any():
                bad = x[int(np.argmax(pos == _RAISE)), j]
                raise ValueError(f"Found unknown categories [{bad!r}] in column {j} during transform")
            hit = pos >= 0
            out[rows[hit], pos[hit]] = 1.0
        return out

    return onehot, ""


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?Z?")
_NO_DATE = (np.nan, np.nan, np.nan)


def _date_parser(func: Callable[[Any], np.ndarray]) -> Callable[[Any], tuple[float, float, float]]:
    """One value -> (year, month, weekday) as ``features._date_parts`` computes them: ISO dates/UTC timestamps
    (the usual case) parsed in Python, any other string through ``func`` itself (pandas), each distinct value
    once (a bounded cache)."""
    cache: dict[str, tuple[float, float, float]] = {}

    def parts(value: Any) -> tuple[float, float, float]:
        if _is_missing(value):
            return _NO_DATE
        hit = cache.get(value) if isinstance(value, str) else None
        if hit is not None:
            return hit
        found = _DATE.fullmatch(value) if isinstance(value, str) else None
        out: tuple[float, float, float] | None = None
        if found:
            year, month, day, hour, minute, second = (int(g) if g else 0 for g in found.groups())
            # inside pandas' Timestamp range, and a valid time of day; anything else goes to pandas
            if 1678 <= year <= 2261 and hour < 24 and minute < 60 and second < 60:
                with contextlib.suppress(ValueError):
                    out = (float(year), float(month), float(datetime.date(year, month, day).weekday()))
        if out is None:
            y, m, w = np.asarray(func(np.array([[value]], dtype=object)), dtype=np.float64)[0]
            out = (float(y), float(m), float(w))
        if isinstance(value, str):
            if len(cache) >= 100_000:
                cache.clear()
            cache[value] = out
        return out

    return parts


def _date_parts_kernel(func: Callable[[Any], np.ndarray]) -> Kernel:
    """``features.DATE_PARTS_FUNC`` on a block of date columns, value by value (:func:`_date_parser`)."""
    parts = _date_parser(func)

    def date_parts(x: np.ndarray) -> np.ndarray:
        n, k = x.shape
        out = np.empty((n, 3 * k))
        for j in range(k):
            out[:, 3 * j : 3 * j + 3] = [parts(v) for v in x[:, j].tolist()]
        return out

    return date_parts


def _function_kernel(step: FunctionTransformer) -> tuple[Kernel | None, str]:
    if step.validate or step.kw_args:
        return None, "FunctionTransformer with validate/kw_args"
    func = step.func
    if func is None:
        return (lambda x: x), ""
    if func is preprocessing.DATE_PARTS_FUNC:
        return _date_parts_kernel(func), ""
    if func is preprocessing.TO_FLOAT_FUNC:
        return (lambda x: np.asarray(func(x), dtype=np.float64)), ""
    return None, f"FunctionTransformer({getattr(func, '__name__', func)})"


def _step_kernel(step: Any) -> tuple[Kernel | None, str]:
    if type(step) is SimpleImputer:
        return _impute_kernel(step)
    if type(step) is OneHotEncoder:
        return _onehot_kernel(step)
    if type(step) is FunctionTransformer:
        return _function_kernel(step)
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standardize(x: np.ndarray) -> np.ndarray:
            # the first operation writes a new array, the second works in place: one pass less than copy first
            x = np.asarray(x, dtype=np.float64)
            x = x - mean if mean is not None else np.array(x, order="K", copy=True)
            if scale is not None:
                x /= scale
            return x

        return standardize, ""
    if type(step) is MinMaxScaler and not step.clip:
        mult, add = step.scale_, step.min_

        def minmax(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float64) * mult  # a new array; then in place
            x += add
            return x

        return minmax, ""
    return None, type(step).__name__


def transformer_kernel(trans: Any) -> tuple[Kernel | None, str]:
    """A numpy function for a fitted transformer (or Pipeline of them); (None, which step) if a step has none."""
    steps = [step for _, step in trans.steps] if isinstance(trans, Pipeline) else [trans]
    chain: list[Kernel] = []
    for step in steps:
        if isinstance(step, str) and step == "passthrough":
            continue
        kernel, why = _step_kernel(step)
        if kernel is None:
            return None, why
        chain.append(kernel)

    def run(x: np.ndarray) -> np.ndarray:
        for kernel in chain:
            x = kernel(x)
        return x

    return run, ""


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


_FORESTS = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")


def forest_kernel(est: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A single-output forest's ``predict_proba`` (classifiers) / ``predict`` (regressors) as scikit-learn
    computes it with ``n_jobs=1``: float32 input, each tree in order summed into a float64 array, divided by
    the tree count; without joblib's per-tree dispatch, which costs ~10-20 ms per call whatever the rows."""
    if type(est).__name__ not in _FORESTS or getattr(est, "n_outputs_", 1) != 1:
        return None
    trees = list(est.estimators_)
    classifier = hasattr(est, "predict_proba")
    width = int(est.n_classes_) if classifier else 0

    def forest(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros((x.shape[0], width) if classifier else x.shape[0])
        for tree in trees:
            out += tree.predict_proba(x, check_input=False) if classifier else tree.predict(x, check_input=False)
        out /= len(trees)
        return out

    return forest


# ----------------------------------------------------------------------------- one record, Python scalars
# ``/predict`` scores one record: numpy's per-call cost (a dozen tiny arrays per branch) is then most of the
# preprocessing time. The same steps on Python floats, value by value, give the same bits: a float64
# subtraction, division, product or sum rounds the same in Python as in numpy. The self-check scores its
# check rows one by one through this path too and compares them with the pipeline.

RowStep = Callable[[list[Any]], list[Any]]


def _row_step(step: Any) -> RowStep | None:
    """A fitted step on one record's values of a branch (a list), or None: the step's numpy kernel then."""
    if _step_kernel(step)[0] is None:  # same support as the numpy kernels (their reasons stay theirs)
        return None
    if type(step) is SimpleImputer:
        fill = np.asarray(step.statistics_).tolist()
        if np.asarray(step.statistics_).dtype.kind == "O":
            return lambda v: [f if _is_missing(x) else x for x, f in zip(v, fill, strict=True)]
        return lambda v: [f if x is None or x != x else float(x) for x, f in zip(v, fill, strict=True)]
    if type(step) is OneHotEncoder:
        layout = _onehot_layout(step)
        assert not isinstance(layout, str)
        columns, width = layout

        def onehot(v: list[Any]) -> list[Any]:
            out = [0.0] * width
            for j, (x, (lookup, unknown)) in enumerate(zip(v, columns, strict=True)):
                pos = lookup.get(x, unknown)
                if pos == _RAISE:
                    raise ValueError(f"Found unknown categories [{x!r}] in column {j} during transform")
                if pos >= 0:
                    out[pos] = 1.0
            return out

        return onehot
    if type(step) is FunctionTransformer:
        if step.func is None:
            return lambda v: v
        if step.func is preprocessing.DATE_PARTS_FUNC:
            parts = _date_parser(step.func)
            return lambda v: [p for x in v for p in parts(x)]
        return lambda v: [_as_float(x) for x in v]  # preprocessing._to_float
    if type(step) is StandardScaler:
        mean = step.mean_.tolist() if step.with_mean else [0.0] * len(step.scale_)
        scale = step.scale_.tolist() if step.with_std else None
        if scale is None:
            return lambda v: [x - m for x, m in zip(v, mean, strict=True)]
        if not step.with_mean:
            return lambda v: [x / s for x, s in zip(v, scale, strict=True)]
        return lambda v: [(x - m) / s for x, m, s in zip(v, mean, scale, strict=True)]
    if type(step) is MinMaxScaler:
        mult, add = step.scale_.tolist(), step.min_.tolist()
        return lambda v: [x * m + a for x, m, a in zip(v, mult, add, strict=True)]
    return None


def _as_float(x: Any) -> float:
    """A value as numpy's ``astype(float64)`` converts it (None -> NaN)."""
    return float("nan") if x is None else float(x)


def row_kernel(branches: list[Branch], features: list[str]) -> Callable[[dict[str, Any]], np.ndarray] | None:
    """One record -> the estimator's 1-row float64 input, in Python scalars; None when a branch has no
    scalar version of each of its steps (or passes non-numeric columns through)."""
    compiled: list[tuple[list[str], bool, list[RowStep]]] = []
    for b in branches:
        steps: list[RowStep] = []
        if b.transformer is None:
            if not b.numeric:
                return None
        else:
            for step in [s for _, s in b.transformer.steps] if isinstance(b.transformer, Pipeline) else [b.transformer]:
                if isinstance(step, str) and step == "passthrough":
                    continue
                row_step = _row_step(step)
                if row_step is None:
                    return None
                steps.append(row_step)
        compiled.append(([features[c] for c in b.columns], b.numeric, steps))

    def transform_one(record: dict[str, Any]) -> np.ndarray:
        out: list[Any] = []
        for names, numeric, steps in compiled:
            values = [record[n] for n in names]
            if numeric:
                values = [_as_float(x) for x in values]
            for step in steps:
                values = step(values)
            out += values
        return np.array([out], dtype=np.float64)

    return transform_one


def _strip_feature_names(est: Any) -> Any:
    """A copy of a fitted estimator that accepts numpy input without the feature-name warning."""
    est = copy.deepcopy(est)
    parts = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    for part in parts:
        if hasattr(part, "feature_names_in_"):
            del part.feature_names_in_
    return est


def compile_branches(
    pipeline: Pipeline, features: list[str], spec: SchemaSpec
) -> tuple[list[Branch] | None, list[str]]:
    """The ColumnTransformer as numpy branches (None when its shape is not supported) and notes: why not,
    or which branches run through sklearn's own transform because a step has no kernel."""
    if len(pipeline.steps) != 2 or not isinstance(pipeline.steps[0][1], ColumnTransformer):
        return None, ["the model is not Pipeline([ColumnTransformer, estimator])"]
    ct: ColumnTransformer = pipeline.steps[0][1]
    branches: list[Branch] = []
    notes: list[str] = []
    for name, trans, cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        if name == "remainder" or (isinstance(trans, str) and trans != "passthrough"):
            return None, [f"ColumnTransformer branch {name!r} ({trans!r}) is not supported"]
        names = [features[c] for c in cols] if len(cols) and not isinstance(cols[0], str) else list(cols)
        if not names:
            continue
        kernel, why = (None, "") if isinstance(trans, str) else transformer_kernel(trans)
        if why:
            notes.append(f"branch {name!r} ({', '.join(names)}): no kernel for {why}, sklearn transform used")
        branches.append(
            Branch(
                transformer=None if isinstance(trans, str) else _strip_feature_names(trans),
                columns=np.array([features.index(c) for c in names], dtype=np.intp),
                numeric=all(kinds.kind_of(spec.columns[c]).float_matrix for c in names),
                kernel=kernel,
            )
        )
    return branches, notes


def _one_hot_columns(pipeline: Pipeline, features: list[str]) -> dict[str, tuple[list[Any], bool]]:
    """Feature -> (the fitted encoder's categories, whether an unknown value is accepted) for one-hot columns."""
    ct = pipeline.steps[0][1]
    found: dict[str, tuple[list[Any], bool]] = {}
    for _, trans, cols in getattr(ct, "transformers_", []):
        steps = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]
        encoders = [s for s in steps if isinstance(s, OneHotEncoder)]
        if not encoders or not len(cols):
            continue
        names = [features[c] for c in cols] if not isinstance(cols[0], str) else list(cols)
        enc = encoders[0]
        for name, cats in zip(names, enc.categories_, strict=False):
            found[name] = (cats.tolist(), enc.handle_unknown != "error")
    return found


UNSEEN = "\x00an unseen value"
# Batches of this many rows and more: a forest's own trees (forest_kernel) instead of ONNX Runtime's tree
# ensemble. Measured on the serving benchmark's four forests (100 trees, one thread): ONNX Runtime is 5-40x
# faster up to 256 rows, the two are even at 512-1024 rows, and ONNX Runtime is 1.6-4.3x slower at 10,000
# test rows cycled; on 10,000 rows in random order (two forests re-measured) 1.1-1.2x slower.
FOREST_BATCH_ROWS = 1024
# Batches of this many rows and more: a binary logistic regression's numpy kernel (proba_kernel, sklearn's
# own arithmetic) instead of ONNX Runtime. Measured on the demo model (30 features, one thread): 15 vs 9 us
# at 16 rows, 88 vs 23 us at 1,024, 816 vs 212 us at 10,000. One record stays on ONNX Runtime.
LOGISTIC_BATCH_ROWS = 16
MAX_CATEGORY_ROWS = 50  # rows that cover the categories (a column with more is covered up to this many)


def edge_records(pipeline: Pipeline, features: list[str], spec: SchemaSpec, base: list[dict[str, Any]]) -> list[dict]:
    """Rows the exactness checks add to ``base`` (probe or test rows; at least one): every category of each
    one-hot column, an unseen value where the encoder accepts one, every nullable feature missing at once."""
    if not base:
        return []
    rows: list[dict[str, Any]] = []
    one_hot = _one_hot_columns(pipeline, features)
    longest = min(max((len(cats) for cats, _ in one_hot.values()), default=0), MAX_CATEGORY_ROWS)
    for r in range(longest):
        rows.append({**base[r % len(base)], **{f: cats[r % len(cats)] for f, (cats, _) in one_hot.items()}})
    unseen = {f: UNSEEN for f, (_, accepts) in one_hot.items() if accepts}
    if unseen:
        rows.append({**base[0], **unseen})
    nullable = {f: None for f in features if spec.columns[f].nullable}
    if nullable:
        rows += [{**row, **nullable} for row in base[:2]]
    return rows


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
    """Probabilities / predictions for validated records (dicts keyed by feature name).

    ``mode`` names the path in use; ``why`` says why it is the DataFrame fallback, or which branches still
    run through sklearn's own transform (empty when every step has a numpy kernel).
    """

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
        self.all_numeric = all(kinds.kind_of(spec.columns[f]).float_matrix for f in self.features)
        self.any_nullable = any(spec.columns[f].nullable for f in self.features)
        self._row = itemgetter(*self.features)
        self.estimator = pipeline.steps[-1][1]
        self.is_classifier = hasattr(pipeline, "predict_proba")
        self.classes: list[Any] | None = (
            [c.item() if hasattr(c, "item") else c for c in pipeline.classes_] if self.is_classifier else None
        )
        notes: list[str] = ["fast path switched off"]
        self.branches: list[Branch] | None = None
        if fast:
            self.branches, notes = compile_branches(pipeline, self.features, spec)
        everything = np.arange(len(self.features))  # a branch over every column in order takes the matrix as is
        self._branch_columns: list[np.ndarray | None] = [
            None if np.array_equal(b.columns, everything) else b.columns for b in self.branches or []
        ]
        # a ColumnTransformer with sparse output hands the estimator a CSR matrix: so does the fast path
        self._sparse = bool(getattr(pipeline.steps[0][1], "sparse_output_", False))
        self._proba_kernel = proba_kernel(self.estimator) if fast else None
        self._forest = forest_kernel(self.estimator) if fast and not self._sparse else None
        # with ONNX: batches of this many rows and more go to the estimator's own kernel (forest, logistic)
        self._batch_rows: int | None = None
        self._row_kernel = row_kernel(self.branches, self.features) if self.branches is not None else None
        self._use_row = self._row_kernel is not None  # one record through the scalar path (with the kernels)
        self._order = "F"
        self._kernels = False
        self._onnx: OnnxEstimator | None = None
        self.mode = "dataframe"
        self.why = "; ".join(notes)
        if self.branches is not None and onnx is not None:
            self._attach_onnx(onnx)
        if self.branches is not None and self._onnx is None:
            self._choose_exact_mode()

    def _attach_onnx(self, onnx: OnnxModel) -> None:
        """ONNX Runtime for the estimator (preprocessing by the kernels): within onnx_path.TOLERANCE."""
        try:
            self._onnx, self._kernels, self._order = OnnxEstimator(onnx, self.is_classifier), True, "C"
        except Exception:  # an unloadable file means: serve without it
            self._onnx = None
        agrees = self._onnx is not None and self._onnx_agrees()
        if self._onnx is not None and not agrees and self._use_row:
            self._use_row = False  # is it the scalar path for one record? the numpy kernels then
            agrees = self._onnx_agrees()
        if agrees:
            self.mode = f"numpy+onnx ({onnx.label})"
            self._batch_kernel()
        else:
            self._onnx, self._kernels = None, False
            self._use_row = self._row_kernel is not None

    def _batch_kernel(self) -> None:
        """Big batches leave ONNX Runtime for the estimator's own kernel where that is faster, when it passes
        the same self-check as the numpy path: a forest's own trees (:func:`forest_kernel`) from
        FOREST_BATCH_ROWS rows (ONNX Runtime's tree ensemble takes one row after the other through every
        tree), a binary logistic regression's numpy arithmetic (:func:`proba_kernel`) from LOGISTIC_BATCH_ROWS."""
        if self._forest is not None:
            rows, what = FOREST_BATCH_ROWS, "forest trees"
        elif self._proba_kernel is not None and not self._sparse:
            rows, what = LOGISTIC_BATCH_ROWS, "numpy logistic"
        else:
            return
        self._batch_rows = 0  # the check rows through the kernel
        problem = self._fast_path_problem()
        self._batch_rows = None if problem else rows
        if not problem:
            self.mode += f", {what} from {rows} rows"

    def _choose_exact_mode(self) -> None:
        """Fastest first; the first mode that gives the DataFrame path's outputs on the probes wins."""
        problems: list[str] = []
        for kernels, order in ((True, "F"), (True, "C"), (False, "F"), (False, "C")):
            self._kernels, self._order = kernels, order
            problem = self._fast_path_problem()
            if problem and kernels and self._use_row:  # is it the scalar path for one record?
                self._use_row = False
                problem = self._fast_path_problem()
                self._use_row = bool(problem)
            if not problem:
                self.mode = f"numpy{'+kernels' if kernels else ''} ({order}-order)"
                if not kernels:
                    self.why = f"the kernels differ from the pipeline ({problems[0]}): sklearn transforms used"
                return
            problems.append(problem)
        self.branches = None
        self._kernels = False
        self.why = f"the fast path differs from the pipeline: {problems[0]}"

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
        return self._typed(pd.DataFrame.from_records(list(records), columns=self.features))

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Cast to the dtypes training saw (``data.schema.coerce``): a missing value stays missing (NaN in a
        ``str`` column, NA in a nullable ``boolean`` one) whatever else the request holds."""
        casts = {}
        for f in self.features:
            want = pandas_dtype(self.spec.columns[f])
            if str(frame[f].dtype) != want and not (want == "int64" and frame[f].isna().any()):
                casts[f] = want
        return frame.astype(casts) if casts else frame

    # ------------------------------------------------------------------ scoring

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The fast path's preprocessing: a feature matrix (:meth:`matrix`) -> the estimator's input."""
        assert self.branches is not None
        parts = []
        for b, columns in zip(self.branches, self._branch_columns, strict=True):
            block = x if columns is None else x[:, columns]  # None: every column, in order (no copy)
            if b.numeric and block.dtype != np.float64:
                block = block.astype(np.float64)
            if b.transformer is None:
                part = block
            elif self._kernels and b.kernel is not None:
                part = b.kernel(block)
            else:  # sklearn's imputers take NaN, not None, for a missing value in an object column
                block = block.copy() if block is x else block  # the caller's matrix is never changed
                if block.dtype == object and pd.isna(block).any():
                    block = np.where(pd.isna(block), np.nan, block)
                part = b.transformer.transform(block)
            parts.append(part.toarray() if hasattr(part, "toarray") else part)
        # The estimator's BLAS kernels are memory-layout sensitive in the last bit: hand it the layout
        # the DataFrame path produces for a frame built from records (chosen by the self-check).
        out = parts[0] if len(parts) == 1 else np.hstack(parts)
        return np.asfortranarray(out) if self._order == "F" else np.ascontiguousarray(out)

    def frame_of_matrix(self, x: np.ndarray) -> pd.DataFrame:
        """A feature matrix -> DataFrame with the training dtypes (the reference path)."""
        return self._typed(pd.DataFrame(x, columns=self.features))

    def _transform_records(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """Records -> the estimator's input: one record in Python scalars (with the kernels), else the matrix."""
        if len(records) == 1 and self._use_row and self._kernels and self._row_kernel is not None:
            return self._row_kernel(records[0])  # one row: C- and F-contiguous alike
        return self.transform(self.matrix(records))

    def _scores(self, t: np.ndarray) -> np.ndarray:
        """The estimator on a transformed matrix: probabilities (classifiers) or predictions (regressors)."""
        if self._onnx is not None and (self._batch_rows is None or t.shape[0] < self._batch_rows):
            return self._onnx(t)
        if self._kernels and self._proba_kernel is not None and not self._sparse:
            return self._proba_kernel(t)
        if self._kernels and self._forest is not None:
            return self._forest(t)
        est = csr_matrix(t) if self._sparse else t
        return np.asarray(self.estimator.predict_proba(est) if self.is_classifier else self.estimator.predict(est))

    def proba_matrix(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for a feature matrix (rows in feature order, as :meth:`matrix` builds)."""
        if self.branches is None:
            return np.asarray(self.pipeline.predict_proba(self.frame_of_matrix(x)))
        return self._scores(self.transform(x))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Predictions (regression values / class labels) for a feature matrix."""
        if self.branches is None:
            return np.asarray(self.pipeline.predict(self.frame_of_matrix(x)))
        t = self.transform(x)
        if not self.is_classifier:
            return self._scores(t)
        return np.asarray(self.estimator.predict(csr_matrix(t) if self._sparse else t))

    def predict_proba(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        if self.branches is None:
            return np.asarray(self.pipeline.predict_proba(self.frame(records)))
        return self._scores(self._transform_records(records))

    def predict(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        if self.branches is None:
            return np.asarray(self.pipeline.predict(self.frame(records)))
        if self.is_classifier:
            return self.predict_matrix(self.matrix(records))
        return self._scores(self._transform_records(records))

    def outputs(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """``predict_proba`` for classifiers, ``predict`` for regressors (what the service scores)."""
        return self.predict_proba(records) if self.is_classifier else self.predict(records)

    def reference(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """What the pipeline itself answers on a DataFrame of ``records``: the truth the fast paths are checked on."""
        frame = self.frame(records)
        return np.asarray(self.pipeline.predict_proba(frame) if self.is_classifier else self.pipeline.predict(frame))

    def check_records(self) -> list[dict[str, Any]]:
        """The rows the start-up self-checks score both ways: probes from the schema plus the edge rows
        (every category, unseen values, all nullable features missing)."""
        probes = probe_records(self.spec, self.features)
        return probes + edge_records(self.pipeline, self.features, self.spec, probes)

    @staticmethod
    def _singles(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The check rows also scored one by one: the schema probes and the last edge rows (an unseen value,
        all missing); the rows covering every category are scored together."""
        return records[:4] + records[4:][-4:]

    def _onnx_agrees(self) -> bool:
        probes = self.check_records()
        try:
            checks = [(self.outputs(probes), self.reference(probes))]
            checks += [(self.outputs([p]), self.reference([p])) for p in self._singles(probes)]
        except Exception:  # any failure means: do not serve this path
            return False
        return all(agreement(fast, slow, self.is_classifier)[0] for fast, slow in checks)

    def _fast_path_problem(self) -> str:
        """'' when the fast path gives the pipeline's outputs on the check rows (all at once and one by one),
        to the last few bits (:func:`same_outputs`)."""
        probes = self.check_records()
        try:
            if not same_outputs(self.outputs(probes), self.reference(probes), self.is_classifier):
                return "outputs differ on the probe rows"
            for p in self._singles(probes):
                if not same_outputs(self.outputs([p]), self.reference([p]), self.is_classifier):
                    return f"outputs differ on the probe row {p}"
        except Exception as err:  # any failure means: do not serve this path
            return f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        return ""


# The numpy path's self-check: equal to the last few bits. A dot product's summation order (BLAS kernels,
# memory alignment, the CPU's vector width) can move the last digit of a value like 52839.62 from one
# machine to another; a bit-for-bit check would then send a regression model to the DataFrame fallback.
SAME_RTOL = 1e-12
SAME_ATOL = 1e-15


def same_outputs(fast: np.ndarray, slow: np.ndarray, is_classifier: bool) -> bool:
    """The fast path's outputs equal the pipeline's: every value within a relative 1e-12 (probabilities and
    regression values alike), and for classifiers the same top class on every row."""
    fast, slow = np.asarray(fast), np.asarray(slow)
    if fast.shape != slow.shape or not np.allclose(fast, slow, rtol=SAME_RTOL, atol=SAME_ATOL):
        return False
    return not is_classifier or bool(np.array_equal(fast.argmax(axis=1), slow.argmax(axis=1)))


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
    if proba.shape[0] == 1:  # one record (/predict): plain Python, not a handful of numpy calls on 1 row
        row = proba[0].tolist()
        if len(row) == 2:
            return [classes[1] if row[1] >= threshold else classes[0]], [row[1]], proba
        top = max(range(len(row)), key=row.__getitem__)  # the first maximum, as argmax
        return [classes[top]], [row[top]], proba
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
    from mlops_template.ops.serving.onnx_path import convert_estimator

    features = [str(c) for c in row.columns]
    is_classifier = hasattr(pipeline, "predict_proba")
    if spec is None or not all(f in spec.columns for f in features):
        fn = pipeline.predict_proba if is_classifier else pipeline.predict
        return lambda: fn(row)
    record = [{str(k): v for k, v in r.items()} for r in row.to_dict("records")]
    predictor = Predictor(pipeline, features, spec)
    if predictor.branches is not None:
        width = predictor.transform(predictor.matrix(record)).shape[1]
        model, _ = convert_estimator(predictor.estimator, width)
        if model is not None:
            served = Predictor(pipeline, features, spec, onnx=model)
            predictor = served if served.mode.startswith("numpy+onnx") else predictor
    return lambda: predictor.outputs(record)
