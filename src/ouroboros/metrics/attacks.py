"""Privacy attacks on the synthetic table, measured against a control set of real rows.

After Giomi, Boenisch, Wehmeyer & Tasnádi (2023), "A Unified Framework for Quantifying
Privacy Risk in Synthetic Data" (the ``anonymeter`` method), written here on the
evaluation context's arrays. Each attack is run twice with the synthetic table as the
attacker's knowledge: against training rows, and against real holdout rows the
generator never saw (the control). What the control attack achieves is what the
synthetic data teaches about the population; only the excess over it is a risk to the
training rows:

    risk = (attack rate - control rate) / (1 - control rate)

with rates and their errors from Wilson score intervals (Wilson 1927) and the error of
the risk propagated to first order, as the paper does; the value and its confidence
interval are bounded to [0, 1].

- singling out (multivariate): predicates of three columns built from synthetic rows
  that single out one synthetic row; success when one predicate matches exactly one
  row of the attacked set. The training rows are cut to as many as the control holds,
  so that the two sets are alike but for membership (the paper corrects for unequal
  sizes with a fitted model instead);
- linkability: the columns split in two halves; a target row is linked when its
  nearest synthetic row by one half is also its nearest by the other;
- attribute inference: the secret column (the sensitive column, else the target, else
  each of the first few columns) guessed from the nearest synthetic row by every other
  column; a number counts as guessed within 5% of its value.

Distances are Gower's (1971): numbers as absolute differences over the real column's
range, categories and missingness as 0 or 1, averaged over the columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import EncodedTable, EvaluationContext

#: target rows attacked in each of the two sets (training, control)
ATTACK_ROWS = 500
#: synthetic rows the attacker searches (a fixed subsample)
POOL_ROWS = 5_000
#: columns per singling-out predicate (anonymeter's default)
PREDICATE_COLUMNS = 3
#: relative tolerance within which a guessed number counts as inferred
TOLERANCE = 0.05
#: secret columns tried when neither a sensitive nor a target column is given
SECRETS = 3
CONFIDENCE = 0.95
_CHUNK = 256


@dataclass(frozen=True)
class Rate:
    """A success rate and its symmetric error at :data:`CONFIDENCE`."""

    value: float
    error: float


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> Rate:
    """The Wilson (1927) score estimate of a Bernoulli rate and its half-width."""
    if trials <= 0:
        return Rate(math.nan, math.nan)
    z = float(norm.ppf(0.5 * (1 + confidence)))
    denominator = trials + z * z
    value = (successes + 0.5 * z * z) / denominator
    spread = successes * (trials - successes) / trials + 0.25 * z * z
    return Rate(value, z / denominator * math.sqrt(spread))


def residual_risk(attack: Rate, control: Rate) -> Rate:
    """``(attack - control) / (1 - control)`` with the first-order propagated error."""
    if not control.value < 1:
        return Rate(math.nan, math.nan)
    gap = 1.0 - control.value
    value = (attack.value - control.value) / gap
    d_attack, d_control = 1.0 / gap, (attack.value - 1.0) / gap**2
    return Rate(value, math.hypot(attack.error * d_attack, control.error * d_control))


def risk_result(
    attack_successes: int, control_successes: int, trials: int, control_trials: int | None = None
) -> MetricResult:
    """The risk of an attack beside its control, with its confidence interval."""
    control_trials = trials if control_trials is None else control_trials
    attack = wilson(attack_successes, trials)
    control = wilson(control_successes, control_trials)
    risk = residual_risk(attack, control)
    clip = lambda x: min(max(x, 0.0), 1.0)  # noqa: E731
    details = {
        "attack_rate": attack.value,
        "control_rate": control.value,
        "attacks": trials,
        "control_attacks": control_trials,
        "successes": attack_successes,
        "control_successes": control_successes,
        "ci_low": clip(risk.value - risk.error),
        "ci_high": clip(risk.value + risk.error),
        "confidence": CONFIDENCE,
    }
    return MetricResult(clip(risk.value) if math.isfinite(risk.value) else math.nan, [], details)


# ------------------------------------------------------------------ distances
class _Rows:
    """Chosen rows of one encoded table as arrays: numbers over the real range, codes."""

    def __init__(self, context: EvaluationContext, table: EncodedTable, rows: np.ndarray, columns):
        self.numeric = [c for c in columns if c in context.numeric_columns]
        self.categorical = [c for c in columns if c in context.categorical_columns]
        ranges = [_range(context, c) for c in self.numeric]
        self.x = np.column_stack(
            [table.numeric[c][rows] / r for c, r in zip(self.numeric, ranges, strict=True)]
            or [np.zeros((len(rows), 0))]
        )
        self.codes = np.column_stack(
            [table.codes[c][rows] for c in self.categorical] or [np.zeros((len(rows), 0), int)]
        )
        self.n = len(rows)
        self.width = max(len(self.numeric) + len(self.categorical), 1)


def _range(context: EvaluationContext, column: str) -> float:
    values = context.real.sorted(column)
    spread = float(values[-1] - values[0]) if len(values) else 0.0
    return spread if spread > 0 else 1.0


def nearest(targets: _Rows, pool: _Rows) -> np.ndarray:
    """Index of each target's nearest pool row by Gower distance (ties: lowest index)."""
    out = np.empty(targets.n, dtype=np.int64)
    for start in range(0, targets.n, _CHUNK):
        stop = min(start + _CHUNK, targets.n)
        distance = np.zeros((stop - start, pool.n))
        for j in range(targets.x.shape[1]):
            a, b = targets.x[start:stop, j, None], pool.x[None, :, j]
            diff = np.abs(a - b)
            missing = np.isnan(a) | np.isnan(b)
            distance += np.where(missing, (np.isnan(a) != np.isnan(b)).astype(float), diff)
        for j in range(targets.codes.shape[1]):
            distance += targets.codes[start:stop, j, None] != pool.codes[None, :, j]
        out[start:stop] = np.argmin(distance, axis=1)
    return out


def _targets(context: EvaluationContext, table: EncodedTable, n: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng([context.seed, salt])
    return np.sort(rng.permutation(table.n)[:n])


class _Attack(Metric):
    category = "privacy"
    direction = "lower"
    best, worst = 0.0, 1.0
    requires = frozenset({"holdout"})
    uses_holdout = True
    sensitive_to = "memorisation"
    subsample = (
        f"at most {ATTACK_ROWS} training and {ATTACK_ROWS} control rows attacked, "
        f"{POOL_ROWS:,} synthetic rows searched"
    )

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        if reason is None and min(context.real.n, context.synthetic.n, context.holdout.n) < 5:
            return "needs at least 5 training, synthetic and holdout rows"
        return reason

    def _sets(self, context: EvaluationContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attacked training rows, control rows (as many), and the synthetic pool."""
        n = min(ATTACK_ROWS, context.real.n, context.holdout.n)
        pool = context.sample_index(context.synthetic, POOL_ROWS)
        train = _targets(context, context.real, n, 1)
        return train, _targets(context, context.holdout, n, 2), np.sort(pool)


class LinkabilityRisk(_Attack):
    """Share of training rows whose two column halves link to one synthetic row, beyond
    what control rows show (Giomi et al. 2023)."""

    name = "linkability_risk"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        columns = context.columns
        if len(columns) < 2:
            return MetricResult(math.nan, [], {"reason": "needs two columns"})
        first, second = columns[0::2], columns[1::2]
        train, control, pool = self._sets(context)
        counts = []
        for table, rows in ((context.real, train), (context.holdout, control)):
            found = [
                nearest(
                    _Rows(context, table, rows, half), _Rows(context, context.synthetic, pool, half)
                )
                for half in (first, second)
            ]
            counts.append(int(np.sum(found[0] == found[1])))
        result = risk_result(counts[0], counts[1], len(train))
        result.details.update({"columns_a": first, "columns_b": second})
        return result


class InferenceRisk(_Attack):
    """Share of training rows whose secret column the nearest synthetic row gives away,
    beyond what control rows show (Giomi et al. 2023); the worst secret column."""

    name = "inference_risk"

    def _secrets(self, context: EvaluationContext) -> list[str]:
        for given in (context.sensitive, context.target):
            if given is not None and given in context.columns:
                return [given]
        return context.columns[:SECRETS]

    def _compute(self, context: EvaluationContext) -> MetricResult:
        train, control, pool = self._sets(context)
        rows, worst = [], None
        for secret in self._secrets(context):
            aux = [c for c in context.columns if c != secret]
            if not aux:
                continue
            hits = []
            for table, chosen in ((context.real, train), (context.holdout, control)):
                found = nearest(
                    _Rows(context, table, chosen, aux), _Rows(context, context.synthetic, pool, aux)
                )
                hits.append(int(_guessed(context, secret, table, chosen, pool[found]).sum()))
            result = risk_result(hits[0], hits[1], len(train))
            result.details["secret"] = secret
            rows.append((secret, result.value))
            if worst is None or not result.value <= worst.value:
                worst = result
        if worst is None:
            return MetricResult(math.nan, [], {"reason": "needs two columns"})
        worst.rows = rows
        return worst


def _guessed(
    context: EvaluationContext, secret: str, table: EncodedTable, rows: np.ndarray, picks
) -> np.ndarray:
    """Whether the synthetic rows ``picks`` carry the secret of ``rows``."""
    if secret in context.categorical_columns:
        return table.codes[secret][rows] == context.synthetic.codes[secret][picks]
    truth, guess = table.numeric[secret][rows], context.synthetic.numeric[secret][picks]
    both_missing = np.isnan(truth) & np.isnan(guess)
    with np.errstate(invalid="ignore"):
        close = np.abs(guess - truth) <= TOLERANCE * np.abs(truth)
    return both_missing | close


class SinglingOutRisk(_Attack):
    """Share of predicates built from synthetic rows that single out one training row,
    beyond the share that singles out one control row (Giomi et al. 2023)."""

    name = "singling_out_risk"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        train, control, pool = self._sets(context)
        queries = _predicates(context, pool, len(train))
        if not queries:
            return MetricResult(math.nan, [], {"reason": "no predicate singles out a row"})
        counts = [
            sum(_matches(context, table, rows, q) == 1 for q in queries)
            for table, rows in ((context.real, train), (context.holdout, control))
        ]
        result = risk_result(int(counts[0]), int(counts[1]), len(queries))
        result.details["predicates"] = len(queries)
        return result


def _predicates(context: EvaluationContext, pool: np.ndarray, n: int) -> list[tuple]:
    """Up to ``n`` distinct predicates, each singling out one row of the synthetic pool:
    ``(column, kind, value)`` terms from a random synthetic row and random columns, a
    number bounded on the side away from the synthetic median."""
    rng = np.random.default_rng([context.seed, 3])
    synthetic, columns = context.synthetic, context.columns
    width = min(PREDICATE_COLUMNS, len(columns))
    medians = {c: np.nanmedian(synthetic.numeric[c][pool]) for c in context.numeric_columns}
    found: dict[tuple, None] = {}
    for _ in range(10 * n):
        row = pool[rng.integers(len(pool))]
        terms = []
        for column in sorted(rng.choice(columns, width, replace=False)):
            if column in context.categorical_columns:
                terms.append((column, "==", int(synthetic.codes[column][row])))
                continue
            value = float(synthetic.numeric[column][row])
            if math.isnan(value):
                terms.append((column, "nan", 0.0))
            else:
                terms.append((column, ">=" if value > medians[column] else "<=", value))
        query = tuple(terms)
        if query not in found and _matches(context, synthetic, pool, query) == 1:
            found[query] = None
            if len(found) >= n:
                break
    return list(found)


def _matches(context: EvaluationContext, table: EncodedTable, rows: np.ndarray, query) -> int:
    """How many of ``rows`` meet every term of ``query``."""
    mask = np.ones(len(rows), dtype=bool)
    for column, kind, value in query:
        if kind == "==":
            mask &= table.codes[column][rows] == value
            continue
        values = table.numeric[column][rows]
        if kind == "nan":
            mask &= np.isnan(values)
        elif kind == ">=":
            mask &= values >= value
        else:
            mask &= values <= value
    return int(mask.sum())


METRICS = (SinglingOutRisk, LinkabilityRisk, InferenceRisk)
