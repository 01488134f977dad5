"""THE data schema: one reviewable file (``data/schema.yaml``), turned into a pandera schema.

The same spec drives the validate stage, the data tests and the serving input validation, so
there is no second hand-written schema anywhere. ``draft_spec`` writes a first draft of the file
from real data (``make schema``); a human then tightens ranges, categories and nullability.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pydantic import ValidationError, model_validator

from mlops_template.core.config import ConfigError, StrictModel, format_validation_error
from mlops_template.core.data import kinds
from mlops_template.core.data.kinds import parse_dates as parse_dates  # re-exported: the features import it here

Scalar = bool | int | float | str
# The dtypes and roles a column may have, and what each means to validation, serving, features and the
# monitor, are registered in ONE place: mlops_template.core.data.kinds (DTYPES, ROLES). Only model-input roles
# (``feature``, and ``date``, turned into year/month/weekday numbers) reach the model; ``identifier`` and
# ``ignored`` columns are validated in the data but never encoded, and a request may carry them with any
# value (they are never a 400).
DType = str
Role = str


class ColumnSpec(StrictModel):
    dtype: DType
    role: Role = "feature"
    nullable: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    # a closed category: the complete list of valid values (another value is bad input)
    allowed: list[Scalar] | None = None
    # an open category: any value is valid; a new one is encoded as unknown and counted as drift
    open: bool = False

    @model_validator(mode="after")
    def _known_kind(self) -> ColumnSpec:
        if self.dtype not in kinds.DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {', '.join(kinds.DTYPES)}")
        if self.role not in kinds.ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(kinds.ROLES)}")
        accepted = kinds.ROLES[self.role].dtypes
        if accepted is not None and self.dtype not in accepted:
            raise ValueError(f"role {self.role} needs dtype {' or '.join(accepted)}, not {self.dtype}")
        if self.open and (self.allowed is not None or not kinds.is_open(self)):
            raise ValueError(
                "open: true is for a str category without `allowed` (an `allowed` list makes it closed): "
                "remove one of the two"
            )
        return self


pandas_dtype = kinds.pandas_dtype


class SchemaSpec(StrictModel):
    min_rows: int = 1
    unique_rows: bool = True
    columns: dict[str, ColumnSpec]

    def feature_columns(self, target: str, id_column: str) -> list[str]:
        """The columns the model sees: every ``feature``/``date`` column except the target and the id."""
        return [c for c, col in self.columns.items() if c not in (target, id_column) and kinds.is_model_input(col)]

    def passthrough_columns(self) -> list[str]:
        """``identifier``/``ignored`` columns: a request may carry them (any value); the model never sees them."""
        return [c for c, col in self.columns.items() if not kinds.is_model_input(col)]


def load_spec(path: str | Path) -> SchemaSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: schema file not found (data.schema_path); run `make schema` to infer one") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    try:
        return SchemaSpec.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path))) from None


def dump_spec(spec: SchemaSpec, path: str | Path, header: str = "", notes: dict[str, list[str]] | None = None) -> None:
    """Write the spec as YAML; ``notes`` (column -> lines) become comments above each column for review."""
    payload = {"min_rows": spec.min_rows, "unique_rows": spec.unique_rows}
    body = yaml.safe_dump(payload, sort_keys=False, width=100) + "columns:\n"
    for name, col in spec.columns.items():
        for line in (notes or {}).get(name, []):
            body += f"  # {line}\n"
        entry = yaml.safe_dump(
            {name: col.model_dump(exclude_defaults=True)}, sort_keys=False, width=100, allow_unicode=True
        )
        body += "".join(f"  {line}\n" for line in entry.splitlines())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(header + body, encoding="utf-8")


def _column_checks(col: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if kinds.kind_of(col).bounded:
        if col.min is not None and col.max is not None:
            checks.append(pa.Check.in_range(col.min, col.max))  # one vectorised pass instead of two
        elif col.min is not None:
            checks.append(pa.Check.ge(col.min))
        elif col.max is not None:
            checks.append(pa.Check.le(col.max))
    if col.allowed is not None:
        checks.append(pa.Check.isin(col.allowed))
    return checks + kinds.kind_of(col).pandera_checks()


def build_schema(spec: SchemaSpec, columns: list[str] | None = None, frame_checks: bool = True) -> pa.DataFrameSchema:
    """The pandera schema for ``spec`` (optionally only some ``columns``, e.g. the serving features).

    ``frame_checks`` adds the whole-table rules (row-count floor, no duplicated rows), which make
    sense for a dataset but not for one prediction request.
    """
    names = list(spec.columns) if columns is None else columns
    pa_columns = {
        name: pa.Column(
            pandas_dtype(spec.columns[name]),
            checks=_column_checks(spec.columns[name]),
            nullable=spec.columns[name].nullable,
            unique=spec.columns[name].unique,
            coerce=True,
        )
        for name in names
    }
    checks: list[pa.Check] = []
    unique: list[str] | None = None
    if frame_checks:
        floor = spec.min_rows
        checks.append(
            pa.Check(
                lambda df: len(df) >= floor,
                name=f"min_rows: at least {floor} rows",
                error=f"at least {floor} rows are required",
            )
        )
        if spec.unique_rows:
            # a duplicated row: equal in everything but its keys (unique or identifier columns)
            keys = [n for n in names if spec.columns[n].unique or spec.columns[n].role == "identifier"]
            unique = [n for n in names if n not in keys] or None
    return pa.DataFrameSchema(
        pa_columns, checks=checks, strict=True, unique=unique, report_duplicates="all", name="dataset"
    )


# ----------------------------------------------------------------------------- validation report


@dataclass
class Failure:
    column: str
    check: str
    failing_rows: int
    examples: list[str] = field(default_factory=list)


@dataclass
class ValidationReport:
    rows: int
    columns: int
    failures: list[Failure]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "columns": self.columns,
            "failures": [f.__dict__ for f in self.failures],
        }

    def to_markdown(self) -> str:
        if self.ok:
            return f"Data validation passed: {self.rows} rows, {self.columns} columns, all checks green.\n"
        lines = [
            f"Data validation FAILED: {len(self.failures)} failing check(s) "
            f"on {self.rows} rows x {self.columns} columns.",
            "",
            "| column | check | failing rows | examples |",
            "|---|---|---:|---|",
        ]
        for f in self.failures:
            lines.append(f"| {f.column} | {f.check} | {f.failing_rows} | {', '.join(f.examples)} |")
        lines += ["", "Fix the data (or, if the data is right, the schema in data/schema.yaml) and re-run."]
        return "\n".join(lines) + "\n"


def _report_from_failure_cases(frame: pd.DataFrame, cases: pd.DataFrame) -> list[Failure]:
    """Turn pandera's failure-case table into one row per (column, check), in plain words."""
    cases = cases.copy()
    cases["check"] = cases["check"].astype(str)
    cases["column"] = cases["column"].astype(object).where(cases["column"].notna(), "<table>").astype(str)
    failures: list[Failure] = []

    # A value that cannot be cast is reported once, as a dtype problem, not again by every range check.
    uncastable = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    noise = cases["column"].isin(uncastable) & ~cases["check"].str.startswith("coerce_dtype")
    cases = cases[~noise]

    dup = cases["check"] == "multiple_fields_uniqueness"
    if dup.any():
        rows = sorted({int(i) for i in cases.loc[dup, "index"].dropna()})
        failures.append(Failure("<rows>", "duplicated rows", len(rows), [f"row {i}" for i in rows[:5]]))
        cases = cases[~dup]

    for (column_key, check_key), group in cases.groupby(["column", "check"], sort=False):
        column, check = str(column_key), str(check_key)
        idx = group["index"].dropna()
        failing = int(idx.nunique()) if len(idx) else len(group)
        examples = [str(v) for v in group["failure_case"].drop_duplicates().head(5)]
        if check == "column_in_dataframe":
            column, check, failing, examples = ", ".join(examples), "missing column", len(frame), []
        elif check == "column_in_schema":
            column, check, failing, examples = ", ".join(examples), "unexpected column", len(frame), []
        elif check.startswith("coerce_dtype"):
            check = f"wrong dtype: cannot cast to {check.removeprefix('coerce_dtype(').rstrip(')')}"
        elif check.startswith("min_rows") or group["schema_context"].iloc[0] == "DataFrameSchema":
            column, examples = "<table>", [f"{len(frame)} rows"]
        failures.append(Failure(column, check, failing, examples))
    return failures


def _uncastable(frame: pd.DataFrame, spec: SchemaSpec) -> list[Failure]:
    """Values the cast would hide (a kind's ``uncastable``, e.g. a string in a bool column), as dtype failures."""
    failures = []
    for name, col in spec.columns.items():
        check = kinds.kind_of(col).uncastable
        bad = check(frame[name]) if check is not None and name in frame.columns else None
        if bad is not None and bad.any():
            examples = [str(v) for v in frame.loc[bad, name].drop_duplicates().head(5)]
            failures.append(Failure(name, f"wrong dtype: cannot cast to {col.dtype}", int(bad.sum()), examples))
    return failures


def validate(frame: pd.DataFrame, spec: SchemaSpec) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Validate lazily (every failing check is collected, not only the first)."""
    schema = build_schema(spec)
    failures = _uncastable(frame, spec)
    try:
        validated = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        failures += _report_from_failure_cases(frame, err.failure_cases)
    if failures:
        return None, ValidationReport(len(frame), frame.shape[1], failures)
    return validated, ValidationReport(len(frame), frame.shape[1], [])


def task_failures(frame: pd.DataFrame, target: str, task: str) -> list[Failure]:
    """Whether the labels in ``frame`` can train a model of ``task``: binary needs exactly 2 classes, multiclass 3
    or more (2 classes are a binary task: its metrics, threshold and plots). Regression is checked by the dtype."""
    if task == "regression" or target not in frame:
        return []
    labels = sorted(str(v) for v in frame[target].dropna().unique())
    need = {"binary": "exactly 2", "multiclass": "3 or more"}.get(task)
    if need is None or (len(labels) == 2 if task == "binary" else len(labels) >= 3):
        return []
    other = "binary" if len(labels) == 2 else "multiclass" if len(labels) > 2 else None
    fix = (
        f"set `task: {other}` in params.yaml (or re-run `make init ... TASK={other}`), "
        "or add rows of the missing classes"
        if other
        else "the data holds a single class: add rows of the other classes"
    )
    return [
        Failure(
            target,
            f"task {task}: the target needs {need} classes, the data has {len(labels)}; {fix}",
            len(frame),
            labels[:5],
        )
    ]


# ----------------------------------------------------------------------------- inference


def _round_out(value: float, up: bool) -> float:
    """Round a bound outward to 3 significant digits so the file stays readable."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 2 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    return (math.ceil(value * scale) if up else math.floor(value * scale)) / scale


_ID_NAME = re.compile(r"(^|[^a-z])(id|ids|key|uuid|guid|code|number|no|nr)([^a-z]|$)|(?<=[a-z])(Id|ID)$")
_DATE_SHAPE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2})?.*)?\s*$"
)


def _looks_like_id_name(name: str) -> bool:
    return bool(_ID_NAME.search(name.lower()) or _ID_NAME.search(name))


def _is_date(present: pd.Series) -> bool:
    """Most values shaped like a date and parseable as one."""
    if present.empty:
        return False
    sample = present.astype(str).head(500)
    if sample.str.match(_DATE_SHAPE).mean() < 0.95:
        return False
    return bool(parse_dates(sample).notna().mean() >= 0.95)


def _words(present: pd.Series) -> float:
    return float(present.head(2000).map(lambda v: len(str(v).split())).mean()) if len(present) else 0.0


def _text_like(present: pd.Series) -> str:
    """Why a string column reads as text, not as a list of categories ("" when it does not)."""
    words = _words(present)
    if words >= 3:
        return f"sentences of ~{words:.0f} words"
    length = float(present.head(2000).astype(str).str.len().mean()) if len(present) else 0.0
    if length >= 30 and words >= 2:
        return f"long strings of ~{length:.0f} characters"
    return ""


OPEN_MEANS = "a new value is accepted, encoded as unknown by the one-hot encoder and counted as drift"


def _category_spec(present: pd.Series, nullable: bool, max_categories: int) -> tuple[ColumnSpec, str]:
    """A string feature: a closed category (``allowed``: a new value is bad input) only when the values seen
    look like a complete list; text, many values, or values seen once or twice make it open (``open: true``)."""
    counts = present.astype(str).value_counts()
    distinct, rare, text = len(counts), int((counts <= 2).sum()), _text_like(present)
    if text or distinct > max_categories or rare:
        why = (
            f"text ({text}, {distinct} distinct values)"
            if text
            else f"{distinct} values (> {max_categories}; rare ones share one one-hot column)"
            if distinct > max_categories
            else f"{rare} of its {distinct} values seen only once or twice, so the list seen is likely incomplete"
        )
        return ColumnSpec(dtype="str", nullable=nullable, open=True), f"feature: open category: {why}; {OPEN_MEANS}"
    closed = ColumnSpec(dtype="str", nullable=nullable, allowed=sorted(counts.index))
    return closed, (
        f"feature: closed category: {distinct} values, each seen 3 times or more; any other value is bad input "
        "(rejected by validate and serving): extend allowed, or replace it with open: true"
    )


@dataclass
class Draft:
    """A drafted schema with the reason for every decision (written as comments) and label counts."""

    spec: SchemaSpec
    notes: dict[str, list[str]]
    missing_labels: int = 0
    rows: int = 0


def draft_spec(
    frame: pd.DataFrame,
    target: str,
    id_column: str,
    task: str = "binary",
    margin: float = 0.5,
    max_categories: int = 20,
    min_rows_fraction: float = 0.5,
    drop_missing_labels: bool = False,
) -> Draft:
    """A first draft of the schema from data, with one review note per decision.

    Types, nullability, ranges and labels come from the data. Each column also gets a role: the id
    column and other id-like keys are ``identifier``; constant columns, free text and dates are
    ``ignored`` (dates can be switched to ``date`` features); everything else is a ``feature``.
    Numeric ranges are widened by ``margin`` times the observed range (kept >= 0 when no value is
    negative) so that new data from the same source passes.
    """
    n = len(frame)
    missing_labels = int(frame[target].isna().sum()) if target in frame.columns else 0
    if drop_missing_labels and missing_labels:
        frame = frame[frame[target].notna()]
    columns: dict[str, ColumnSpec] = {}
    notes: dict[str, list[str]] = {}
    for name in frame.columns:
        name = str(name)
        s = frame[name]
        present = s.dropna()
        if name == target:
            columns[name] = _target_spec(s, present, task)
            notes[name] = _target_notes(columns[name], task, missing_labels, n, drop_missing_labels)
            continue
        nullable = bool(s.isna().any())
        dtype = _draft_dtype(s, present, name == id_column, nullable)
        col, why = _draft_column(name, s, present, dtype, id_column, margin, max_categories)
        if nullable:
            why.append(f"nullable: {int(s.isna().sum())} of {len(s)} values missing")
        columns[name], notes[name] = col, why
    keys = [n for n, c in columns.items() if c.unique or c.role == "identifier"] + [id_column]
    spec = SchemaSpec(
        min_rows=max(1, int(len(frame) * min_rows_fraction)),
        unique_rows=not bool(frame.drop(columns=keys, errors="ignore").duplicated().any()),
        columns=columns,
    )
    return Draft(spec, notes, missing_labels, n)


def _target_notes(col: ColumnSpec, task: str, missing_labels: int, rows: int, drop: bool) -> list[str]:
    """Why the target column's rule is what it is, and what happens to the rows without a label."""
    why = [f"target ({task}): " + ("labels seen in the data" if col.allowed else "range seen in the data")]
    if missing_labels:
        why.append(
            f"{missing_labels} of {rows} rows have no label: "
            + (
                "data.missing_labels: drop removes them before validation"
                if drop
                else "validation stops on them (set data.missing_labels: drop)"
            )
        )
    return why


def _draft_dtype(s: pd.Series, present: pd.Series, is_id: bool, nullable: bool) -> DType:
    """bool, int64 (integers with no missing value; an id column of whole numbers too), float64, else str."""
    if pd.api.types.is_bool_dtype(s) or (
        s.dtype == object and len(present) > 0 and bool(present.map(lambda v: isinstance(v, bool)).all())
    ):
        return "bool"
    if pd.api.types.is_numeric_dtype(s):
        integral = len(present) > 0 and bool((present == present.round()).all())
        is_int = pd.api.types.is_integer_dtype(s) or (integral and is_id)
        return "int64" if is_int and not nullable else "float64"
    return "str"


def _looks_like_key(name: str, dtype: DType, present: pd.Series, distinct: int, max_categories: int) -> bool:
    """Too many values for a category, and (almost) one per row or a key-like name: an identifier."""
    if dtype not in ("str", "int64") or distinct <= max_categories:
        return False
    nearly_unique = bool(len(present)) and distinct / len(present) >= 0.95
    return (nearly_unique and (dtype == "str" or _looks_like_id_name(name))) or (
        dtype == "str" and _looks_like_id_name(name)
    )


def _draft_column(
    name: str,
    s: pd.Series,
    present: pd.Series,
    dtype: DType,
    id_column: str,
    margin: float,
    max_categories: int,
) -> tuple[ColumnSpec, list[str]]:
    """A non-target column's rule and role, with why: identifier, ignored (constant, dates, free text), or a
    feature (:func:`_draft_feature`)."""
    nullable = bool(s.isna().any())
    distinct = int(present.nunique())
    unique = bool(present.is_unique) and len(present) == len(s)
    if name == id_column:
        why = ["identifier (data.id_column): validated, never a model input"]
        if not unique:
            why.append(f"not unique ({distinct} distinct values in {len(s)} rows): several rows share an id")
        return ColumnSpec(dtype=dtype, role="identifier", unique=unique, nullable=nullable), why
    if distinct <= 1:
        value = present.iloc[0] if len(present) else None
        why = [f"ignored: constant (every row is {value!r}); it cannot help the model"]
        return ColumnSpec(dtype=dtype, role="ignored", nullable=nullable), why
    if dtype == "str" and _is_date(present):
        why = [
            "ignored: dates/timestamps (a closed category list would reject every new date); "
            "set role: date to give the model year, month and weekday features"
        ]
        return ColumnSpec(dtype="str", role="ignored", nullable=nullable), why
    if dtype == "str" and distinct > max_categories and _text_like(present):
        why = [f"ignored: free text ({distinct} distinct values, {_text_like(present)})"]
        return ColumnSpec(dtype="str", role="ignored", nullable=nullable), why
    if _looks_like_key(name, dtype, present, distinct, max_categories):
        share = f"{distinct} distinct values in {len(present)} rows"
        why = [f"identifier: looks like a key ({share}); validated, never a model input"]
        return ColumnSpec(dtype=dtype, role="identifier", unique=unique, nullable=nullable), why
    return _draft_feature(present, dtype, nullable, margin, max_categories)


def _draft_feature(
    present: pd.Series, dtype: DType, nullable: bool, margin: float, max_categories: int
) -> tuple[ColumnSpec, list[str]]:
    """A model input's rule: boolean; numeric with the seen range padded by ``margin``; else a category."""
    if dtype == "bool":
        return ColumnSpec(dtype="bool", nullable=nullable), ["feature: boolean"]
    if dtype in ("int64", "float64"):
        lo, hi = float(present.min()), float(present.max())
        pad = (hi - lo) * margin
        low = max(lo - pad, 0.0) if lo >= 0 else lo - pad
        col = ColumnSpec(
            dtype=dtype, nullable=nullable, min=_round_out(low, up=False), max=_round_out(hi + pad, up=True)
        )
        return col, [f"feature: numeric, seen {lo:.4g}..{hi:.4g}; min/max padded by {margin:g} x range"]
    col, reason = _category_spec(present, nullable, max_categories)
    return col, [reason]


def _target_spec(s: pd.Series, present: pd.Series, task: str) -> ColumnSpec:
    if task == "regression":
        lo, hi = float(present.min()), float(present.max())
        pad = (hi - lo) * 0.5
        low = max(lo - pad, 0.0) if lo >= 0 else lo - pad
        return ColumnSpec(dtype="float64", min=_round_out(low, up=False), max=_round_out(hi + pad, up=True))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        is_int = len(present) > 0 and bool((present == present.round()).all())
        labels: list[Scalar] = sorted(int(v) if is_int else float(v) for v in present.unique())
        return ColumnSpec(dtype="int64" if is_int else "float64", allowed=labels)
    if pd.api.types.is_bool_dtype(s):
        return ColumnSpec(dtype="bool")
    return ColumnSpec(dtype="str", allowed=sorted(str(v) for v in present.unique()))


def coerce(frame: pd.DataFrame, spec: SchemaSpec) -> pd.DataFrame:
    """Cast columns to the schema's dtypes (data that passed validation always casts cleanly)."""
    return frame.astype({name: pandas_dtype(col) for name, col in spec.columns.items() if name in frame.columns})
