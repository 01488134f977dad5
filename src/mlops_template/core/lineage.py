"""Lineage carried by every artifact: git SHA, DVC data hash, MLflow run."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def git_sha(cwd: str | Path = ".") -> str:
    """HEAD's commit SHA, with ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes: the hash DVC records for it in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def committed_lock(root: str | Path = ".") -> str | None:
    """``dvc.lock`` as committed at HEAD (what was reviewed and merged); the workspace file outside git; None when
    there is neither."""
    result = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return result.stdout
    lock = Path(root) / "dvc.lock"
    return lock.read_text(encoding="utf-8") if lock.is_file() else None


def locked_outs(lock_text: str) -> dict[str, str]:
    """``{path: md5}`` of every stage output ``dvc.lock`` pins (directories keep DVC's ``.dir`` hash)."""
    import yaml

    lock = yaml.safe_load(lock_text) or {}
    outs: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            outs[str(out["path"])] = str(out["md5"])
    return dict(sorted(outs.items()))


def output_md5(path: str | Path) -> str:
    """The md5 DVC records for an output: a file's md5, or for a folder DVC's ``<md5 of its listing>.dir``."""
    import json

    root = Path(path)
    if not root.is_dir():
        return file_md5(root)
    entries = sorted(
        ({"md5": file_md5(p), "relpath": p.relative_to(root).as_posix()} for p in root.rglob("*") if p.is_file()),
        key=lambda e: e["relpath"],
    )
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing, usedforsecurity=False).hexdigest() + ".dir"
