"""The ``dp=True`` fit of the neural generators: schema, encoders and row count, accounted.

DP-SGD protects the network weights, but a fit reads the data in three more places, and
each is made private here (Stadler et al. 2022 and the issue tracker of every peer show
what is lost otherwise):

- the schema (ranges, category lists) comes from the user as public knowledge, or is
  measured with ``schema_share`` of the budget (:func:`ouroboros.privacy.resolve`, the
  same as the marginal generators');
- the encoders are fitted on a table drawn from that schema alone (uniform values inside
  the public bounds, every public category, missing cells where the schema allows
  them), so their state (category lists, a mean and scale per number) is post-processing
  of the schema; training rows are then clipped to the bounds, and a category the schema
  does not know becomes missing (or the first category where missing cells are not
  allowed), a per-row change;
- the row count, which sets the sampling rate and the steps, is released once by the
  Gaussian mechanism (with :data:`COUNT_SHARE` of the budget's zCDP rho);
- for a generator with a ``marginals_share``, the one-way marginals of every one-hot
  block are released by one more Gaussian mechanism with that share of rho
  (:mod:`~ouroboros.synthesizers.private_marginals`): the network starts from them.

The schema's zCDP cost ``rho`` enters the same Rényi accountant as the SGD steps (a
rho-zCDP mechanism has Rényi DP ``rho * alpha`` at every order, that of a Gaussian
mechanism with noise multiplier ``1 / sqrt(2 rho)``), at the delta the schema's category
thresholds leave; DP-SGD's noise is calibrated to what they leave of epsilon, and the
split is recorded (:func:`budget_split`). The contamination guard and the lineage hash
are skipped: a content hash of the private table would test membership.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ouroboros.errors import ParameterError
from ouroboros.lineage.record import real_record
from ouroboros.privacy import resolve_fit
from ouroboros.privacy.accounting import cdp_epsilon, cdp_rho
from ouroboros.schema import NUMERIC_KINDS, ColumnKind, ColumnSchema, Schema
from ouroboros.synthesizers.private_marginals import measure_marginals
from ouroboros.synthesizers.torch_utils.private import Measurement
from ouroboros.transforms import TableTransformer
from ouroboros.values import datetime_seconds

if TYPE_CHECKING:
    from ouroboros.synthesizers.neural import NeuralSynthesizer

#: share of the budget's zCDP rho that releases the row count
COUNT_SHARE = 0.01
#: rows of the schema-only table the encoders are fitted on
PUBLIC_ROWS = 2_000
WITHHELD = "withheld (differential privacy)"


@dataclass(frozen=True)
class PrivateFit:
    """What the accounting of the SGD steps must compose with."""

    conversion_delta: float
    measurements: tuple[Measurement, ...]
    schema_budget: dict[str, Any]
    sources: dict[str, str]
    #: noisy distribution of every one-hot block (empty without ``marginals_share``)
    marginals: tuple[np.ndarray, ...] = ()
    #: how the budget's zCDP rho is shared out (:func:`budget_split`)
    split: dict[str, Any] | None = None


def fit_private(
    model: NeuralSynthesizer,
    data: pd.DataFrame,
    schema: Schema | dict | str | os.PathLike | None,
    rules: list[str] | None,
) -> NeuralSynthesizer:
    """Fit ``model`` (``dp=True``) under ``(epsilon, delta)``-DP, as the module says."""
    model._check_params()
    schema = _as_schema(schema)
    private, rng = resolve_fit(
        data,
        schema,
        rules,
        owner=f"{type(model).__name__} with dp=True",
        epsilon=model.epsilon,
        delta=model.delta,
        schema_share=model.schema_share,
        seed=model.seed,
    )
    budget = private.budget
    rho = cdp_rho(float(model.epsilon), budget.conversion_delta)
    shares = {"schema": budget.spent("schema") / rho, "row count": COUNT_SHARE}
    shares["marginals"] = float(getattr(model, "marginals_share", 0.0) or 0.0)
    if sum(shares.values()) >= 0.95:
        raise ParameterError(
            f"the shares of {type(model).__name__}'s budget before DP-SGD add up to "
            f"{sum(shares.values()):.3g} ({shares}); leave DP-SGD at least 5%"
        )
    measurements = []
    if shares["schema"] > 0:
        z_schema = 1.0 / math.sqrt(2 * budget.spent("schema"))
        measurements.append(Measurement("schema statistics (zCDP)", z_schema))
    # a count has sensitivity 1: noise 1 / sqrt(2 rho) is rho-zCDP
    z = 1.0 / math.sqrt(2 * COUNT_SHARE * rho)
    noisy = len(data) + float(rng.normal(0.0, z))
    measurements.append(Measurement("row count (Gaussian mechanism)", z))
    model.schema_, model.rules_ = private.schema, None
    transformer = TableTransformer(private.schema, **model._transformer_options())
    model.transformer_ = transformer.fit(public_table(private.schema, PUBLIC_ROWS, rng), rng)
    matrix = model.transformer_.transform(conform(data, private.schema), rng)
    model.n_training_rows_ = max(int(round(noisy)), 1)
    marginals = _marginals(model, matrix, shares, rho * shares["marginals"], noisy, rng)
    if marginals:
        measurements.append(marginals[1])
    model.training_lineage_ = real_record(
        WITHHELD, model.n_training_rows_, private.schema.names
    ).to_dict()
    model.private_fit_ = PrivateFit(
        budget.conversion_delta,
        tuple(measurements),
        budget.to_dict(),
        dict(private.sources),
        marginals[0] if marginals else (),
        budget_split(float(model.epsilon), budget.conversion_delta, shares),
    )
    model._fit(matrix, rng)
    model.sample_rng_ = np.random.default_rng(rng.integers(2**63))
    return model


def _marginals(
    model: NeuralSynthesizer,
    matrix: np.ndarray,
    shares: dict[str, float],
    rho: float,
    total: float,
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, ...], Measurement] | None:
    """The noisy one-way marginals the network starts from, with their measurement, or
    ``None`` (no share, or no one-hot block: the share is then not spent)."""
    spans = model.transformer_.output_info
    if shares["marginals"] <= 0 or not any(s.activation == "softmax" for s in spans):
        shares["marginals"] = 0.0
        return None
    probs, measured = measure_marginals(matrix, spans, rho, total, rng)
    return tuple(probs), measured


def budget_split(epsilon: float, delta: float, shares: dict[str, float]) -> dict[str, Any]:
    """The audit record of the split: each zCDP measurement's share of the budget's rho
    (and its epsilon alone at ``delta``); DP-SGD takes the rest, its noise calibrated in
    the Rényi accountant so that the composition of every part spends ``epsilon`` (the
    two conversions to (epsilon, delta) agree: Canonne, Kamath & Steinke 2020;
    Balle et al. 2020, "Hypothesis Testing Interpretations and Renyi DP")."""
    rho = cdp_rho(epsilon, delta)
    parts = {
        name: {
            "rho_share": share,
            "rho": share * rho,
            "epsilon_alone": cdp_epsilon(share * rho, delta),
        }
        for name, share in shares.items()
        if share > 0
    }
    parts["DP-SGD"] = {"rho_share": 1.0 - sum(shares.values())}
    return {"epsilon": epsilon, "delta": delta, "rho": rho, "parts": parts}


def _as_schema(schema: Any) -> Schema | None:
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, dict):
        return Schema.from_dict(schema)
    if isinstance(schema, (str, os.PathLike)):
        return Schema.load(schema)
    raise ParameterError(
        f"parameter 'schema' must be a Schema, a dict or a JSON path; got {type(schema).__name__}"
    )


def public_table(schema: Schema, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn from the schema alone: its bounds, categories and missingness."""
    return pd.DataFrame({c.name: _public_column(c, n, rng) for c in schema.columns})


def _public_column(column: ColumnSchema, n: int, rng: np.random.Generator) -> pd.Series:
    kind = column.kind
    if kind is ColumnKind.IDENTIFIER:
        if "int" in column.dtype:
            return pd.Series(np.arange(n), dtype=column.dtype)
        return pd.Series([f"id{i}" for i in range(n)], dtype=column.dtype)
    if kind in NUMERIC_KINDS:
        low, high = column.numeric_bounds()
        values = rng.uniform(low, high, n)
        values[:2] = low, high
        if kind is ColumnKind.INTEGER:
            values = np.round(values)
        values = values.astype(object)
        if column.has_missing:
            values[2 : 2 + max(n // 10, 1)] = np.nan
        if kind is ColumnKind.DATETIME:
            return _dates(column, values)
        dtype = "float64" if column.has_missing and "int" in column.dtype else column.dtype
        return pd.Series(values).astype(dtype)
    categories = list(column.categories or [column.value])
    values = np.empty(n, dtype=object)
    values[:] = [categories[i % len(categories)] for i in range(n)]
    if column.has_missing:
        values[len(categories) : len(categories) + max(n // 10, 1)] = None
    series = pd.Series(values)
    try:
        return series.astype(column.dtype)
    except (TypeError, ValueError):
        return series


def _dates(column: ColumnSchema, seconds: np.ndarray) -> pd.Series:
    stamps = pd.to_datetime(pd.Series(seconds, dtype="float64"), unit="s", utc=True)
    if column.timezone:
        stamps = stamps.dt.tz_convert(column.timezone)
    else:
        stamps = stamps.dt.tz_localize(None)
    if "datetime" in column.dtype:
        return stamps
    text = stamps.dt.strftime(column.datetime_format or "%Y-%m-%d %H:%M:%S")
    return text.where(stamps.notna(), None)


def conform(data: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The training rows mapped into the public schema, row by row: numbers clipped to
    the bounds, unknown categories made missing (or the first category)."""
    out = data.copy()
    for column in schema.columns:
        values = out[column.name]
        if column.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER):
            out[column.name] = values.clip(column.min, column.max)
        elif column.kind is ColumnKind.DATETIME:
            low, high = column.numeric_bounds()
            parsed = pd.to_datetime(values, format=column.datetime_format, errors="coerce")
            seconds = pd.Series(datetime_seconds(parsed), index=values.index)
            outside = (seconds < low) | (seconds > high)
            if outside.any():
                out[column.name] = values.where(~outside, column.min)
        elif column.kind is ColumnKind.CATEGORICAL and column.categories is not None:
            known = values.isin(column.categories) | values.isna()
            if not known.all():
                fill = None if column.has_missing else column.categories[0]
                out[column.name] = values.where(known, fill)
    return out
