"""The one place that patches skl2onnx internals (private modules), gated on the versions it was written for.

skl2onnx 1.20 has no public option for what the ONNX fast path needs (ops/serving/onnx_path.py):
- its node builder passes numpy bools/uint32 in integer-list attributes (HistGradientBoosting's trees), which
  onnx >= 1.17 rejects ("Expected an int, got a boolean");
- its forest/HGB converters are registered for ml opset 1 (float32 thresholds); double trees need them called
  for opset 3 and their arrays written as double tensors (``*_as_tensor``).

Outside :data:`TESTED` nothing is patched: plain conversions run as the library does them, the double-tree
variant is refused with a clear note, and ``make bento`` keeps the first variant that passes its agreement
check, else the plain scikit-learn path. tests/unit/test_onnx_path.py fails loudly when the installed skl2onnx
leaves :data:`TESTED` or the patched names move, so an upgrade re-checks this module.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

TESTED = ((1, 20),)  # (major, minor) versions of skl2onnx this patch was written and tested against
TESTED_TEXT = ", ".join(f"{a}.{b}.x" for a, b in TESTED)
TREE_OPS = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")
# the tree attributes that ai.onnx.ml opset 3 also accepts as a (double) tensor, "<name>_as_tensor"
_TENSOR_ATTRIBUTES = ("nodes_values", "nodes_hitrates", "base_values", "target_weights", "class_weights")


class Unsupported(RuntimeError):
    """The installed skl2onnx is not one the patch was written for."""


def installed() -> str:
    import skl2onnx

    return str(skl2onnx.__version__)


def supported(version: str | None = None) -> bool:
    parts = (version or installed()).split(".")
    try:
        return (int(parts[0]), int(parts[1])) in TESTED
    except (IndexError, ValueError):
        return False


@contextlib.contextmanager
def attribute_fix(double_trees: bool = False) -> Iterator[None]:
    """Patch skl2onnx 1.20's node builder while converting (a no-op outside :data:`TESTED`; ``double_trees``
    then raises :class:`Unsupported`, so :func:`onnx_path.convert_estimator` tries its next variant).

    - It passes numpy bools/uint32 in integer-list attributes (HistGradientBoosting's trees), which
      onnx >= 1.17 rejects ("Expected an int, got a boolean"): cast them to int.
    - ``double_trees``: the forest/HGB converters are registered for ml opset 1, where thresholds and leaf
      values are float32 lists. Call them for opset 3 (they then keep float64 arrays for double input) and
      write those arrays as double tensors (``*_as_tensor``); :func:`_finish_double_trees` then fixes the
      output types.
    """
    if not supported():
        if double_trees:
            raise Unsupported(f"float64 trees need the patch of skl2onnx {TESTED_TEXT}; installed: {installed()}")
        yield
        return
    import skl2onnx.common._container as container
    import skl2onnx.common._registration as registration
    from onnx import numpy_helper
    from skl2onnx.operator_converters import random_forest

    original = container.make_node
    tree_converters = (
        random_forest.convert_sklearn_random_forest_classifier,
        random_forest.convert_sklearn_random_forest_regressor_converter,
    )
    swapped = {
        name: registered._fct
        for name, registered in registration._converter_pool.items()
        if double_trees and registered._fct in tree_converters
    }

    def make_node(op_type: str, inputs: Any, outputs: Any, name: str | None = None, **attrs: Any) -> Any:
        for key, value in attrs.items():
            if (
                isinstance(value, list | tuple)
                and value
                and all(isinstance(v, bool | np.bool_ | np.integer) for v in value)
            ):
                attrs[key] = [int(v) for v in value]
        if double_trees and op_type in TREE_OPS:
            for key in _TENSOR_ATTRIBUTES:
                if key in attrs:
                    values = np.asarray(attrs.pop(key))
                    if values.dtype != np.float64:
                        raise TypeError(f"{op_type}.{key} is {values.dtype}, not float64")
                    attrs[f"{key}_as_tensor"] = numpy_helper.from_array(values.ravel(), name=key)
        return original(op_type, inputs, outputs, name=name, **attrs)

    container.make_node = make_node
    for name, fct in swapped.items():
        registration._converter_pool[name]._fct = functools.partial(fct, op_version=3)
    try:
        yield
    finally:
        container.make_node = original
        for name, fct in swapped.items():
            registration._converter_pool[name]._fct = fct
