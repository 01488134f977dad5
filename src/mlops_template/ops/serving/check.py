"""Serve-check (``make serve-check``): the bento just built from the candidate model answers HTTP correctly.

The pull request's experiment job runs it after ``make bento``, so a change that breaks serving (a field the
service rejects, a module or file the bento leaves out, a model the service cannot load) fails the PR instead of
the release. In-process and in seconds: the built bento is loaded with ``bentoml.load`` (its own copy of the
code, ``params.yaml`` and the pinned model tag, as in the container) and called through BentoML's ASGI app with
Starlette's test client (real routing, request validation and serialisation; no port, no server process).

Requests are derived from what any fork has, never written by hand:

- valid: the first rows of the test split (``data/split/test.parquet``), only the model's features; labels must
  equal the model's in-process output and scores match it within the tolerance ``make bento`` accepted for the
  ONNX fast path (``serving.onnx_path.TOLERANCE``), and ``/metadata`` must name the outputs of this workspace's
  ``dvc.lock``;
- invalid: the first record with its first feature given a value of the wrong type for ``data/schema.yaml``'s
  rule (a string for a number or a boolean, a number for a string, an unknown category); the service must
  answer 4xx naming that field.

The verdict is printed and appended to ``--report`` (the PR report, so the job summary and the comment carry it)
when that file exists.

    mlops serve-check [--tag TAG] [--rows 20] [--report reports/pr/report.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_template.core.config import ConfigError, load_params
from mlops_template.core.data.kinds import wrong_value
from mlops_template.core.data.schema import ColumnSpec, load_spec
from mlops_template.ops.serving.onnx_path import TOLERANCE
from mlops_template.ops.serving.smoke import SmokeFailed, exercise, expected_output

BENTO_TAG_FILE = Path("build/bento/tag.txt")  # written by `make bento`


class ServeCheckFailed(AssertionError):
    """The bento could not be loaded, or answered something else than the model and the schema require."""


def invalid_record(record: dict[str, Any], feature: str, col: ColumnSpec) -> dict[str, Any]:
    return {**record, feature: wrong_value(col)}


@dataclass
class Result:
    bento: str
    service_code: str
    rows: int
    load_seconds: float
    valid: str = ""
    invalid: str = ""
    problems: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        verdict = "passed" if not self.problems else "FAILED"
        loaded = (
            f"loaded in {self.load_seconds:.1f} s ({self.service_code})" if self.service_code else "could not be loaded"
        )
        lines = [
            "",
            "### Serving check (the candidate's bento, in-process)",
            "",
            f"`make serve-check` {verdict}: bento `{self.bento}` {loaded}.",
            "",
        ]
        if self.valid:
            lines.append(f"- valid requests: {self.valid}")
        if self.invalid:
            lines.append(f"- invalid request: {self.invalid}")
        lines += [f"- **{problem}**" for problem in self.problems]
        return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _bento_client(tag: str) -> Iterator[tuple[Any, str, float]]:
    """Load the built bento in this process (its own code, not the workspace's) and yield a test client."""
    import bentoml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its httpx-based client: not ours to act on
        from starlette.testclient import TestClient

    # The workspace's package is already imported (this module is part of it): forget it, so that the service
    # and everything it imports come from the bento's src/ folder, as in the container.
    for name in [m for m in sys.modules if m == "mlops_template" or m.startswith("mlops_template.")]:
        del sys.modules[name]
    previous = Path.cwd()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="serve-check-") as tmp:
        os.chdir(tmp)  # the service finds params.yaml in its own folder, not in the checkout
        try:
            try:
                service: Any = bentoml.load(tag)  # a new-style (1.2+) service: has to_asgi()
                app = service.to_asgi()
            except Exception as err:  # any import/load error of the bento is the finding
                raise ServeCheckFailed(f"the bento {tag} does not load: {type(err).__name__}: {err}") from None
            code = sys.modules.get("mlops_template.ops.serving.service")
            where = getattr(code, "__file__", "") or ""
            origin = "the bento's own code" if "/bentos/" in where else f"code from {where or 'unknown'}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client_cm = TestClient(app, raise_server_exceptions=False)
            with client_cm as client:
                yield client, origin, time.monotonic() - start
        finally:
            os.chdir(previous)


def _field_named(body: Any, feature: str) -> bool:
    """Whether a 4xx body names the field (BentoML's pydantic detail: ``loc`` = ["record", feature])."""
    details = body.get("detail") if isinstance(body, dict) else None
    if isinstance(details, list):
        return any(isinstance(d, dict) and feature in [str(p) for p in d.get("loc", [])] for d in details)
    return feature in json.dumps(body)


def serve_check(tag: str, rows: int = 20, lock: Path = Path("dvc.lock")) -> Result:
    expected = expected_output(rows)  # the test split's first rows and the model's in-process answers
    spec = load_spec(load_params().data.schema_path)
    feature = next(iter(expected.records[0]))
    bad = invalid_record(expected.records[0], feature, spec.columns[feature])
    lock = lock.resolve()
    with _bento_client(tag) as (client, origin, load_s):
        result = Result(tag, origin, len(expected.records), load_s)

        def call(path: str, body: dict[str, Any]) -> Any:
            answer = client.post(path, json=body)
            if answer.status_code != 200:
                raise SmokeFailed(f"{path} answered {answer.status_code}: {answer.text[:300]}")
            return answer.json()

        try:
            exercise(call, expected, lock=lock)
            result.valid = (
                f"`/predict_batch` ({len(expected.records)} test rows) and `/predict`: 200, the model's in-process "
                f"labels, scores within {TOLERANCE:g}; `/metadata` names this run's `dvc.lock` outputs"
            )
        except SmokeFailed as err:
            result.problems.append(f"valid requests: {err}")
        # BentoML's HTTP app logs the expected rejection with a full traceback: silence logging for this request
        logging.disable(logging.ERROR)
        try:
            answer = client.post("/predict", json={"record": bad})
        finally:
            logging.disable(logging.NOTSET)
        shown = json.dumps(bad[feature])
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        if not 400 <= answer.status_code < 500:
            result.problems.append(
                f"invalid request ({feature}={shown}): answered {answer.status_code}, expected 4xx naming {feature!r}"
            )
        elif not _field_named(body, feature):
            result.problems.append(
                f"invalid request ({feature}={shown}): {answer.status_code} does not name {feature!r}: "
                f"{str(body)[:300]}"
            )
        else:
            result.invalid = (
                f"`{feature}` = {shown} (breaks `data/schema.yaml`): {answer.status_code} naming `{feature}`"
            )
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops serve-check`` (``make serve-check``; mlops_template/cli.py)."""
    parser.add_argument("--tag", default="", help=f"bento tag (default: {BENTO_TAG_FILE}, written by make bento)")
    parser.add_argument("--rows", type=int, default=20, help="test rows sent to /predict_batch")
    parser.add_argument("--report", default="", help="append the verdict to this markdown file when it exists")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tag = args.tag.strip()
    if not tag:
        if not BENTO_TAG_FILE.is_file():
            print(f"serve-check: no {BENTO_TAG_FILE}: build the bento first (make bento)", file=sys.stderr)
            return 2
        tag = BENTO_TAG_FILE.read_text(encoding="utf-8").strip()
    report = Path(args.report).resolve() if args.report else None
    start = time.monotonic()
    try:
        result = serve_check(tag, args.rows)
    except ServeCheckFailed as err:
        result = Result(tag, "", 0, time.monotonic() - start, problems=[str(err)])
    except (ConfigError, OSError, KeyError, ValueError) as err:
        print(f"serve-check: cannot build the requests: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    text = result.markdown()
    print(text)
    if report is not None and report.is_file():
        with report.open("a", encoding="utf-8") as handle:
            handle.write(text)
    print(f"serve-check: {time.monotonic() - start:.1f} s", file=sys.stderr)
    if result.problems:
        print("serve-check failed: " + "; ".join(result.problems), file=sys.stderr)
        return 1
    return 0
