"""When are two runs' predictions the same model's? The tolerance rule for outputs rebuilt on another machine.

Floating-point results differ in their last digits between CPUs (BLAS kernels, thread counts and vector widths
change the order of sums), so a pipeline re-run elsewhere writes a model pickle and a ``metrics/predictions.csv``
with other bytes, while it predicts the same. Two prediction tables are **equivalent** when:

- they have the same columns and the same rows in the same order (``id``, and ``label``, the true value);
- every discrete prediction is identical (``prediction`` of a classifier: one flipped label fails);
- every score (probabilities, ``score``, a regressor's ``prediction``) agrees within
  ``|a - b| <= SCORE_ATOL + SCORE_RTOL * |pinned|``.

Why 1e-9: float64 carries ~16 significant digits, and re-ordered sums over the few thousand terms of a model
like these move a probability by ~1e-13 at most (measured on two machines: only the last one or two digits of
the written scores changed). 1e-9 leaves a thousand-fold margin for that, and it is a thousand times finer than
the 6 digits ``metrics/metrics.json`` and the plot tables are rounded to, so any difference that could change a
reported number, or that comes from other data, parameters or code, is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pandas as pd

SCORE_ATOL = 1e-9  # absolute tolerance on a probability / score
SCORE_RTOL = 1e-9  # relative tolerance, for regression outputs on any scale
EXACT_COLUMNS = ("id", "label")  # the test rows and their true values: always identical
RULE = (
    f"same test rows and labels, identical predicted classes, scores within {SCORE_ATOL:g} (+ {SCORE_RTOL:g} x |score|)"
)


@dataclass(frozen=True)
class Comparison:
    equivalent: bool
    detail: str  # the first difference found, or the largest score difference when equivalent
    max_abs_diff: float = 0.0


def _read(source: Path | str) -> pd.DataFrame:
    if isinstance(source, Path):
        return pd.read_csv(source)
    return pd.read_csv(StringIO(source))


def _is_float(series: pd.Series) -> bool:
    return bool(pd.api.types.is_float_dtype(series))


def compare_predictions(pinned: Path | str, rebuilt: Path | str) -> Comparison:
    """Apply the rule to two ``metrics/predictions.csv`` tables (paths, or CSV text)."""
    try:
        a, b = _read(pinned), _read(rebuilt)
    except (OSError, ValueError) as err:
        return Comparison(False, f"cannot read the predictions: {err}")
    if list(a.columns) != list(b.columns):
        return Comparison(False, f"other columns: pinned {list(a.columns)}, rebuilt {list(b.columns)}")
    if len(a) != len(b):
        return Comparison(False, f"other number of test rows: pinned {len(a)}, rebuilt {len(b)}")
    worst = 0.0
    regression = _regression(a)
    for column in a.columns:
        x, y = a[column], b[column]
        # scores with the tolerance; ids, labels and a classifier's predicted classes exactly
        tolerant = column not in EXACT_COLUMNS and (column != "prediction" or regression)
        if not (tolerant and _is_float(x) and _is_float(y)):
            differ = (x.astype(str) != y.astype(str)).to_numpy()
            if differ.any():
                row = int(differ.argmax())
                what = "predicted class" if column == "prediction" else column
                ident = a["id"].iloc[row] if "id" in a.columns else row
                return Comparison(False, f"{what} differs on test row {row} (id {ident}): {x[row]} vs {y[row]}")
            continue
        diff = (x - y).abs()
        allowed = SCORE_ATOL + SCORE_RTOL * x.abs()
        nan_mismatch = x.isna() != y.isna()
        beyond = (diff > allowed).fillna(False) | nan_mismatch
        if beyond.any():
            row = int(beyond.to_numpy().argmax())
            return Comparison(
                False,
                f"{column} differs beyond the tolerance on test row {row}: pinned {x[row]}, rebuilt {y[row]} "
                f"(|diff| {diff[row]:.3g} > {allowed[row]:.3g})",
            )
        column_worst = float(diff.max()) if len(diff) else 0.0
        if not math.isnan(column_worst):
            worst = max(worst, column_worst)
    return Comparison(True, f"largest score difference {worst:.3g} (tolerance {SCORE_ATOL:g})", worst)


def _regression(frame: pd.DataFrame) -> bool:
    """A regressor's table: ``score`` is the prediction itself (a classifier's is a probability)."""
    if "score" not in frame.columns or "prediction" not in frame.columns or not _is_float(frame["prediction"]):
        return False
    return bool(frame["score"].equals(frame["prediction"]))
