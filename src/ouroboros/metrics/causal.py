"""Causal: does the synthetic data support the same interventional answers as the real data?

For a user with a trusted graph: the interventional mean ``E[Y | do(T = t)]`` of an
outcome under each setting of a treatment is estimated from each table by the back-door
adjustment on the treatment's parents in the graph (Pearl 2009, "Causality", §3.3), with a
gradient-boosting outcome model averaged over the table's own rows (the g-formula).
Without a graph the treatment is taken as a root, as sensitive attributes usually are
(Kusner et al. 2017, "Counterfactual Fairness"), so no adjustment is needed. The default
treatment is the sensitive column and the default outcome the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ouroboros.causal.graph import CausalGraph
from ouroboros.errors import ParameterError
from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import EncodedTable, EvaluationContext

#: treatment levels under this share of the real rows are left out
MIN_LEVEL_SHARE = 0.01
#: settings of a numeric treatment: these quantiles of its real values
QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
#: most categories a feature keeps (the boosting model's limit is 255)
MAX_CODES = 250


class InterventionError(Metric):
    """Mean gap between real and synthetic E[Y | do(T = t)] under a trusted graph, in real
    standard deviations of Y (0: the same interventional answers)."""

    name = "intervention_error"
    category = "utility"
    direction = "lower"
    best, worst = 0.0, 1.0
    requires = frozenset({"target", "sensitive"})
    sensitive_to = "bias"

    def __init__(
        self, graph: Any = None, treatment: str | None = None, outcome: str | None = None
    ) -> None:
        self.graph, self.treatment, self.outcome = graph, treatment, outcome

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if self.treatment is not None and self.outcome is not None:
            return None
        return super().not_applicable(context)

    def _roles(self, context: EvaluationContext) -> tuple[str, str, list[str]]:
        treatment = self.treatment or context.sensitive
        outcome = self.outcome or context.target
        unknown = sorted({treatment, outcome} - set(context.columns))
        if unknown:
            raise ParameterError(f"metric {self.name!r}: unknown columns {unknown}")
        adjust = []
        if self.graph is not None:
            adjust = CausalGraph.build(context.columns, self.graph).parents(treatment)
        if outcome in adjust or outcome == treatment:
            raise ParameterError(
                f"metric {self.name!r}: the outcome {outcome!r} must not cause the treatment"
            )
        return treatment, outcome, adjust

    def _compute(self, context: EvaluationContext) -> MetricResult:
        treatment, outcome, adjust = self._roles(context)
        settings, weights, labels = _settings(context, treatment)
        real = _means(context, context.real, treatment, outcome, adjust, settings)
        synthetic = _means(context, context.synthetic, treatment, outcome, adjust, settings)
        gaps = np.abs(synthetic - real)
        gaps = np.where(np.isfinite(gaps), gaps, 1.0)  # a setting the synthetic data lacks
        rows = [
            (f"do({treatment}={label})", float(g)) for label, g in zip(labels, gaps, strict=True)
        ]
        details = {
            "treatment": treatment,
            "outcome": outcome,
            "adjusted_for": adjust,
            "real": real.tolist(),
            "synthetic": synthetic.tolist(),
        }
        return MetricResult(float(np.sum(weights * gaps)), rows, details)


def _settings(
    context: EvaluationContext, treatment: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The treatment values compared (codes or numbers), their weights and labels."""
    if treatment in context.numeric_columns:
        values = np.quantile(context.real.sorted(treatment), QUANTILES)
        return values, np.full(len(values), 1 / len(values)), [f"{v:.4g}" for v in values]
    counts = context.real.counts(treatment, context.n_levels(treatment))[:-1]
    shares = counts / max(counts.sum(), 1)
    kept = np.flatnonzero(shares >= MIN_LEVEL_SHARE)
    labels = [str(context.levels[treatment][k]) for k in kept]
    return kept.astype(np.float64), shares[kept] / shares[kept].sum(), labels


def _outcome(context: EvaluationContext, table: EncodedTable, outcome: str) -> np.ndarray:
    """The outcome per row: the rarest real class as 0/1, or the value in real sd (NaN missing)."""
    if outcome in context.numeric_columns:
        scale = float(np.std(context.real.sorted(outcome))) or 1.0
        return table.numeric[outcome] / scale
    counts = context.real.counts(outcome, context.n_levels(outcome))[:-1]
    positive = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
    codes = table.codes[outcome]
    return np.where(codes < 0, np.nan, (codes == positive).astype(np.float64))


def _feature(context: EvaluationContext, table: EncodedTable, column: str) -> np.ndarray:
    if column in table.numeric:
        return table.numeric[column]
    codes = table.codes[column].astype(np.float64)
    return np.where(codes < 0, np.nan, np.minimum(codes, MAX_CODES))


def _means(
    context: EvaluationContext,
    table: EncodedTable,
    treatment: str,
    outcome: str,
    adjust: list[str],
    settings: np.ndarray,
) -> np.ndarray:
    """``E[Y | do(T = t)]`` for each setting, by the g-formula over ``table``'s rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    y = _outcome(context, table, outcome)
    columns = [treatment, *adjust]
    x = np.column_stack([_feature(context, table, c) for c in columns])
    present = np.isfinite(y)
    if present.sum() < 2:
        return np.full(len(settings), np.nan)
    categorical = np.array([c not in table.numeric for c in columns])
    model = HistGradientBoostingRegressor(
        max_iter=100, categorical_features=categorical, random_state=context.seed
    ).fit(x[present], y[present])
    out = []
    for value in settings:
        if categorical[0] and not np.any(x[present, 0] == value):
            out.append(np.nan)
            continue
        x_do = x.copy()
        x_do[:, 0] = value
        out.append(float(model.predict(x_do).mean()))
    return np.asarray(out)


METRICS = (InterventionError,)
