"""Build context + Dockerfile for a bento on a machine without registry access (podman + a local base image).

``bentoml containerize`` bakes the bento's base image (python:3.11-slim by default) and its apt-get steps into
the Dockerfile; neither can be fetched offline. This writes the same context BentoML would (the bento, its
models from the model store) and renders BentoML's own template with the local base image instead, without
the distro package commands. Used by scripts/container/build.sh on the podman path only; on GitHub's runners
the workflow uses plain ``bentoml containerize``.

    python -m mlops_template.release.containerfile BENTO_TAG BASE_IMAGE OUT_DIR   # prints OUT_DIR/Dockerfile
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DISTRO_COMMAND_MARKERS = ("apt-get", "apk ", "yum ", "microdnf")


def keep_command(command: str) -> bool:
    """True for the bento's own image commands; False for distro package installs (the base image has none)."""
    return not any(marker in command for marker in DISTRO_COMMAND_MARKERS)


def write_context(bento_tag: str, base_image: str, out: Path) -> Path:
    import attr
    import bentoml
    from _bentoml_impl.docker import generate_dockerfile
    from _bentoml_sdk.models import BentoModel
    from bentoml._internal.bento.bento import BaseBentoInfo, BentoInfoV2
    from bentoml._internal.container import split_envs_by_stage

    bento = bentoml.get(bento_tag)
    with open(bento.path_of("bento.yaml"), "rb") as handle:
        info = BaseBentoInfo.from_yaml_file(handle)
    if not isinstance(info, BentoInfoV2):
        raise SystemExit(f"{bento_tag}: an old-style bento; set docker.base_image in bentofile.yaml instead")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(bento.path, out)
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    for model in info.all_models:
        BentoModel.from_info(model).resolve(models)
    dropped = [c for c in info.image.commands if not keep_command(c)]
    if dropped:
        print(f"containerfile: base image {base_image}: skipping distro commands {dropped}", file=sys.stderr)
    image = attr.evolve(info.image, base_image=base_image, commands=[c for c in info.image.commands if keep_command(c)])
    runtime_envs, build_envs = split_envs_by_stage(info.envs)
    if build_envs:
        raise SystemExit("stage='build' environment variables need BuildKit; use docker for this bento")
    dockerfile = out / "env/docker/Dockerfile"
    dockerfile.write_text(
        generate_dockerfile(image, out, enable_buildkit=False, add_header=True, envs=runtime_envs, secret_envs=[]),
        encoding="utf-8",
    )
    return dockerfile


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(write_context(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
