"""The bad-data classes every schema must reject: each a function of a good frame -> bad frame.

Shared by the data tests, the pipeline failure tests and the schema-inference round-trip tests.
Each entry: (name, make_bad(frame, target, id_column, feature) -> frame, column named, words in the check).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

BadCase = tuple[str, Callable[[pd.DataFrame, str, str, str], pd.DataFrame], str | None, str]


def _missing(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    return f.drop(columns=[c])


def _extra(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    return f.assign(surprise_column=1.0)


def _wrong_dtype(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    out = f.copy()
    out[c] = out[c].astype(object)
    out.loc[out.index[:3], c] = "not-a-number"
    return out


def _out_of_range(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    out = f.copy()
    out.loc[out.index[:2], c] = -1e9
    return out


def _nulls(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    out = f.copy()
    out[c] = out[c].astype("float64") if pd.api.types.is_numeric_dtype(out[c]) else out[c].astype(object)
    out.loc[out.index[:4], c] = np.nan
    return out


def _unknown_label(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    out = f.copy()
    out[t] = out[t].astype(object)
    out.loc[out.index[0], t] = 99 if pd.api.types.is_numeric_dtype(f[t]) else "no-such-label"
    out[t] = out[t].astype(f[t].dtype)
    return out


def _duplicated_rows(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    dup = f.iloc[:3].copy()
    if pd.api.types.is_numeric_dtype(f[i]):
        dup[i] = f[i].max() + 1 + np.arange(3)
    else:
        dup[i] = [f"dup-{k}" for k in range(3)]
    return pd.concat([f, dup], ignore_index=True)


def _too_few_rows(f: pd.DataFrame, t: str, i: str, c: str) -> pd.DataFrame:
    return f.iloc[:0]


BAD_CASES: list[BadCase] = [
    ("missing column", _missing, "<feature>", "missing column"),
    ("extra column", _extra, "surprise_column", "unexpected column"),
    ("wrong dtype", _wrong_dtype, "<feature>", "wrong dtype"),
    ("out of range", _out_of_range, "<feature>", "in_range"),
    ("nulls", _nulls, "<feature>", "not_nullable"),
    ("unknown label", _unknown_label, "<target>", "isin"),
    ("duplicated rows", _duplicated_rows, "<rows>", "duplicated rows"),
    ("no rows", _too_few_rows, "<table>", "rows are required"),
]


def expected_column(named: str | None, target: str, feature: str) -> str | None:
    return {"<feature>": feature, "<target>": target}.get(named or "", named)
