"""Request types derived from THE schema spec (data/schema.yaml), never written by hand.

Each feature column of the spec becomes one required field of a record, with the spec's rules:
the column's kind (mlops_template.core.data.kinds) -> strict JSON type (no "1.5" strings, no booleans as
numbers; a date must parse), ``min``/``max`` -> ``ge``/``le``, ``allowed`` (a closed category) ->
``Literal[...]`` (an open category takes any string), ``nullable: false`` -> ``null`` rejected;
unknown fields are rejected.
A record is a ``TypedDict`` (validated in pydantic-core, and a plain ``dict`` afterwards: cheap for big
batches). Pydantic's error list names the field (``loc``) and the rule (``type`` + ``msg``); BentoML
turns it into a 400 response, and :func:`describe_errors` gives the same shape for in-process use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from mlops_template.core.data import kinds
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec


def field_type(col: ColumnSpec) -> Any:
    """The annotated Python type of one column: JSON type, strictness, bounds, categories, nullability.

    The column's kind gives the JSON type and any extra rule of its own (a date must parse)."""
    kind = kinds.kind_of(col)
    base: Any
    if col.allowed is not None:  # a closed category
        base = Literal[tuple(col.allowed)]
    else:
        constraints: dict[str, Any] = {"strict": True}
        if kind.bounded:
            if col.min is not None:
                constraints["ge"] = col.min
            if col.max is not None:
                constraints["le"] = col.max
        if kind.json is float:
            constraints["allow_inf_nan"] = False
        base = Annotated[kind.json, Field(**constraints), *kind.validators]
    return base | None if col.nullable else base


# identifier/ignored columns (ids, free text, dates the model does not use): optional, any JSON scalar.
Passthrough = NotRequired[str | int | float | bool | None]


def id_type(spec: SchemaSpec, id_column: str) -> Any:
    """The record id (``data.id_column``): the schema's rules for that column when it has one, else a string or
    an integer."""
    col = spec.columns.get(id_column)
    return field_type(col) if col is not None else Annotated[str | int, Field(strict=True)]


def record_type(spec: SchemaSpec, features: list[str], name: str = "Record", id_column: str | None = None) -> type:
    """A ``TypedDict`` with one required key per feature; unknown keys are an error.

    The schema's identifier/ignored columns may be sent too, with any value: the model never sees them,
    so a new comment or id is never a 400. ``id_column`` (optional key) carries the record's id.
    """
    annotations: dict[str, Any] = {feature: field_type(spec.columns[feature]) for feature in features}
    annotations.update({c: Passthrough for c in spec.passthrough_columns() if c not in features})
    if id_column is not None and id_column not in annotations:
        annotations[id_column] = NotRequired[id_type(spec, id_column)]
    record = TypedDict(name, annotations)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return record


def records_type(record: type, max_batch_size: int) -> Any:
    """A list of 1..max_batch_size records (the body of a batch request is ``{"records": [...]}``)."""
    return Annotated[list[record], Field(min_length=1, max_length=max_batch_size)]  # type: ignore[valid-type]


def describe_errors(err: ValidationError) -> list[dict[str, str]]:
    """One ``{field, rule, message}`` per problem, e.g. ``{"field": "records.3.mean_radius", ...}``."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "rule": e["type"], "message": e["msg"]}
        for e in err.errors(include_url=False, include_input=False)
    ]


def validate_records(record: type, rows: list[Any]) -> list[dict[str, Any]]:
    """Validate raw rows in-process (tests, benchmarks) with the very rules the service applies."""
    validated: list[dict[str, Any]] = TypeAdapter(list[record]).validate_python(rows)  # type: ignore[valid-type]
    return validated


def label_type(spec: SchemaSpec, target: str, classes: list[Any] | None) -> Any:
    """A true label (``POST /feedback``): the schema's rules for the target column, never null; a target the
    schema does not describe takes the model's classes (classifiers) or any number (regressors)."""
    col = spec.columns.get(target)
    allowed = col.allowed if col is not None else classes
    if col is None and not classes:
        return Annotated[float, Field(strict=True, allow_inf_nan=False)]
    if allowed is None:
        assert col is not None
        return field_type(col.model_copy(update={"nullable": False}))
    base = kinds.kind_of(col).json if col is not None else type(allowed[0])
    values = list(allowed)

    def known(value: Any) -> Any:
        # strictly typed first (no 1.0 or true for class 1), then one of the allowed values
        if value not in values:
            raise ValueError(f"Input should be one of {', '.join(map(repr, values))}")
        return value

    return Annotated[base, Field(strict=True), AfterValidator(known)]


def feedback_item_type(id_type_: Any, label: Any) -> type:
    """One item of ``POST /feedback_batch``: ``{"id": ..., "label": ...}``, both required, nothing else."""
    annotations: dict[str, Any] = {"id": id_type_, "label": label}
    item = TypedDict("FeedbackItem", annotations)  # type: ignore[misc]
    item.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return item


def feedback_items_type(item: type, max_items: int) -> Any:
    """A list of 1..max_items feedback items (the body of ``/feedback_batch`` is ``{"labels": [...]}``)."""
    return Annotated[list[item], Field(min_length=1, max_length=max_items)]  # type: ignore[valid-type]
