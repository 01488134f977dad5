"""``POST /predict`` answered by a lean ASGI route in front of BentoML's API machinery.

BentoML's generic endpoint costs more per request than scoring one record: a Starlette ``Request``, the
serde lookup, the input model, the call dispatch, the output model, a ``JSONResponse`` and background
tasks. :class:`FastPredict` is an ASGI middleware installed innermost of the service's middlewares: it reads
the body of ``POST /predict`` and hands the bytes to the service's ``predict_json`` (pydantic-core
validation with the API's own input model, scoring, prediction log), then writes the answer.

What stays as it was: BentoML is the server (workers, ``/metrics`` request counts and latencies, timeout and
concurrency limits, the body-size limit and content-type guard run before this middleware), the same JSON
body on success, and the same 400 body on bad input (``{"error": "<n> validation error for <model>",
"detail": [...]}``, ``detail[].loc`` naming the field, as BentoML writes it). ``@bentoml.api predict`` stays
declared too: it documents the endpoint in the OpenAPI spec and serves in-process clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

JSON_HEADERS = [(b"content-type", b"application/json")]


def validation_error_body(err: ValidationError) -> bytes:
    """BentoML's 400 body for a pydantic error (as its API endpoint wrapper builds it)."""
    data = {
        "error": f"{err.error_count()} validation error for {err.title}",
        "detail": err.errors(include_context=False, include_input=False),
    }
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def parse(model: type[BaseModel], body: bytes) -> Any:
    """The request model from a JSON body, as BentoML's JSON serde parses it (empty body = ``{}``)."""
    return model.model_validate_json(body or b"{}")


class FastPredict:
    """ASGI middleware: ``POST <path>`` -> ``handler(body) -> (status, JSON bytes)``; anything else passes on.

    ``handler`` is looked up per request by ``get_handler`` (the service instance exists only once the
    worker has started), so the middleware can be declared with the service class.
    """

    def __init__(
        self, app: ASGIApp, path: str, get_handler: Callable[[], Callable[[bytes], tuple[int, bytes]]]
    ) -> None:
        self.app = app
        self.path = path
        self.get_handler = get_handler
        self.handler: Callable[[bytes], tuple[int, bytes]] | None = None  # resolved on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if self.handler is None:
            self.handler = self.get_handler()
        status, payload = self.handler(b"".join(chunks))
        headers = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
