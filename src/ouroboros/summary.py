"""A short per-column comparison of a real and a synthetic table, as text.

What ``ouro demo`` prints and writes to ``summary.txt``: for each column its
kind, a one-line description of the real and the synthetic values, and a
similarity in [0, 1] (the complement of the Kolmogorov-Smirnov statistic for
numeric columns, of the total-variation distance for categorical ones).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ouroboros.schema import ColumnKind, Schema


def _numeric(values: pd.Series, info) -> np.ndarray:
    if info.kind is ColumnKind.DATETIME:
        stamps = pd.to_datetime(values, format=info.datetime_format, errors="coerce")
        return stamps.dropna().astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)


def _describe_numeric(x: np.ndarray) -> str:
    if len(x) == 0:
        return "all missing"
    return f"mean {np.mean(x):.4g}, sd {np.std(x):.3g}, [{np.min(x):.4g}, {np.max(x):.4g}]"


def _describe_categorical(values: pd.Series) -> str:
    shares = values.value_counts(normalize=True, dropna=False).head(2)
    return ", ".join(f"{k}: {v:.0%}" for k, v in shares.items())


def compare_columns(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per column: kind, real, synthetic, missing rates and similarity."""
    rows = []
    for info in schema.columns:
        r, s = real[info.name], synthetic[info.name]
        row = {
            "column": info.name,
            "kind": info.kind.value,
            "missing real": float(r.isna().mean()),
            "missing synthetic": float(s.isna().mean()),
        }
        if info.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER, ColumnKind.DATETIME):
            x, y = _numeric(r, info), _numeric(s, info)
            row["real"], row["synthetic"] = _describe_numeric(x), _describe_numeric(y)
            row["similarity"] = 1 - ks_2samp(x, y).statistic if len(x) and len(y) else np.nan
        elif info.kind is ColumnKind.CATEGORICAL:
            p = r.value_counts(normalize=True, dropna=False)
            q = s.value_counts(normalize=True, dropna=False)
            p, q = p.align(q, fill_value=0.0)
            row["real"], row["synthetic"] = _describe_categorical(r), _describe_categorical(s)
            row["similarity"] = 1 - 0.5 * float(np.abs(p - q).sum())
        else:
            row["real"] = f"{info.kind.value}, not modelled"
            row["synthetic"] = "unique" if s.is_unique else f"{s.nunique()} distinct"
            row["similarity"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def render_text(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`compare_columns`'s table, with the mean similarity."""
    shown = table.copy()
    for column in ("missing real", "missing synthetic"):
        shown[column] = shown[column].map(lambda v: f"{v:.1%}")
    shown["similarity"] = shown["similarity"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    text = shown.to_string(index=False, justify="left")
    mean = table["similarity"].mean()
    return f"{text}\n\nmean column similarity: {mean:.3f} (1 = identical marginals)\n"
