"""The columnar batch body: Apache Arrow IPC stream or Parquet, validated against the schema spec.

``POST /arrow/predict_batch`` (mounted next to the BentoML API) takes one table with exactly the
feature columns and applies the rules of :mod:`validation` column by column (vectorised), so a
10k-row request costs little more than the model itself. Errors have the JSON endpoints' shape
(``detail[].loc = ["records", row, column]``, ``type`` = the same rule names). Pure functions; the
Starlette app is built by :func:`make_app` with the service's scoring function.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic_core import to_json

from mlops_template.data.schema import SchemaSpec

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = {ARROW_STREAM: "arrow", "application/x-parquet": "parquet", PARQUET: "parquet"}


class ColumnarError(Exception):
    """A bad columnar request: HTTP status + the service's JSON error body."""

    def __init__(self, status: int, error: str, detail: list[dict[str, Any]]) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, "detail": detail}


def _problem(kind: str, loc: list[Any], msg: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg}


def read_table(body: bytes, media_type: str | None) -> pa.Table:
    """Parse the body by its content type (415 for others, 400 when it does not parse)."""
    kind = MEDIA_TYPES.get((media_type or "").lower())
    if kind is None:
        raise ColumnarError(
            415,
            f"unsupported content type: {media_type or '(none)'}",
            [_problem("content_type", ["body"], f"send {ARROW_STREAM} or {PARQUET}")],
        )
    try:
        if kind == "arrow":
            return pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(body))
    except Exception as err:  # any parse failure is the client's body
        raise ColumnarError(
            400, f"body is not a valid {kind} table", [_problem(f"{kind}_invalid", ["body"], str(err)[:300])]
        ) from err


def _first_row(mask: Any) -> int:
    return int(np.flatnonzero(np.asarray(mask, dtype=bool))[0])


def validate_table(table: pa.Table, spec: SchemaSpec, features: list[str], max_rows: int) -> np.ndarray:
    """Table -> feature matrix (float64 when every feature is numeric, else object), or ColumnarError.

    Per column (first offending row reported): Arrow type matches the dtype (integers are accepted
    for float columns), nulls only where ``nullable``, finite floats, ``min``/``max``, ``allowed``.
    """
    problems: list[dict[str, Any]] = []
    if not 1 <= table.num_rows <= max_rows:
        problems.append(_problem("too_long" if table.num_rows else "too_short", ["records"], f"1..{max_rows} rows"))
    names = table.column_names
    problems += [_problem("missing", ["records", "*", f], "column required") for f in features if f not in names]
    problems += [_problem("extra_forbidden", ["records", "*", n], "not a feature") for n in names if n not in features]
    if len(set(names)) != len(names):
        problems.append(_problem("duplicate_column", ["records"], "each column once"))
    if problems:
        raise ColumnarError(400, f"{len(problems)} validation error(s) for the columnar batch", problems)
    columns: list[np.ndarray] = []
    numeric = all(spec.columns[f].dtype in ("int64", "float64", "bool") for f in features)
    for name in features:
        col = spec.columns[name]
        arr = table.column(name).combine_chunks() if table.num_rows else table.column(name)
        loc_of = lambda row, n=name: ["records", row, n]  # noqa: E731
        t = arr.type
        ok_type = {
            "float64": pa.types.is_floating(t) or pa.types.is_integer(t),
            "int64": pa.types.is_integer(t),
            "bool": pa.types.is_boolean(t),
            "str": pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t),
        }[col.dtype]
        if not ok_type:
            problems.append(_problem(f"{col.dtype}_type", loc_of("*"), f"Arrow type {t} is not {col.dtype}"))
            continue
        if arr.null_count and not col.nullable:
            problems.append(_problem("null", loc_of(_first_row(pc.is_null(arr))), "null not allowed"))
            continue
        if col.dtype in ("float64", "int64"):
            values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # nulls -> NaN
            present = ~np.isnan(values) if arr.null_count else None
            if col.dtype == "float64" and pa.types.is_floating(t):
                bad = pc.fill_null(pc.invert(pc.is_finite(arr)), False)
                if pc.any(bad).as_py():
                    problems.append(_problem("finite_number", loc_of(_first_row(bad)), "NaN/Infinity not allowed"))
                    continue
            checked = values if present is None else values[present]
            rows = np.arange(len(values)) if present is None else np.flatnonzero(present)
            if col.min is not None and (checked < col.min).any():
                row = int(rows[np.argmax(checked < col.min)])
                problems.append(_problem("greater_than_equal", loc_of(row), f"Input should be >= {col.min}"))
                continue
            if col.max is not None and (checked > col.max).any():
                row = int(rows[np.argmax(checked > col.max)])
                problems.append(_problem("less_than_equal", loc_of(row), f"Input should be <= {col.max}"))
                continue
            if col.allowed is not None:
                inside = np.isin(checked, np.asarray(col.allowed, dtype=np.float64))
                if not inside.all():
                    problems.append(_problem("literal_error", loc_of(int(rows[np.argmin(inside)])), "not allowed"))
                    continue
            columns.append(values if numeric else np.array(arr.to_pylist(), dtype=object))
        elif col.dtype == "bool":
            values = arr.to_numpy(zero_copy_only=False)
            columns.append(values.astype(np.float64) if numeric and not arr.null_count else np.asarray(values, object))
        else:
            if pa.types.is_dictionary(t):
                arr = arr.cast(pa.string())
            if col.allowed is not None:
                inside = pc.fill_null(pc.is_in(arr, value_set=pa.array([str(a) for a in col.allowed])), True)
                if not pc.all(inside).as_py():
                    problems.append(_problem("literal_error", loc_of(_first_row(pc.invert(inside))), "not allowed"))
                    continue
            columns.append(np.array(arr.to_pylist(), dtype=object))
    if problems:
        raise ColumnarError(400, f"{len(problems)} validation error(s) for the columnar batch", problems)
    if numeric and all(c.dtype == np.float64 for c in columns):
        return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))
    return np.column_stack([np.asarray(c, dtype=object) for c in columns])


def answer(labels: list[Any], scores: list[float], version: str, accept: str) -> tuple[bytes, str]:
    """The response: JSON ``{labels, scores, model_version}``, or an Arrow stream when the client accepts it."""
    if ARROW_STREAM in accept:
        table = pa.table({"label": labels, "score": pa.array(scores, type=pa.float64())})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata({"model_version": version})) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes(), ARROW_STREAM
    # pydantic-core's encoder: 20x faster than json.dumps on 10k labels and scores (~0.5 ms vs ~12 ms)
    return to_json({"labels": labels, "scores": scores, "model_version": version}), "application/json"


def make_app(score: Callable[[bytes, str | None, str], tuple[int, bytes, str]]) -> Any:
    """A Starlette app with ``POST /predict_batch``; ``score(body, content_type, accept)`` does the work."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def predict_batch(request: Request) -> Response:
        body = await request.body()
        media = request.headers.get("content-type", "").split(";")[0].strip() or None
        status, payload, media_out = await run_in_threadpool(score, body, media, request.headers.get("accept", ""))
        return Response(payload, status_code=status, media_type=media_out)

    return Starlette(routes=[Route("/predict_batch", predict_batch, methods=["POST"])])
