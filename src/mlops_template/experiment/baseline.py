"""Get the baseline: the model (and its test split) that the base ref's ``dvc.lock`` points at.

In order of cost:
1. ``.cache/pr-baseline/<sha>/``: fetched or rebuilt earlier for the same base commit;
2. the DVC cache, then the DVC remote, through ``dvc.api.DVCFileSystem`` at the base revision
   (exactly the bytes main's dvc.lock names); when those bytes are not there because main's DVC cache was made
   on a runner whose floating-point results differ in their last digits from the machine that wrote main's pins,
   the equivalent outputs that runner produced, found through the cache's pin map (``pin-map/``, written by
   ``make dvc-pin-map`` in main-cache.yml: committed pin -> md5 this runner produced);
3. a rebuild: ``git worktree add`` of the base commit, sharing this repository's DVC cache, then
   ``dvc repro`` with the base's own code (fork pull requests have no remote access; DVC's run cache
   makes stages the base shares with the candidate instant).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_template.core import paths
from mlops_template.core.handoff import HandOff, HandOffError
from mlops_template.core.lineage import DvcLock, GitError, file_md5, git, git_run, git_show, lock_text_at

CACHE_ROOT = Path(".cache/pr-baseline")

# Files of a baseline bundle: name in the bundle -> path in the repository.
DVC_FILES = {"model.joblib": paths.MODEL, "test.parquet": paths.TEST_DATA, "raw.parquet": paths.RAW_DATA}
GIT_FILES = {
    "params.yaml": Path("params.yaml"),
    "dvc.lock": Path("dvc.lock"),
    "metadata.json": paths.MODEL_METADATA,
    "validation.md": paths.VALIDATION_REPORT_MD,
}
REQUIRED = ("model.joblib", "test.parquet", "params.yaml")


class BaselineError(RuntimeError):
    """The base ref's model could neither be fetched nor rebuilt."""


class BaselineSource(HandOff):
    """``source.json`` in a baseline folder: how the bundle was obtained. The folder is cached (main-cache.yml
    saves it on main, pull requests restore it), so a file an older version wrote is read too."""

    source: str
    lock_md5_matches: bool | None = None  # does the model's md5 equal the base dvc.lock's (None: no lock / unknown)


@dataclass(frozen=True)
class Baseline:
    ref: str
    sha: str
    folder: Path
    source: str  # how it was obtained, for the report
    lock_md5_matches: bool | None  # does the model's md5 equal the one in the base dvc.lock (None: no lock)

    def path(self, name: str) -> Path:
        return self.folder / name

    def has(self, name: str) -> bool:
        return (self.folder / name).exists()


_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[pr-report {time.perf_counter() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


def resolve_sha(ref: str, cwd: Path = Path(".")) -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd).strip()
    except GitError:
        raise BaselineError(
            f"base ref {ref!r} is not a commit here: fetch it first (e.g. `git fetch origin main` and BASE=origin/main)"
        ) from None


def _complete(folder: Path) -> bool:
    return all((folder / name).exists() for name in REQUIRED)


def _write_git_files(sha: str, folder: Path, repo: Path) -> None:
    for name, rel in GIT_FILES.items():
        data = git_show(sha, rel, cwd=repo)
        if data is not None:
            (folder / name).write_bytes(data)


SOURCE_EXACT = "DVC cache/remote (the exact files of the base dvc.lock)"
SOURCE_MAPPED = "DVC cache (the equivalent files main-cache produced for the base dvc.lock's pins, via its pin map)"


def _fetch_with_dvc(sha: str, folder: Path, repo: Path, expected: dict[str, str] | None = None) -> str | None:
    """Copy the DVC-tracked files of ``sha`` from the cache or remote (else through the cache's pin map, see
    :func:`record_pin_map`); the source to report when model and test split came, None otherwise.

    The remote is the one this workspace uses (``make dvc-pull`` writes it to ``.dvc/config.local`` in CI), given
    to DVC explicitly: at another revision DVC would read that commit's ``.dvc/config``, whose default remote may
    be another one (the template's folder remote, on the commit before the team's remote was committed).
    """
    from mlops_template.experiment.dvc_remote import workspace_remote

    remote = workspace_remote(repo)
    where = f"remote '{remote[0]}' ({remote[1].get('url', '')})" if remote else "a reachable remote"
    try:
        from dvc.api import DVCFileSystem

        fs = DVCFileSystem(str(repo), rev=sha, **({"remote": remote[0], "remote_config": remote[1]} if remote else {}))
    except Exception as err:  # an old/invalid DVC project at that commit
        progress(f"DVC cannot open {sha[:12]}: {type(err).__name__}: {err}")
        return None
    source = SOURCE_EXACT
    pins = DvcLock.parse(git_show(sha, "dvc.lock", cwd=repo), f"dvc.lock at {sha[:12]}").outs
    for name, rel in DVC_FILES.items():
        try:
            fs.get_file(rel.as_posix(), str(folder / name))
        except Exception as err:
            pin = (expected or {}).get(rel.as_posix())
            mapped = _from_pin_map(repo, pin, folder / name)
            if mapped is not None:
                progress(f"{rel} of {sha[:12]}: dvc.lock pins {pin}, not in the DVC cache; using {mapped}, what "
                         "main-cache's runner produced for that pin (pin map)")  # fmt: skip
                source = SOURCE_MAPPED
                continue
            detail = f"{type(err).__name__}: {err}".strip().splitlines()[0][:300]
            progress(
                f"{rel} of {sha[:12]} (md5 {pins.get(rel.as_posix(), '?')}) is neither in the DVC cache nor on "
                f"{where} ({detail})"
            )
            if name in REQUIRED:
                return None
    return source


def _cache_dir(repo: Path) -> Path:
    try:
        result = subprocess.run(["dvc", "cache", "dir"], cwd=repo, capture_output=True, text=True, check=False)
    except OSError:
        return (repo / ".dvc" / "cache").resolve()
    out = result.stdout.strip()
    return Path(out) if result.returncode == 0 and out else (repo / ".dvc" / "cache").resolve()


def dvc_cache_object(repo: Path, md5: str) -> Path | None:
    """The file with this md5 in the repository's DVC cache (DVC 3 layout ``files/md5/ab/cdef...``, or DVC 2's
    ``ab/cdef...``); None when absent (or for a directory's ``.dir`` hash)."""
    return _object_in(_cache_dir(repo), md5)


def _object_in(cache: Path, md5: str) -> Path | None:
    if not md5 or md5.endswith(".dir") or len(md5) != 32:
        return None
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
        if candidate.is_file():
            return candidate
    return None


# Inside the DVC cache folder, so it travels with main-cache.yml's saved `.dvc/cache` (same path, same key).
PIN_MAP = "pin-map"


class PinMapEntry(HandOff):
    """``<cache>/pin-map/<pinned md5>``: the md5 main-cache's runner produced for an output main's dvc.lock pins."""

    path: str
    pinned: str
    md5: str


def record_pin_map(
    committed_lock: str, produced_lock: str, repo: Path = Path("."), cache: Path | None = None
) -> dict[str, tuple[str, str]]:
    """After ``make repro`` on main (main-cache.yml): for every output whose md5 differs from the committed pin
    (another machine wrote the pins; floating-point results differ in their last digits), write
    ``<cache>/pin-map/<pinned md5>`` = the md5 produced here, when that object is in the cache (``cache``:
    the repository's DVC cache by default). Returns ``{path: (pinned, produced)}`` of what was mapped."""
    committed = DvcLock.parse(committed_lock, "the committed dvc.lock").outs
    produced = DvcLock.parse(produced_lock, "the workspace dvc.lock").outs
    cache = cache or _cache_dir(repo)
    folder = cache / PIN_MAP
    mapped: dict[str, tuple[str, str]] = {}
    for rel, pinned in sorted(committed.items()):
        actual = produced.get(rel)
        if not actual or actual == pinned or _object_in(cache, actual) is None or "/" in pinned:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        PinMapEntry(path=rel, pinned=pinned, md5=actual).write(folder / pinned)
        mapped[rel] = (pinned, actual)
    return mapped


def _from_pin_map(repo: Path, pinned: str | None, dest: Path, cache: Path | None = None) -> str | None:
    """Copy the object the pin map names for ``pinned`` to ``dest``; its md5, or None when not mapped/cached."""
    if not pinned or "/" in pinned:
        return None
    cache = cache or _cache_dir(repo)
    entry = cache / PIN_MAP / pinned
    if not entry.is_file():
        return None
    try:
        actual = PinMapEntry.read(entry).md5
    except HandOffError as err:
        progress(f"pin map entry ignored: {err}")
        return None
    obj = _object_in(cache, actual)
    if obj is None or file_md5(obj) != actual:
        return None
    shutil.copyfile(obj, dest)
    return actual


def pin_map_main(repo: Path = Path(".")) -> int:
    """``make dvc-pin-map``: map the committed ``dvc.lock``'s pins (HEAD) to the md5s the workspace's
    ``dvc.lock`` records after ``make repro``. Prints what it mapped; exit 0 either way."""
    committed = lock_text_at("HEAD", repo)
    workspace = repo / "dvc.lock"
    if committed is None or not workspace.is_file():
        print("dvc-pin-map: no committed dvc.lock or no workspace dvc.lock: nothing to map")
        return 0
    mapped = record_pin_map(committed, workspace.read_text(encoding="utf-8"), repo)
    if not mapped:
        print("dvc-pin-map: every output this runner produced matches the committed dvc.lock: nothing to map")
    for rel, (pinned, actual) in mapped.items():
        print(f"dvc-pin-map: {rel}: dvc.lock pins {pinned}, this runner produced {actual} (mapped in the DVC cache)")
    return 0


def _rebuild(sha: str, folder: Path, repo: Path) -> None:
    """Reproduce the base commit's pipeline in a temporary git worktree that shares the DVC cache."""
    tmp = Path(tempfile.mkdtemp(prefix="baseline-", dir=folder.parent))
    tree = tmp / "worktree"
    git("worktree", "add", "--detach", "--force", str(tree), sha, cwd=repo, error=BaselineError)
    try:
        cache = _cache_dir(repo)
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        env["PYTHONPATH"] = str((tree / "src").resolve())  # the base's code, not the candidate's
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{(tmp / 'mlflow.db').resolve()}"  # keep servers out of it

        def dvc(*args: str, check: bool = True) -> None:
            result = subprocess.run(["dvc", *args], cwd=tree, env=env, capture_output=True, text=True, check=False)
            if check and result.returncode != 0:
                raise BaselineError(
                    f"rebuilding the baseline ({sha[:12]}) failed: dvc {' '.join(args)} exited {result.returncode}\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )

        dvc("cache", "dir", "--local", str(cache))
        dvc("checkout", "--quiet", check=False)  # DVC-tracked inputs (e.g. data/source files) from the cache
        progress(f"reproducing {sha[:12]}'s pipeline in {tree} (shared DVC cache {cache})")
        dvc("repro", "--quiet")
        for name, rel in {**DVC_FILES, **GIT_FILES}.items():
            if (tree / rel).exists():
                shutil.copy2(tree / rel, folder / name)
    finally:
        git_run("worktree", "remove", "--force", str(tree), cwd=repo)
        shutil.rmtree(tmp, ignore_errors=True)


def get_baseline(ref: str, repo: Path = Path("."), cache_root: Path = CACHE_ROOT, rebuild: bool = True) -> Baseline:
    """The base ref's model bundle in ``cache_root/<sha>/`` (fetched, reused or rebuilt)."""
    sha = resolve_sha(ref, cwd=repo)
    folder = (repo / cache_root / sha).resolve()
    info_path = folder / "source.json"
    if _complete(folder) and info_path.exists():
        try:
            info = BaselineSource.read(info_path)
        except HandOffError as err:
            progress(f"cached baseline not reused: {err}")
        else:
            progress(f"baseline {ref} ({sha[:12]}): reusing {folder} ({info.source})")
            return Baseline(ref, sha, folder, f"{info.source} (reused)", info.lock_md5_matches)

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _write_git_files(sha, folder, repo)
    if "params.yaml" not in os.listdir(folder):
        raise BaselineError(f"base ref {ref} ({sha[:12]}) has no params.yaml: is it a commit of this project?")
    expected = (DvcLock.read(folder / "dvc.lock") or DvcLock()).outs
    source = ""
    if expected.get(paths.MODEL.as_posix()):
        progress(f"baseline {ref} ({sha[:12]}): looking for its model in the DVC cache / remote")
        source = _fetch_with_dvc(sha, folder, repo, expected) or ""
    if not source:
        if not rebuild:
            raise BaselineError(f"the model of {ref} ({sha[:12]}) is not in the DVC cache or remote (rebuild disabled)")
        _rebuild(sha, folder, repo)
        source = "rebuilt by reproducing the base pipeline in a git worktree"
    if not _complete(folder):
        raise BaselineError(
            f"baseline {ref} ({sha[:12]}): missing {[n for n in REQUIRED if not (folder / n).exists()]}"
        )
    want = expected.get(paths.MODEL.as_posix())
    matches = None if want is None else file_md5(folder / "model.joblib") == want
    BaselineSource(source=source, lock_md5_matches=matches).write(info_path)
    progress(f"baseline {ref} ({sha[:12]}): {source}")
    return Baseline(ref, sha, folder, source, matches)


class CrossValidationUnsupported(BaselineError):
    """The base commit's code has no ``cv-predict`` command (it predates repeated cross-validation)."""


def oof_file(baseline: Baseline, data: Path, folds: int, repeats: int, seed: int) -> Path:
    """Where :func:`base_oof` keeps the base's out-of-fold predictions for this data file and these settings."""
    return baseline.folder / f"oof-{file_md5(data)}-{folds}x{repeats}-s{seed}.npz"


def runs_the_base_code(sha: str, repo: Path = Path(".")) -> bool:
    """Is the ``mlops_template`` package running now byte-identical to ``src/mlops_template`` at ``sha``
    (every file, none missing or extra; bytecode caches aside)? Then calling it in this process is running the
    base's code, and ``cv-predict`` needs no worktree of its own."""
    import hashlib

    import mlops_template

    try:
        listing = git("ls-tree", "-r", sha, "--", "src/mlops_template", cwd=repo)
    except GitError:
        return False
    base: dict[str, str] = {}
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        base[path.removeprefix("src/mlops_template/")] = meta.split()[2]
    here = Path(mlops_template.__file__).resolve().parent
    running: dict[str, str] = {}
    for file in here.rglob("*"):
        if file.is_file() and "__pycache__" not in file.parts and file.suffix not in (".pyc", ".pyo"):
            data = file.read_bytes()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
            running[file.relative_to(here).as_posix()] = blob
    return bool(base) and base == running


def base_oof(baseline: Baseline, data: Path, folds: int, repeats: int, seed: int, repo: Path = Path(".")) -> Path:
    """Out-of-fold predictions of the *base* model config (base params.yaml, base code) on ``data``.

    Runs ``python -m mlops_template.cli cv-predict`` of the base commit in a temporary git worktree (the
    base's ``src/`` first on PYTHONPATH). Cached in the baseline folder per data file, folds, repeats and seed.
    Raises :class:`CrossValidationUnsupported` when the base's CLI has no such command.
    """
    out = oof_file(baseline, data, folds, repeats, seed)
    if out.exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix="baseline-cv-", dir=baseline.folder.parent))
    tree = tmp / "worktree"
    git("worktree", "add", "--detach", "--force", str(tree), baseline.sha, cwd=repo, error=BaselineError)
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str((tree / "src").resolve())
        cmd = [sys.executable, "-m", "mlops_template.cli", "cv-predict", "--data", str(data.resolve())]
        cmd += ["--out", str(out), "--folds", str(folds), "--repeats", str(repeats), "--seed", str(seed)]
        result = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            if "invalid choice: 'cv-predict'" in result.stderr:
                raise CrossValidationUnsupported(f"{baseline.ref} ({baseline.sha[:12]}) has no `cv-predict` command")
            tail = result.stderr[-2000:]
            raise BaselineError(f"cross-validating the baseline failed (exit {result.returncode}): {tail}")
    finally:
        git_run("worktree", "remove", "--force", str(tree), cwd=repo)
        shutil.rmtree(tmp, ignore_errors=True)
    return out
