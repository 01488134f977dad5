"""`make init`: turn a fresh fork into the user's project.

Pure helpers (name derivation, comment-preserving params.yaml edits) plus the ``init`` action used by
``mlops init``.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlops_template.core import paths
from mlops_template.core.config import ConfigError, parse_params
from mlops_template.ops.github import origin_url

# Files produced by the demo run; a fork's own first `make repro` makes them again from its data.
DEMO_LINEAGE = [
    Path("dvc.lock"),
    paths.METRICS,
    paths.TEST_UNCERTAINTY,
    paths.PREDICTIONS,
    paths.MODEL_METADATA,
    paths.REFERENCE_PROFILE,
    paths.MODEL,
    paths.VALIDATION_REPORT_JSON,
    paths.VALIDATION_REPORT_MD,
    paths.RAW_DATA,
    paths.TRAIN_DATA,
    paths.TEST_DATA,
]
DEMO_DIRS = [paths.PLOTS_DIR]
# Tests that only make sense for the demo data (its columns, its domain); removed when the data source changes.
DEMO_TESTS = ["tests/model/test_demo_behaviour.py"]
DEMO_SOURCE = "sklearn:breast_cancer"

CHECKLIST = """\
Optional cloud parts: each switches on when its repository variable (vars.*) or secret (secrets.*) is set
(Settings > Secrets and variables > Actions). With none set, pull requests still get a report comment and
merges still build and smoke-test the service; everything also runs offline on a laptop.
  [ ] Where each secret goes, CODEOWNERS + make protect: docs/credentials.md. PR jobs read the repository secrets
      MLFLOW_CI_USERNAME/MLFLOW_CI_PASSWORD/MLFLOW_CI_TOKEN, AWS_CI_ACCESS_KEY_ID/AWS_CI_SECRET_ACCESS_KEY
      (log runs only); the secrets below are environment secrets of release/production/retrain.
  [ ] MLflow server: variable MLFLOW_TRACKING_URI; secrets MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD
      or MLFLOW_TRACKING_TOKEN. Runs are logged there and merges register the model (alias `champion`).
  [ ] DVC remote: variables DVC_REMOTE_URL (s3://bucket/path), DVC_REMOTE_ENDPOINT_URL (S3-compatible servers),
      AWS_DEFAULT_REGION; secrets AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY. Merges `dvc push`, PRs `dvc pull`.
  [ ] PR report plots: a public repository's PR comment shows them from CML's public asset host; a private one
      links to the run instead, unless the variable PR_REPORT_PUBLIC_IMAGES is true.
  [ ] Container registry: GHCR works with the built-in GITHUB_TOKEN; for another one set the variable
      IMAGE_REGISTRY and the secrets REGISTRY_USERNAME + REGISTRY_PASSWORD.
  [ ] Deployment: variable DEPLOY_TARGET = kubernetes (secret KUBE_CONFIG, variable K8S_NAMESPACE; manifests in
      k8s/) or bentocloud (secret BENTOCLOUD_API_TOKEN, variables BENTOCLOUD_ENDPOINT, BENTOCLOUD_DEPLOYMENT).
      Add required reviewers to the `production` environment to approve each deploy.
  [ ] GitOps desired state: each release pins the image digest + model version in k8s/overlays/production on
      the branch in variable GITOPS_BRANCH (default deploy/production) of GITOPS_REMOTE (default: this
      repository); point an Argo CD Application (k8s/argocd/application.yaml) or Flux at it. With Argo CD, set
      the variable ARGOCD_APP (and ARGOCD_NAMESPACE, default argocd; GITOPS_WAIT_TIMEOUT, default 600 s) and the
      secret KUBE_CONFIG: `champion` then moves only once the application is synced and Healthy.
  [ ] Continuous training (docs/continuous-training.md): variable PREDICTION_LOG_URL (where the service's
      prediction logs are shipped, e.g. s3://bucket/prediction-logs/*.jsonl) for the drift monitor (until then
      it skips with a notice); variable PREDICTION_LABELS_URL (ground-truth labels, e.g. the /feedback log) for
      the live-performance check and the shadow challenger's comparison; a GitHub App (below) or a fine-grained
      PAT in the secret RETRAIN_TOKEN so retraining PRs get their normal checks. Enable Actions in a fork for
      the schedules to run.
  [ ] Settings > Actions > General: keep "Read repository contents" as the default token permission (the
      workflows ask for what they need job by job); fork pull requests get the comment from pr-comment.yml.

Repository settings to change (off or missing on a new repository):
  [ ] Settings > Actions > General > Workflow permissions: tick "Allow GitHub Actions to create and approve
      pull requests" (an organisation may have to allow it first). Without it, retraining pushes
      retrain/candidate and opens an issue linking its compare view instead of the pull request.
  [ ] Retraining PRs with their own checks: create a GitHub App with contents, pull requests and issues
      write, install it on this repository, then set the variable RETRAIN_APP_ID (its client ID) and the
      secret RETRAIN_APP_PRIVATE_KEY. A token is minted per run; never store an installation token as a
      secret (it expires after one hour).
  [ ] Settings > Environments: create `release` and `production`, limited to the default branch, with
      required reviewers on `production` (on a private repository, deployment-branch rules need a paid plan
      and required reviewers GitHub Enterprise; environments a workflow names are otherwise created
      unprotected on first use).
  [ ] Settings > Secrets and variables > Actions: the variables and secrets of the parts above that you use.
"""


def slugify(name: str) -> str:
    """``"My_Org/Churn Model.git"`` -> ``"churn-model"``: lowercase letters, digits and dashes."""
    name = name.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "ml-project"


def project_name(root: Path) -> str:
    """From the git remote `origin` (owner/repo -> repo), else the folder name."""
    return slugify(origin_url(root) or root.resolve().name)


def set_yaml_value(text: str, dotted: str, value: object) -> str:
    """Set ``a.b.c`` in block-style YAML text, keeping comments and layout; the key must exist."""
    wanted = dotted.split(".")
    stack: list[tuple[int, str]] = []
    lines = text.splitlines(keepends=True)
    rendered = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_][\w-]*):(.*)$", line.rstrip("\n"))
        if not m or line.lstrip().startswith("#"):
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if [k for _, k in stack] == wanted:
            head = f"{m.group(1)}{key}: {rendered}"
            cm = re.search(r"\s+(#.*)$", rest)
            if cm:  # keep the comment, in its old column when the new value fits
                column = len(line) - len(line.lstrip()) + len(key) + 1 + cm.start(1)
                head = f"{head.ljust(column - 1)} {cm.group(1)}"
            lines[i] = head + "\n"
            return "".join(lines)
    raise ConfigError(f"params.yaml: key {dotted} not found")


TEMPLATE_NAME = "mlops-template"
# Files that carry the project's name outside params.yaml (Kubernetes objects, the Argo CD Application,
# bento labels). The production overlay's annotation keys (``mlops-template.dev/...``) are the release
# tooling's own and stay as they are.
NAMED_FILES = ["k8s/*.yaml", "k8s/argocd/*.yaml", "bentofile.yaml"]


def rename_manifests(root: Path, name: str) -> list[str]:
    """Replace the template's name in the Kubernetes manifests and the bentofile."""
    changed = []
    for pattern in NAMED_FILES:
        for path in sorted(root.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            new = re.sub(rf"\b{re.escape(TEMPLATE_NAME)}\b(?!-)", name, text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed.append(str(path.relative_to(root)))
    return changed


def init_project(
    root: Path,
    name: str | None = None,
    settings: dict[str, object] | None = None,
    reset: bool = True,
) -> tuple[str, list[str]]:
    """Rename the project, apply ``settings`` (dotted key -> value) to params.yaml, reset demo lineage.

    Returns the project name and the list of files removed.
    """
    name = slugify(name) if name else project_name(root)
    params_path = root / "params.yaml"
    text = params_path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    changes: dict[str, object] = {"mlflow.experiment": name, "mlflow.registered_model_name": f"{name}-model"}
    if "serving" in raw:
        changes["serving.name"] = name
        changes["serving.model_name"] = f"{name}-model"
    changes.update(settings or {})
    for dotted, new_value in changes.items():
        text = set_yaml_value(text, dotted, new_value)
    parse_params(yaml.safe_load(text), origin=str(params_path))  # refuse to write an invalid file
    params_path.write_text(text, encoding="utf-8")
    rename_manifests(root, name)

    removed: list[str] = []
    if reset:
        for rel in DEMO_LINEAGE:
            path = root / rel
            if path.exists():
                path.unlink()
                removed.append(str(rel))
        if (settings or {}).get("data.source", DEMO_SOURCE) != DEMO_SOURCE:
            for rel_test in DEMO_TESTS:
                if (root / rel_test).exists():
                    (root / rel_test).unlink()
                    removed.append(rel_test)
        for rel in DEMO_DIRS:
            for path in sorted((root / rel).glob("*")):
                if path.is_file():
                    path.unlink()
                    removed.append(str(path.relative_to(root)))
    return name, removed


# copier (copier.yml) records the template version a project has taken here; `make template-update` reads it.
ANSWERS_FILE = Path(".copier-answers.yml")
ANSWERS_HEADER = (
    "# Written by copier (copier copy / make template-update): the template version this project has taken\n"
    "# (_commit), where the template lives (_src_path) and the answers given to make init. Do not edit.\n"
)


def adopt_template(root: Path, template: str, version: str) -> Path:
    """Write the copier answers file of a project made without copier ("Use this template").

    ``version`` is the template's tag the project was made from; the answers are read back from params.yaml
    (what `make init` wrote there). `make template-update` then takes the later versions.
    """
    path = root / ANSWERS_FILE
    if path.exists():
        raise ConfigError(f"{ANSWERS_FILE} exists already: this project takes updates with `make template-update`")
    if not template.strip() or not version.strip():
        raise ConfigError(
            "make template-adopt needs TEMPLATE=<the template's git URL> and VERSION=<the template tag this "
            "project was made from> (docs/fork.md)"
        )
    params = parse_params(yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")), origin="params.yaml")
    answers = {
        "_commit": version.strip(),
        "_src_path": template.strip(),
        "data_source": params.data.source,
        "id_column": params.data.id_column,
        "project_name": params.mlflow.experiment,
        "target": params.data.target,
        "task": params.task,
    }
    path.write_text(ANSWERS_HEADER + yaml.safe_dump(answers, sort_keys=False), encoding="utf-8")
    return path
