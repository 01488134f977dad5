"""Column kinds: THE one place that says what a schema ``dtype`` and ``role`` mean, for every consumer.

Each column of ``data/schema.yaml`` has a kind: its ``role`` picks one when the role has its own
(``date``), else its ``dtype`` does. A :class:`Kind` answers, for that one column:

- the pandas dtype and the extra pandera checks of the validate stage (``core/data/schema.py``);
- the strict JSON type of a request field (``ops/serving/validation.py``);
- the accepted Arrow types and the vectorised value check of a columnar batch (``ops/serving/columnar.py``);
- the preprocessing branch (``features.py``: numeric, boolean, categorical, date, or ignored);
- the profile kind of the monitor (``core/profile.py`` / ``drift.py``), or None (not profiled);
- a valid probe value and a value its rule rejects (self-checks, ``make serve-check``, the smoke test).

Rules that are not kinds stay generic: ``min``/``max`` (for kinds that are ``bounded``), ``allowed`` (a
closed category list), ``nullable``, ``unique``. A new kind or role is one entry of :data:`DTYPES` or
:data:`ROLES` (see docs/fork.md, "Add a column kind"), so validate, serving and the monitor agree by
construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the schema module imports this one; ColumnSpec is only a type here
    import pyarrow as pa

    from mlops_template.core.data.schema import ColumnSpec

# A columnar check's verdict on one column: the feature values, or (rule, first bad row, message).
ArrowProblem = tuple[str, int, str]
ArrowResult = np.ndarray | ArrowProblem

DATE_HINT = "values must be dates (e.g. 2024-03-01 or 2024-03-01T10:00:00)"


def parse_dates(values: Any) -> pd.Series:
    """Strings -> timestamps (NaT where a value is not a date); one rule for validation, serving and features."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    return pd.to_datetime(series.astype("string"), errors="coerce", format="mixed", utc=True)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


# ----------------------------------------------------------------------------- Arrow value checks


def _arrow_number(arr: pa.Array, col: ColumnSpec, numeric: bool) -> ArrowResult:
    """Finite floats, ``min``/``max``, ``allowed``; float64 values (nulls -> NaN).

    Whole-column numpy operations (a 10k-row column in microseconds). A null is NaN here, and NaN compares
    False, so the range checks pass over nulls by themselves (nullability was checked before).
    """
    import pyarrow as pa

    values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # nulls -> NaN
    if col.dtype == "float64" and pa.types.is_floating(arr.type):
        bad = ~np.isfinite(values)
        if arr.null_count:
            bad &= ~np.asarray(arr.is_null(), dtype=bool)
        if bad.any():
            return "finite_number", _first(bad), "NaN/Infinity not allowed"
    if col.min is not None and (below := values < col.min).any():
        return "greater_than_equal", _first(below), f"Input should be >= {col.min}"
    if col.max is not None and (above := values > col.max).any():
        return "less_than_equal", _first(above), f"Input should be <= {col.max}"
    if col.allowed is not None:
        outside = ~np.isin(values, np.asarray(col.allowed, dtype=np.float64)) & ~np.isnan(values)
        if outside.any():
            return "literal_error", _first(outside), "not allowed"
    return values if numeric else np.array(arr.to_pylist(), dtype=object)


def _arrow_bool(arr: pa.Array, _col: ColumnSpec, numeric: bool) -> ArrowResult:
    values = arr.to_numpy(zero_copy_only=False)
    return values.astype(np.float64) if numeric and not arr.null_count else np.asarray(values, object)


def _as_strings(arr: pa.Array) -> pa.Array:
    import pyarrow as pa

    return arr.cast(pa.string()) if pa.types.is_dictionary(arr.type) else arr


def _arrow_category(arr: pa.Array, col: ColumnSpec, _numeric: bool) -> ArrowResult:
    """A closed category (``allowed``) rejects other values; an open one takes any string."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _as_strings(arr)
    if col.allowed is not None:
        # a null is not "outside" the list: is_in says False for it, and nullability was checked before
        known = pc.is_in(arr, value_set=pa.array([str(a) for a in col.allowed]))
        inside = pc.fill_null(pc.or_(pc.is_null(arr), known), True)
        if not pc.all(inside).as_py():
            return "literal_error", _first(~np.asarray(inside, dtype=bool)), "not allowed"
    return np.array(arr.to_pylist(), dtype=object)


def _arrow_date(arr: pa.Array, _col: ColumnSpec, _numeric: bool) -> ArrowResult:
    values = np.array(_as_strings(arr).to_pylist(), dtype=object)
    bad = (parse_dates(pd.Series(values, dtype=object)).isna() & pd.notna(values)).to_numpy()
    if bad.any():
        return "value_error", _first(bad), f"Value error, not a date: {DATE_HINT}"
    return values


def _is_string(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t))


def _is_number(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def _is_integer(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t))


def _is_boolean(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_boolean(t))


# ----------------------------------------------------------------------------- request (JSON) checks


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?")


def _date_or_error(value: str) -> str:
    """One value by the rule of :func:`parse_dates` (plain ISO dates, the common case, without pandas)."""
    if _ISO.fullmatch(value):
        try:
            datetime.fromisoformat(value)
            return value
        except ValueError:
            pass  # e.g. 2024-13-45: pandas decides (and rejects it too)
    if parse_dates([value]).isna().iloc[0]:
        raise ValueError(f"not a date: {DATE_HINT}")
    return value


# ----------------------------------------------------------------------------- probe values


def _probe_number(col: ColumnSpec, _i: int, _k: int, where: float) -> Any:
    lo = col.min if col.min is not None else -10.0
    hi = col.max if col.max is not None else 10.0
    value = lo + (hi - lo) * where
    return round(value) if col.dtype == "int64" else value


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Kind:
    """What one kind of column means to every consumer (see the module's docstring). Every kind's functions take
    the arguments annotated below; one that a kind's function does not use is named ``_like_this``."""

    name: str
    pandas: str  # the pandas/pandera dtype ("boolean" when a bool column is nullable: see pandas_dtype)
    json: type  # the strict JSON type of a request field
    arrow_type: Callable[[Any], bool]  # is this Arrow type accepted for the column?
    arrow_check: Callable[[Any, Any, bool], ArrowResult]  # (array, column, numeric matrix) -> values | problem
    branch: str  # features.py: "numeric" | "boolean" | "categorical" | "date"
    profile: str | None  # monitor: "numeric" | "categorical" | None (not profiled)
    probe: Callable[[Any, int, int, float], Any]  # (column, feature index, probe index, where in range) -> value
    wrong: Any  # a JSON value the kind's rule rejects (``allowed`` lists get an unknown category instead)
    bounded: bool = False  # min/max apply
    float_matrix: bool = False  # the value is a number in the served feature matrix
    pandera_checks: Callable[[], list[Any]] = list  # extra pandera checks (beyond min/max/allowed)
    # the raw values (before the cast) that are not of this kind, when the cast would hide them
    uncastable: Callable[[pd.Series], pd.Series] | None = None
    validators: tuple[Any, ...] = ()  # extra pydantic validators of a request field (AfterValidator, ...)


def _not_booleans(raw: pd.Series) -> pd.Series:
    """pandas casts any string to True ("False" too): a bool column holds booleans (or nothing) before the cast."""
    if pd.api.types.is_bool_dtype(raw):
        return pd.Series(False, index=raw.index)
    return ~raw.map(lambda v: isinstance(v, (bool, np.bool_))) & raw.notna()


def _date_checks() -> list[Any]:
    import pandera.pandas as pa

    return [
        pa.Check(
            lambda s: parse_dates(s).notna() | s.isna(),
            element_wise=False,
            name="date: parseable as a date",
            error=DATE_HINT,
        )
    ]


def _date_validators() -> tuple[Any, ...]:
    from pydantic import AfterValidator

    return (AfterValidator(_date_or_error),)


FLOAT = Kind(
    "float", "float64", float, _is_number, _arrow_number, "numeric", "numeric", _probe_number, "not-a-number",
    bounded=True, float_matrix=True,
)  # fmt: skip
INTEGER = Kind(
    "integer", "int64", int, _is_integer, _arrow_number, "numeric", "numeric", _probe_number, "not-a-number",
    bounded=True, float_matrix=True,
)  # fmt: skip
BOOLEAN = Kind(
    "boolean", "bool", bool, _is_boolean, _arrow_bool, "boolean", "categorical",
    lambda _col, i, k, _where: bool((i + k) % 2), "not-a-boolean", float_matrix=True, uncastable=_not_booleans,
)  # fmt: skip
CATEGORY = Kind(
    "category", "str", str, _is_string, _arrow_category, "categorical", "categorical",
    lambda _col, _i, k, _where: f"value{k}", 12345,
)  # fmt: skip
# valid dates in several shapes (a date, a naive and an offset timestamp, free text): the probe rows
# exercise every route of the served date parsing (ops/serving/predictor.py's date kernel)
DATE_PROBES = ("2024-03-01", "2023-12-31T23:30:00", "2024-02-29T22:00:00-05:00", "1 March 2021")
DATE = Kind(
    "date", "str", str, _is_string, _arrow_date, "date", None,
    lambda _col, _i, k, _where: DATE_PROBES[k % len(DATE_PROBES)], "not-a-date",
    pandera_checks=_date_checks, validators=_date_validators(),
)  # fmt: skip


@dataclass(frozen=True)
class Role:
    """What a column is for: a model input (its kind decides how), or carried but never encoded."""

    model_input: bool
    kind: Kind | None = None  # a role with its own kind (``date``); None: the dtype's kind
    dtypes: tuple[str, ...] | None = None  # the dtypes the role accepts (None: any)


# dtype (as written in data/schema.yaml) -> its kind
DTYPES: dict[str, Kind] = {"float64": FLOAT, "int64": INTEGER, "bool": BOOLEAN, "str": CATEGORY}
# role -> what it does. Only model inputs reach the model; identifier/ignored columns are validated in the
# data (by their dtype's kind) but never encoded, and a request may carry them with any value.
ROLES: dict[str, Role] = {
    "feature": Role(model_input=True),
    "date": Role(model_input=True, kind=DATE, dtypes=("str",)),
    "identifier": Role(model_input=False),
    "ignored": Role(model_input=False),
}


def kind_of(col: ColumnSpec) -> Kind:
    """The column's kind: its role's own kind when it has one, else its dtype's."""
    return ROLES[col.role].kind or DTYPES[col.dtype]


def is_model_input(col: ColumnSpec) -> bool:
    return ROLES[col.role].model_input


def branch(col: ColumnSpec) -> str:
    """The preprocessing branch of ``features.py``: numeric, boolean, categorical, date, or ignored."""
    return kind_of(col).branch if is_model_input(col) else "ignored"


def profile_kind(col: ColumnSpec) -> str | None:
    """How the monitor profiles the column (numeric / categorical), or None when it does not."""
    return kind_of(col).profile if is_model_input(col) else None


def pandas_dtype(col: ColumnSpec) -> str:
    """The pandas dtype a column is cast to: nullable booleans need pandas' ``boolean``."""
    dtype = DTYPES[col.dtype].pandas
    return "boolean" if dtype == "bool" and col.nullable else dtype


def is_open(col: ColumnSpec) -> bool:
    """An open category: any value is accepted (encoded as unknown when new); closed ones list ``allowed``."""
    kind = kind_of(col)
    return kind.branch == "categorical" and kind.json is str and col.allowed is None


def probe_value(col: ColumnSpec, i: int, k: int, where: float) -> Any:
    """A valid value for probe record ``k`` (feature ``i``, ``where`` in 0..1 of the range)."""
    if col.allowed is not None:
        return col.allowed[(i + k) % len(col.allowed)]
    return kind_of(col).probe(col, i, k, where)


NOT_A_CATEGORY = "<not-a-category>"


def wrong_value(col: ColumnSpec) -> Any:
    """A JSON value the column's rule rejects (validate, the JSON and the Arrow endpoint alike)."""
    if col.allowed is not None:
        return NOT_A_CATEGORY if NOT_A_CATEGORY not in col.allowed else 1.5
    return kind_of(col).wrong
