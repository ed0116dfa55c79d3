"""summary.txt of ``ouro demo``: the fidelity metrics' KS and TV complements, per column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from ouroboros.schema import Schema
from ouroboros.summary import compare_columns, render_text


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)

    def draw(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": [f"row-{i}" for i in range(n)],
                "x": rng.normal(shift, 1, n),
                "colour": rng.choice(
                    ["red", "blue", None], n, p=[0.5 + shift / 4, 0.4, 0.1 - shift / 4]
                ),
                "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
            }
        )

    return draw(400, 0.0), draw(300, 0.2)


def test_similarities_are_the_fidelity_metrics(tables):
    real, synthetic = tables
    table = compare_columns(real, synthetic, Schema.detect(real)).set_index("column")
    assert table.loc["x", "similarity"] == pytest.approx(
        1 - ks_2samp(real.x, synthetic.x).statistic
    )
    p = real["colour"].value_counts(normalize=True, dropna=False)
    q = synthetic["colour"].value_counts(normalize=True, dropna=False)
    p, q = p.align(q, fill_value=0.0)
    assert table.loc["colour", "similarity"] == pytest.approx(1 - 0.5 * np.abs(p - q).sum())
    days = real["day"].astype("int64"), synthetic["day"].astype("int64")
    assert table.loc["day", "similarity"] == pytest.approx(1 - ks_2samp(*days).statistic)
    assert np.isnan(table.loc["id", "similarity"])
    assert table.loc["id", "real"] == "identifier, not modelled"
    assert (
        table.loc["day", "real"].startswith("median 2024-")
        and "[2024-01-" in table.loc["day", "real"]
    )
    assert table.loc["x", "real"].startswith("mean ")


def test_the_text_ends_with_the_mean_similarity(tables):
    real, synthetic = tables
    table = compare_columns(real, synthetic, Schema.detect(real))
    text = render_text(table)
    assert f"mean column similarity: {table['similarity'].mean():.3f}" in text
    assert all(name in text for name in ("id", "x", "colour", "day"))
