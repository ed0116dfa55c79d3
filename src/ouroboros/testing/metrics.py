"""Contract checks every metric must pass, built-in or plugin.

``check_metric(factory)`` runs them all; ``factory()`` returns a fresh metric
(a metric class works). Each check raises ``AssertionError`` saying what broke:

- the metric describes itself (name, category, direction, best, worst, ...);
- it refuses to run without what it ``requires``;
- identical data scores (close to) its best value, and a fresh sample of the
  real distribution scores better than data degraded the way the metric
  declares it is ``sensitive_to`` (a distorted table, copied training rows,
  amplified bias): the declared direction holds;
- the same inputs give the same value, and the details are JSON-ready.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ouroboros.errors import ParameterError
from ouroboros.metrics.base import Metric
from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.registry import check_metric_class

MetricFactory = Callable[[], Metric]

#: goodness (0 worst, 1 best) that identical data must reach
IDENTICAL_GOODNESS = 0.9
#: goodness by which a fresh sample must beat degraded data
MARGIN = 0.05


def metric_tables(n: int = 500, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Three samples of one distribution (real, holdout, fresh) and a biased one.

    Columns: a group with a rare level (the sensitive column), a skewed amount
    with missing values, a score correlated with it, a count, a date and a
    binary label that depends on all of them (the target).
    """
    rng = np.random.default_rng(seed)

    def draw(size: int, bias: bool = False) -> pd.DataFrame:
        shares = [0.6, 0.15, 0.15, 0.095, 0.005] if bias else [0.45, 0.3, 0.15, 0.095, 0.005]
        group = rng.choice(["a", "b", "c", "d", "z"], size, p=shares)
        amount = np.exp(rng.normal(3 + 0.5 * (group == "b"), 0.6, size))
        score = np.log(amount) + rng.normal(0, 0.5, size)
        count = rng.poisson(np.where(group == "a", 20, 35), size)
        date = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, size), "D")
        logit = 1.5 * (score - 3.2) + 0.8 * (group == "a") - 0.8 * (group == "c")
        label = np.where(rng.random(size) < 1 / (1 + np.exp(-logit)), "yes", "no")
        if bias:
            # the favoured group is over-represented and always positive; the disfavoured
            # group's labels are inverted, so a model trained here fails on it
            inverted = np.where(label == "yes", "no", "yes")
            label = np.where(group == "a", "yes", np.where(group == "c", inverted, label))
        amount[rng.random(size) < 0.05] = np.nan
        return pd.DataFrame(
            {
                "group": group,
                "amount": amount,
                "score": score,
                "count": count,
                "date": date.strftime("%Y-%m-%d"),
                "label": label,
            }
        )

    return {
        "real": draw(n),
        "holdout": draw(n),
        "fresh": draw(n),
        "biased": draw(n, bias=True),
    }


def distort(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A table that is wrong in every way a fidelity, diversity or collapse metric sees.

    Numeric columns shrunk and shifted, categories collapsed onto the mode,
    extra missing values, columns shuffled independently (no correlation left),
    and only a third of the rows, repeated.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, values in table.items():
        values = values.to_numpy(copy=True)
        if pd.api.types.is_numeric_dtype(table[name].dtype):
            centre, spread = np.nanmedian(values), np.nanstd(values)
            values = centre + 0.2 * (values - centre) + 2 * spread
            if pd.api.types.is_integer_dtype(table[name].dtype):
                values = np.round(values).astype(table[name].dtype)
            else:
                values[rng.random(len(values)) < 0.3] = np.nan
        else:
            mode = table[name].mode().iloc[0]
            values = np.where(rng.random(len(values)) < 0.8, mode, values)
        out[name] = rng.permutation(values)
    rows = rng.integers(0, max(len(table) // 3, 1), len(table))
    return pd.DataFrame(out).iloc[rows].reset_index(drop=True)


def _compute(metric: Metric, real, synthetic, holdout, seed: int = 0) -> float:
    context = EvaluationContext(
        real, synthetic, holdout, target="label", sensitive="group", seed=seed
    )
    result = metric.compute(real, synthetic, context=context)
    json.dumps({"rows": result.rows, "details": result.details}, default=_plain)
    assert all(isinstance(label, str) for label, _ in result.rows), (
        f"{metric.name}: row labels must be strings"
    )
    return result.value


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"details hold a {type(value).__name__}, which JSON cannot carry")


def check_describes_itself(factory: MetricFactory, tables: dict) -> None:
    metric = factory()
    assert isinstance(metric, Metric), "the factory must return a Metric instance"
    try:
        check_metric_class(type(metric))
    except ParameterError as exc:
        raise AssertionError(str(exc)) from exc
    assert metric.describe(), f"{metric.name}: give the class a docstring"


def check_requirements(factory: MetricFactory, tables: dict) -> None:
    metric = factory()
    if "holdout" not in metric.requires:
        return
    context = EvaluationContext(tables["real"], tables["fresh"], None, target="label")
    try:
        metric.compute(tables["real"], tables["fresh"], context=context)
    except ParameterError:
        return
    raise AssertionError(f"{metric.name} requires a holdout but ran without one")


def check_identical_scores_best(factory: MetricFactory, tables: dict) -> None:
    metric = factory()
    if metric.sensitive_to == "memorisation":
        return  # copies are the worst case of these metrics, checked below
    real = tables["real"]
    value = _compute(metric, real, real.copy(), tables["holdout"])
    goodness = metric.goodness(value)
    assert math.isfinite(goodness) and goodness >= IDENTICAL_GOODNESS, (
        f"{metric.name}: identical data scores {value} (goodness {goodness:.3f}); "
        f"it should be near its best, {metric.best}"
    )


def check_direction_holds(factory: MetricFactory, tables: dict) -> None:
    metric = factory()
    real, holdout, fresh = tables["real"], tables["holdout"], tables["fresh"]
    if metric.sensitive_to == "memorisation":
        rng = np.random.default_rng(1)
        degraded = real.iloc[rng.integers(0, len(real), len(real))].reset_index(drop=True)
        how = "copied training rows"
    elif metric.sensitive_to == "bias":
        degraded, how = tables["biased"], "amplified bias"
    else:
        degraded, how = distort(real), "a distorted table"
    good = _compute(metric, real, fresh, holdout)
    bad = _compute(metric, real, degraded, holdout)
    assert metric.better(good, bad) and metric.goodness(good) - metric.goodness(bad) >= MARGIN, (
        f"{metric.name} ({metric.direction} is better): a fresh sample scores {good}, "
        f"{how} scores {bad}; the fresh sample should score clearly better"
    )


def check_deterministic(factory: MetricFactory, tables: dict) -> None:
    metric = factory()
    real, fresh, holdout = tables["real"], tables["fresh"], tables["holdout"]
    first = _compute(metric, real, fresh, holdout, seed=3)
    second = _compute(factory(), real, fresh, holdout, seed=3)
    assert first == second or (math.isnan(first) and math.isnan(second)), (
        f"{metric.name}: the same inputs and seed gave {first} then {second}"
    )


ALL_CHECKS = (
    check_describes_itself,
    check_requirements,
    check_identical_scores_best,
    check_direction_holds,
    check_deterministic,
)


def check_metric(factory: MetricFactory | type[Metric]) -> None:
    """Run every contract check on the metric that ``factory()`` builds."""
    tables = metric_tables()
    for check in ALL_CHECKS:
        check(factory, tables)
