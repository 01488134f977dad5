"""The template's machinery stays out of the product: nothing outside .ci/, tests/ and benchmarks/ names the
test harness's folder (docs link to .ci/README.md), and src/ uses no private BentoML module; skl2onnx's
internals are touched only by the version-gated ops/serving/_skl2onnx_compat.py."""

from __future__ import annotations

import re

from tests.support import REPO_ROOT, tracked_files

MACHINERY = (".ci/", "tests/", "benchmarks/")


def test_nothing_outside_the_machinery_names_the_harness_folder() -> None:
    offenders = []
    for rel in tracked_files():
        if rel.startswith(MACHINERY):
            continue
        text = (REPO_ROOT / rel).read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if ".ci/emulation" in line]
    assert not offenders, f"name the test harness as .ci/README.md instead: {offenders}"


def test_src_imports_no_private_bentoml_module() -> None:
    pattern = re.compile(r"_internal|_bentoml_impl|_bentoml_sdk")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{n}"
        for path in sorted((REPO_ROOT / "src").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_only_the_compat_module_touches_skl2onnx_internals() -> None:
    pattern = re.compile(r"skl2onnx\.[\w.]*\._\w")
    users = sorted(
        path.name for path in (REPO_ROOT / "src").rglob("*.py") if pattern.search(path.read_text(encoding="utf-8"))
    )
    assert users == ["_skl2onnx_compat.py"]
