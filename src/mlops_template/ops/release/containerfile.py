"""Build context + Dockerfile for a bento on another base image (a mirror, or a local image when no registry
can be pulled from), with BentoML's public API only.

``bentoml containerize`` bakes the bento's base image (python:3.11-slim by default) and its distro package
steps (apt-get) into the Dockerfile. This writes the same build context BentoML would (``bentoml.export_bento``
as a folder: the bento and its models) and the Dockerfile ``bentoml containerize`` would use
(``bentoml.container.get_containerfile``), with ``FROM`` pointing at the given base image and the distro package
commands left out (that base image must already hold Python 3.11, CA certificates and ``uv``). Used by
scripts/container/build.sh when ``BASE_IMAGE`` is set; otherwise it runs plain ``bentoml containerize``.

    mlops containerfile BENTO_TAG BASE_IMAGE OUT_DIR   # prints OUT_DIR/Dockerfile
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

DISTRO_COMMAND_MARKERS = ("apt-get", "apk ", "yum ", "microdnf")
# BentoML's template names its first stage "base-container" (``# Block SETUP_BENTO_BASE_IMAGE``)
FROM_LINE = re.compile(r"^FROM\s+\S+(\s+AS\s+base-container)\s*$", re.IGNORECASE | re.MULTILINE)


def keep_command(command: str) -> bool:
    """True for the bento's own image commands; False for distro package installs (the base image has none)."""
    return not any(marker in command for marker in DISTRO_COMMAND_MARKERS)


def rebase(dockerfile: str, base_image: str) -> tuple[str, list[str]]:
    """The Dockerfile on ``base_image`` without its distro package ``RUN`` lines; also returns those lines.

    Raises SystemExit naming what changed when BentoML's generated Dockerfile no longer has the one
    ``FROM ... AS base-container`` line this rewrites (a BentoML upgrade changed its template)."""
    found = FROM_LINE.findall(dockerfile)
    if len(found) != 1:
        raise SystemExit(
            f"containerfile: expected one 'FROM <image> AS base-container' line in BentoML's Dockerfile, found "
            f"{len(found)}; BentoML changed its template: build with docker (bentoml containerize) instead"
        )
    rebased = FROM_LINE.sub(lambda m: f"FROM {base_image}{m.group(1)}", dockerfile)
    lines, dropped = [], []
    for line in rebased.splitlines():
        if line.startswith("RUN ") and not keep_command(line):
            dropped.append(line.removeprefix("RUN "))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", dropped


def write_context(bento_tag: str, base_image: str, out: Path) -> Path:
    import bentoml

    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bentoml.export_bento(bento_tag, str(out), "folder")  # the bento with its models/, as containerize copies
    generated = out / "env/docker/Dockerfile.generated"
    bentoml.container.get_containerfile(bento_tag, output_path=str(generated), enable_buildkit=False)
    text, dropped = rebase(generated.read_text(encoding="utf-8"), base_image)
    generated.unlink()
    if dropped:
        print(f"containerfile: base image {base_image}: skipping distro commands {dropped}", file=sys.stderr)
    dockerfile = out / "env/docker/Dockerfile"
    dockerfile.write_text(text, encoding="utf-8")
    return dockerfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops containerfile BENTO_TAG BASE_IMAGE OUT_DIR`` (scripts/container/build.sh; mlops_template/cli.py)."""
    parser.add_argument("bento_tag", help="the built bento (build/bento/tag.txt)")
    parser.add_argument("base_image", help="holds Python 3.11, CA certificates and uv")
    parser.add_argument("out_dir", type=Path, help="the build context to write (replaced)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(write_context(args.bento_tag, args.base_image, args.out_dir))
    return 0
