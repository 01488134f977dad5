"""copier.yml (template updates, docs/fork.md) agrees with make init and the demo lineage it resets."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pathspec
import pytest
import yaml

from mlops_template.core.config import ConfigError, DataParams
from mlops_template.ops.project_init import ANSWERS_FILE, ANSWERS_HEADER, DEMO_DIRS, DEMO_LINEAGE, adopt_template
from tests.support import REPO_ROOT, tracked_files

CONFIG = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
QUESTIONS = {k: v for k, v in CONFIG.items() if not k.startswith("_")}
SCHEMA = DataParams.model_fields["schema_path"].default  # where a project's schema lives


def _matcher(patterns: list[str]) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", patterns)  # as copier matches _exclude / _skip_if_exists


def test_the_demo_lineage_is_never_copied_nor_updated() -> None:
    excluded = _matcher(CONFIG["_exclude"])
    demo = [str(p) for p in DEMO_LINEAGE] + [f for f in tracked_files() for d in DEMO_DIRS if Path(f).parent == d]
    assert [p for p in demo if not excluded.match_file(p)] == []
    # ... and what a project needs is copied (the lineage folders' .gitignore files too)
    wanted = [
        "Makefile",
        "params.yaml",
        SCHEMA,
        "src/mlops_template/cli.py",
        "metrics/.gitignore",
        "models/.gitignore",
        "data/raw/.gitignore",
        ".copier-answers.yml.jinja",
        ".github/workflows/pr.yml",
    ]
    assert [p for p in wanted if excluded.match_file(p)] == []


def test_the_schema_is_the_projects_own_once_it_exists() -> None:
    assert _matcher(CONFIG["_skip_if_exists"]).match_file(SCHEMA)


def test_the_questions_are_make_inits() -> None:
    (task,) = CONFIG["_tasks"]
    assert task["command"][:2] == ["make", "init"]
    assert task["when"] == "{{ _copier_operation == 'copy' }}"  # an update never re-runs make init
    passed = dict(arg.split("=", 1) for arg in task["command"][2:])
    recipe = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").split("\ninit:", 1)[1].split("\n\n", 1)[0]
    assert set(passed) <= set(re.findall(r"\$\(if \$\((\w+)\)", recipe))  # variables make init reads
    assert sorted(v.strip("{} ") for v in passed.values()) == sorted(QUESTIONS)


@pytest.mark.parametrize("bad", ['my "model"', "a$(shell id)", "`id`", "back\\slash"])
def test_answers_that_would_break_make_inits_command_line_are_refused(bad: str) -> None:
    free_text = {name for name, question in QUESTIONS.items() if "choices" not in question}
    assert free_text == {name for name, question in QUESTIONS.items() if "validator" in question}
    env = jinja2.Environment()
    for name in free_text:
        question = QUESTIONS[name]
        assert env.from_string(question["validator"]).render({name: "data/source/my churn.csv"}).strip() == ""
        assert "no quotes" in env.from_string(question["validator"]).render({name: bad})


def test_adopt_writes_the_answers_from_params(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        "task: regression\ndata:\n  source: data/source/x.csv\n  target: y\n  id_column: key\n"
        "mlflow:\n  experiment: prices\n",
        encoding="utf-8",
    )
    path = adopt_template(tmp_path, "https://github.com/acme/mlops-template", "v1.2.0")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(ANSWERS_HEADER)
    assert yaml.safe_load(text) == {
        "_commit": "v1.2.0",
        "_src_path": "https://github.com/acme/mlops-template",
        "data_source": "data/source/x.csv",
        "id_column": "key",
        "project_name": "prices",
        "target": "y",
        "task": "regression",
    }
    with pytest.raises(ConfigError, match="exists already"):
        adopt_template(tmp_path, "https://github.com/acme/mlops-template", "v1.2.0")
    (tmp_path / ANSWERS_FILE).unlink()
    with pytest.raises(ConfigError, match=r"TEMPLATE=.*VERSION="):
        adopt_template(tmp_path, "", "v1.2.0")


def test_adopt_writes_what_copier_writes() -> None:
    rendered = (REPO_ROOT / ".copier-answers.yml.jinja").read_text(encoding="utf-8")
    assert rendered.startswith(ANSWERS_HEADER)
