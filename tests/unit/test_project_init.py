import re
from pathlib import Path

import pytest

from mlops_template.core.config import ConfigError
from mlops_template.ops.project_init import CHECKLIST, DEMO_TESTS, init_project, set_yaml_value, slugify
from tests.support import REPO_ROOT


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("https://github.com/Acme/Churn_Model.git", "churn-model"),
        ("git@github.com:acme/fraud.git", "fraud"),
        ("/home/me/My Project", "my-project"),
        ("???", "ml-project"),
    ],
)
def test_slugify(raw: str, slug: str) -> None:
    assert slugify(raw) == slug


def test_set_yaml_value_keeps_comments_and_other_keys() -> None:
    text = "a:\n  b: 1   # the b\n  c: x\nb: 2\n"
    out = set_yaml_value(text, "a.b", "data/source/x.csv")
    assert out == "a:\n  b: data/source/x.csv # the b\n  c: x\nb: 2\n"
    assert set_yaml_value(text, "b", 3).endswith("b: 3\n")
    with pytest.raises(ConfigError, match=r"a\.zz not found"):
        set_yaml_value(text, "a.zz", 1)


def test_checklist_names_every_secret_and_variable_the_workflows_read() -> None:
    names = set()
    for wf in (REPO_ROOT / ".github/workflows").glob("*.yml"):
        names |= set(re.findall(r"\b(?:vars|secrets)\.([A-Z][A-Z0-9_]+)", wf.read_text()))
    names.discard("GITHUB_TOKEN")
    missing = sorted(n for n in names if n not in CHECKLIST)
    assert not missing, f"make init's checklist does not mention {missing}"


def test_readme_walkthrough_uses_the_init_target() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make init SOURCE=" in readme
    assert Path(REPO_ROOT / "Makefile").read_text().count("\ninit:") == 1


def _fork(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(
        "task: binary\ndata:\n  source: sklearn:breast_cancer\n  missing_labels: error\n"
        "mlflow:\n  experiment: x\n  registered_model_name: x-model\ncompare:\n  floors: {roc_auc: 0.97}\n"
    )
    demo_test = tmp_path / DEMO_TESTS[0]
    demo_test.parent.mkdir(parents=True)
    demo_test.write_text("# demo\n")
    return tmp_path


def test_init_with_new_data_removes_the_demo_only_test(tmp_path: Path) -> None:
    root = _fork(tmp_path)
    settings = {"data.source": "data/source/a.csv", "compare.floors": {}, "data.missing_labels": "drop"}
    _, removed = init_project(root, "herd", settings)
    assert DEMO_TESTS[0] in removed and not (root / DEMO_TESTS[0]).exists()
    text = (root / "params.yaml").read_text()
    assert "floors: {}" in text and "missing_labels: drop" in text


def test_init_on_the_demo_data_keeps_the_demo_test(tmp_path: Path) -> None:
    root = _fork(tmp_path)
    _, removed = init_project(root, "herd", {})
    assert DEMO_TESTS[0] not in removed and (root / DEMO_TESTS[0]).exists()


def test_init_renames_the_kubernetes_objects_and_the_argocd_app(tmp_path: Path) -> None:
    # The template's own files, as a fixture: a fork's k8s/ already carries its own name.
    root = _fork(tmp_path)
    (root / "k8s/argocd").mkdir(parents=True)
    (root / "k8s/overlays/production").mkdir(parents=True)
    (root / "k8s/deployment.yaml").write_text("metadata:\n  name: mlops-template\n")
    (root / "k8s/argocd/application.yaml").write_text("metadata:\n  name: mlops-template\n  namespace: argocd\n")
    overlay = "commonAnnotations:\n  mlops-template.dev/git-sha: unreleased\n"
    (root / "k8s/overlays/production/kustomization.yaml").write_text(overlay)
    init_project(root, "herd", {})
    app = (root / "k8s/argocd/application.yaml").read_text()
    assert "name: herd\n" in app and "mlops-template" not in app
    assert "name: herd\n" in (root / "k8s/deployment.yaml").read_text()
    assert (root / "k8s/overlays/production/kustomization.yaml").read_text() == overlay


def test_checklist_lists_the_repository_settings_a_new_repository_must_change() -> None:
    assert 'tick "Allow GitHub Actions to create and approve\n      pull requests"' in CHECKLIST
    assert "Settings > Actions > General > Workflow permissions" in CHECKLIST
    assert "Settings > Environments: create `release` and `production`" in CHECKLIST
    assert "RETRAIN_APP_ID" in CHECKLIST and "RETRAIN_APP_PRIVATE_KEY" in CHECKLIST
    assert "never store an installation token" in CHECKLIST
