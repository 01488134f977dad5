"""The columnar batch body: Apache Arrow IPC stream or Parquet, validated against the schema spec.

``POST /arrow/predict_batch`` (mounted next to the BentoML API) takes one table with the feature columns
(identifier/ignored columns may come too) and applies each column kind's rules (mlops_template.core.data.kinds,
as :mod:`validation` does) column by column (vectorised), so a
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

from mlops_template.core.data import kinds
from mlops_template.core.data.schema import SchemaSpec

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


def validate_table(
    table: pa.Table, spec: SchemaSpec, features: list[str], max_rows: int, id_column: str | None = None
) -> np.ndarray:
    """Table -> feature matrix (float64 when every feature is numeric, else object), or ColumnarError.

    Per column (first offending row reported): Arrow type matches the column's kind (integers are accepted
    for float columns), nulls only where ``nullable``, then the kind's own check (mlops_template.core.data.kinds):
    finite floats, ``min``/``max``, ``allowed`` (a closed category), dates that parse.
    An ``id_column`` column may come along (the record ids; not a feature, not checked here).
    """
    problems: list[dict[str, Any]] = []
    if not 1 <= table.num_rows <= max_rows:
        problems.append(_problem("too_long" if table.num_rows else "too_short", ["records"], f"1..{max_rows} rows"))
    names = table.column_names
    problems += [_problem("missing", ["records", "*", f], "column required") for f in features if f not in names]
    carried = set(features) | set(spec.passthrough_columns())  # identifier/ignored columns: any value, never used
    if id_column is not None:
        carried.add(id_column)
    problems += [_problem("extra_forbidden", ["records", "*", n], "not a feature") for n in names if n not in carried]
    if len(set(names)) != len(names):
        problems.append(_problem("duplicate_column", ["records"], "each column once"))
    if problems:
        raise ColumnarError(400, f"{len(problems)} validation error(s) for the columnar batch", problems)
    columns: list[np.ndarray] = []
    column_kinds = [kinds.kind_of(spec.columns[f]) for f in features]
    numeric = all(kind.float_matrix for kind in column_kinds)
    for name, kind in zip(features, column_kinds, strict=True):
        col = spec.columns[name]
        arr = table.column(name).combine_chunks() if table.num_rows else table.column(name)
        if not kind.arrow_type(arr.type):
            problems.append(
                _problem(f"{col.dtype}_type", ["records", "*", name], f"Arrow type {arr.type} is not {col.dtype}")
            )
            continue
        if arr.null_count and not col.nullable:
            problems.append(_problem("null", ["records", _first_row(pc.is_null(arr)), name], "null not allowed"))
            continue
        checked = kind.arrow_check(arr, col, numeric)  # the kind's own rules: range, categories, dates, ...
        if isinstance(checked, tuple):
            rule, row, msg = checked
            problems.append(_problem(rule, ["records", row, name], msg))
            continue
        columns.append(checked)
    if problems:
        raise ColumnarError(400, f"{len(problems)} validation error(s) for the columnar batch", problems)
    if numeric and all(c.dtype == np.float64 for c in columns):
        return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))
    return np.column_stack([np.asarray(c, dtype=object) for c in columns])


def answer(
    labels: list[Any], scores: list[float], version: str, accept: str, ids: list[Any] | None = None
) -> tuple[bytes, str]:
    """The response: JSON ``{labels, scores, model_version[, ids]}``, or an Arrow stream (``label``, ``score``
    [, ``id``] columns) when the client accepts it."""
    if ARROW_STREAM in accept:
        columns: dict[str, Any] = {"label": labels, "score": pa.array(scores, type=pa.float64())}
        if ids is not None:
            columns["id"] = pa.array([str(i) for i in ids]) if any(isinstance(i, str) for i in ids) else ids
        table = pa.table(columns)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata({"model_version": version})) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes(), ARROW_STREAM
    body: dict[str, Any] = {"labels": labels, "scores": scores, "model_version": version}
    if ids is not None:
        body["ids"] = ids
    # pydantic-core's encoder: 20x faster than json.dumps on 10k labels and scores (~0.5 ms vs ~12 ms)
    return to_json(body), "application/json"


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
