"""Slow: every real table in ../shared/datasets survives schema -> transform -> inverse."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ouroboros.schema import ColumnKind, Schema
from ouroboros.transforms import OTHER, TableTransformer

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
NAMES = sorted(p.name for p in DATASETS.glob("*.csv.gz")) if DATASETS.is_dir() else []
#: the matrix is float32: a value is exact to about this fraction of its column's range
FLOAT32_RESOLUTION = 1e-6

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not NAMES, reason="../shared/datasets is not available"),
]


def _read(name: str) -> pd.DataFrame:
    if name.startswith("diabetes"):
        return pd.read_csv(DATASETS / name, keep_default_na=False, na_values="?", low_memory=False)
    return pd.read_csv(DATASETS / name)


@pytest.mark.parametrize(
    ("numeric", "categorical"),
    [("mode", "onehot"), ("quantile", "ordinal"), ("standard", "ordinal")],
)
@pytest.mark.parametrize("name", NAMES)
def test_table_comes_back(name, numeric, categorical):
    """Exact but for float32 resolution; one-hot pools beyond 100 categories (bounded width)."""
    data = _read(name)
    schema = Schema.detect(data)
    widest = max(len(c.categories or []) for c in schema.columns) + 1
    max_categories = 100 if categorical == "onehot" else max(widest, 2)
    transformer = TableTransformer(
        schema,
        encoders={
            "numeric": numeric,
            "categorical": (categorical, {"max_categories": max_categories}),
        },
    )
    transformer.fit(data, np.random.default_rng(0))
    back = transformer.inverse_transform(
        transformer.transform(data, np.random.default_rng(1)), np.random.default_rng(2)
    )
    assert list(back.columns) == list(data.columns)
    assert back.dtypes.equals(data.dtypes)
    for column in schema.columns:
        real, got = data[column.name], back[column.name]
        if column.kind is ColumnKind.IDENTIFIER:
            assert got.dropna().is_unique and not got.isin(real).any(), column.name
            continue
        if column.kind is ColumnKind.CONSTANT:
            assert set(got.dropna()) == set(real.dropna()), column.name
            continue
        np.testing.assert_array_equal(got.isna(), real.isna(), err_msg=column.name)
        present = real.notna().to_numpy()
        if column.kind is ColumnKind.CATEGORICAL:
            kept = present
            if categorical == "onehot":
                _, _, block = transformer.category_block(column.name)
                kept = real.isin([c for c in block if c is not None and c is not OTHER])
                kept = kept.to_numpy()
                # pooled rows come back as some training category of the pool
                pooled = got[present & ~kept]
                assert pooled.isin(real[present & ~kept]).all(), column.name
            assert (got[kept] == real[kept]).all(), column.name
            continue
        if column.kind is ColumnKind.DATETIME:
            assert (got[present] == real[present]).all(), column.name
            continue
        a = real[present].to_numpy(dtype=np.float64)
        b = got[present].to_numpy(dtype=np.float64)
        tolerance = max(0.5 * 10.0 ** -(column.precision or 0), FLOAT32_RESOLUTION * np.ptp(a))
        error = np.abs(a - b).max()
        assert error <= tolerance, f"{column.name}: off by {error} > {tolerance}"


def test_fit_on_a_million_rows_is_fast():
    adult = _read("adult.csv.gz").drop(columns=["split"])
    big = adult.sample(1_000_000, replace=True, random_state=0).reset_index(drop=True)
    schema = Schema.detect(adult)
    start = time.perf_counter()
    TableTransformer(schema).fit(big, np.random.default_rng(0))
    elapsed = time.perf_counter() - start
    # a few seconds on a laptop; the bound only catches a return to per-row work
    assert elapsed < 30, f"fit on 1M x {big.shape[1]} took {elapsed:.1f}s"
