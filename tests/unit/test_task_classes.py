"""The target's classes against the task: a clear validation failure, never a traceback in train."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_template.core.data.schema import task_failures


def frame(labels: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"x": range(len(labels)), "species": labels})


@pytest.mark.parametrize(
    ("task", "labels"),
    [
        ("binary", ["a", "b", "a"]),
        ("multiclass", ["a", "b", "c", "a"]),
        ("regression", [1.0, 2.5, 3.0]),
        ("binary", [0, 1, None, 1]),  # a missing label is not a class
    ],
)
def test_labels_that_fit_the_task_pass(task: str, labels: list[object]) -> None:
    assert task_failures(frame(labels), "species", task) == []


def test_a_multiclass_task_with_two_classes_names_the_target_and_the_fix() -> None:
    # A held-out slice in file order: only two of the three species.
    (failure,) = task_failures(frame(["Adelie", "Gentoo", "Adelie"]), "species", "multiclass")
    assert failure.column == "species"
    assert "task multiclass" in failure.check and "3 or more classes, the data has 2" in failure.check
    assert "`task: binary`" in failure.check
    assert failure.examples == ["Adelie", "Gentoo"]


def test_a_binary_task_with_three_classes_points_to_multiclass() -> None:
    (failure,) = task_failures(frame(["a", "b", "c"]), "species", "binary")
    assert "exactly 2 classes, the data has 3" in failure.check and "`task: multiclass`" in failure.check


def test_a_single_class_cannot_train_any_classifier() -> None:
    (failure,) = task_failures(frame(["a", "a"]), "species", "binary")
    assert "single class" in failure.check


def test_a_missing_target_column_is_left_to_the_schema() -> None:
    assert task_failures(frame(["a"]), "label", "binary") == []
