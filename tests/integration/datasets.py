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


def messy_animal_frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """A raw farm-visit table as it arrives: names with spaces and parentheses, a per-animal id (several
    visits per animal), a visit date, free-text comments, a constant column, an open category (a feed supplier:
    three regular ones and a few seen once, so a new supplier is valid) and rows without a label."""
    rng = np.random.default_rng(seed)
    animals = rng.integers(0, n // 3, size=n)
    weight = rng.normal(420.0, 60.0, size=n).round(1)
    temp = rng.normal(38.6, 0.6, size=n).round(2)
    breed = rng.choice(["Holstein", "Jersey", "Angus", "Hereford"], size=n)
    housed = rng.random(n) < 0.5
    logit = 2.2 * (temp - 38.6) - 0.01 * (weight - 420.0) + 0.6 * (breed == "Jersey") - 0.3
    sick = rng.random(n) < 1 / (1 + np.exp(-logit))
    moods = ["calm", "restless", "coughing a little", "off feed", "lame on the left hind leg", "bright and alert"]
    frame = pd.DataFrame(
        {
            "Animal ID": [f"COW-{a:04d}" for a in animals],
            "Visit date": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "Weight (kg)": weight,
            "Body temp (°C)": temp,
            "Breed": breed,
            "Housed indoors": housed,
            "Farm": "Hillside",
            "Vet comments": [
                f"visit {i}: {rng.choice(moods)}, {rng.choice(moods)}; recheck in {rng.integers(1, 30)} days"
                for i in range(n)
            ],
            "Outcome (30 days)": np.where(sick, "treated", "healthy").astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.06, "Weight (kg)"] = np.nan
    frame.loc[rng.random(n) < 0.07, "Outcome (30 days)"] = None
    # drawn last, so the other columns stay what they were before this column existed
    supplier = rng.choice(["Agri Co", "FeedWorks", "Valley Mill"], size=n).astype(object)
    supplier[rng.choice(n, 4, replace=False)] = ["Smith & Sons", "Oak Farm Supply", "Greenleaf", "Miller Bros"]
    frame.insert(frame.columns.get_loc("Farm"), "Feed supplier", supplier)
    return frame
