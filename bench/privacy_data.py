"""The discretised Adult and California of bench/privacy.py, and the two-way TV on them.

Adult follows private-pgm's example (``data/adult-domain.json`` there: 14 columns,
numeric ones in equal-width bins of the domain sizes below over the full table's range,
``education`` dropped for its twin ``education-num``). California has no such
reference: its nine numbers get 32 equal-width bins between their 0.5% and 99.5%
quantiles (the tails clipped into the end bins; ``total_bedrooms``' missing cells a
33rd code) and ``ocean_proximity`` its five categories. The domain is public knowledge
for every generator, as private-pgm's example takes it: marginal generators see codes,
neural ones the codes decoded (a category's label, a bin's midpoint) within the public
bounds, and their rows are coded again before scoring.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ouroboros.schema import ColumnKind, ColumnSchema, Schema

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
#: private-pgm's adult-domain.json
ADULT_DOMAIN = {
    "age": 85, "workclass": 9, "fnlwgt": 100, "education-num": 16, "marital-status": 7,
    "occupation": 15, "relationship": 6, "race": 5, "sex": 2, "capital-gain": 100,
    "capital-loss": 100, "hours-per-week": 99, "native-country": 42, "income": 2,
}  # fmt: skip
ADULT_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
CALIFORNIA_BINS = 32
#: target column and task of the utility figure
TARGETS = {
    "adult": ("income", "classification"),
    "california": ("median_house_value", "regression"),
}


@dataclass
class Discretisation:
    """Codes 0..size-1 per column: ``edges`` for numbers (a last code for missing cells
    where ``missing`` names the column), ``labels`` for categories."""

    sizes: dict[str, int]
    edges: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        return list(self.sizes)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for column in self.sizes:
            values = frame[column]
            if column in self.edges:
                edges = self.edges[column]
                bins = len(edges) - 1
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
                codes = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, bins - 1)
                if column in self.missing:
                    codes = np.where(np.isnan(numbers), bins, codes)
                out[column] = codes
            else:
                lookup = {label: i for i, label in enumerate(self.labels[column])}
                text = values.astype("string").fillna("?")
                out[column] = text.map(lookup).fillna(0).astype(int)
        return pd.DataFrame(out).astype("int64")

    def decode(self, codes: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for column in self.sizes:
            c = codes[column].to_numpy()
            if column in self.edges:
                edges = self.edges[column]
                mids = (edges[:-1] + edges[1:]) / 2
                values = mids[np.minimum(c, len(mids) - 1)]
                out[column] = np.where(c >= len(mids), np.nan, values)
            else:
                out[column] = np.asarray(self.labels[column], dtype=object)[c]
        return pd.DataFrame(out)

    def code_schema(self) -> Schema:
        """The domain of the codes, public: every column categorical over 0..size-1."""
        columns = [
            ColumnSchema(c, ColumnKind.CATEGORICAL, "int64", categories=list(range(s)))
            for c, s in self.sizes.items()
        ]
        return Schema(columns=columns)

    def value_schema(self) -> Schema:
        """The domain of the decoded values, public: bounds of the bins, labels."""
        columns = []
        for c in self.sizes:
            if c in self.edges:
                missing = 0.01 if c in self.missing else 0.0
                low, high = float(self.edges[c][0]), float(self.edges[c][-1])
                columns.append(
                    ColumnSchema(c, ColumnKind.CONTINUOUS, "float64", missing, low, high)
                )
            else:
                columns.append(
                    ColumnSchema(c, ColumnKind.CATEGORICAL, "object", categories=self.labels[c])
                )
        return Schema(columns=columns)


def _adult(raw: pd.DataFrame) -> Discretisation:
    disc = Discretisation(dict(ADULT_DOMAIN))
    for column, size in ADULT_DOMAIN.items():
        values = raw[column]
        if column in ADULT_NUMERIC:
            disc.edges[column] = np.linspace(values.min(), values.max(), size + 1)
        else:
            labels = list(pd.Categorical(values.fillna("?").astype(str)).categories)
            if len(labels) != size:
                raise ValueError(f"{column}: {len(labels)} categories, the domain has {size}")
            disc.labels[column] = labels
    return disc


def _california(raw: pd.DataFrame) -> Discretisation:
    disc = Discretisation({})
    for column in raw.columns:
        values = raw[column]
        if pd.api.types.is_numeric_dtype(values):
            low, high = values.quantile([0.005, 0.995])
            disc.edges[column] = np.linspace(low, high, CALIFORNIA_BINS + 1)
            disc.sizes[column] = CALIFORNIA_BINS + int(values.isna().any())
            if values.isna().any():
                disc.missing.add(column)
        else:
            disc.labels[column] = sorted(values.dropna().astype(str).unique())
            disc.sizes[column] = len(disc.labels[column])
    return disc


def load(name: str) -> tuple[Discretisation, pd.DataFrame, pd.DataFrame]:
    """The discretisation of dataset ``name`` and its train and test splits as codes
    (Adult's classic split; California 70/30 as bench/quality.py)."""
    if name == "adult":
        raw = pd.read_csv(DATA / "adult.csv.gz")
        disc = _adult(raw)
        train, test = raw[raw["split"] == "train"], raw[raw["split"] == "test"]
    else:
        raw = pd.read_csv(DATA / "california_housing.csv.gz")
        disc = _california(raw)
        order = np.random.default_rng(0).permutation(len(raw))
        cut = int(round(0.7 * len(raw)))
        train, test = raw.iloc[np.sort(order[:cut])], raw.iloc[np.sort(order[cut:])]
    return (
        disc,
        disc.encode(train.reset_index(drop=True)),
        disc.encode(test.reset_index(drop=True)),
    )


def two_way_tv(real: pd.DataFrame, synthetic: pd.DataFrame, sizes: dict[str, int]) -> float:
    """Mean total variation distance over every pair of columns."""
    values = []
    for a, b in itertools.combinations(sizes, 2):
        shape = (sizes[a], sizes[b])
        cells = shape[0] * shape[1]
        p = np.bincount(np.ravel_multi_index((real[a], real[b]), shape), minlength=cells)
        q = np.bincount(np.ravel_multi_index((synthetic[a], synthetic[b]), shape), minlength=cells)
        values.append(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
    return float(np.mean(values))
