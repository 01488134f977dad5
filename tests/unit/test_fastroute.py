"""The lean POST /predict route (ops/serving/fastroute.py): what it answers, what it passes on, its 400 body."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from mlops_template.ops.serving.fastroute import FastPredict, parse, validation_error_body


def _call(app: Any, method: str, path: str, chunks: list[bytes]) -> list[dict[str, Any]]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent


def test_post_predict_is_answered_by_the_handler_with_the_whole_body() -> None:
    seen: list[bytes] = []
    inner_calls: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        inner_calls.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def handler(body: bytes) -> tuple[int, bytes]:
        seen.append(body)
        return 200, b'{"label":1}'

    app = FastPredict(inner, path="/predict", get_handler=lambda: handler)
    sent = _call(app, "POST", "/predict", [b'{"record":', b" {}}"])
    assert seen == [b'{"record": {}}'] and inner_calls == []
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert (b"content-length", b"11") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"label":1}'
    # everything else is BentoML's: other paths, other methods
    assert _call(app, "POST", "/predict_batch", [b"{}"])[0]["status"] == 404
    assert _call(app, "GET", "/predict", [b""])[0]["status"] == 404
    assert inner_calls == ["POST /predict_batch", "GET /predict"] and len(seen) == 1


class Input(BaseModel):
    record: dict[str, int]


def test_bad_input_gets_bentomls_400_body_naming_the_field() -> None:
    for body in (b'{"record": {"age": "x"}}', b"", b"not json"):
        err = _error(body)
        answer = json.loads(validation_error_body(err))
        # as _bentoml_impl.server.app.api_endpoint_wrapper writes it
        assert answer["error"] == f"{err.error_count()} validation error for Input"
        assert answer["detail"] == json.loads(json.dumps(err.errors(include_context=False, include_input=False)))
    err_body = json.loads(validation_error_body(_error(b'{"record": {"age": "x"}}')))
    assert [(d["loc"], d["type"]) for d in err_body["detail"]] == [(["record", "age"], "int_parsing")]
    assert parse(Input, b'{"record": {"age": 3}}').record == {"age": 3}


def _error(body: bytes) -> ValidationError:
    try:
        parse(Input, body)
    except ValidationError as err:
        return err
    raise AssertionError(body)
