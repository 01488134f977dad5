"""Template updates reach forks (copier.yml, `make template-update` / `make template-adopt`, docs/fork.md).

A throwaway git repository of this checkout's files is "the template", tagged v1. A fork is made from it with
`copier copy` (its task runs `make init` on other data, a churn CSV), committed with stand-ins for its own
pipeline outputs, and changes a line of code. Each case then makes its own next version of the template on a
branch off v1 and runs `make template-update VERSION=...` in its own clone of the fork:
- v2.0.0, a fix (a source file, the Makefile, a new params.yaml line; the demo's schema and lineage change too):
  the fix arrives; the fork's data, schema, lineage, code change and params values stay as they were;
- v1.1.0, a change to the line the fork changed: an ordinary merge conflict (markers, unmerged in git's index);
- a fork made by copying the files ("Use this template") adopts the template once with `make template-adopt`,
  then takes the fix the same way.
All local (copier on file paths), no servers, no pipeline run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.datasets import mixed_churn_frame
from tests.support import copy_repo, env_with_venv, git, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ANSWERS = {
    "project_name": "churn",
    "data_source": "data/source/churn.csv",
    "target": "churned",
    "id_column": "customer_id",
    "task": "binary",
}
# The fork's own files: its data, schema and params (from make init), stand-ins for its pipeline outputs, and
# its code change (a line of cli.py).
OWN = ["data/source/churn.csv", "data/schema.yaml", "params.yaml", "dvc.lock", "metrics/metrics.json"]
CODE = Path("src/mlops_template/cli.py")
NEXT_LINE = 'print("\\nNext: review data/schema.yaml, then `make repro`, commit, push, and open a pull request.\\n")'
FORK_LINE = NEXT_LINE.replace("a pull request.", "a pull request against develop.")
FIX = "# v2: a fix in the template\n"
PARAMS_NEW = "# v2: a new line from the template\n"


def _env() -> dict[str, str]:
    # SETUP= RUN= (from the environment, so copier's `make init` task sees them too): this venv, on PATH
    return env_with_venv({"SETUP": "", "RUN": ""})


def _make(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["make", "--no-print-directory", *args], cwd=repo, env=_env(), check=check, timeout=300)


def _copier(*args: str) -> None:
    run(["copier", *args], cwd=Path.cwd(), env=_env(), timeout=300)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _release(template: Path, tag: str, change) -> None:
    """A version of the template: a branch off v1 with ``change(template)`` committed, tagged ``tag``."""
    git(template, "checkout", "-q", "-b", f"release-{tag}", "v1")
    change(template)
    git(template, "add", "-A")
    git(template, "commit", "-qm", f"template {tag}")
    git(template, "tag", tag)
    git(template, "checkout", "-q", "main")


def _fix(template: Path) -> None:
    with (template / "src/mlops_template/core/paths.py").open("a", encoding="utf-8") as fh:
        fh.write(FIX)
    with (template / "Makefile").open("a", encoding="utf-8") as fh:
        fh.write("\nhello-v2: ## a target added in v2\n\t@echo v2\n")
    _edit(template / "params.yaml", "\nseed:", f"\n{PARAMS_NEW}seed:")
    # the demo's own files change too; a fork's must not follow
    with (template / "data/schema.yaml").open("a", encoding="utf-8") as fh:
        fh.write("# v2 demo schema\n")
    with (template / "dvc.lock").open("a", encoding="utf-8") as fh:
        fh.write("# v2 demo lineage\n")


def _conflicting(template: Path) -> None:
    _edit(template / CODE, NEXT_LINE, NEXT_LINE.replace("a pull request.", "a pull request (docs/pr-workflow.md)."))


def _own_files(fork: Path) -> dict[str, bytes]:
    return {rel: (fork / rel).read_bytes() for rel in [*OWN, str(CODE)]}


def _make_it_ours(fork: Path) -> None:
    """What a team does after make init: run the pipeline (here: stand-ins for its outputs), change code."""
    (fork / "dvc.lock").write_text("schema: '2.0'\nstages: {}  # the fork's lineage\n", encoding="utf-8")
    (fork / "metrics/metrics.json").write_text('{"roc_auc": 0.71}\n', encoding="utf-8")
    _edit(fork / CODE, NEXT_LINE, FORK_LINE)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("template") / "mlops-template")
    git(repo, "tag", "v1")
    _release(repo, "v2.0.0", _fix)
    _release(repo, "v1.1.0", _conflicting)
    return repo


@pytest.fixture(scope="module")
def fork(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`copier copy` of v1 into a folder holding the team's data; its task runs make init with the answers."""
    repo = tmp_path_factory.mktemp("fork") / "churn"
    (repo / "data/source").mkdir(parents=True)
    mixed_churn_frame().to_csv(repo / "data/source/churn.csv", index=False)
    data = [arg for key, value in ANSWERS.items() for arg in ("--data", f"{key}={value}")]
    _copier("copy", "--trust", "--defaults", "--vcs-ref", "v1", *data, str(template), str(repo))
    _make_it_ours(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "churn project from the template v1")
    return repo


def _clone(fork: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(fork), str(dest)], check=True)
    return dest


def test_copy_makes_the_fork_its_own(fork: Path, template: Path) -> None:
    answers = yaml.safe_load((fork / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers == {"_commit": "v1", "_src_path": str(template), **ANSWERS}
    params = yaml.safe_load((fork / "params.yaml").read_text(encoding="utf-8"))
    assert params["data"]["source"] == "data/source/churn.csv"
    assert params["mlflow"]["experiment"] == "churn"
    assert "customer_id" in yaml.safe_load((fork / "data/schema.yaml").read_text(encoding="utf-8"))["columns"]
    assert not (fork / "copier.yml").exists()
    assert not (fork / "plots").exists() or not list((fork / "plots").iterdir())  # the demo's outputs stay out


def test_update_brings_the_fix_and_keeps_the_forks_files(fork: Path, tmp_path: Path) -> None:
    repo = _clone(fork, tmp_path / "churn")
    before = _own_files(repo)
    result = _make(repo, "template-update")  # the newest release: v2.0.0
    assert "updated: review git diff" in result.stdout
    assert (repo / "src/mlops_template/core/paths.py").read_text(encoding="utf-8").endswith(FIX)
    assert _make(repo, "hello-v2").stdout == "v2\n"  # the new Makefile target works
    params = (repo / "params.yaml").read_text(encoding="utf-8")
    assert PARAMS_NEW in params  # the template's new line arrives ...
    assert params.replace(PARAMS_NEW, "") == before.pop("params.yaml").decode()  # ... the fork's values stay
    assert _own_files(repo) | {"params.yaml": b""} == before | {"params.yaml": b""}
    assert yaml.safe_load((repo / ".copier-answers.yml").read_text(encoding="utf-8"))["_commit"] == "v2.0.0"
    assert git(repo, "diff", "--name-only", "--diff-filter=U") == ""


def test_a_line_both_changed_is_an_ordinary_merge_conflict(fork: Path, tmp_path: Path) -> None:
    repo = _clone(fork, tmp_path / "churn")
    result = _make(repo, "template-update", "VERSION=v1.1.0", check=False)
    assert result.returncode != 0
    assert "merge conflicts" in result.stdout
    assert str(CODE) in result.stdout
    assert git(repo, "diff", "--name-only", "--diff-filter=U").split() == [str(CODE)]
    text = (repo / CODE).read_text(encoding="utf-8")
    ours, theirs = (
        text.split("<<<<<<< before updating\n", 1)[1].split(">>>>>>> after updating", 1)[0].split("=======\n")
    )
    assert FORK_LINE in ours
    assert "(docs/pr-workflow.md)" in theirs
    assert (repo / "data/schema.yaml").read_bytes() == (fork / "data/schema.yaml").read_bytes()


def test_a_fork_made_without_copier_adopts_the_template_once(template: Path, tmp_path: Path) -> None:
    repo = tmp_path / "churn"  # "Use this template": the files of v1, a new history
    repo.mkdir()
    archive = subprocess.run(["git", "archive", "v1"], cwd=template, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    (repo / "data/source/churn.csv").write_bytes(mixed_churn_frame().to_csv(index=False).encode())
    _make(repo, "init", "NAME=churn", "SOURCE=data/source/churn.csv", "TARGET=churned", "ID=customer_id", "TASK=binary")
    _make_it_ours(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "made with Use this template")
    missing = _make(repo, "template-update", check=False)
    assert missing.returncode != 0
    assert "make template-adopt" in missing.stdout
    wrong = _make(repo, "template-adopt", f"TEMPLATE={template}", "VERSION=v0.9", check=False)
    assert wrong.returncode != 0
    assert "no tag v0.9" in wrong.stdout

    _make(repo, "template-adopt", f"TEMPLATE={template}", "VERSION=v1")
    answers = yaml.safe_load((repo / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers == {"_commit": "v1", "_src_path": str(template), **ANSWERS}
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "adopt the template's updates")
    before = _own_files(repo)
    _make(repo, "template-update", "VERSION=v2.0.0")
    assert (repo / "src/mlops_template/core/paths.py").read_text(encoding="utf-8").endswith(FIX)
    assert PARAMS_NEW in (repo / "params.yaml").read_text(encoding="utf-8")
    assert _own_files(repo) | {"params.yaml": b""} == before | {"params.yaml": b""}
    assert git(repo, "diff", "--name-only", "--diff-filter=U") == ""
