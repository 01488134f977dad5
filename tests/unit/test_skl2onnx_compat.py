"""The skl2onnx patch (ops/serving/_skl2onnx_compat.py) is version-gated: these fail loudly when an upgrade of skl2onnx
leaves the tested versions or moves the internals it patches, and check that outside them nothing is patched."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mlops_template.ops.serving import _skl2onnx_compat as compat
from mlops_template.ops.serving.onnx_path import convert_estimator


def test_installed_skl2onnx_is_a_version_the_patch_was_written_for() -> None:
    assert compat.supported(), (
        f"skl2onnx {compat.installed()} is not one of {compat.TESTED_TEXT}: re-check ops/serving/_skl2onnx_compat.py "
        "against it (tests/unit/test_onnx_path.py), then add its version to TESTED"
    )


def test_the_internals_the_patch_replaces_still_exist() -> None:
    import skl2onnx.common._container as container
    import skl2onnx.common._registration as registration
    from skl2onnx.operator_converters import random_forest

    assert callable(container.make_node)
    converters = {registered._fct for registered in registration._converter_pool.values()}
    assert random_forest.convert_sklearn_random_forest_classifier in converters
    assert random_forest.convert_sklearn_random_forest_regressor_converter in converters


def test_outside_the_tested_versions_nothing_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    import skl2onnx.common._container as container

    monkeypatch.setattr(compat, "installed", lambda: "9.0.0")
    original = container.make_node
    with compat.attribute_fix(double_trees=False):
        assert container.make_node is original
    with pytest.raises(compat.Unsupported, match=r"installed: 9\.0\.0"), compat.attribute_fix(double_trees=True):
        pass
    # the ONNX path then refuses the double-tree variant with that note and goes on to the next one
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 3)), rng.integers(0, 2, 80)
    model, note = convert_estimator(HistGradientBoostingClassifier(max_iter=5).fit(x, y), 3)
    assert "float64-trees: Unsupported" in note
    assert model is None or model.variant == "float32"
