"""The committed ``dvc.lock`` describes the committed code, params and data (what `main` would release).

The PR workflow's ``make lock-check`` guards pull requests; this guards commits that reach the branch without
one (a local merge, a push). It reads both sides from git (``HEAD``), so it is independent of a ``make repro``
that has rewritten the workspace lock, and of uncommitted edits.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest
import yaml

from tests.support import REPO_ROOT


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, check=False)


def test_committed_lock_pins_the_committed_code_and_data() -> None:
    shown = _git("show", "HEAD:dvc.lock")
    if shown.returncode != 0:
        pytest.skip("no committed dvc.lock yet (a fresh fork: `make repro`, then commit dvc.lock)")
    stages = (yaml.safe_load(shown.stdout) or {}).get("stages", {})
    produced = {o["path"] for s in stages.values() for o in s.get("outs", [])}
    stale = []
    checked = 0
    for name, stage in stages.items():
        for dep in stage.get("deps", []):
            path, pinned = dep["path"], dep.get("md5", "")
            if path in produced or pinned.endswith(".dir"):
                continue  # written by another stage (compared through it), or a folder
            blob = _git("show", f"HEAD:{path}")
            if blob.returncode != 0:
                continue  # not in git (data tracked by a .dvc file): DVC's own status covers it
            checked += 1
            actual = hashlib.md5(blob.stdout).hexdigest()
            if actual != pinned:
                stale.append(f"{name}: {path}: dvc.lock pins {pinned[:10]}, committed file {actual[:10]}")
    assert checked, "dvc.lock names no committed dependency"
    assert not stale, "the committed dvc.lock is stale (run `make repro`, then commit dvc.lock):\n  " + "\n  ".join(
        stale
    )
