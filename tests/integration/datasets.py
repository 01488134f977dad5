"""Datasets the walkthrough tests build: a mixed-type table like a real customer extract."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_churn_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Categorical, boolean and numeric features, missing values, a string id and string labels."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], size=n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], size=n)
    is_member = rng.random(n) < 0.4
    age = rng.integers(18, 80, size=n).astype(float)
    income = rng.gamma(4.0, 12_000.0, size=n).round(2)
    tenure = rng.integers(0, 120, size=n)
    logit = -0.03 * tenure + 1.2 * (plan == "basic") - 1.0 * is_member + 0.5 * (region == "south") + 0.8
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "age": age,
            "income": income,
            "tenure_months": tenure,
            "plan": plan.astype(object),
            "region": region,
            "is_member": is_member,
            "churned": churned,
        }
    )
    frame.loc[rng.random(n) < 0.08, "age"] = np.nan
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    return frame
