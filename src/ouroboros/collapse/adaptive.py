"""The adaptive controller: a strategy that measures collapse as it goes and corrects itself.

``adaptive:B`` spends real rows only where they are needed. Before building generation
g's training set it measures the previous generation's sample on a small real validation
set (rows no generation trains on), on the key collapse indicators: ``tail_kept``,
``coverage``, ``detection_auc`` and, when the experiment has a target, ``tstr_ratio``. Each
indicator is mapped onto [0, 1] by the metric's own goodness; its drift is the loss of
goodness since generation 0's sample, less a significance margin where the indicator is
noisy (detection AUC on a few hundred rows: ``margin`` standard errors of the difference,
Hanley & McNeil 1982), and the generation's drift the largest of them. Against a
tolerance τ it sets three levers, cheapest first:

1. **a verified reservoir** (free; Gerstgrasser et al. 2024, Kazdan et al. 2024, Feng et
   al. 2024): the synthetic rows are drawn from every earlier generation's sample, each
   weighted by exp(−drift/τ) of its own measured drift, so that the loop accumulates
   instead of replacing and leans on the samples that measured best (generation 0's, whose
   model saw only real rows): a generation's error then stays one refit away from
   generation 0 instead of compounding;
2. **importance correction** (free in real rows; Gillman et al. 2024, whose loop corrects
   every generation): γ = ``min_correct`` always, rising to ``max_correct`` as detection
   AUC drifts; the synthetic rows are resampled from
   ``reservoir`` times as many candidates by a real-vs-synthetic classifier's density
   ratio (:class:`~ouroboros.collapse.correctors.Importance`, real side: generation 0's
   real rows, already spent); reweighting cannot restore lost tails or coverage;
3. **real rows** (the budget; Bertrand et al. 2024: a real share keeps retraining stable
   when the model is good enough): a share proportional to drift/τ, never more than the
   budget banked so far, so that the average real share over generations 1..g never passes
   B at any g.

It minimises the real rows spent subject to the drift staying within τ: free levers
first, real rows for what they cannot hold. Every decision goes into the generation's
record (``info``: ``adaptive_*``; ``decision``: the reasons in plain words), and the
collapse report shows them. Resumable: the decisions read earlier generations' records
(``Pool.history``), never process state. Derivations and the reasoning in
``docs/COLLAPSE_THEORY.md`` §6. On a sequence table with an entity key every count (the
budget's share, the validation set, the reservoir) is in whole entities, and the importance
weight of an entity is the mean of its rows'; one keyless series is refused.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ouroboros.collapse.correctors import Importance, systematic
from ouroboros.collapse.strategies import Pool, Source, Strategy, TrainingSet, register
from ouroboros.collapse.units import Units
from ouroboros.errors import CollapseError, ParameterError

#: the indicators the controller watches (``tstr_ratio`` joins when a target is set)
INDICATORS = ("tail_kept", "coverage", "detection_auc")
UTILITY = "tstr_ratio"
DETECTION = "detection_auc"
_VERBS = {DETECTION: "rose to"}


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Standard error of an AUC estimated on ``positives`` and ``negatives`` rows (Hanley &
    McNeil 1982, "The Meaning and Use of the Area under a ROC Curve")."""
    a = min(max(auc, 1e-6), 1 - 1e-6)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)
    return math.sqrt(max(var, 0.0) / (positives * negatives))


class Adaptive(Strategy):
    """Sets each generation's real share, reservoir weights and correction from measured drift.

    ``budget`` is the most the average share of real rows over generations 1.. may reach;
    ``tolerance`` the drift allowed (loss of goodness on [0, 1]); ``validation`` the real
    rows held back to measure on; ``max_share`` the most real rows in one training set;
    ``min_correct`` and ``max_correct`` the importance correction applied always and at
    full detection drift (Gillman's loop corrects every generation); ``margin`` the standard errors
    of detection AUC a drift must pass to count; ``reservoir`` how many rows each model
    samples per training row (the candidates the correction chooses from).
    """

    name = "adaptive"
    param = "budget"
    citation = (
        "Bertrand et al. 2024; Gillman et al. 2024; Feng et al. 2024; Gerstgrasser et al. "
        "2024; Kazdan et al. 2024 (see docs/COLLAPSE_THEORY.md)"
    )
    description = (
        "measures drift on held-back real rows and sets real share, a verified reservoir of "
        "earlier synthetic rows and correction per generation within a real-row budget"
    )
    reference_matches_lab = False

    def __init__(
        self,
        budget: float = 0.05,
        tolerance: float = 0.05,
        validation: int = 400,
        max_share: float = 0.5,
        max_correct: float = 4.0,
        min_correct: float = 1.0,
        margin: float = 1.0,
        reservoir: float = 3.0,
    ):
        self.budget = budget
        self.tolerance = tolerance
        self.validation = validation
        self.max_share = max_share
        self.max_correct = max_correct
        self.min_correct = min_correct
        self.margin = margin
        self.reservoir = reservoir

    def validate(self) -> None:
        super().validate()
        names = ("max_correct", "min_correct", "margin")
        for name, low in (("tolerance", 0.0),) + tuple((n, None) for n in names):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            if not (ok and (value > 0 if low is not None else value >= 0)):
                bound = "> 0" if low is not None else ">= 0"
                raise ParameterError(f"strategy 'adaptive': {name} must be {bound}; got {value!r}")
        if self.min_correct > self.max_correct:
            raise ParameterError(
                f"strategy 'adaptive': min_correct ({self.min_correct}) must not exceed "
                f"max_correct ({self.max_correct})"
            )
        if not (isinstance(self.reservoir, (int, float)) and 1 <= self.reservoir <= 10):
            raise ParameterError(
                f"strategy 'adaptive': reservoir must be in [1, 10]; got {self.reservoir!r}"
            )
        if not (isinstance(self.validation, int) and self.validation >= 40):
            raise ParameterError(
                f"strategy 'adaptive': validation must be an integer >= 40; got {self.validation!r}"
            )

    def sample_size(self, size: int) -> int:
        return math.ceil(size * self.reservoir - 1e-9)

    def real_rows_needed(self, size: int, generations: int) -> int:
        return size + self.validation

    def check_units(self, units: Units) -> None:
        if units.series:
            raise CollapseError(
                "strategy 'adaptive' works on plain tables and on sequence tables with an "
                "entity key; for one series (no key) use e.g. 'mix:0.2', 'fresh:0.2' or "
                "'accumulate'"
            )

    # ------------------------------------------------------------ measuring
    def _validation(self, pool: Pool) -> pd.DataFrame:
        held = pool.units.head(pool.reserve, self.validation)
        return held if pool.units.count(held) >= 40 else pool.real

    def measure(self, sample: pd.DataFrame, pool: Pool) -> dict[str, float]:
        """The indicators of ``sample`` against the validation rows (half as the real
        reference, half as the test set of the utility metric)."""
        from ouroboros import metrics

        units, validation = pool.units, self._validation(pool)
        half = units.count(validation) // 2
        names = list(INDICATORS) + ([UTILITY] if pool.target else [])
        scores = metrics.evaluate(
            units.part(validation, 0, half).reset_index(drop=True),
            units.head(sample, pool.size).reset_index(drop=True),
            holdout=units.part(validation, half).reset_index(drop=True),
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

    def drifts(
        self, current: dict[str, float], base: dict[str, float], pool: Pool | None = None
    ) -> dict[str, float]:
        """Per indicator, the loss of goodness since generation 0 (0 when not worse); for
        detection AUC, less ``margin`` standard errors of the difference of the two AUCs."""
        from ouroboros import metrics

        out = {}
        for name, value in current.items():
            if name not in base:
                continue
            metric = metrics.get(name)()
            loss = metric.goodness(base[name]) - metric.goodness(value)
            if name == DETECTION and self.margin and pool is not None:
                real = len(self._validation(pool)) // 2
                se = math.hypot(
                    auc_standard_error(base[name], real, pool.size),
                    auc_standard_error(value, real, pool.size),
                )
                loss -= self.margin * se / abs(metric.worst - metric.best)
            out[name] = max(0.0, loss)
        return out

    # ------------------------------------------------------------ deciding
    def decide(
        self,
        generation: int,
        drift: float,
        spent: float,
        worst: str | None = None,
        detection: float | None = None,
    ) -> dict[str, float]:
        """The levers for ``generation`` given the latest drift, the indicator that drifted
        most, the real share spent over generations 1..g−1 and detection AUC's own drift
        (taken as ``drift`` when it is the worst or unknown).

        Importance correction is on at ``min_correct`` in every generation (free in real
        rows: Gillman et al. correct every generation) and rises to ``max_correct`` with a
        rise in detection AUC, the classifier signal it reweights by, whichever indicator
        drifted most; it cannot restore lost tails or coverage (it only reweights rows the
        model still makes), so those get the reservoir and real rows.
        """
        severity = drift / self.tolerance
        bank = round(max(0.0, self.budget * generation - spent), 12)
        if detection is None:
            detection = drift if worst in (None, DETECTION) else 0.0
        rise = min(1.0, max(0.0, detection / self.tolerance))
        correct = self.min_correct + (self.max_correct - self.min_correct) * rise
        share = 0.0 if severity <= 1.0 else min(self.budget * severity, self.max_share, bank)
        return {"real_share": share, "correct": correct, "bank": bank}

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        self.check_units(pool.units)
        history = pool.history
        if generation >= 2 and len(history) >= 2 and "adaptive_base_drift" in history[1]:
            base = _prefixed(history[1], "adaptive_base_")
        else:
            base = self.measure(pool.synthetic(0), pool)
        current = self.measure(pool.synthetic(generation - 1), pool)
        losses = self.drifts(current, base, pool)
        worst = max(losses, key=losses.get) if losses else None
        drift = losses.get(worst, 0.0) if worst else 0.0
        spent = sum(history[k].get("adaptive_real_share", 0.0) for k in range(1, generation))
        levers = self.decide(generation, drift, spent, worst, losses.get(DETECTION, 0.0))
        n_real = math.floor(levers["real_share"] * pool.size + 1e-9)
        levers["real_share"] = n_real / pool.size
        # each earlier sample's own drift, as measured when the next generation was built
        past = [0.0] + [
            history[k + 1].get("adaptive_drift", drift) for k in range(1, generation - 1)
        ]
        weights = np.exp(-np.asarray(past + [drift] * (generation >= 2)) / self.tolerance)
        train = self._build(pool, rng, n_real, weights, levers["correct"])
        levers |= train.info
        info = {f"adaptive_{k}": float(v) for k, v in levers.items()}
        info |= {"adaptive_drift": drift, "adaptive_base_drift": 0.0}
        info |= {f"adaptive_{k}": v for k, v in current.items()}
        info |= {f"adaptive_base_{k}": v for k, v in base.items()}
        text = self.explain(generation, worst, current, base, drift, levers)
        return TrainingSet(train.data, train.provenance, info, text)

    def _build(
        self,
        pool: Pool,
        rng: np.random.Generator,
        n_real: int,
        weights: np.ndarray,
        correct: float,
    ) -> TrainingSet:
        """Real rows, then synthetic rows from every earlier generation's sample by
        ``weights``: drawn as they are, or, with a correction, resampled from
        ``reservoir`` times as many candidates by their importance weights."""
        units, n_syn = pool.units, pool.size - n_real
        samples = [pool.synthetic(k) for k in range(len(weights))]
        room = np.array([units.count(s) for s in samples])
        wanted = n_syn if correct <= 0 else min(math.ceil(n_syn * self.reservoir), room.sum())
        counts = _allocate(wanted, weights, room, rng)
        frames = [units.draw(s, int(c), rng) for s, c in zip(samples, counts, strict=True) if c]
        origin = np.repeat(np.flatnonzero(counts), counts[counts > 0])  # per unit
        candidates = units.concat(frames) if frames else pool.real.iloc[:0]
        rows = units.sizes(candidates)
        info = {"candidates": float(len(rows))}
        if correct > 0 and n_syn:
            importance = Importance(correct).weights(candidates, pool, rng)
            chosen = np.sort(systematic(importance, n_syn, rng))
            info["effective_rows"] = 1.0 / float(np.sum(importance**2)) / len(rows)
            candidates = units.take(candidates, chosen).reset_index(drop=True)
            origin, rows = origin[chosen], rows[chosen]
        latest = len(weights) - 1
        info["accumulate"] = float(np.mean(origin != latest)) if len(origin) else 0.0
        info["from_generation_0"] = float(np.mean(origin == 0)) if len(origin) else 0.0
        real = units.draw(pool.real, n_real, rng)
        provenance = [Source(None, len(real))] + [
            Source(int(k), int(rows[origin == k].sum())) for k in np.unique(origin)
        ]
        data = units.concat([real, candidates])
        return TrainingSet(data, [p for p in provenance if p.rows], info)

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
        if generation >= 2:
            parts.append(
                f"{levers.get('accumulate', 0.0):.0%} of the synthetic rows from earlier "
                f"generations ({levers.get('from_generation_0', 0.0):.0%} from generation 0)"
            )
        if levers["correct"] > 0:
            parts.append(
                f"importance correction γ={levers['correct']:.2g} over "
                f"{levers.get('candidates', 0.0):,.0f} candidates"
            )
        return head + ", " + ", ".join(parts)


def _allocate(total: int, weights: np.ndarray, room: np.ndarray, rng: np.random.Generator):
    """``total`` rows split over sources by ``weights`` (multinomial), none taking more
    than its ``room``: the overflow goes to the sources with room left, by weight."""
    counts = np.zeros(len(weights), dtype=int)
    total = int(min(total, room.sum()))
    while counts.sum() < total:
        open_ = (counts < room) & (weights > 0)
        if not open_.any():
            open_ = counts < room
        w = np.where(open_, np.maximum(weights, 1e-300), 0.0)
        counts += rng.multinomial(total - counts.sum(), w / w.sum())
        counts = np.minimum(counts, room)
    return counts


def _prefixed(info: dict[str, float], prefix: str) -> dict[str, float]:
    return {
        k[len(prefix) :]: v
        for k, v in info.items()
        if k.startswith(prefix) and k != prefix + "drift"
    }


register(Adaptive)
