"""THE data schema: one reviewable file (``data/schema.yaml``), turned into a pandera schema.

The same spec drives the validate stage, the data tests and the serving input validation, so
there is no second hand-written schema anywhere. ``infer_spec`` writes a first draft of the file
from real data (``make schema``); a human then tightens ranges, categories and nullability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa
import yaml
from pydantic import ValidationError

from mlops_template.config import ConfigError, StrictModel, format_validation_error

DType = Literal["int64", "float64", "bool", "str"]
Scalar = bool | int | float | str


class ColumnSpec(StrictModel):
    dtype: DType
    nullable: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Scalar] | None = None


def pandas_dtype(col: ColumnSpec) -> str:
    """The pandas dtype a column is cast to: nullable booleans need pandas' ``boolean``."""
    return "boolean" if col.dtype == "bool" and col.nullable else col.dtype


class SchemaSpec(StrictModel):
    min_rows: int = 1
    unique_rows: bool = True
    columns: dict[str, ColumnSpec]

    def feature_columns(self, target: str, id_column: str) -> list[str]:
        return [c for c in self.columns if c not in (target, id_column)]


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


def dump_spec(spec: SchemaSpec, path: str | Path, header: str = "") -> None:
    payload = {
        "min_rows": spec.min_rows,
        "unique_rows": spec.unique_rows,
        "columns": {name: col.model_dump(exclude_defaults=True) for name, col in spec.columns.items()},
    }
    body = yaml.safe_dump(payload, sort_keys=False, width=100)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(header + body, encoding="utf-8")


def _column_checks(col: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.min is not None and col.max is not None:
        checks.append(pa.Check.in_range(col.min, col.max))  # one vectorised pass instead of two
    elif col.min is not None:
        checks.append(pa.Check.ge(col.min))
    elif col.max is not None:
        checks.append(pa.Check.le(col.max))
    if col.allowed is not None:
        checks.append(pa.Check.isin(col.allowed))
    return checks


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
            unique = [n for n in names if not spec.columns[n].unique] or None
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


def validate(frame: pd.DataFrame, spec: SchemaSpec) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Validate lazily (every failing check is collected, not only the first)."""
    schema = build_schema(spec)
    try:
        validated = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        failures = _report_from_failure_cases(frame, err.failure_cases)
        return None, ValidationReport(len(frame), frame.shape[1], failures)
    return validated, ValidationReport(len(frame), frame.shape[1], [])


# ----------------------------------------------------------------------------- inference


def _round_out(value: float, up: bool) -> float:
    """Round a bound outward to 3 significant digits so the file stays readable."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 2 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    return (math.ceil(value * scale) if up else math.floor(value * scale)) / scale


def infer_spec(
    frame: pd.DataFrame,
    target: str,
    id_column: str,
    task: str = "binary",
    margin: float = 0.5,
    max_categories: int = 20,
    min_rows_fraction: float = 0.5,
) -> SchemaSpec:
    """A first draft of the schema from data: dtypes, nullability, ranges, allowed labels.

    Numeric ranges are widened by ``margin`` times the observed range (and kept at >= 0 when no
    value is negative) so that new data from the same source passes; review them before committing.
    """
    columns: dict[str, ColumnSpec] = {}
    for name in frame.columns:
        s = frame[name]
        nullable = bool(s.isna().any())
        present = s.dropna()
        if pd.api.types.is_bool_dtype(s) or (
            s.dtype == object and len(present) > 0 and bool(present.map(lambda v: isinstance(v, bool)).all())
        ):
            columns[name] = ColumnSpec(dtype="bool", nullable=nullable)
        elif pd.api.types.is_numeric_dtype(s):
            non_null = s.dropna()
            is_int = pd.api.types.is_integer_dtype(s) or (
                len(non_null) > 0
                and bool((non_null == non_null.round()).all())
                and (name == id_column or (name == target and task != "regression"))
            )
            dtype: DType = "int64" if is_int and not nullable else "float64"
            if name == id_column:
                columns[name] = ColumnSpec(dtype=dtype, unique=True)
            elif name == target and task != "regression":
                labels: list[Scalar] = sorted(int(v) if is_int else float(v) for v in non_null.unique())
                columns[name] = ColumnSpec(dtype=dtype, allowed=labels)
            else:
                lo, hi = float(non_null.min()), float(non_null.max())
                pad = (hi - lo) * margin
                low = max(lo - pad, 0.0) if lo >= 0 else lo - pad
                columns[name] = ColumnSpec(
                    dtype=dtype, nullable=nullable, min=_round_out(low, up=False), max=_round_out(hi + pad, up=True)
                )
        else:
            values = sorted(str(v) for v in s.dropna().unique())
            keep = len(values) <= max_categories or (name == target and task != "regression")
            allowed: list[Scalar] | None = list(values) if keep and name != id_column else None
            columns[name] = ColumnSpec(dtype="str", nullable=nullable, unique=name == id_column, allowed=allowed)
    return SchemaSpec(
        min_rows=max(1, int(len(frame) * min_rows_fraction)),
        unique_rows=not bool(frame.drop(columns=[id_column], errors="ignore").duplicated().any()),
        columns=columns,
    )


def coerce(frame: pd.DataFrame, spec: SchemaSpec) -> pd.DataFrame:
    """Cast columns to the schema's dtypes (data that passed validation always casts cleanly)."""
    return frame.astype({name: pandas_dtype(col) for name, col in spec.columns.items() if name in frame.columns})
