"""Seeded, stratified train/test split."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split


def split_frame(
    frame: pd.DataFrame, target: str, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows; stratify on the target when asked (ignored for regression targets)."""
    labels = frame[target] if stratify else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=labels)
    return train.reset_index(drop=True), test.reset_index(drop=True)
