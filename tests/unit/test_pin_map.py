"""main-cache's pin map: main's committed pins -> the md5s its runner produced (experiment/baseline.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from mlops_template.experiment.baseline import PIN_MAP, _from_pin_map, record_pin_map


def _lock(outs: dict[str, str]) -> str:
    return yaml.safe_dump({"stages": {"s": {"cmd": "x", "outs": [{"path": p, "md5": m} for p, m in outs.items()]}}})


def _store(cache: Path, data: bytes) -> str:
    md5 = hashlib.md5(data).hexdigest()
    obj = cache / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    return md5


def test_only_outputs_produced_with_other_bytes_and_cached_here_are_mapped(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    model, data = _store(cache, b"model pickled on this runner"), _store(cache, b"split data")
    committed = _lock({"models/model.joblib": "a" * 32, "data/split/test.parquet": data, "metrics/m.json": "b" * 32})
    produced = _lock({"models/model.joblib": model, "data/split/test.parquet": data, "metrics/m.json": "c" * 32})
    mapped = record_pin_map(committed, produced, tmp_path, cache=cache)
    # identical outputs need no map; metrics/m.json's produced object is not in the cache (cache: false)
    assert mapped == {"models/model.joblib": ("a" * 32, model)}
    assert sorted(p.name for p in (cache / PIN_MAP).iterdir()) == ["a" * 32]

    out = tmp_path / "model.joblib"
    assert _from_pin_map(tmp_path, "a" * 32, out, cache=cache) == model
    assert out.read_bytes() == b"model pickled on this runner"
    assert _from_pin_map(tmp_path, "d" * 32, tmp_path / "other", cache=cache) is None  # not mapped
    assert _from_pin_map(tmp_path, None, tmp_path / "other", cache=cache) is None


def test_a_mapped_object_whose_bytes_changed_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    model = _store(cache, b"model")
    record_pin_map(_lock({"models/model.joblib": "a" * 32}), _lock({"models/model.joblib": model}), cache=cache)
    (cache / "files" / "md5" / model[:2] / model[2:]).write_bytes(b"corrupted")
    assert _from_pin_map(tmp_path, "a" * 32, tmp_path / "model.joblib", cache=cache) is None
    assert not (tmp_path / "model.joblib").exists()
