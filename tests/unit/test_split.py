import numpy as np
import pandas as pd

from mlops_template.core.data.split import split_frame


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": range(n), "x": rng.normal(size=n), "target": (np.arange(n) % 4 == 0).astype(int)})


def test_split_is_disjoint_complete_and_sized() -> None:
    train, test = split_frame(_frame(), "target", 0.25, seed=1, stratify=True)
    assert len(test) == 50
    assert len(train) == 150
    assert set(train["id"]).isdisjoint(test["id"])
    assert set(train["id"]) | set(test["id"]) == set(range(200))


def test_split_is_stratified() -> None:
    train, test = split_frame(_frame(400), "target", 0.25, seed=1, stratify=True)
    assert train["target"].mean() == test["target"].mean() == 0.25
    unstratified = [split_frame(_frame(400), "target", 0.25, seed=s, stratify=False)[1] for s in range(5)]
    assert any(t["target"].mean() != 0.25 for t in unstratified)


def test_split_is_seeded() -> None:
    a = split_frame(_frame(), "target", 0.25, seed=7, stratify=True)[1]
    b = split_frame(_frame(), "target", 0.25, seed=7, stratify=True)[1]
    c = split_frame(_frame(), "target", 0.25, seed=8, stratify=True)[1]
    assert a["id"].tolist() == b["id"].tolist()
    assert a["id"].tolist() != c["id"].tolist()
