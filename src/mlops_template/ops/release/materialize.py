"""Promote, don't rebuild blindly: materialise the outputs the committed ``dvc.lock`` pins, and verify them.

``make release-materialize`` (the release's first step):

1. reads the pins from the *committed* ``dvc.lock`` (``git show HEAD:dvc.lock``; the workspace copy when there is
   no git), before anything can rewrite it;
2. gets the outputs: ``dvc pull`` from the remote when ``DVC_REMOTE_URL`` is set (the reviewed run pushed them
   there: these are its bytes). When the pull misses outputs (not pushed, evicted), or no remote is configured,
   it warns naming what is missing and falls back to ``dvc repro``;
3. verifies every pinned output. One whose md5 equals its pin is **identical**. Floating-point results differ in
   their last digits between CPUs, so a rebuild on another machine can write a ``models/model.joblib`` and a
   ``metrics/predictions.csv`` with other bytes that predict the same: those two (and only those) are accepted
   as **equivalent** when every other pin matches (data, ``metrics/metrics.json``, ``plots/``) and the rebuilt
   predictions on the pinned test rows agree with the pinned ones under the rule of
   :mod:`mlops_template.ops.release.equivalence` (same rows and labels, identical predicted classes, scores within
   1e-9). The pinned predictions are read from the DVC cache (where the pull or main's cache put them); when
   they are nowhere here, the committed evidence decides: ``metrics/metrics.json`` and ``plots/`` (per-row
   true and predicted labels in ``plots/confusion.csv``, curves to 6 digits) identical to their pins.
   Anything else that differs fails the release, naming each output with both hashes.

The release record gets both hashes of every output, ``identical`` or ``equivalent``, and ``pulled`` or
``rebuilt`` (``outputs``, ``model_verdict``, ``materialized``, ``equivalence``); accepted outputs also go into
``prediction_equivalent``, which the smoke test reads. The committed ``dvc.lock`` is put back in the workspace,
so the service's ``/metadata`` names exactly main's pins and the model file's own md5 next to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops_template.core import lineage, paths
from mlops_template.core.lineage import locked_outs, output_md5
from mlops_template.experiment.baseline import dvc_cache_object
from mlops_template.ops.release import equivalence
from mlops_template.ops.release.plan import ReleaseError


@dataclass(frozen=True)
class Mismatch:
    path: str
    pinned: str
    actual: str | None  # None: the output is missing


def committed_lock(root: Path = Path(".")) -> str:
    """``dvc.lock`` as committed at HEAD (what was reviewed and merged); the workspace file outside git."""
    text = lineage.committed_lock(root)
    if text is None:
        raise ReleaseError("no dvc.lock: run `make repro` and commit dvc.lock before releasing")
    return text


def verify(pins: Mapping[str, str], root: Path = Path(".")) -> list[Mismatch]:
    """Every pinned output whose md5 in ``root`` differs from its pin (or that is missing)."""
    out = []
    for rel, pinned in pins.items():
        path = root / rel
        actual = output_md5(path) if path.exists() else None
        if actual != pinned:
            out.append(Mismatch(rel, pinned, actual))
    return out


# Outputs whose bytes may differ between two runs that predict the same (a pickle, and the scores' last digits),
# judged with the tolerance rule; every other pinned output must be identical.
EQUIVALENT_OUTPUTS = (str(paths.MODEL), str(paths.PREDICTIONS))
# The committed outputs that vouch for the predictions when the pinned predictions file is nowhere here.
EVIDENCE = (str(paths.METRICS), str(paths.PLOTS_DIR))


@dataclass(frozen=True)
class Judgement:
    accepted: list[Mismatch]  # the mismatches accepted as equivalent (empty: none, or rejected)
    basis: str | None  # why they are equivalent, or why not (None: nothing to judge)


def judge(pins: Mapping[str, str], mismatches: list[Mismatch], root: Path = Path(".")) -> Judgement:
    """Accept the mismatches as equivalent when they are only the model and/or its predictions, both present,
    and the predictions pass the tolerance rule (see the module docstring); otherwise accept nothing."""
    if not mismatches:
        return Judgement([], None)
    if str(paths.PREDICTIONS) not in pins:
        return Judgement([], f"{paths.PREDICTIONS} is not pinned: nothing proves the rebuilt model predicts the same")
    if not all(m.path in EQUIVALENT_OUTPUTS and m.actual is not None for m in mismatches):
        return Judgement([], None)
    predictions = str(paths.PREDICTIONS)
    if predictions not in {m.path for m in mismatches}:
        return Judgement(list(mismatches), f"{predictions} is identical to its pin (the same predictions)")
    pinned_copy = dvc_cache_object(root, pins[predictions])
    if pinned_copy is not None:
        result = equivalence.compare_predictions(pinned_copy, root / predictions)
        if not result.equivalent:
            return Judgement([], f"{predictions}: {result.detail} ({equivalence.RULE})")
        return Judgement(
            list(mismatches),
            f"predictions on the pinned test rows agree with the pinned {predictions}: {equivalence.RULE}; "
            f"{result.detail}",
        )
    missing = [e for e in EVIDENCE if e not in pins]
    if missing:
        return Judgement(
            [], f"the pinned {predictions} is not in the DVC cache or remote, and {missing} are not pinned to vouch"
        )
    return Judgement(
        list(mismatches),
        f"the pinned {predictions} is not in the DVC cache or remote: judged on the committed evidence, "
        f"{' and '.join(EVIDENCE)} identical to their pins (every test metric, the per-row true and predicted "
        "labels of plots/confusion.csv, curves to 6 digits)",
    )


def explain(mismatches: list[Mismatch], how: str, basis: str | None = None) -> str:
    lines = [f"the outputs {how} do not match the committed dvc.lock:"]
    lines += [
        f"  {m.path}: dvc.lock pins {m.pinned}, materialised {m.actual or 'nothing (missing)'}" for m in mismatches
    ]
    if basis:
        lines.append(f"Not equivalent either: {basis}.")
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
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> pinned, actual, verdict, source
    model_verdict: str = "identical"  # identical | equivalent
    materialized: str = "rebuilt"  # pulled | rebuilt | pulled, then rebuilt (...)
    equivalence: str | None = None  # the basis of an "equivalent" verdict


def _pull(
    root: Path, pins: Mapping[str, str], run: Callable[[list[str]], None], log: Callable[[str], None]
) -> set[str]:
    """``dvc pull``; the pinned outputs it left in place (a failed or partial pull is not fatal: they are rebuilt)."""
    log("materialize: dvc pull (DVC_REMOTE_URL is set)")
    failure = None
    try:
        run(["dvc", "pull", "--remote", "release"])
    except ReleaseError as err:
        failure = err
    missed = verify(pins, root)
    if missed:
        log(
            f"materialize: WARNING the pull missed {len(missed)} of {len(pins)} outputs"
            + (f" ({failure})" if failure else "")
            + "; rebuilding them with dvc repro, then verifying:"
        )
        for m in missed:
            log(f"  missing: {m.path} (dvc.lock pins {m.pinned})")
    return {rel for rel in pins if rel not in {m.path for m in missed}}


def _outputs(pins: Mapping[str, str], pulled: set[str], equivalent: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per pinned output: its pinned and released md5, identical or equivalent, pulled or rebuilt."""
    return {
        rel: {
            "pinned": md5,
            "actual": equivalent.get(rel, md5),
            "verdict": "equivalent" if rel in equivalent else "identical",
            "source": "pulled" if rel in pulled else "rebuilt",
        }
        for rel, md5 in pins.items()
    }


def _log_outcome(
    log: Callable[[str], None],
    outputs: Mapping[str, Mapping[str, str]],
    accepted: Sequence[Mismatch],
    basis: str | None,
    how: str,
    model_verdict: str,
) -> None:
    """A warning per output released as equivalent (not identical), then the table of every pinned output."""
    for m in accepted:
        log(
            f"materialize: WARNING {m.path}: md5 {m.actual}, dvc.lock pins {m.pinned}: equivalent, not identical; "
            f"accepted because {basis}. Floating-point results differ in their last digits between "
            "machines: the reviewed bytes are released only through the DVC remote (set DVC_REMOTE_URL; and pin "
            "the library versions in uv.lock)"
        )
    log(
        f"materialize: {len(outputs) - len(accepted)} of {len(outputs)} outputs match the committed dvc.lock ({how}); "
        f"the model is {model_verdict}"
    )
    for rel, out in outputs.items():
        extra = f"  (released: {out['actual']}, equivalent)" if out["verdict"] == "equivalent" else ""
        log(f"  {out['pinned']}  {rel}  [{out['verdict']}, {out['source']}]{extra}")


def materialize(
    root: Path,
    remote_configured: bool,
    run: Callable[[list[str]], None],
    log: Callable[[str], None] = print,
) -> Materialized:
    """Pull (or rebuild) the pinned outputs into ``root`` and verify them against the committed ``dvc.lock``."""
    lock_text = committed_lock(root)
    pins = locked_outs(lock_text)
    if not pins:
        raise ReleaseError("dvc.lock pins no outputs: run `make repro` and commit dvc.lock")
    pulled: set[str] = set()
    if remote_configured:
        pulled = _pull(root, pins, run, log)
    else:
        log("materialize: no DVC remote configured: rebuilding with dvc repro, then verifying against dvc.lock")
    if len(pulled) < len(pins):
        run(["dvc", "repro"])
    source = "pulled" if len(pulled) == len(pins) else "rebuilt" if not pulled else "pulled, then rebuilt"
    how = {
        "pulled": "pulled from the DVC remote",
        "rebuilt": "rebuilt by dvc repro",
    }.get(source, f"pulled, then {len(pins) - len(pulled)} rebuilt by dvc repro")
    mismatches = verify(pins, root)
    verdict = judge(pins, mismatches, root)
    accepted = verdict.accepted
    if mismatches and not accepted:
        raise ReleaseError(explain(mismatches, how, verdict.basis))
    workspace_lock = root / "dvc.lock"
    if not workspace_lock.is_file() or workspace_lock.read_text(encoding="utf-8") != lock_text:
        workspace_lock.write_text(lock_text, encoding="utf-8")  # the service names main's pins, not a rebuild's
    equivalent = {m.path: str(m.actual) for m in accepted}
    outputs = _outputs(pins, pulled, equivalent)
    model_verdict = outputs.get(str(paths.MODEL), {}).get("verdict", "identical")
    _log_outcome(log, outputs, accepted, verdict.basis, how, model_verdict)
    return Materialized(
        pins=dict(pins),
        prediction_equivalent=equivalent,
        outputs=outputs,
        model_verdict=model_verdict,
        materialized=source,
        equivalence=verdict.basis if accepted else None,
    )
