"""Conditional sampling with ``argn`` on two columns at once, against the real conditionals.

Fits ``argn`` on Adult's training split, then for the most common (sex, education) pairs
draws rows with both fixed and compares every other column with the real training rows
of that pair: total variation for categories, the Kolmogorov-Smirnov statistic for
numbers (0 is identical). The ceiling is the same distance between the real test rows
of that pair and the real training rows.

    python bench/conditional.py
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from _results import machine, markdown_table, write_section
from quality import load_split
from scipy.stats import ks_2samp

from ouroboros import synthesizers

PAIR = ("sex", "education")


def distance(a: pd.Series, b: pd.Series) -> float:
    """Total variation for categories, the KS statistic for numbers."""
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return float(ks_2samp(a.dropna(), b.dropna()).statistic)
    p = a.astype(str).value_counts(normalize=True)
    q = b.astype(str).value_counts(normalize=True)
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def compare(real: pd.DataFrame, other: pd.DataFrame) -> tuple[float, float]:
    """Mean and largest distance over the columns outside the pair."""
    values = [distance(other[c], real[c]) for c in real.columns if c not in PAIR]
    return float(np.mean(values)), float(np.max(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    train, test = load_split("adult")
    start = time.perf_counter()
    model = synthesizers.create("argn", seed=0).fit(train)
    fit = time.perf_counter() - start
    rows = []
    for (sex, education), count in train.groupby(list(PAIR)).size().nlargest(args.pairs).items():
        real = train[(train["sex"] == sex) & (train["education"] == education)]
        held = test[(test["sex"] == sex) & (test["education"] == education)]
        drawn = model.sample(args.rows, seed=1, conditions={"sex": sex, "education": education})
        exact = float(((drawn["sex"] == sex) & (drawn["education"] == education)).mean())
        mean, worst = compare(real, drawn)
        ceiling_mean, ceiling_worst = compare(real, held)
        rows.append(
            {
                "condition": f"sex={sex}, education={education}",
                "real rows": count,
                "rows meeting it": exact,
                "mean distance": round(mean, 3),
                "largest": round(worst, 3),
                "ceiling mean": round(ceiling_mean, 3),
                "ceiling largest": round(ceiling_worst, 3),
            }
        )
        print(rows[-1], flush=True)
    table = markdown_table(rows)
    print(table)
    if not args.no_results:
        body = (
            "## Conditional sampling on two columns with `argn` (`bench/conditional.py`)\n\n"
            f"Command: `python bench/conditional.py --pairs {args.pairs} --rows {args.rows}`; "
            f"{machine()}; load {os.getloadavg()[0]:.2f}; fit {fit:.0f} s. Distances over "
            "the other 12 columns (TV for categories, KS for numbers) between the drawn rows "
            "and the real training rows of the pair; the ceiling puts the real test rows of "
            "the pair in place of the drawn ones.\n\n"
            f"{table}\n"
        )
        write_section("conditional", body)


if __name__ == "__main__":
    main()
