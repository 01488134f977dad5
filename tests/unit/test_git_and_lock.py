"""The one git helper, the one dvc.lock reader (core.lineage) and the one $GITHUB_OUTPUT writer (ops.github):
what they return, the errors they give, and that no other module runs git, parses dvc.lock or writes
$GITHUB_OUTPUT itself (own fixtures: temporary git repositories and lock texts)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_template.core.lineage import (
    DvcLock,
    GitError,
    LockError,
    committed_lock,
    git,
    git_sha,
    git_show,
    lock_text_at,
    locked_outs,
)
from mlops_template.ops.github import set_output
from tests.support import REPO_ROOT

LOCK = """schema: '2.0'
stages:
  extract:
    cmd: python -m pkg.extract
    deps:
    - path: data/source
      hash: md5
      md5: aaa.dir
    params:
      params.yaml:
        data:
          source: demo
    outs:
    - path: data/raw/data.parquet
      hash: md5
      md5: r1
  train:
    cmd: python -m pkg.train
    deps:
    - path: data/raw/data.parquet
      md5: r1
    - path: src/pkg/model.py
    outs:
    - path: models/model.joblib
      md5: m1
    - path: models
"""


def test_the_lock_reader_types_every_stage() -> None:
    lock = DvcLock.parse(LOCK)
    assert list(lock.stages) == ["extract", "train"]
    extract, train = lock.stages["extract"], lock.stages["train"]
    assert extract.cmd == "python -m pkg.extract" and extract.deps == {"data/source": "aaa.dir"}
    assert extract.params == {"params.yaml": {"data": {"source": "demo"}}}
    assert train.deps == {"data/raw/data.parquet": "r1", "src/pkg/model.py": ""}  # no md5 recorded: ""
    assert lock.outs == {"data/raw/data.parquet": "r1", "models/model.joblib": "m1"}  # pinned outputs only
    assert locked_outs(LOCK) == lock.outs
    assert DvcLock.parse(None) == DvcLock.parse("") == DvcLock()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages: [extract]\n", "dvc.lock: stages: expected a mapping of stage names, got list"),
        ("stages:\n  train: python -m x\n", "dvc.lock: stages.train: expected a mapping"),
        ("stages:\n  train:\n    outs: models/model.joblib\n", "dvc.lock: stages.train.outs: expected a list"),
        ("stages:\n  train:\n    deps:\n    - md5: abc\n", "dvc.lock: stages.train.deps[0]: an entry without a path"),
        ("stages:\n  train:\n    params: [1]\n", "dvc.lock: stages.train.params: expected a mapping"),
        ("stages: {train: [\n", "dvc.lock: not YAML"),
        ("- 1\n", "dvc.lock: expected a mapping with `stages`, got list"),
    ],
)
def test_a_malformed_lock_names_the_field(text: str, message: str) -> None:
    with pytest.raises(LockError) as err:
        DvcLock.parse(text)
    assert str(err.value).startswith(message)


def test_a_lock_file_on_disk(tmp_path: Path) -> None:
    assert DvcLock.read(tmp_path / "dvc.lock") is None
    (tmp_path / "dvc.lock").write_text("stages:\n  x:\n    outs:\n    - path: a\n", encoding="utf-8")
    assert DvcLock.read(tmp_path / "dvc.lock") == DvcLock.parse("stages:\n  x:\n    outs:\n    - path: a\n")
    (tmp_path / "dvc.lock").write_text("stages: 3\n", encoding="utf-8")
    with pytest.raises(LockError, match=re.escape(f"{tmp_path / 'dvc.lock'}: stages: expected a mapping")):
        DvcLock.read(tmp_path / "dvc.lock")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    def run(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    run("init", "-q", "-b", "main")
    (tmp_path / "dvc.lock").write_bytes(LOCK.encode())
    (tmp_path / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    run("add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "lock")
    return tmp_path


def test_the_git_helper(repo: Path) -> None:
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    assert re.fullmatch(r"[0-9a-f]{40}", sha) and git_sha(repo) == sha
    assert git_show("HEAD", "crlf.txt", cwd=repo) == b"a\r\nb\r\n"  # the committed bytes, line endings and all
    assert git_show("HEAD", "absent.txt", cwd=repo) is None
    with pytest.raises(GitError, match=r"git show HEAD:absent.txt failed \(128\): fatal: .*absent.txt"):
        git("show", "HEAD:absent.txt", cwd=repo)

    class Mine(RuntimeError):
        pass

    with pytest.raises(Mine, match="git rev-parse --verify nope failed"):
        git("rev-parse", "--verify", "nope", cwd=repo, error=Mine)
    assert git("rev-parse", "--verify", "nope", cwd=repo, check=False) == ""
    (repo / "crlf.txt").write_bytes(b"changed\n")
    assert git_sha(repo) == f"{sha}-dirty"


def test_the_committed_lock(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert lock_text_at("HEAD", repo) == LOCK
    (repo / "dvc.lock").write_text("stages: {}\n", encoding="utf-8")
    assert committed_lock(repo) == LOCK  # HEAD's, not the workspace's
    outside = tmp_path_factory.mktemp("no-git")
    assert lock_text_at("HEAD", outside) is None and git_sha(outside) == "unknown"
    assert committed_lock(outside) is None
    (outside / "dvc.lock").write_text(LOCK, encoding="utf-8")
    assert committed_lock(outside) == LOCK  # outside git: the workspace file


def test_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    set_output(status="ok")  # outside GitHub Actions: nothing, no error
    target = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    set_output(status="drift", retrain="true", empty="")
    set_output(report="line one\nline two")
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["status=drift", "retrain=true", "empty="]
    delimiter = lines[3].removeprefix("report<<")  # a multi-line value in GitHub's heredoc form
    assert delimiter and lines[3] == f"report<<{delimiter}"
    assert lines[4:] == ["line one", "line two", delimiter]
    with pytest.raises(ValueError, match="GitHub output name 'a=b'"):
        set_output(**{"a=b": "x"})


def test_no_module_runs_git_parses_the_lock_or_writes_github_output_itself() -> None:
    """The helpers above are the only places: a second copy is found here, by its tell-tale text."""
    src = REPO_ROOT / "src" / "mlops_template"
    tells = {
        r"\[\s*\"git\"": "core/lineage.py",  # ["git", ...]: a subprocess running git
        r"(get\(|\[)\"stages\"": "core/lineage.py",  # lock["stages"] / lock.get("stages"): reading a dvc.lock
        r"GITHUB_OUTPUT\"": "ops/github.py",  # environ["GITHUB_OUTPUT"] / environ.get("GITHUB_OUTPUT")
    }
    offenders = [
        f"{path.relative_to(src)}: {pattern} (use {owner})"
        for path in sorted(src.rglob("*.py"))
        for pattern, owner in tells.items()
        if path.relative_to(src).as_posix() != owner and re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders


def test_retrain_publish_imports_only_the_standard_library() -> None:
    """``make retrain-publish`` runs on a bare runner Python: importing the module must not need pydantic or
    PyYAML (the typed state and the lock reader are imported by the steps that use them)."""
    code = (
        "import sys\n"
        "for name in ('pydantic', 'yaml', 'numpy', 'pandas'):\n"
        "    sys.modules[name] = None  # importing it raises ImportError\n"
        "import mlops_template.ops.monitoring.retrain as r\n"
        "import mlops_template.ops.github\n"
        "print(r.BRANCH)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "retrain/candidate"


def test_retrain_names_a_corrupt_committed_lock(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_template.cli import main as mlops

    (repo / "dvc.lock").write_text("stages:\n  extract:\n    outs: data/raw/data.parquet\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "bad"])
    monkeypatch.chdir(repo)
    assert mlops(["retrain", "refresh"]) == 1
    err = capsys.readouterr().err
    assert "ERROR: dvc.lock at HEAD: stages.extract.outs: expected a list" in err and "Traceback" not in err
