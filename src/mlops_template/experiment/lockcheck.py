"""Is the committed ``dvc.lock`` what this commit's code, params and data produce? (``make lock-check``)

Run after the pipeline (``make repro`` / ``make pr-report``) has brought the workspace's ``dvc.lock`` up to
date. It compares that lock with the one committed at ``HEAD`` (on a pull request: the merge commit, i.e.
what merging would put on ``main``) and fails, naming the stage and the file or parameter, when the committed
lock is stale. The fix is always the same: ``make repro``, then commit ``dvc.lock`` (and ``dvc push`` when a
remote is configured).

What it compares, and why:

- **inputs, strictly**: the set of stages, each stage's ``cmd``, its ``params`` values and the md5 of every
  dependency that no stage produces (code, ``data/source``, ``data/schema.yaml``, data tracked by ``.dvc``
  files). These are "the PR's code, params and data"; any difference means the committed lock describes
  something else than what was evaluated.
- **consistency of the committed lock**: a dependency produced by another stage must carry the md5 that stage's
  output has in the same lock (catches ``dvc repro train`` without re-running ``evaluate``, or a hand-merged
  lock).
- **outputs, as a note only** (``--strict-outputs`` makes them count): stages whose inputs are identical can
  still write different bytes on another machine (floating-point summation order differs across CPUs, and
  ``models/metadata.json`` records the MLflow run id and git SHA of its run). Those differences are listed,
  not failed, because no commit can fix them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_template.core.lineage import DvcLock, LockedStage, LockError, lock_text_at

FIX = "make repro, then commit dvc.lock (git add dvc.lock && git commit), and `dvc push` if you use a DVC remote"
LIBRARY_LOCK = "uv.lock"  # a dependency of `train` (dvc.yaml): library versions change the model
DEPENDENCY_BUMP = "dependency bump: run make repro and commit dvc.lock"


def dependency_bump(findings: Iterable[Finding]) -> bool:
    """Whether the library versions changed (a Dependabot / `uv lock --upgrade` PR), so the model was re-trained."""
    return any(f.blocking and f.what == LIBRARY_LOCK for f in findings)


@dataclass(frozen=True)
class Finding:
    stage: str
    what: str  # a path, "params.yaml:key", "cmd" or "stage"
    detail: str
    blocking: bool = True

    def line(self) -> str:
        return f"{self.stage}: {self.what}: {self.detail}"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out |= _flat(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def _short(md5: str | None) -> str:
    return "missing" if not md5 else md5[:10]


def compare(committed: DvcLock | None, current: DvcLock, *, strict_outputs: bool = False) -> list[Finding]:
    """Findings that make ``committed`` differ from ``current`` (both parsed dvc.lock files)."""
    old, new = (committed or DvcLock()).stages, current.stages
    findings = [Finding(name, "stage", "not in the committed dvc.lock") for name in sorted(set(new) - set(old))]
    findings += [
        Finding(name, "stage", "in the committed dvc.lock but no longer in dvc.yaml")
        for name in sorted(set(old) - set(new))
    ]
    produced_old = {path: md5 for stage in old.values() for path, md5 in stage.outs.items()}
    produced = set(produced_old) | {path for stage in new.values() for path in stage.outs}
    for name in sorted(set(old) & set(new)):
        was, now = old[name], new[name]
        inputs = _cmd_and_params(name, was, now)
        deps, upstream_changed = _deps(name, was, now, produced, produced_old)
        inputs += deps
        inputs_identical = not upstream_changed and not any(f.blocking for f in inputs)
        findings += inputs + _outs(name, was, now, inputs_identical, strict_outputs)
    return findings


def _cmd_and_params(name: str, was: LockedStage, now: LockedStage) -> list[Finding]:
    """A stage's command and every parameter value it records, committed vs now."""
    findings = []
    if was.cmd != now.cmd:
        findings.append(Finding(name, "cmd", f"committed {was.cmd!r}, now {now.cmd!r}"))
    params_was = {f"{f}:{k}": v for f, p in was.params.items() for k, v in _flat(p).items()}
    params_now = {f"{f}:{k}": v for f, p in now.params.items() for k, v in _flat(p).items()}
    for key in sorted(set(params_was) | set(params_now)):
        if params_was.get(key, "<absent>") != params_now.get(key, "<absent>"):
            before, after = params_was.get(key, "<absent>"), params_now.get(key, "<absent>")
            findings.append(Finding(name, key, f"committed {before!r}, now {after!r}"))
    return findings


def _deps(
    name: str, was: LockedStage, now: LockedStage, produced: set[str], produced_old: Mapping[str, str]
) -> tuple[list[Finding], bool]:
    """A stage's dependencies: the md5 of each one no stage produces, committed vs now; for one another stage
    produces, only the committed lock's own consistency. Also: whether such a produced dependency changed."""
    findings = []
    deps_was, deps_now = was.deps, now.deps
    upstream_changed = False  # a dependency another stage writes has other bytes now (reported at that stage)
    for path in sorted(set(deps_was) | set(deps_now)):
        if path in produced:
            # Produced by another stage: compared through that stage; here only the lock's own consistency.
            if path in deps_was and path in produced_old and deps_was[path] != produced_old[path]:
                findings.append(
                    Finding(
                        name,
                        path,
                        f"the committed lock says this stage used {_short(deps_was[path])} but the stage that "
                        f"writes it recorded {_short(produced_old[path])}: it was not re-run after that stage",
                    )
                )
            upstream_changed |= deps_was.get(path) != deps_now.get(path)
            continue
        if deps_was.get(path) != deps_now.get(path):
            findings.append(
                Finding(name, path, f"md5 committed {_short(deps_was.get(path))}, now {_short(deps_now.get(path))}")
            )
    return findings, upstream_changed


def _outs(name: str, was: LockedStage, now: LockedStage, inputs_identical: bool, strict_outputs: bool) -> list[Finding]:
    """A stage's outputs: one added or removed always counts; other bytes only as a note, from identical inputs."""
    findings = []
    outs_was, outs_now = was.outs, now.outs
    for path in sorted(set(outs_was) | set(outs_now)):
        if path not in outs_was or path not in outs_now:
            findings.append(
                Finding(
                    name,
                    path,
                    "output committed " + _short(outs_was.get(path)) + ", now " + _short(outs_now.get(path)),
                )
            )
        elif outs_was[path] != outs_now[path] and (inputs_identical or strict_outputs):
            # Other bytes from identical inputs: not staleness (see the module docstring). Outputs of a stage
            # whose inputs changed are a consequence of what is reported above and are not listed.
            findings.append(
                Finding(
                    name,
                    path,
                    f"output md5 committed {_short(outs_was[path])}, rebuilt here {_short(outs_now[path])}",
                    blocking=strict_outputs,
                )
            )
    return findings


def committed_lock(rev: str = "HEAD", repo: Path = Path(".")) -> DvcLock | None:
    text = lock_text_at(rev, repo)
    return None if text is None else DvcLock.parse(text, f"dvc.lock at {rev}")


def markdown(findings: list[Finding]) -> str:
    blocking = [f for f in findings if f.blocking]
    notes = [f for f in findings if not f.blocking]
    lines = ["", "### dvc.lock"]
    if blocking:
        lines += [
            "",
            "**The committed `dvc.lock` is stale**: it does not describe what this pull request's code, params and "
            "data produce, so merging it would put a different model on `main` than the one evaluated here.",
            "",
            *[f"- `{f.stage}`: `{f.what}`: {f.detail}" for f in blocking],
            "",
            *(
                [f"**{DEPENDENCY_BUMP}**: `{LIBRARY_LOCK}` changed, so `train` ran with other library versions.", ""]
                if dependency_bump(blocking)
                else []
            ),
            f"Fix: `{FIX}`.",
        ]
    else:
        lines += ["", "The committed `dvc.lock` matches what this pull request's code, params and data produce."]
    if notes:
        lines += [
            "",
            "Outputs rebuilt here with other bytes from identical inputs (not bit-reproducible across machines; "
            "the comparison above used the ones built here):",
            "",
            *[f"- `{f.stage}`: `{f.what}`" for f in notes],
        ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops lock-check`` (``make lock-check``; mlops_template/cli.py)."""
    parser.add_argument("--rev", default="HEAD", help="the commit whose dvc.lock is checked (default HEAD)")
    parser.add_argument("--lock", default="dvc.lock", help="the lock the pipeline just wrote")
    parser.add_argument("--strict-outputs", action="store_true", help="also fail when outputs differ")
    parser.add_argument("--report", default="", help="append the verdict to this markdown file when it exists")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    lock_path = Path(args.lock)
    if not lock_path.is_file():
        print(f"lock-check: no {lock_path}: run the pipeline first (make repro)", file=sys.stderr)
        return 2
    try:
        current = DvcLock.parse(lock_path.read_text(encoding="utf-8"), str(lock_path))
        committed = committed_lock(args.rev)
    except LockError as err:
        print(f"lock-check: {err}", file=sys.stderr)
        return 2
    findings = (
        [Finding("-", "dvc.lock", f"no dvc.lock committed at {args.rev}")]
        if committed is None
        else compare(committed, current, strict_outputs=args.strict_outputs)
    )
    blocking = [f for f in findings if f.blocking]
    for finding in findings:
        print(("STALE " if finding.blocking else "note  ") + finding.line())
    report = Path(args.report) if args.report else None
    if report is not None and report.is_file() and (blocking or findings):
        with report.open("a", encoding="utf-8") as handle:
            handle.write(markdown(findings))
    if blocking:
        if dependency_bump(blocking):
            print(
                f"\nlock-check: {DEPENDENCY_BUMP} ({LIBRARY_LOCK} changed: library versions are a dependency of "
                "the train stage, and the model built with them is what merges)",
                file=sys.stderr,
            )
        print(
            f"\nlock-check failed: the committed dvc.lock ({args.rev}) does not match what this commit's code, "
            f"params and data produce ({len(blocking)} difference(s) above).\nFix: {FIX}.",
            file=sys.stderr,
        )
        return 1
    print(f"lock-check passed: the committed dvc.lock ({args.rev}) matches the pipeline's inputs")
    return 0
