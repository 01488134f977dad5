"""Lineage carried by every artifact: git SHA, DVC data hash, MLflow run.

Also the project's ONE way to run git (:func:`git_run`, :func:`git`, :func:`git_show`) and to read a
``dvc.lock`` (:class:`DvcLock`): every wing imports them from here. Standard library only at import time
(``make retrain-publish`` runs on a bare runner Python); PyYAML is imported when a lock is parsed.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class GitError(RuntimeError):
    """A git command failed; the message names the command, its exit code and git's own words."""


def git_run(
    *args: str, cwd: str | Path = ".", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``cwd`` (output captured as bytes; never raises on a non-zero exit). No git on the
    machine is exit code 127, as a shell says."""
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=None if env is None else dict(env), capture_output=True, check=False
        )
    except OSError as err:
        return subprocess.CompletedProcess(["git", *args], 127, b"", f"git: {err}".encode())


def git(
    *args: str,
    cwd: str | Path = ".",
    env: Mapping[str, str] | None = None,
    check: bool = True,
    error: type[Exception] = GitError,
) -> str:
    """``git args``' standard output as text. When it fails: ``error`` (GitError, or the caller's own type)
    naming the command and git's message; with ``check=False`` the (possibly empty) output instead."""
    result = git_run(*args, cwd=cwd, env=env)
    if check and result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip()[-800:]
        raise error(f"git {' '.join(args)} failed ({result.returncode}): {stderr}")
    return result.stdout.decode("utf-8", "replace")


def git_show(rev: str, path: str | Path, cwd: str | Path = ".") -> bytes | None:
    """The bytes of ``path`` at commit ``rev`` (``git show rev:path``); None when git has no such file there."""
    result = git_run("show", f"{rev}:{Path(path).as_posix()}", cwd=cwd)
    return result.stdout if result.returncode == 0 else None


def git_sha(cwd: str | Path = ".") -> str:
    """HEAD's commit SHA, with ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        sha = git("rev-parse", "HEAD", cwd=cwd).strip()
        dirty = git("status", "--porcelain", "--untracked-files=no", cwd=cwd).strip()
    except GitError:
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes: the hash DVC records for it in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LockError(ValueError):
    """A dvc.lock that is not what DVC writes: the message names the file and the field."""


@dataclass(frozen=True)
class LockedStage:
    """One stage of a dvc.lock: its command, the md5 of each dependency and output ("" where the lock records
    none), and its params (params file -> the values as DVC recorded them)."""

    cmd: str = ""
    deps: dict[str, str] = field(default_factory=dict)
    outs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _entries(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise LockError(f"{where}: expected a list of {{path, md5}} entries, got {type(value).__name__}")
    found: dict[str, str] = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping) or not entry.get("path"):
            raise LockError(f"{where}[{i}]: an entry without a path ({entry!r})")
        found[str(entry["path"])] = str(entry.get("md5") or "")
    return found


@dataclass(frozen=True)
class DvcLock:
    """A parsed ``dvc.lock``: the one reader of the file (the release, the PR experiment, the lock check, the
    retraining and serving all ask it)."""

    stages: dict[str, LockedStage] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | bytes | None, origin: str = "dvc.lock") -> DvcLock:
        """The lock in ``text`` (empty text: a lock without stages); LockError naming ``origin`` and the field
        when it is not YAML or not shaped like DVC's lock."""
        import yaml

        if not text:
            return cls()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise LockError(f"{origin}: not YAML ({str(err).splitlines()[0]})") from None
        return cls.from_mapping(data, origin)

    @classmethod
    def from_mapping(cls, data: object, origin: str = "dvc.lock") -> DvcLock:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise LockError(f"{origin}: expected a mapping with `stages`, got {type(data).__name__}")
        raw = data.get("stages") or {}
        if not isinstance(raw, Mapping):
            raise LockError(f"{origin}: stages: expected a mapping of stage names, got {type(raw).__name__}")
        stages: dict[str, LockedStage] = {}
        for name, stage in raw.items():
            where = f"{origin}: stages.{name}"
            if not isinstance(stage, Mapping):
                raise LockError(f"{where}: expected a mapping (cmd, deps, params, outs), got {type(stage).__name__}")
            params = stage.get("params") or {}
            if not isinstance(params, Mapping):
                raise LockError(f"{where}.params: expected a mapping, got {type(params).__name__}")
            stages[str(name)] = LockedStage(
                cmd=str(stage.get("cmd") or ""),
                deps=_entries(stage.get("deps"), f"{where}.deps"),
                outs=_entries(stage.get("outs"), f"{where}.outs"),
                params=dict(params),
            )
        return cls(stages)

    @classmethod
    def read(cls, path: str | Path) -> DvcLock | None:
        """The lock file at ``path``; None when there is none."""
        lock = Path(path)
        return cls.parse(lock.read_text(encoding="utf-8"), str(lock)) if lock.is_file() else None

    @property
    def outs(self) -> dict[str, str]:
        """``{path: md5}`` of every stage output the lock pins (directories keep DVC's ``.dir`` hash)."""
        return dict(sorted((p, md5) for s in self.stages.values() for p, md5 in s.outs.items() if md5))


def lock_text_at(rev: str = "HEAD", root: str | Path = ".") -> str | None:
    """``dvc.lock`` as committed at ``rev``; None when that commit has none (or this is not a git repository)."""
    data = git_show(rev, "dvc.lock", cwd=root)
    return None if data is None else data.decode("utf-8")


def committed_lock(root: str | Path = ".") -> str | None:
    """``dvc.lock`` as committed at HEAD (what was reviewed and merged); the workspace file outside git; None when
    there is neither."""
    text = lock_text_at("HEAD", root)
    if text is not None:
        return text
    lock = Path(root) / "dvc.lock"
    return lock.read_text(encoding="utf-8") if lock.is_file() else None


def locked_outs(lock_text: str | bytes | None, origin: str = "dvc.lock") -> dict[str, str]:
    """``{path: md5}`` of every stage output ``dvc.lock`` pins (:attr:`DvcLock.outs` of the text)."""
    return DvcLock.parse(lock_text, origin).outs


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
