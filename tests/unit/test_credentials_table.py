"""docs/credentials.md's table matches the workflows: every secret and variable a workflow reads is listed with
its workflows and scope (a job's `environment:`, else repository), nothing listed is unused, and the CI
credentials never reach a job that holds the release's, nor the release's a job without an environment."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DOC = ROOT / "docs" / "credentials.md"
REFERENCE = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
AUTOMATIC = {"GITHUB_TOKEN"}  # GitHub's own token: not configured by the team, governed by `permissions:`
SCOPES = {"repository", "release", "production", "retrain"}
KINDS = {"secret": "secrets", "variable": "vars"}


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # "secrets" | "vars"
    scopes: frozenset[str]
    workflows: frozenset[str]
    access: str


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def environment_of(job: dict[str, Any]) -> str:
    env = job.get("environment")
    name = env.get("name") if isinstance(env, dict) else env
    return str(name) if name else "repository"


def uses(workflows: Path = WORKFLOWS) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """``{(kind, name): {(workflow file, scope)}}``; workflow-level expressions count as repository scope
    (they are evaluated outside any job's environment)."""
    found: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(workflows.glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        parts: list[tuple[str, Any]] = [("repository", v) for k, v in workflow.items() if k != "jobs"]
        parts += [(environment_of(job), job) for job in workflow["jobs"].values()]
        for scope, part in parts:
            for text in strings(part):
                for kind, name in REFERENCE.findall(text):
                    if name not in AUTOMATIC:
                        found[(kind, name)].add((path.name, scope))
    return found


def table(doc: Path = DOC) -> dict[str, Row]:
    text = doc.read_text(encoding="utf-8")
    match = re.search(r"<!-- credentials-table:start -->\n(.*?)<!-- credentials-table:end -->", text, re.S)
    assert match, f"{doc}: no table between <!-- credentials-table:start --> and <!-- credentials-table:end -->"
    rows: dict[str, Row] = {}
    for line in match.group(1).splitlines()[2:]:  # after the header and the |---| line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"{doc}: a row needs 6 cells (name|kind|scope|workflows|access|what for): {line}"
        name, kind, scope, workflows, access, _ = cells
        name = name.strip("`")
        assert name not in rows, f"{doc}: {name} is listed twice"
        assert kind in KINDS, f"{doc}: {name}: kind must be secret or variable, got {kind!r}"
        scopes = frozenset(s.strip() for s in scope.split(","))
        assert scopes <= SCOPES, f"{doc}: {name}: unknown scope(s) {sorted(scopes - SCOPES)}"
        if kind == "secret":
            assert re.match(r"(read|write)\b", access), f"{doc}: {name}: access must say read or write: {access!r}"
        names = frozenset(w.strip() for w in workflows.split(","))
        rows[name] = Row(name, KINDS[kind], scopes, names, access)
    return rows


def mismatches(found: dict[tuple[str, str], set[tuple[str, str]]], rows: dict[str, Row]) -> list[str]:
    problems = []
    for (kind, name), places in sorted(found.items()):
        where = ", ".join(f"{w} ({s})" for w, s in sorted(places))
        row = rows.get(name)
        if row is None:
            problems.append(f"{kind}.{name} is read by {where} but is not in docs/credentials.md's table")
            continue
        if row.kind != kind:
            problems.append(f"{name}: the table says {row.kind}, the workflows read {kind}.{name}")
        workflows = {w for w, _ in places}
        if row.workflows != workflows:
            problems.append(f"{name}: the table says workflows {sorted(row.workflows)}, read by {sorted(workflows)}")
        scopes = {s for _, s in places}
        if kind == "secrets" and row.scopes != scopes:
            problems.append(
                f"{name}: the table says scope {sorted(row.scopes)}, but it is read in {where}: a secret lives "
                "exactly where it is read (the job's environment, or repository for a job without one)"
            )
        if kind == "vars":
            uncovered = {s for s in scopes if s not in row.scopes and "repository" not in row.scopes}
            unused = {s for s in row.scopes if s != "repository" and s not in scopes}
            if uncovered or unused:
                problems.append(f"{name}: table scope {sorted(row.scopes)} vs read in {where}")
    listed = {(row.kind, row.name) for row in rows.values()}
    for kind, name in sorted(listed - set(found)):
        problems.append(f"{name} is in docs/credentials.md's table, but no workflow reads {kind}.{name}")
    return problems


def test_the_table_matches_the_workflows() -> None:
    problems = mismatches(uses(), table())
    assert not problems, "\n".join(problems)


def test_ci_and_release_credentials_never_share_a_scope() -> None:
    """The CI names live in the repository, the release names only in environments (limited to main)."""
    rows = table()
    secrets = [row for row in rows.values() if row.kind == "secrets"]
    ci = [row for row in secrets if "_CI_" in row.name]
    assert {row.name for row in ci} >= {"MLFLOW_CI_TOKEN", "AWS_CI_ACCESS_KEY_ID", "AWS_CI_SECRET_ACCESS_KEY"}
    assert all(row.scopes == {"repository"} for row in ci)
    for row in secrets:
        if row.name.startswith(("MLFLOW_TRACKING_", "AWS_ACCESS", "AWS_SECRET", "KUBE", "BENTOCLOUD", "REGISTRY")):
            assert "repository" not in row.scopes, f"{row.name} must be an environment secret"
    assert rows["RETRAIN_TOKEN"].scopes == {"retrain"}


def test_the_jobs_run_where_the_model_says() -> None:
    retrain = yaml.safe_load((WORKFLOWS / "retrain.yml").read_text(encoding="utf-8"))
    assert {environment_of(job) for job in retrain["jobs"].values()} == {"retrain"}
    monitor = yaml.safe_load((WORKFLOWS / "monitor.yml").read_text(encoding="utf-8"))
    assert environment_of(monitor["jobs"]["monitor"]) == "retrain"
    for name in ("retrain.yml", "monitor.yml"):  # environment secrets: no zizmor exemption needed any more
        assert "secrets-outside-env" not in (WORKFLOWS / name).read_text(encoding="utf-8"), name


def test_the_docs_point_to_the_one_table() -> None:
    for doc in ("README.md", "docs/release.md", "docs/pr-workflow.md", "docs/continuous-training.md"):
        assert "credentials.md" in (ROOT / doc).read_text(encoding="utf-8"), f"{doc} does not link docs/credentials.md"
    release = (ROOT / "docs" / "release.md").read_text(encoding="utf-8")
    pr = (ROOT / "docs" / "pr-workflow.md").read_text(encoding="utf-8")
    # the contradiction this replaced: PR docs telling teams to put the release's names in repository secrets
    assert "| `MLFLOW_TRACKING_TOKEN` | secret |" not in pr and "AWS_ACCESS_KEY_ID`, `AWS_SECRET" not in pr
    assert "| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` |" not in release


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "w.yml").write_text(
        "on: push\njobs:\n"
        "  a:\n    runs-on: x\n    env:\n      T: ${{ secrets.TOKEN }}\n      U: ${{ vars.URL }}\n    steps: []\n"
        "  b:\n    runs-on: x\n    environment: {name: release}\n    steps:\n"
        "      - run: make x\n        env:\n          K: ${{ secrets.KEY || secrets.GITHUB_TOKEN }}\n",
        encoding="utf-8",
    )
    doc = tmp_path / "doc.md"
    return workflows, doc


def write_table(doc: Path, *rows: str) -> None:
    head = "| name | kind | scope | workflows | access | what for |\n|---|---|---|---|---|---|\n"
    body = "".join(r + "\n" for r in rows)
    doc.write_text(f"<!-- credentials-table:start -->\n{head}{body}<!-- credentials-table:end -->\n", "utf-8")


def test_the_check_catches_each_kind_of_drift(fake: tuple[Path, Path]) -> None:
    workflows, doc = fake
    good = [
        "| `TOKEN` | secret | repository | w.yml | read | x |",
        "| `URL` | variable | repository | w.yml | — | x |",
        "| `KEY` | secret | release | w.yml | write | x |",
    ]
    write_table(doc, *good)
    assert mismatches(uses(workflows), table(doc)) == []
    write_table(doc, good[0], good[1], "| `KEY` | secret | repository | w.yml | write | x |")
    assert "read in w.yml (release)" in mismatches(uses(workflows), table(doc))[0]
    write_table(doc, *good, "| `OLD` | secret | repository | w.yml | read | x |")
    assert mismatches(uses(workflows), table(doc)) == [
        "OLD is in docs/credentials.md's table, but no workflow reads secrets.OLD"
    ]
    write_table(doc, good[0], good[2])
    assert mismatches(uses(workflows), table(doc)) == [
        "vars.URL is read by w.yml (repository) but is not in docs/credentials.md's table"
    ]
    write_table(doc, good[0], "| `URL` | variable | release | w.yml | — | x |", good[2])
    assert "URL: table scope ['release']" in mismatches(uses(workflows), table(doc))[0]
    write_table(doc, good[0], good[1], "| `KEY` | secret | release | w.yml, v.yml | write | x |")
    assert "workflows ['v.yml', 'w.yml']" in mismatches(uses(workflows), table(doc))[0]
