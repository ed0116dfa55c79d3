"""The schema of a differentially private fit: public, or measured with part of the budget.

Ranges, category lists and frequencies read off the data are not private: a maximum is
one person's value. In DP mode every such statistic either comes from the user (a schema
whose ``min``/``max``/``categories`` are declared public) or is measured here with the
schema part of the budget; what cannot be had either way is refused, naming the columns
and the two ways out. Column names, kinds, dtypes and datetime formats are structure,
taken as public (from the given schema, or detected when none is given).

Bounds come from a noisy histogram over a fixed, data-independent grid (powers of
2^(1/4) on both signs, then 64 equal cells inside the range found); categories from
noisy counts released only above a threshold, which is the one step that needs delta
beyond zCDP: a category held by one row is released with probability at most the
delta set aside for it (Korolova et al. 2009, "Releasing Search Queries and Clicks
Privately"; Gopi et al. 2020, "Differentially Private Set Union").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ouroboros.errors import ParameterError, SchemaError
from ouroboros.privacy.accounting import gaussian_sigma
from ouroboros.privacy.budget import PrivacyBudget
from ouroboros.schema import NUMERIC_KINDS, ColumnKind, ColumnSchema, Schema
from ouroboros.values import datetime_seconds

#: share of delta set aside for category thresholds when categories are measured
THRESHOLD_DELTA_SHARE = 0.1
#: the geometric grid of the first bounds pass: 2^(j/4) for j in this range, both signs
_GRID = np.arange(-40, 257)
_CELLS = 64
#: false-positive rate of a whole bounds histogram (spread over its cells)
_BOUNDS_FALSE_POSITIVE = 1e-3
#: the key under which missing cells are counted
MISSING = "__missing__"


@dataclass
class Needs:
    """What a column lacks to be modelled privately: ``bounds``, ``categories`` or
    ``value``; ``missing`` when whether it has missing cells is unknown."""

    bounds: bool = False
    categories: bool = False
    missing: bool = False

    def any(self) -> bool:
        return self.bounds or self.categories


@dataclass
class PrivateSchema:
    """The DP schema, where each column's statistics came from, and the budget it used."""

    schema: Schema
    budget: PrivacyBudget
    sources: dict[str, str] = field(default_factory=dict)


def resolve(
    data: pd.DataFrame,
    schema: Schema | None,
    *,
    epsilon: float,
    delta: float,
    schema_share: float | None,
    rng: np.random.Generator,
    owner: str,
) -> PrivateSchema:
    """The schema of a DP fit of ``data`` and its budget.

    ``schema`` (given by the user) is taken as public as it is, never re-measured on the
    data. What it lacks (or all statistics, when it is ``None``) is measured with
    ``schema_share`` of the budget; with ``schema_share=None`` that is refused.
    """
    structure = _structure(data, schema)
    needs = {c.name: _needs(c, data[c.name], given=schema is not None) for c in structure}
    lacking = {name: n for name, n in needs.items() if n.any()}
    if lacking and not schema_share:
        raise SchemaError(_refusal(owner, lacking, schema_share))
    categories = any(n.categories for n in lacking.values())
    budget = PrivacyBudget(
        epsilon,
        delta,
        schema_share=float(schema_share) if lacking else 0.0,
        threshold_delta=delta * THRESHOLD_DELTA_SHARE if categories else 0.0,
    )
    measures = sum(2 if n.bounds else 1 for n in lacking.values())
    n_thresholded = sum(1 for n in lacking.values() if n.categories)
    columns, sources = [], {}
    for column in structure:
        need = needs[column.name]
        if not need.any():
            columns.append(_public(column, data[column.name], given=schema is not None))
            sources[column.name] = "public" if schema is not None else "structure"
            continue
        rho = budget.allotted("schema") / measures
        if need.bounds:
            columns.append(_measure_bounds(column, data[column.name], budget, rho, rng))
        else:
            thr_delta = budget.threshold_delta / n_thresholded
            columns.append(
                _measure_categories(column, data[column.name], budget, rho, thr_delta, rng)
            )
        sources[column.name] = "measured"
    out = Schema(columns=columns, n_rows=None, rules=[])
    out.extras = {"privacy": {"sources": sources}}
    return PrivateSchema(out, budget, sources)


def resolve_fit(
    data: pd.DataFrame,
    schema: Schema | None,
    rules: list[str] | None,
    *,
    owner: str,
    epsilon: float,
    delta: float,
    schema_share: float | None,
    seed: int | None,
) -> tuple[PrivateSchema, np.random.Generator]:
    """The start of every DP fit: rules refused (found on private data they would leak,
    and rejecting rows would change the guarantee), then the private schema of
    :func:`resolve`, with the fit's random generator drawn from ``seed``."""
    if rules or (schema is not None and schema.rules):
        raise ParameterError(
            f"{owner} does not keep rules: rules found on private data would leak, and "
            "rejecting rows would change the guarantee; fit without rules"
        )
    rng = np.random.default_rng(seed)
    private = resolve(
        data,
        schema,
        epsilon=float(epsilon),
        delta=float(delta),
        schema_share=schema_share,
        rng=rng,
        owner=owner,
    )
    return private, rng


def _refusal(owner: str, lacking: dict[str, Needs], share: float | None) -> str:
    parts = []
    for name, need in lacking.items():
        what = "min and max" if need.bounds else "categories"
        parts.append(f"{name!r} ({what})")
    return (
        f"{owner} is differentially private and will not read ranges or categories off the "
        f"data: columns {', '.join(parts)} have no public statistics. Either give a schema "
        "whose 'min'/'max' or 'categories' are public knowledge for these columns "
        "(schema=... or --schema FILE), or let a share of the budget measure them "
        "(schema_share=0.1)"
    )


def _structure(data: pd.DataFrame, schema: Schema | None) -> list[ColumnSchema]:
    """The columns' structure: the given schema's, or kinds, dtypes, formats detected."""
    if schema is not None:
        schema.validate(data)
        return list(schema.columns)
    return list(Schema.detect(data).columns)


def _needs(column: ColumnSchema, values: pd.Series, given: bool) -> Needs:
    kind = column.kind
    if kind is ColumnKind.IDENTIFIER:
        return Needs()
    if kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT):
        if _is_bool(values):  # False and True: public by the dtype
            return Needs()
        public = column.categories if kind is ColumnKind.CATEGORICAL else None
        if kind is ColumnKind.CONSTANT and given and column.value is not None:
            return Needs()
        return Needs(categories=not (given and public))
    if kind in NUMERIC_KINDS:
        return Needs(bounds=not (given and column.min is not None and column.max is not None))
    return Needs()


def _is_bool(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values.dtype)


def _bare(column: ColumnSchema, kind: ColumnKind | None = None) -> ColumnSchema:
    """Only the structure of ``column``: name, kind, dtype, datetime format and timezone."""
    return ColumnSchema(
        name=column.name,
        kind=kind or column.kind,
        dtype=column.dtype,
        datetime_format=column.datetime_format,
        timezone=column.timezone,
    )


def _public(column: ColumnSchema, values: pd.Series, given: bool) -> ColumnSchema:
    """A column needing nothing measured: its public statistics, checked against the data."""
    out = _bare(column)
    if column.kind is ColumnKind.IDENTIFIER:
        out.identifier = column.identifier if given else None
        out.missing_fraction = column.missing_fraction if given else 0.0
        return out
    if given:
        out.min, out.max, out.precision = column.min, column.max, column.precision
        out.categories, out.value = column.categories, column.value
        out.missing_fraction = column.missing_fraction
    if _is_bool(values) and not given:
        out.kind, out.categories = ColumnKind.CATEGORICAL, [False, True]
    if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT) and out.categories is None:
        if out.value is None:
            out.kind, out.categories = ColumnKind.CATEGORICAL, [False, True]
        else:
            out.kind, out.categories = ColumnKind.CATEGORICAL, [out.value]
    if values.isna().any() and not out.missing_fraction:
        raise SchemaError(
            f"column {column.name!r} has missing values but the public schema gives it none; "
            "set its 'missing_fraction' above 0 in the schema (the share itself stays unused)"
        )
    return out


def _threshold(sigma: float, false_positive: float) -> float:
    return float(sigma * norm.isf(false_positive))


def _measure_bounds(
    column: ColumnSchema,
    values: pd.Series,
    budget: PrivacyBudget,
    rho: float,
    rng: np.random.Generator,
) -> ColumnSchema:
    """Noisy range (two histograms, each costing ``rho``) and noisy missing share."""
    numbers = _as_numbers(column, values)
    missing = np.isnan(numbers)
    present = numbers[~missing]
    sigma = gaussian_sigma(rho)
    # first pass: sign and magnitude on a fixed grid, plus one cell for missing
    magnitude = np.log2(np.maximum(np.abs(present), 2.0 ** (_GRID[0] / 4))) * 4
    step = np.clip(np.floor(magnitude).astype(np.int64) - _GRID[0], 0, len(_GRID) - 1)
    cell = np.where(present < 0, len(_GRID) - 1 - step, len(_GRID) + step)
    counts = np.bincount(cell, minlength=2 * len(_GRID)).astype(np.float64)
    counts = np.append(counts, missing.sum())
    noisy = counts + rng.normal(0.0, sigma, len(counts))
    budget.spend(
        "schema", column.name, "Gaussian histogram (magnitude grid)", rho,
        sigma=sigma, sensitivity=1.0, cells=len(counts),
    )  # fmt: skip
    above = np.flatnonzero(noisy[:-1] > _threshold(sigma, _BOUNDS_FALSE_POSITIVE / len(counts)))
    if not len(above):
        raise SchemaError(
            f"column {column.name!r}: too few rows to measure its range at this budget; "
            "give public 'min'/'max' in the schema or raise epsilon or schema_share"
        )
    edges = _grid_edges()
    low, high = edges[above[0]], edges[above[-1] + 1]
    # second pass: equal cells inside the range, trimmed to the outermost busy cells
    inner = np.linspace(low, high, _CELLS + 1)
    index = np.clip(np.searchsorted(inner, present, side="right") - 1, 0, _CELLS - 1)
    fine = np.bincount(index, minlength=_CELLS) + rng.normal(0.0, sigma, _CELLS)
    budget.spend(
        "schema", column.name, "Gaussian histogram (range cells)", rho,
        sigma=sigma, sensitivity=1.0, cells=_CELLS,
    )  # fmt: skip
    busy = np.flatnonzero(fine > _threshold(sigma, _BOUNDS_FALSE_POSITIVE / _CELLS))
    if len(busy):
        low, high = inner[busy[0]], inner[busy[-1] + 1]
    out = _bare(column)
    out.min, out.max = _typed_bounds(column, low, high)
    total = max(float(noisy.sum()), 1.0)
    out.missing_fraction = float(np.clip(noisy[-1] / total, 0.0, 1.0))
    if noisy[-1] <= _threshold(sigma, _BOUNDS_FALSE_POSITIVE / len(counts)):
        out.missing_fraction = 0.0
    return out


def _grid_edges() -> np.ndarray:
    """The edges of the magnitude grid's cells, from the most negative up."""
    magnitudes = 2.0 ** (np.append(_GRID, _GRID[-1] + 1) / 4)
    magnitudes[0] = 0.0
    return np.concatenate([-magnitudes[::-1], magnitudes[1:]])


def _typed_bounds(column: ColumnSchema, low: float, high: float) -> tuple[Any, Any]:
    if column.kind is ColumnKind.INTEGER:
        return int(math.floor(low)), int(math.ceil(high))
    if column.kind is ColumnKind.DATETIME:
        stamp = pd.to_datetime([low, high], unit="s", utc=True)
        return stamp[0].isoformat(), stamp[1].isoformat()
    return float(low), float(high)


def _as_numbers(column: ColumnSchema, values: pd.Series) -> np.ndarray:
    if column.kind is ColumnKind.DATETIME:
        stamps = (
            values
            if pd.api.types.is_datetime64_any_dtype(values.dtype)
            else pd.to_datetime(values, format=column.datetime_format, errors="coerce")
        )
        return np.asarray(datetime_seconds(stamps), dtype=np.float64)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _measure_categories(
    column: ColumnSchema,
    values: pd.Series,
    budget: PrivacyBudget,
    rho: float,
    threshold_delta: float,
    rng: np.random.Generator,
) -> ColumnSchema:
    """Noisy counts of the values seen; a value is released only above the threshold that
    a value held by one row passes with probability ``threshold_delta``."""
    sigma = gaussian_sigma(rho)
    counts = values.value_counts(dropna=True, sort=False)
    missing = int(values.isna().sum())
    noisy = counts.to_numpy(dtype=np.float64) + rng.normal(0.0, sigma, len(counts))
    noisy_missing = missing + rng.normal(0.0, sigma)
    threshold = 1.0 + _threshold(sigma, threshold_delta)
    budget.spend(
        "schema", column.name, "Gaussian counts, thresholded", rho, delta=threshold_delta,
        sigma=sigma, sensitivity=1.0, threshold=threshold,
    )  # fmt: skip
    keep = noisy > threshold
    if not keep.any():
        raise SchemaError(
            f"column {column.name!r}: no category is frequent enough to be released at this "
            "budget; give its public 'categories' in the schema or raise epsilon or schema_share"
        )
    order = np.argsort(-noisy[keep], kind="stable")
    categories = [_plain(v) for v in counts.index[keep][order]]
    out = _bare(column, ColumnKind.CATEGORICAL)
    out.categories = categories
    kept = noisy[keep][order]
    out.frequencies = [float(f) for f in kept / kept.sum()]
    total = float(kept.sum() + max(noisy_missing, 0.0))
    released_missing = noisy_missing > _threshold(sigma, _BOUNDS_FALSE_POSITIVE)
    out.missing_fraction = float(noisy_missing / total) if released_missing else 0.0
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
