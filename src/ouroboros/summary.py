"""A short per-column comparison of a real and a synthetic table, as text.

What ``ouro demo`` prints and writes to ``summary.txt``: for each column its
kind, a one-line description of the real and the synthetic values, and a
similarity in [0, 1]: the fidelity metrics ``ks_complement`` (numeric and
datetime columns) and ``tv_complement`` (categorical columns) of
:mod:`ouroboros.metrics.fidelity`, computed on one shared evaluation context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.fidelity import KSComplement, TVComplement
from ouroboros.schema import NUMERIC_KINDS, ColumnKind, Schema


def _describe_numeric(x: np.ndarray, dates: bool) -> str:
    if len(x) == 0:
        return "all missing"
    if dates:
        low, middle, high = pd.to_datetime(np.quantile(x, [0, 0.5, 1]), unit="s")
        return f"median {middle:%Y-%m-%d}, [{low:%Y-%m-%d}, {high:%Y-%m-%d}]"
    return f"mean {np.mean(x):.4g}, sd {np.std(x):.3g}, [{np.min(x):.4g}, {np.max(x):.4g}]"


def _describe_categorical(values: pd.Series) -> str:
    shares = values.value_counts(normalize=True, dropna=False).head(2)
    return ", ".join(f"{k}: {v:.0%}" for k, v in shares.items())


def _context(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema
) -> tuple[EvaluationContext | None, dict[str, float]]:
    """The shared encoding and the similarity of every numeric and categorical column."""
    if not any(c.kind in (*NUMERIC_KINDS, ColumnKind.CATEGORICAL) for c in schema.columns):
        return None, {}
    context = EvaluationContext(real, synthetic, schema=schema)
    similarity: dict[str, float] = {}
    for metric, columns in (
        (KSComplement(), context.numeric_columns),
        (TVComplement(), context.categorical_columns),
    ):
        if columns:
            similarity.update(metric.compute(real, synthetic, context=context).rows)
    return context, similarity


def compare_columns(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per column: kind, real, synthetic, missing rates and similarity."""
    context, similarity = _context(real, synthetic, schema)
    rows = []
    for info in schema.columns:
        r, s = real[info.name], synthetic[info.name]
        row = {
            "column": info.name,
            "kind": info.kind.value,
            "missing real": float(r.isna().mean()),
            "missing synthetic": float(s.isna().mean()),
        }
        if info.kind in NUMERIC_KINDS:
            dates = info.kind is ColumnKind.DATETIME
            row["real"] = _describe_numeric(context.real.sorted(info.name), dates)
            row["synthetic"] = _describe_numeric(context.synthetic.sorted(info.name), dates)
        elif info.kind is ColumnKind.CATEGORICAL:
            row["real"], row["synthetic"] = _describe_categorical(r), _describe_categorical(s)
        else:
            row["real"] = f"{info.kind.value}, not modelled"
            row["synthetic"] = "unique" if s.is_unique else f"{s.nunique()} distinct"
        row["similarity"] = similarity.get(info.name, np.nan)
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
