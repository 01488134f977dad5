"""Promote, don't rebuild blindly: materialise exactly the outputs the committed ``dvc.lock`` pins, or fail.

``make release-materialize`` (the release's first step):

1. reads the pins from the *committed* ``dvc.lock`` (``git show HEAD:dvc.lock``; the workspace copy when there is
   no git), before anything can rewrite it;
2. gets the outputs: ``dvc pull`` from the remote when ``DVC_REMOTE_URL`` is set (the PR or a previous release
   pushed them there), otherwise ``dvc repro`` (the pipeline is deterministic: two clean runs pin the same md5s);
3. compares the md5 of every pinned output with the pin. A mismatch fails the release and names each output
   with both hashes. ``metrics/predictions.csv`` is itself pinned: the model's predictions on the test split,
   so a model that predicts differently can never pass, whatever its pickle bytes.

A pickle is not always byte-stable (another platform or library build can pickle the same fitted model to
other bytes). So a rebuilt ``models/model.joblib`` whose md5 differs from its pin is *accepted* when it is the
only difference and the pinned hash of its predictions matches: the release says so, records both md5s in
the release record (``prediction_equivalent``), and puts the committed ``dvc.lock`` back in the workspace, so
the service's ``/metadata`` names exactly main's pins and the model file's own md5 next to them.
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


# Outputs whose bytes may differ between two runs that predict the same (pickles), and the pinned output that
# proves they predict the same: the model's predictions on the test split, written by the evaluate stage.
NOT_BYTE_STABLE = (str(paths.MODEL),)


def prediction_equivalent(pins: Mapping[str, str], mismatches: list[Mismatch]) -> list[Mismatch]:
    """The mismatches to accept: pickles that exist and differ while every other pin matches, including the
    pinned predictions on the test split. Empty when anything else differs (then everything fails)."""
    if str(paths.PREDICTIONS) not in pins or not mismatches:
        return []
    if all(m.path in NOT_BYTE_STABLE and m.actual is not None for m in mismatches):
        return list(mismatches)
    return []


def explain(mismatches: list[Mismatch], how: str) -> str:
    lines = [f"the outputs {how} do not match the committed dvc.lock:"]
    lines += [
        f"  {m.path}: dvc.lock pins {m.pinned}, materialised {m.actual or 'nothing (missing)'}" for m in mismatches
    ]
    lines.append(
        "The merged dvc.lock is not what this commit's code, params and data produce (stale lock, or "
        "non-deterministic training). Run `make repro` on main, commit dvc.lock through a pull request, "
        "and release that commit."
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Materialized:
    pins: dict[str, str]  # path -> md5, as the committed dvc.lock pins them
    prediction_equivalent: dict[str, str]  # path -> md5 of an accepted, not byte-identical output


def materialize(
    root: Path,
    remote_configured: bool,
    run: Callable[[list[str]], None],
    log: Callable[[str], None] = print,
) -> Materialized:
    """Pull or rebuild the pinned outputs into ``root`` and verify them against the committed ``dvc.lock``."""
    lock_text = committed_lock(root)
    pins = locked_outs(lock_text)
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
    accepted = prediction_equivalent(pins, mismatches)
    if mismatches and not accepted:
        raise ReleaseError(explain(mismatches, how))
    for m in accepted:
        log(
            f"materialize: WARNING {m.path}: md5 {m.actual}, dvc.lock pins {m.pinned}; accepted because "
            f"{paths.PREDICTIONS} (the model's predictions on the test split) matches its pin: the model predicts "
            "the same, but its pickle is not byte-stable here (pin the library versions in uv.lock to make it so)"
        )
    if accepted:
        (root / "dvc.lock").write_text(lock_text, encoding="utf-8")  # the service names main's pins, not the rebuild's
    log(f"materialize: {len(pins) - len(accepted)} of {len(pins)} outputs match the committed dvc.lock ({how})")
    equivalent = {m.path: str(m.actual) for m in accepted}
    for rel, md5 in pins.items():
        log(f"  {md5}  {rel}" + (f"  (released: {equivalent[rel]}, same predictions)" if rel in equivalent else ""))
    return Materialized(pins=dict(pins), prediction_equivalent=equivalent)
