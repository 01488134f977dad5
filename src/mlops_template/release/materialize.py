"""Promote, don't rebuild blindly: materialise exactly the outputs the committed ``dvc.lock`` pins, or fail.

``make release-materialize`` (the release's first step):

1. reads the pins from the *committed* ``dvc.lock`` (``git show HEAD:dvc.lock``; the workspace copy when there is
   no git), before anything can rewrite it;
2. gets the outputs: ``dvc pull`` from the remote when ``DVC_REMOTE_URL`` is set (the PR or a previous release
   pushed them there), otherwise ``dvc repro`` (the pipeline is deterministic: two clean runs pin the same md5s);
3. compares the md5 of every pinned output with the pin. A mismatch fails the release and names each output
   with both hashes. ``metrics/predictions.csv`` is itself pinned: the model's predictions on the test split,
   so a model that predicts differently can never pass, whatever its pickle bytes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_template import paths
from mlops_template.lineage import locked_outs, output_md5
from mlops_template.release.plan import ReleaseError


@dataclass(frozen=True)
class Mismatch:
    path: str
    pinned: str
    actual: str | None  # None: the output is missing


def committed_lock(root: Path = Path(".")) -> str:
    """``dvc.lock`` as committed at HEAD (what was reviewed and merged); the workspace file outside git."""
    result = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return result.stdout
    lock = root / "dvc.lock"
    if not lock.is_file():
        raise ReleaseError("no dvc.lock: run `make repro` and commit dvc.lock before releasing")
    return lock.read_text(encoding="utf-8")


def verify(pins: Mapping[str, str], root: Path = Path(".")) -> list[Mismatch]:
    """Every pinned output whose md5 in ``root`` differs from its pin (or that is missing)."""
    out = []
    for rel, pinned in pins.items():
        path = root / rel
        actual = output_md5(path) if path.exists() else None
        if actual != pinned:
            out.append(Mismatch(rel, pinned, actual))
    return out


def explain(mismatches: list[Mismatch], how: str) -> str:
    lines = [f"the outputs {how} do not match the committed dvc.lock:"]
    lines += [
        f"  {m.path}: dvc.lock pins {m.pinned}, materialised {m.actual or 'nothing (missing)'}" for m in mismatches
    ]
    bad = {m.path for m in mismatches}
    if str(paths.MODEL) in bad and str(paths.PREDICTIONS) not in bad:
        lines.append(
            f"  ({paths.PREDICTIONS}, the model's predictions on the test split, matches: the model predicts the same, "
            "but its pickle is not byte-stable in this environment; pin the library versions in uv.lock)"
        )
    lines.append(
        "The merged dvc.lock is not what this commit's code, params and data produce (stale lock, or "
        "non-deterministic training). Run `make repro` on main, commit dvc.lock through a pull request, "
        "and release that commit."
    )
    return "\n".join(lines)


def materialize(
    root: Path,
    remote_configured: bool,
    run: Callable[[list[str]], None],
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Pull or rebuild the pinned outputs into ``root`` and verify them; return the pins (path -> md5)."""
    pins = locked_outs(committed_lock(root))
    if not pins:
        raise ReleaseError("dvc.lock pins no outputs: run `make repro` and commit dvc.lock")
    if remote_configured:
        log("materialize: dvc pull (DVC_REMOTE_URL is set)")
        run(["dvc", "pull", "--remote", "release"])
        how = "pulled from the DVC remote"
    else:
        log("materialize: no DVC remote configured: rebuilding with dvc repro, then verifying against dvc.lock")
        run(["dvc", "repro"])
        how = "rebuilt by dvc repro"
    mismatches = verify(pins, root)
    if mismatches:
        raise ReleaseError(explain(mismatches, how))
    log(f"materialize: {len(pins)} outputs match the committed dvc.lock ({how})")
    for rel, md5 in pins.items():
        log(f"  {md5}  {rel}")
    return pins
