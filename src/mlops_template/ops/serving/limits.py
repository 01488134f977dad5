"""ASGI middleware bounding the request body: over ``max_bytes`` -> 413 with a JSON body, before parsing.

Checks ``Content-Length`` first (no body is read), and counts the bytes of bodies sent without it
(chunked), buffering at most ``max_bytes``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# Batches up to this many records are scored on the event loop (~4 ms of work for 1,000 rows here), bigger
# ones in the thread pool so they do not hold up other requests. Measured under the soak (64 clients, every
# 20th request a 100-record batch): scored in the thread pool, a 100-record batch (~2 ms of CPU) took 1.8 s
# (median), because the thread waits for the GIL behind the busy event loop each time it releases it
# (ONNX Runtime and numpy release it); the soak's p99 was those batches.
INLINE_BATCH_ROWS = 1000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large_body(max_bytes: int, got: int | None) -> bytes:
    size = f"{got} bytes" if got is not None else f"more than {max_bytes} bytes"
    return json.dumps(
        {
            "error": f"request body too large: {size}, limit {max_bytes} bytes",
            "detail": [{"field": "<body>", "rule": "max_request_bytes", "message": f"at most {max_bytes} bytes"}],
        }
    ).encode()


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send, got: int | None) -> None:
        body = too_large_body(self.max_bytes, got)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length: int | None = None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                break
        if length is not None:
            if length > self.max_bytes:
                await self._reject(send, length)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit, then replay the buffered body.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._reject(send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def error_body(status_error: str, rule: str, message: str) -> bytes:
    """The JSON error shape of the service for problems found before validation (``detail[].rule``)."""
    detail = [{"field": "<body>", "rule": rule, "message": message}]
    return json.dumps({"error": status_error, "detail": detail}).encode()


def media_type(headers: list[tuple[bytes, bytes]] | Any) -> tuple[str | None, dict[str, str]]:
    """``Content-Type`` of an ASGI scope: (lower-cased media type or None when absent, parameters)."""
    for key, value in headers:
        if key.lower() == b"content-type":
            text = value.decode("latin-1")
            kind, _, rest = text.partition(";")
            params: dict[str, str] = {}
            for part in rest.split(";"):
                name, eq, val = part.strip().partition("=")
                if eq:
                    params[name.strip().lower()] = val.strip().strip('"')
            return kind.strip().lower(), params
    return None, {}


def content_type_problem(kind: str | None, params: dict[str, str]) -> tuple[int, bytes] | None:
    """Why a JSON API route cannot parse this content type (status + JSON body), or None when it can.

    Accepted: no ``Content-Type`` (parsed as JSON), ``application/json`` (or ``*/*+json``), and
    ``multipart/form-data`` with a boundary (BentoML reads form fields as the API's arguments).
    """
    if kind is None or kind in ("", "application/json") or kind.endswith("+json"):
        return None
    if kind == "multipart/form-data":
        if params.get("boundary"):
            return None
        return 400, error_body(
            "malformed content type: multipart/form-data without a boundary",
            "content_type",
            "send application/json (or multipart/form-data with its boundary parameter)",
        )
    return 415, error_body(
        f"unsupported content type: {kind}",
        "content_type",
        "send application/json (the columnar batch endpoint takes Arrow IPC stream or Parquet)",
    )


class ContentTypeGuard:
    """Answer 415/400 (JSON body) for content types the JSON API routes cannot parse, before BentoML does.

    BentoML 1.4 answers 500 for e.g. ``multipart/form-data`` without a boundary; nothing a client
    sends should produce a server error.
    """

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            problem = content_type_problem(*media_type(scope.get("headers", [])))
            if problem is not None:
                status, body = problem
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
