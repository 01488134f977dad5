#!/usr/bin/env python3
"""Append one call of a stand-in action to $ACT_RECORD_DIR/calls.jsonl.

Usage: record.py USES [KEY=VALUE ...]; the action's inputs come as JSON in $INPUTS (``toJSON(inputs)``).
Plain standard library: it runs on the host's python3 before the project's environment exists.
"""

import json
import os
import sys
from pathlib import Path


def record(uses: str, **extra: object) -> None:
    entry = {"uses": uses, "inputs": json.loads(os.environ.get("INPUTS") or "{}"), **extra}
    path = Path(os.environ["ACT_RECORD_DIR"]) / "calls.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    record(sys.argv[1], **dict(arg.split("=", 1) for arg in sys.argv[2:]))
