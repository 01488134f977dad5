"""The wire floor for benchmarks/bench_serving.py's 10k-row Arrow batches: a server that does no work.

It reads the request body and sends back a fixed answer (the bento's own answer to the same batch, read once
from ``NULL_ANSWER_FILE``), on uvicorn as the bento and the peers run. The time it takes is what the HTTP
round trip alone costs (client, socket, ASGI server, body read, answer sent), so ``in-process time / its time``
is the largest Arrow share any server on this stack could reach.

Run: ``NULL_ANSWER_FILE=<answer.json> uvicorn benchmarks.null_peer:app``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@cache
def _answer() -> bytes:
    path = os.environ.get("NULL_ANSWER_FILE")
    return Path(path).read_bytes() if path else b"{}"


async def predict_batch(request: Request) -> Response:
    await request.body()
    return Response(_answer(), media_type="application/json")


async def ready(_: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/predict_batch", predict_batch, methods=["POST"]), Route("/ready", ready)])
