"""Release commands behind the Make targets (``mlops release <command>``; ``mlops release --help`` lists them).

From materializing the outputs the committed dvc.lock pins, through the model registry (register, promote, tag the
pushed image on the version), to the deploy (Kubernetes, BentoCloud or a GitOps commit) and the rollback.
:data:`COMMANDS` at the end names each with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_template.core import paths
from mlops_template.core.config import ConfigError, load_params
from mlops_template.core.handoff import HandOffError
from mlops_template.core.lineage import DvcLock, LockError, file_md5, git_sha
from mlops_template.core.model_card import load_card
from mlops_template.ops.github import set_output
from mlops_template.ops.release import argocd, gitops, registry
from mlops_template.ops.release import deploy as deploy_mod
from mlops_template.ops.release.materialize import materialize
from mlops_template.ops.release.plan import ReleaseError, image_refs, image_repository, model_version_tag
from mlops_template.ops.serving.record import ReleaseRecord, RollbackRecord

if TYPE_CHECKING:
    from mlops_template.ops.monitoring.shadow import ShadowComparison

RELEASE_FILE = paths.RELEASE_RECORD
REFUSED = 3  # promote-challenger: the live comparison does not allow it (1 = an error)


def _mlflow_configured() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI", "").strip())


def release_image(explicit: str | None = None, *, required: bool = True) -> str:
    """The image to deploy: --image, else $IMAGE, else the one `make image-push` recorded in the release record.

    The release workflow hands it from the build job to the deploy job in the `release` artifact (the record,
    .cache/release/release.json), never as a job output: GitHub drops a job output that contains any secret's
    value, e.g. ``docker.io/<user>/app@sha256:...`` when the registry user name is also a secret. The record is
    started afresh by `make release-materialize`, so an image pushed by an earlier release is never picked up.
    """
    image = (explicit or os.environ.get("IMAGE", "")).strip() or (ReleaseRecord.load(RELEASE_FILE).image or "")
    if not image and required:
        raise ReleaseError(
            f"no image to deploy: set IMAGE=registry/repo@sha256:..., or run `make image-push` (it records the "
            f"pushed image in {RELEASE_FILE}; the release workflow's deploy job downloads that file in the "
            "`release` artifact)"
        )
    return image.strip()


def _static_lineage() -> dict[str, object]:
    """What the release record knows before the registry: commit, model and output hashes."""
    return {
        "git_sha": git_sha(),
        "model_md5": file_md5(paths.MODEL) if paths.MODEL.exists() else None,
        "data_md5": load_card().data.data_md5 if paths.MODEL_METADATA.exists() else None,
        "dvc_outs": (DvcLock.read("dvc.lock") or DvcLock()).outs,
    }


def _run(cmd: list[str]) -> None:
    """Run a DVC command with this environment's dvc, streaming its output; fail the release when it fails."""
    import shutil
    import subprocess

    exe = shutil.which(cmd[0]) or str(Path(sys.executable).parent / cmd[0])
    result = subprocess.run([exe, *cmd[1:]], check=False)
    if result.returncode != 0:
        raise ReleaseError(f"`{' '.join(cmd)}` exited {result.returncode} (see its output above)")


def cmd_materialize(_: argparse.Namespace) -> int:
    url = os.environ.get("DVC_REMOTE_URL", "").strip()
    if url:
        _run(["dvc", "remote", "add", "--local", "--force", "release", url])
        endpoint = os.environ.get("DVC_REMOTE_ENDPOINT_URL", "").strip()
        if endpoint:
            _run(["dvc", "remote", "modify", "--local", "release", "endpointurl", endpoint])
    done = materialize(Path("."), remote_configured=bool(url), run=_run)
    record = ReleaseRecord(
        dvc_outs=done.pins,
        prediction_equivalent=done.prediction_equivalent,
        outputs=done.outputs,
        model_verdict=done.model_verdict,
        materialized=done.materialized,
        equivalence=done.equivalence,
        git_sha=git_sha(),
    )
    record.save(RELEASE_FILE)  # the release's first step: a fresh record
    print(f"materialize: release record {RELEASE_FILE}: model {done.model_verdict}, {done.materialized}")
    return 0


def cmd_register(_: argparse.Namespace) -> int:
    RELEASE_FILE.parent.mkdir(parents=True, exist_ok=True)
    if not _mlflow_configured():
        print("register: skipped (MLFLOW_TRACKING_URI is not set); images are tagged with the git SHA only")
        ReleaseRecord.merge(RELEASE_FILE, **_static_lineage(), version=None)
        set_output(model_version="")
        return 0
    release = registry.register(load_params().mlflow)
    ReleaseRecord.merge(RELEASE_FILE, **(_static_lineage() | release.to_dict()))
    set_output(model_version=release.version)
    print(f"register: {release.name} version {release.version} (run {release.run_id}) at {release.tracking_uri}")
    return 0


# A model version given by a person or a workflow input: digits only (no sign, no spaces, no Unicode digits).
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def checked_version(value: str, source: str, previous: bool = False) -> str:
    """``value`` as a model version, or a ReleaseError naming ``source`` (the input it came from)."""
    text = value.strip()
    if not _VERSION.fullmatch(text):
        raise ReleaseError(
            f"{source}={value!r} is not a model version: give a positive integer (see `make model-versions`)"
            + (" or `previous` (the champion before the current one)" if previous else "")
        )
    return text


def env_version() -> str | None:
    """``$VERSION`` (a workflow step's env, never Make's text expansion) as a checked model version; None when unset."""
    value = os.environ.get("VERSION", "")
    return checked_version(value, "VERSION") if value.strip() else None


def rollback_target(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """The version to roll back to from --version, $VERSION or $ROLLBACK_TO (None: the previous champion)."""
    for source, value in (
        ("--version", args.version),
        ("VERSION", env.get("VERSION")),
        ("ROLLBACK_TO", env.get("ROLLBACK_TO")),
    ):
        if value is not None and value.strip():
            return None if value.strip() == "previous" else checked_version(value, source, previous=True)
    return None


def _version(args: argparse.Namespace) -> str:
    if args.version:
        return checked_version(str(args.version), "--version")
    if from_env := env_version():
        return from_env
    version = (ReleaseRecord.load(RELEASE_FILE).version or "").strip()
    if not version:
        raise ReleaseError(
            "no model version: pass VERSION=N (see `make model-versions`) or run `make release-register` first"
        )
    model_version_tag(version)  # validates
    return version


def cmd_promote(args: argparse.Namespace) -> int:
    if not args.version:
        env_version()  # validated even when promote is skipped
    if not _mlflow_configured():
        print("promote: skipped (MLFLOW_TRACKING_URI is not set)")
        return 0
    params = load_params().mlflow
    version = _version(args)
    if args.alias == registry.CHALLENGER and registry.champion(params) == version:
        raise ReleaseError(
            f"version {version} is the champion already: a challenger is another model (train one, then "
            "`make register-challenger`)"
        )
    previous, _ = registry.promote(params, version, args.alias)
    ReleaseRecord.merge(RELEASE_FILE, previous_champion=previous)
    print(f"promote: {params.registered_model_name} @{args.alias}: {previous or 'unset'} -> {version}")
    if previous and previous != version:
        print(f"promote: previous champion: version {previous} (alias {registry.PREVIOUS}); `make rollback` undoes it")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    wanted = rollback_target(args, os.environ)  # validated before anything else runs
    if not _mlflow_configured():
        raise ReleaseError("rollback needs the model registry: set MLFLOW_TRACKING_URI")
    params = load_params().mlflow
    if wanted is not None:
        version = wanted
    else:
        found = registry.champion(params, registry.PREVIOUS)
        if found is None:
            raise ReleaseError(f"no {registry.PREVIOUS} recorded yet: pass VERSION=N (see `make model-versions`)")
        version = found
    previous, tags = registry.promote(params, version, registry.CHAMPION)
    repo = args.image_repo or os.environ.get("IMAGE_REPO", "")
    image = tags.get("image") or (f"{repo}:{model_version_tag(version)}" if repo else "")
    print(f"rollback: {params.registered_model_name} @champion: {previous or 'unset'} -> {version}")
    print(f"image={image}")
    print(f"bento={tags.get('bento', '')}")
    if args.output:  # JSON, read back by `deploy` / `gitops-publish --rollback-record`: never sourced by a shell
        RollbackRecord(image=image, bento=tags.get("bento", ""), version=version).write(args.output)
    return 0


def shadow_of(path: Path) -> ShadowComparison:
    """The monitor's ``shadow`` block of summary.json, typed; a ReleaseError saying what to run when it is absent."""
    from pydantic import ValidationError

    from mlops_template.ops.monitoring.shadow import ShadowComparison

    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"{path}: no monitor summary: run `make monitor LOG=... LABELS=...` first") from None
    except (OSError, ValueError) as err:
        raise ReleaseError(f"{path}: cannot read the monitor summary: {err}") from None
    block = summary.get("shadow") if isinstance(summary, dict) else None
    if block is None:
        raise ReleaseError(
            f"{path}: no `shadow` block: the prediction log holds no challenger lines. Register a challenger "
            "(`make register-challenger`), serve it in shadow, then `make monitor LOG=... LABELS=...`"
        )
    try:
        return ShadowComparison.model_validate(block)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReleaseError(
            f"{path}: shadow.{where}: {first['msg']} (re-run `make monitor` with this version)"
        ) from None


def refusal(block: ShadowComparison) -> str:
    """Why the challenger is not promoted: its verdict, the metric, the interval, the margin, the labelled rows."""
    rule = (
        f"Promotion needs the challenger not worse than the champion by more than the margin: the worse end of the "
        f"{block.confidence or 0.95:.0%} interval of the primary metric within the margin, on at least "
        f"{block.min_labels} labelled pairs"
    )
    return f"refused ({block.verdict}): {block.message}. {rule}. The aliases are unchanged."


def cmd_promote_challenger(args: argparse.Namespace) -> int:
    block = shadow_of(Path(args.summary))
    if not block.promote:
        print(f"promote-challenger: {refusal(block)}", file=sys.stderr)
        return REFUSED
    if not _mlflow_configured():
        raise ReleaseError("promote-challenger needs the model registry: set MLFLOW_TRACKING_URI")
    params = load_params().mlflow
    previous, version, tags = registry.promote_challenger(params)
    print(f"promote-challenger: {block.message}")
    print(
        f"promote-challenger: {params.registered_model_name} @{registry.CHAMPION}: {previous or 'unset'} -> {version} "
        f"(served as {block.challenger_version!r}); @{registry.PREVIOUS}: {previous or 'unset'}; "
        f"@{registry.CHALLENGER} removed. `make rollback` undoes it"
    )
    print(next_steps(version, tags))
    return 0


def next_steps(version: str, tags: dict[str, str]) -> str:
    """What promote-challenger did not do: only the registry's aliases moved; the service changes with a release."""
    model = ", ".join(f"{k} {tags[k]}" for k in ("git_sha", "model_md5") if tags.get(k)) or "its model file"
    return (
        f"promote-challenger: only the MLflow aliases moved: the service still answers with the old champion until "
        f"a release deploys version {version}. Next: merge the change whose "
        f"dvc.lock pins this model ({model}) into main; release.yml then builds, smoke-tests and deploys its image "
        f"and keeps @{registry.CHAMPION} on version {version} (the same model file is registered once). A release "
        f"of a different model moves @{registry.CHAMPION} to that one instead (docs/continuous-training.md, "
        f'"Promoting a challenger")'
    )


def _from_rollback_record(args: argparse.Namespace) -> None:
    """Fill --image/--bento/--version from the JSON `rollback --output` wrote (values from MLflow's tags).
    Without one, the image is --image, $IMAGE or the release record's (:func:`release_image`)."""
    if not args.rollback_record:
        return
    path = Path(args.rollback_record)
    record = RollbackRecord.read(path)  # HandOffError naming the file and the field
    args.image = record.image
    if not args.image:
        raise ReleaseError(
            f"no image recorded for model version {record.version!r}: tag it with `make release-promote "
            "IMAGE=...` or pass IMAGE_REPO so the model-<N> tag is used"
        )
    args.bento = record.bento
    if "version" in vars(args):
        args.version = checked_version(record.version, f"{path}: version")


def cmd_versions(_: argparse.Namespace) -> int:
    if not _mlflow_configured():
        raise ReleaseError("listing versions needs the model registry: set MLFLOW_TRACKING_URI")
    rows = registry.list_versions(load_params().mlflow)
    print(f"{'version':>8}  {'aliases':<20} {'git_sha':<12} image")
    for row in rows:
        print(f"{row['version']:>8}  {row['aliases']:<20} {row['git_sha'][:12]:<12} {row['image']}")
    return 0


def cmd_image_refs(args: argparse.Namespace) -> int:
    version = args.version if args.version is not None else ReleaseRecord.load(RELEASE_FILE).version
    repo = image_repository(args.registry, args.repository)
    for ref in image_refs(repo, args.sha, version or None):
        print(ref)
    return 0


def cmd_tag_version(args: argparse.Namespace) -> int:
    if not args.version:
        args.version = env_version()  # the version `promote` moved the alias to
    version = str(args.version or ReleaseRecord.load(RELEASE_FILE).version or "")
    image = release_image(args.image, required=False)
    if not _mlflow_configured() or not version:
        print("tag-version: skipped (no registered model version)")
        return 0
    if not image:
        print("tag-version: skipped (no pushed image recorded: IMAGE unset and no make image-push)")
        return 0
    tags = {"image": image}
    if args.bento:
        tags["bento"] = args.bento
    registry.set_version_tags(load_params().mlflow, version, tags)
    print(f"tag-version: version {version}: {tags}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    _from_rollback_record(args)
    archive = Path(args.bento_archive) if args.bento_archive else None
    deploy_mod.deploy(release_image(args.image), args.bento, os.environ, dry_run=args.dry_run, bento_archive=archive)
    return 0


def cmd_gitops_publish(args: argparse.Namespace) -> int:
    _from_rollback_record(args)
    image = release_image(args.image)
    gitops.split_digest_ref(image)  # refused before anything else: production pins digests
    record = ReleaseRecord.load(RELEASE_FILE)
    if args.version is None:
        args.version = env_version()
    version = args.version if args.version is not None else record.version
    remote = args.remote or os.environ.get("GITOPS_REMOTE", "").strip()
    if not remote:
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        repo = os.environ.get("GITHUB_REPOSITORY", "")
        if not repo:
            raise ReleaseError("no deploy remote: set GITOPS_REMOTE (a git URL or path) or GITHUB_REPOSITORY")
        remote = f"{server}/{repo}.git"
    sha = os.environ.get("GITHUB_SHA") or git_sha()
    commit = gitops.publish(
        Path("."), image, version, sha, remote, args.branch, token=os.environ.get("GITOPS_TOKEN") or None
    )
    _, digest = gitops.split_digest_ref(image)
    ReleaseRecord.merge(RELEASE_FILE, image=image, image_digest=digest, deploy_commit=commit)
    if commit is None:
        print(f"gitops: {args.branch} already pins {image} (nothing to commit)")
    else:
        print(f"gitops: {args.branch} @ {commit[:12]}: {gitops.OVERLAY_DIR}/kustomization.yaml pins {image}")
    set_output(deploy_commit=commit or "")
    return 0


def cmd_gitops_wait(_: argparse.Namespace) -> int:
    """Before `champion` moves: wait for the Argo CD application to sync the deploy commit and be Healthy."""
    argocd.gitops_wait(os.environ, ReleaseRecord.load(RELEASE_FILE).deploy_commit)
    return 0


def cmd_render_k8s(args: argparse.Namespace) -> int:
    for path in deploy_mod.render_dir(args.image, Path(args.out)):
        print(path)
    return 0


# ------------------------------------------------------------------------ the commands' options (mlops release)

IMAGE_HELP = "default: $IMAGE, else the image `make image-push` recorded in the release record"


def _promote_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", help="model version (default: the one `register` recorded)")
    p.add_argument("--alias", default=registry.CHAMPION)


def _rollback_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", help="model version (default: the previous champion)")
    p.add_argument("--image-repo", help="e.g. ghcr.io/owner/repo (default: $IMAGE_REPO)")
    p.add_argument("--output", help="write {image, bento, version} as JSON to this file (read by --rollback-record)")


def _promote_challenger_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--summary", default=str(paths.MONITOR_DIR / "summary.json"), help="the monitor's summary.json")


def _image_refs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY", "ghcr.io"))
    p.add_argument("--repository", default=os.environ.get("GITHUB_REPOSITORY", ""))
    p.add_argument("--sha", default=os.environ.get("GITHUB_SHA", ""))
    p.add_argument("--version", help="model version (default: the one `register` recorded)")


def _tag_version_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", help=IMAGE_HELP)
    p.add_argument("--bento", default="")
    p.add_argument("--version")


def _deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", help=IMAGE_HELP)
    p.add_argument("--bento", default="")
    p.add_argument("--rollback-record", help="take image and bento from this `rollback --output` JSON")
    p.add_argument("--bento-archive", help="a `bentoml export` file to import first (BentoCloud)")
    p.add_argument("--dry-run", action="store_true")


def _gitops_publish_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", help=f"REPO@sha256:... (production pins digests); {IMAGE_HELP}")
    p.add_argument("--version", help="model version (default: $VERSION, else the one `register` recorded)")
    p.add_argument("--rollback-record", help="take image and version from this `rollback --output` JSON")
    p.add_argument("--branch", default=os.environ.get("GITOPS_BRANCH") or gitops.DEFAULT_BRANCH)
    p.add_argument("--remote", help="git remote URL or path (default: $GITOPS_REMOTE, else this GitHub repository)")


def _render_k8s_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True)


Options = Callable[[argparse.ArgumentParser], None] | None
# name -> (the command, its options, the one line `mlops release --help` shows)
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], Options, str]] = {
    "materialize": (cmd_materialize, None, "the outputs the committed dvc.lock pins (dvc pull; on a miss dvc repro)"),
    "register": (cmd_register, None, "register the trained model in MLflow (skipped without MLFLOW_TRACKING_URI)"),
    "promote": (cmd_promote, _promote_options, "move the `champion` alias (or --alias) to the registered version"),
    "rollback": (cmd_rollback, _rollback_options, "point `champion` at --version N (default: the previous one)"),
    "promote-challenger": (
        cmd_promote_challenger,
        _promote_challenger_options,
        "`challenger` -> `champion` if the monitor's shadow comparison finds it not worse (3: refused)",
    ),
    "versions": (cmd_versions, None, "list the registered versions with their aliases and images"),
    "image-refs": (cmd_image_refs, _image_refs_options, "the references an image is pushed under (SHA, model-<N>)"),
    "tag-version": (cmd_tag_version, _tag_version_options, "record the pushed image (and bento) on the model version"),
    "deploy": (cmd_deploy, _deploy_options, "deploy the image (Kubernetes) / the bento (BentoCloud), or skip"),
    "gitops-publish": (
        cmd_gitops_publish,
        _gitops_publish_options,
        "commit the image digest + model version to k8s/overlays/production on the deploy branch",
    ),
    "gitops-wait": (cmd_gitops_wait, None, "wait for Argo CD (ARGOCD_APP) to sync that commit and be Healthy, or skip"),
    "render-k8s": (cmd_render_k8s, _render_k8s_options, "write k8s/*.yaml with the image filled in"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops release <command>`` (the release make targets; mlops_template/cli.py)."""
    sub = parser.add_subparsers(dest="release_command", required=True, metavar="<command>")
    for name, (fn, options, line) in COMMANDS.items():
        p = sub.add_parser(name, help=line, description=line)
        if options is not None:
            options(p)
        p.set_defaults(fn=fn)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The chosen release command; a bad input or a refused step is one line (``ERROR: ...``), exit 1."""
    try:
        return int(args.fn(args))
    except (ConfigError, ReleaseError, HandOffError, LockError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
