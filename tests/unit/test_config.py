from pathlib import Path

import pytest
import yaml

from mlops_template.core.config import ConfigError, Params, load_params, parse_params
from tests.fixtures import BREAST_CANCER


def test_a_params_file_loads_with_defaults_for_what_it_leaves_out() -> None:
    params = load_params(BREAST_CANCER / "params.yaml")
    assert params.data.source == "sklearn:breast_cancer"
    assert params.data.missing_labels == "error"
    assert params.features == Params().features
    assert params.model.type in ("linear", "random_forest", "hist_gradient_boosting")
    assert params.model.selected() is getattr(params.model, params.model.type)


def test_empty_mapping_gives_defaults() -> None:
    assert parse_params({}) == Params()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"sede": 1}, "sede"),
        ({"model": {"random_forest": {"n_estimatorz": 5}}}, "model.random_forest.n_estimatorz"),
        ({"data": {"sorce": "x.csv"}}, "data.sorce"),
    ],
)
def test_unknown_key_is_named(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    assert f"{key}: unknown key" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"seed": "forty-two"}, "seed"),
        ({"split": {"test_size": 1.5}}, "split.test_size"),
        ({"model": {"type": "svm"}}, "model.type"),
        ({"model": {"hist_gradient_boosting": {"max_iter": 0}}}, "model.hist_gradient_boosting.max_iter"),
        ({"task": "ranking"}, "task"),
    ],
)
def test_ill_typed_value_is_named(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    assert f"  - {key}: " in str(err.value)


def test_target_and_id_must_differ() -> None:
    with pytest.raises(ConfigError, match=r"data\.target and data\.id_column"):
        parse_params({"data": {"target": "y", "id_column": "y"}})


def test_file_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "params.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    top = tmp_path / "list.yaml"
    top.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_params(top)


def test_params_are_immutable() -> None:
    params = Params()
    with pytest.raises(Exception, match="frozen"):
        params.seed = 1  # type: ignore[misc]
