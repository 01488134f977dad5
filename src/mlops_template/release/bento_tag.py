"""Print the tag of the newest bento built from this project's bentofile.yaml (``name:`` when set)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def latest_bento_tag(bentofile: Path = Path("bentofile.yaml")) -> str:
    import bentoml

    name = None
    if bentofile.exists():
        name = (yaml.safe_load(bentofile.read_text(encoding="utf-8")) or {}).get("name")
    bentos = [b for b in bentoml.list() if name is None or b.tag.name == name]
    if not bentos:
        raise SystemExit(f"no bento{' named ' + name if name else ''} in the store: run `make bento` first")
    return str(max(bentos, key=lambda b: b.info.creation_time).tag)


if __name__ == "__main__":
    print(latest_bento_tag())
    sys.exit(0)
