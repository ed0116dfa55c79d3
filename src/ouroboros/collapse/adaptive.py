"""The adaptive controller: a strategy that measures collapse as it goes and corrects itself.

``adaptive:B`` spends real rows only where they are needed. Before building generation
g's training set it measures the previous generation's sample on a small real validation
set (rows no generation trains on), on the key collapse indicators: ``tail_kept``,
``coverage``, ``detection_auc`` and, when the experiment has a target, ``tstr_ratio``. Each
indicator is mapped onto [0, 1] by the metric's own goodness; its drift is the loss of
goodness since generation 0's sample, and the generation's drift the largest of them.
Against a tolerance τ the controller then sets three levers, cheapest first:

1. **accumulation** (free; Gerstgrasser et al. 2024, Kazdan et al. 2024): a share of the
   synthetic rows is drawn from earlier generations' samples, weighted by exp(−drift/τ), so
   that verified-good earlier data (Feng et al. 2024: selection by a verifier) anchors the
   loop; the share grows with the drift;
2. **correction** (free in real rows; Gillman et al. 2024): importance resampling of the
   synthetic rows (:class:`~ouroboros.collapse.correctors.Importance`) with strength γ
   rising once the drift passes τ, when detection AUC is what drifted (reweighting cannot
   bring back tails or coverage);
3. **real rows** (the budget; Bertrand et al. 2024: a real share keeps retraining stable
   when the model is good enough): a share proportional to drift/τ, never more than the
   budget banked so far, so that the average real share over generations 1..g never passes
   B at any g.

It optimises the real rows spent subject to the drift staying within τ: free levers
first, real rows for what they cannot hold. Every decision goes into the generation's
record (``info``: ``adaptive_*``; ``decision``: the reasons in plain words), and the
collapse report shows them. Resumable: the decisions read earlier generations' records
(``Pool.history``), never process state. Derivations and the reasoning in
``docs/COLLAPSE_THEORY.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ouroboros.collapse.correctors import Importance, correct_training_set
from ouroboros.collapse.strategies import (
    Pool,
    Source,
    Strategy,
    TrainingSet,
    _concat,
    _draw,
    register,
)
from ouroboros.errors import ParameterError

#: the indicators the controller watches (``tstr_ratio`` joins when a target is set)
INDICATORS = ("tail_kept", "coverage", "detection_auc")
UTILITY = "tstr_ratio"
_VERBS = {"detection_auc": "rose to"}


class Adaptive(Strategy):
    """Sets each generation's real share, accumulation and correction from measured drift.

    ``budget`` is the most the average share of real rows over generations 1.. may reach;
    ``tolerance`` the drift allowed (loss of goodness on [0, 1]); ``validation`` the real
    rows held back to measure on; ``max_share`` the most real rows in one training set;
    ``max_correct`` the strongest importance correction.
    """

    name = "adaptive"
    param = "budget"
    citation = (
        "Bertrand et al. 2024; Gillman et al. 2024; Feng et al. 2024; Gerstgrasser et al. "
        "2024; Kazdan et al. 2024 (see docs/COLLAPSE_THEORY.md)"
    )
    description = (
        "measures drift on held-back real rows and sets real share, accumulation and "
        "correction per generation within a real-row budget"
    )
    reference_matches_lab = False

    def __init__(
        self,
        budget: float = 0.05,
        tolerance: float = 0.05,
        validation: int = 400,
        max_share: float = 0.5,
        max_correct: float = 1.0,
    ):
        self.budget = budget
        self.tolerance = tolerance
        self.validation = validation
        self.max_share = max_share
        self.max_correct = max_correct

    def validate(self) -> None:
        super().validate()
        for name, positive in (("tolerance", True), ("max_correct", False)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            if not (ok and (value > 0 if positive else value >= 0)):
                bound = "> 0" if positive else ">= 0"
                raise ParameterError(f"strategy 'adaptive': {name} must be {bound}; got {value!r}")
        if not (isinstance(self.validation, int) and self.validation >= 40):
            raise ParameterError(
                f"strategy 'adaptive': validation must be an integer >= 40; got {self.validation!r}"
            )

    def real_rows_needed(self, size: int, generations: int) -> int:
        return size + self.validation

    # ------------------------------------------------------------ measuring
    def _validation(self, pool: Pool) -> pd.DataFrame:
        held = pool.reserve.iloc[: self.validation]
        return held if len(held) >= 40 else pool.real

    def measure(self, sample: pd.DataFrame, pool: Pool) -> dict[str, float]:
        """The indicators of ``sample`` against the validation rows (half as the real
        reference, half as the test set of the utility metric)."""
        from ouroboros import metrics

        validation = self._validation(pool)
        half = len(validation) // 2
        names = list(INDICATORS) + ([UTILITY] if pool.target else [])
        scores = metrics.evaluate(
            validation.iloc[:half].reset_index(drop=True),
            sample.iloc[: pool.size].reset_index(drop=True),
            holdout=validation.iloc[half:].reset_index(drop=True),
            target=pool.target,
            metrics=names,
            schema=pool.schema,
            ceilings=False,
        ).scores()
        return {
            str(row["metric"]): float(row["value"])
            for row in scores.to_dict("records")
            if row["value"] is not None and math.isfinite(float(row["value"]))
        }

    @staticmethod
    def drifts(current: dict[str, float], base: dict[str, float]) -> dict[str, float]:
        """Per indicator, the loss of goodness since generation 0 (0 when not worse)."""
        from ouroboros import metrics

        out = {}
        for name, value in current.items():
            if name in base:
                metric = metrics.get(name)()
                out[name] = max(0.0, metric.goodness(base[name]) - metric.goodness(value))
        return out

    # ------------------------------------------------------------ deciding
    def decide(
        self, generation: int, drift: float, spent: float, worst: str | None = None
    ) -> dict[str, float]:
        """The levers for ``generation`` given the latest drift, the indicator that drifted
        most and the real share spent over generations 1..g−1.

        Importance correction answers only a rise in detection AUC, the classifier signal
        it reweights by: it cannot restore lost tails or coverage (it only reweights rows
        the model still makes), so those get accumulation and real rows.
        """
        severity = drift / self.tolerance
        bank = round(max(0.0, self.budget * generation - spent), 12)
        accumulate = min(1.0, severity)
        correct = 0.0
        if worst in (None, "detection_auc"):
            correct = self.max_correct * min(1.0, max(0.0, severity - 1.0))
        share = 0.0 if severity <= 1.0 else min(self.budget * severity, self.max_share, bank)
        return {"real_share": share, "accumulate": accumulate, "correct": correct, "bank": bank}

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        history = pool.history
        if generation >= 2 and len(history) >= 2 and "adaptive_base_drift" in history[1]:
            base = _prefixed(history[1], "adaptive_base_")
        else:
            base = self.measure(pool.synthetic(0), pool)
        current = self.measure(pool.synthetic(generation - 1), pool)
        losses = self.drifts(current, base)
        worst = max(losses, key=losses.get) if losses else None
        drift = losses.get(worst, 0.0) if worst else 0.0
        spent = sum(history[k].get("adaptive_real_share", 0.0) for k in range(1, generation))
        levers = self.decide(generation, drift, spent, worst)
        n_real = math.floor(levers["real_share"] * pool.size + 1e-9)
        levers["real_share"] = n_real / pool.size
        train = self._build(generation, pool, rng, n_real, levers["accumulate"], history, drift)
        if levers["correct"] > 0:
            train = correct_training_set(train, Importance(levers["correct"]), pool, rng)
        info = dict(train.info)
        info |= {f"adaptive_{k}": float(v) for k, v in levers.items()}
        info |= {"adaptive_drift": drift, "adaptive_base_drift": 0.0}
        info |= {f"adaptive_{k}": v for k, v in current.items()}
        info |= {f"adaptive_base_{k}": v for k, v in base.items()}
        text = self.explain(generation, worst, current, base, drift, levers)
        return TrainingSet(train.data, train.provenance, info, text)

    def _build(
        self,
        generation: int,
        pool: Pool,
        rng: np.random.Generator,
        n_real: int,
        accumulate: float,
        history: list[dict[str, float]],
        drift: float,
    ) -> TrainingSet:
        """Real rows, then synthetic rows from earlier generations by their measured drift
        and from the latest one."""
        n_syn = pool.size - n_real
        counts = np.zeros(generation, dtype=int)
        n_old = round(accumulate * n_syn) if generation >= 2 else 0
        if n_old:
            past = np.array(
                [0.0]
                + [history[k + 1].get("adaptive_drift", drift) for k in range(1, generation - 1)]
            )
            weights = np.exp(-past / self.tolerance)
            counts[: generation - 1] = rng.multinomial(n_old, weights / weights.sum())
        counts[generation - 1] = n_syn - counts.sum()
        frames = [_draw(pool.real, n_real, rng)]
        provenance = [Source(None, n_real)]
        for k in range(generation):
            if counts[k]:
                sample = pool.synthetic(k)
                frame = _draw(sample, min(int(counts[k]), len(sample)), rng)
                frames.append(frame)
                provenance.append(Source(k, len(frame)))
        keep = [p.rows > 0 for p in provenance]
        return TrainingSet(
            _concat([f for f, k in zip(frames, keep, strict=True) if k]),
            [p for p, k in zip(provenance, keep, strict=True) if k],
        )

    def explain(
        self,
        generation: int,
        worst: str | None,
        current: dict[str, float],
        base: dict[str, float],
        drift: float,
        levers: dict[str, float],
    ) -> str:
        """The decision in plain words."""
        if worst is None or drift <= self.tolerance:
            head = (
                f"generation {generation}: every indicator within {self.tolerance:g} of "
                "generation 0"
            )
            if worst is not None and drift > 0:
                head += f" ({worst} {current[worst]:.2f}, generation 0: {base[worst]:.2f})"
            parts = ["so no real rows"]
        else:
            verb = _VERBS.get(worst, "fell to")
            head = (
                f"generation {generation}: {worst.replace('_', ' ')} {verb} "
                f"{current[worst]:.2f} (generation 0: {base[worst]:.2f})"
            )
            parts = [f"so {levers['real_share']:.0%} real rows"]
            if levers["real_share"] < min(self.budget * drift / self.tolerance, self.max_share):
                parts[0] += f" (all the budget banked: {levers['bank']:.0%})"
        if levers["accumulate"] > 0 and generation >= 2:
            parts.append(
                f"{levers['accumulate']:.0%} of the synthetic rows from earlier generations"
            )
        if levers["correct"] > 0:
            parts.append(f"importance correction γ={levers['correct']:.2g}")
        return head + ", " + ", ".join(parts)


def _prefixed(info: dict[str, float], prefix: str) -> dict[str, float]:
    return {
        k[len(prefix) :]: v
        for k, v in info.items()
        if k.startswith(prefix) and k != prefix + "drift"
    }


register(Adaptive)
