"""Correctors for real tables: what a team can do to a synthetic training set with what it has.

Gillman et al. 2024 ("Self-Correcting Self-Consuming Loops for Generative Model Training")
show that a corrector of strength γ, mapping the model's distribution p to
(p + γ·p*)/(1 + γ), makes the self-consuming loop contract faster. The ideal corrector needs
the true distribution p*; a real table offers only its rows. Three stand-ins, one class each:

- ``real:γ`` replaces each synthetic row, with probability γ/(1 + γ), by a held-back real
  row: the honest baseline, the empirical version of the ideal corrector; it costs real rows.
- ``importance:γ`` resamples the synthetic rows with weights (1 + γ·r̂(x))/(1 + γ), r̂ the
  density ratio p*/p of a real-vs-synthetic classifier (Grover et al. 2019, "Bias Correction
  of Learned Generative Models using Likelihood-Free Importance Weighting"): in expectation
  that is Gillman's map. It costs no new real rows, but it only reweights rows the model
  still makes: a tail the model lost has no rows to upweight, so it cannot come back.
- ``rules`` repairs synthetic rows that break the table's rules (:mod:`ouroboros.rules`):
  it rewrites them with the :class:`~ouroboros.transforms.rules.RuleTransform` plan (a gap
  clipped at zero, a looked-up value, a derived column) and restores them; rows breaking a
  rule kept only by rejection are replaced by rows that keep every rule.

A corrector joins any strategy with ``+``: ``replace+real:1``, ``mix:0.05+importance:2``.
On a sequence table with an entity key ``real`` and ``importance`` work in whole entities
(an entity's weight is the mean of its rows'); ``rules`` works on plain tables only, and
one keyless series takes no corrector (:meth:`Corrector.check_units`).
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ouroboros.collapse import _rows
from ouroboros.collapse.strategies import _JOIN, Named, Pool, Source, Strategy, TrainingSet
from ouroboros.collapse.units import ROWS, Units
from ouroboros.errors import CollapseError, ParameterError


@dataclass
class Correction:
    """Corrected synthetic rows. ``origin[i]`` is the input row that output row i came from,
    or -1 for a real row put in; ``info`` holds diagnostics."""

    data: pd.DataFrame
    origin: np.ndarray
    info: dict[str, float] = field(default_factory=dict)

    @property
    def real_rows(self) -> int:
        return int((self.origin < 0).sum())


class Corrector(Named, ABC):
    """Base class of a corrector; ``param`` names its strength attribute (None: none)."""

    name: ClassVar[str]
    citation: ClassVar[str]
    description: ClassVar[str]
    param: ClassVar[str | None] = "strength"

    def validate(self) -> None:
        if self.param is None:
            return
        value = self.value
        ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not (ok and math.isfinite(float(value)) and float(value) >= 0):
            raise ParameterError(
                f"corrector {self.name!r}: the strength γ must be a number >= 0, e.g. "
                f"'{self.name}:1'; got {value!r}"
            )

    @property
    def share(self) -> float:
        """γ/(1 + γ): the share of the corrected distribution that comes from the truth."""
        gamma = float(self.value or 0.0)
        return gamma / (1.0 + gamma)

    def real_rows_needed(self, size: int) -> int:
        """Real units held back from training for this corrector."""
        return 0

    def check_units(self, units: Units) -> None:
        """Raise :class:`CollapseError` unless the corrector keeps these units whole: rows
        and entities, not the steps of one series (swapping or reweighting single steps
        would scramble it)."""
        if units.series:
            raise CollapseError(
                f"corrector {self.name!r} works on plain tables and on sequence tables with "
                "an entity key; one series (no key) has no entities to swap or reweight: "
                "use a strategy without a corrector, e.g. 'mix:0.2' or 'fresh:0.2'"
            )

    @abstractmethod
    def correct(self, synthetic: pd.DataFrame, pool: Pool, rng: np.random.Generator) -> Correction:
        """The corrected version of ``synthetic``, the synthetic rows of a training set."""


class HeldBackReal(Corrector):
    """Replace each synthetic row with probability γ/(1 + γ) by a held-back real row.

    The held-back rows are the first ``ceil(size·γ/(1+γ))`` rows of the pool's reserve
    (real training rows no generation trains on), or the generation-0 rows when the
    reserve is empty; each generation draws from them at random.
    """

    name = "real"
    citation = (
        "Gillman et al. 2024, 'Self-Correcting Self-Consuming Loops for Generative Model "
        "Training' (the ideal corrector, with held-back real rows for the truth)"
    )
    description = "replaces a share γ/(1+γ) of the synthetic rows by held-back real rows"

    def __init__(self, strength: float = 1.0):
        self.strength = strength

    def real_rows_needed(self, size: int) -> int:
        return math.ceil(size * self.share - 1e-9)

    def correct(self, synthetic: pd.DataFrame, pool: Pool, rng: np.random.Generator) -> Correction:
        units = pool.units
        held = units.head(pool.reserve, self.real_rows_needed(pool.size))
        if len(held) == 0:
            held = pool.real
        n, n_held = units.count(synthetic), units.count(held)
        replace = rng.random(n) < self.share
        k = int(replace.sum())
        chosen = rng.choice(n_held, size=k, replace=k > n_held)
        kept = units.positions(synthetic, np.flatnonzero(~replace))
        parts = [synthetic.iloc[kept], units.take(held, chosen)]
        data = pd.concat(parts, ignore_index=True) if units.kind == ROWS else units.concat(parts)
        origin = np.r_[kept, np.full(len(parts[1]), -1)]
        return Correction(data, origin, {"held_back_rows": float(n_held)})


class Importance(Corrector):
    """Resample synthetic rows by a real-vs-synthetic classifier's density ratio.

    A gradient-boosted classifier scores each synthetic row out of fold
    (:class:`~ouroboros.collapse.verifiers.Discriminator`, real rows: the generation-0
    rows); r̂ = (p/(1−p))·(n_synthetic/n_real), clipped at ``max_ratio``, and each row
    is kept with weight (1 + γ·r̂)/(1 + γ) by systematic resampling. Reweighting cannot
    create rows: categories and tails the model no longer produces stay lost.
    """

    name = "importance"
    citation = (
        "Grover et al. 2019, 'Bias Correction of Learned Generative Models using "
        "Likelihood-Free Importance Weighting'; Gillman et al. 2024 (the map it estimates)"
    )
    description = "resamples synthetic rows by a classifier's real/synthetic density ratio"

    def __init__(self, strength: float = 1.0, max_ratio: float = 20.0):
        self.strength = strength
        self.max_ratio = max_ratio

    def weights(self, synthetic: pd.DataFrame, pool: Pool, rng: np.random.Generator) -> np.ndarray:
        """Each synthetic unit's resampling weight (1 + γ·r̂)/(1 + γ), normalised to sum 1:
        per row, or per entity the mean of its rows' (the classifier never sees the key)."""
        from ouroboros.collapse.verifiers import Discriminator

        units = pool.units
        scores = Discriminator()(units.features(pool.real), units.features(synthetic), rng)
        p = np.clip(scores, 1e-6, 1 - 1e-6)
        ratio = np.minimum(p / (1 - p) * len(synthetic) / len(pool.real), self.max_ratio)
        weights = (1.0 + self.strength * ratio) / (1.0 + self.strength)
        if units.kind != ROWS:
            weights = units.means(synthetic, weights)
        return weights / weights.sum()

    def correct(self, synthetic: pd.DataFrame, pool: Pool, rng: np.random.Generator) -> Correction:
        units = pool.units
        weights = self.weights(synthetic, pool, rng)
        n = len(weights)
        chosen = systematic(weights, n, rng)
        ess = 1.0 / float(np.sum(weights**2))
        info = {"effective_rows": ess / n, "distinct_rows": len(np.unique(chosen)) / n}
        data = units.take(synthetic, chosen).reset_index(drop=True)
        return Correction(data, units.positions(synthetic, chosen), info)


def systematic(weights: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` indices drawn by systematic resampling from normalised ``weights`` (the
    fewest duplicates for given weights; Kitagawa 1996)."""
    positions = (rng.random() + np.arange(rows)) / rows
    return np.minimum(np.searchsorted(np.cumsum(weights), positions), len(weights) - 1)


class RuleRepair(Corrector):
    """Repair synthetic rows that break the table's rules.

    The rules are the schema's (``Pool.schema``), or those discovered on the real rows
    when the schema has none. Rows breaking a rule are rewritten and restored by a
    :class:`~ouroboros.transforms.rules.RuleTransform` fitted on the real rows together
    with them, which puts each rule back by construction (a lookup takes the value the
    real rows give); rows that still break a rule kept only by rejection are replaced by
    draws from the rows that keep every rule.
    """

    name = "rules"
    param = None
    citation = (
        "Feng et al. 2024, 'Beyond Model Collapse: Scaling Up with Synthesized Data Requires "
        "Verification' (rules as a verifier that also repairs)"
    )
    description = "repairs synthetic rows that break the table's rules"

    def __init__(self, discover: bool = True):
        self.discover = discover

    def check_units(self, units: Units) -> None:
        if units.kind != ROWS:
            raise CollapseError(
                "corrector 'rules' works on plain tables only: it repairs and replaces single "
                "rows, which would cut sequences; for a sequence table use 'real:γ' or "
                "'importance:γ' (whole entities)"
            )

    def _schema(self, pool: Pool):
        from ouroboros.schema import Schema

        schema = pool.schema if pool.schema is not None else Schema.detect(pool.real)
        if not schema.rules and self.discover:
            schema = copy.deepcopy(schema)
            schema.rules = [f.rule for f in schema.discover_rules(pool.real)]
        return schema

    def correct(self, synthetic: pd.DataFrame, pool: Pool, rng: np.random.Generator) -> Correction:
        from ouroboros.rules import Columns, parse_all, violations
        from ouroboros.transforms.rules import RuleTransform, datetime_formats

        schema = self._schema(pool)
        n = len(synthetic)
        if not schema.rules or n == 0:
            return Correction(synthetic.reset_index(drop=True), np.arange(n), {"repaired": 0.0})
        rules = parse_all(schema.rules, schema.names)
        formats = datetime_formats(schema)

        def broken(frame: pd.DataFrame) -> np.ndarray:
            columns = Columns(frame.reset_index(drop=True), formats)
            out = np.zeros(len(frame), dtype=bool)
            for rule in rules:
                out |= violations(rule, columns)
            return out

        bad = broken(synthetic)
        data = synthetic.reset_index(drop=True).copy()
        if bad.any():
            transform = RuleTransform(schema, tolerance=1.0)
            both = pd.concat([pool.real[data.columns], data[bad]], ignore_index=True)
            restored = transform.inverse(transform.fit_transform(both, rng), rng)
            repaired = restored.iloc[len(pool.real) :].reset_index(drop=True)
            for column in data.columns:
                values = np.array(data[column].astype(object), dtype=object)
                values[bad] = repaired[column].astype(object).to_numpy()
                data[column] = _like(values, synthetic[column])
        origin = np.arange(n)
        still = broken(data)
        if still.all():
            raise CollapseError(
                f"corrector 'rules': every synthetic row breaks a rule of {schema.rules}"
            )
        if still.any():
            good = np.flatnonzero(~still)
            origin[still] = good[rng.integers(len(good), size=int(still.sum()))]
            data = data.iloc[origin].reset_index(drop=True)
        info = {"repaired": float(bad.mean()), "replaced": float(still.mean())}
        return Correction(data, origin, info)


def _like(values: np.ndarray, like: pd.Series) -> pd.Series:
    """``values`` in the dtype of ``like`` where that dtype can hold them."""
    try:
        return pd.Series(values).astype(like.dtype)
    except (TypeError, ValueError):
        return pd.Series(values)


_REGISTRY: dict[str, type[Corrector]] = {}


def register(cls: type[Corrector]) -> type[Corrector]:
    """Add a corrector class to the registry (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Corrector)) or not getattr(cls, "name", ""):
        raise ParameterError(f"register expects a named Corrector subclass; got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (HeldBackReal, Importance, RuleRepair):
    register(_cls)


def names() -> list[str]:
    """Names of the registered correctors."""
    return sorted(_REGISTRY)


def parse(spec: str | Corrector) -> Corrector:
    """A validated corrector from its text form (``real:1``, ``importance:2``, ``rules``)."""
    if isinstance(spec, Corrector):
        spec.validate()
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"a corrector must be a name such as 'real:1'; got {spec!r}")
    name, _, raw = spec.strip().partition(":")
    try:
        cls = _REGISTRY[name.strip()]
    except KeyError:
        raise ParameterError(
            f"unknown corrector {name.strip()!r}; choose from {', '.join(names())}"
        ) from None
    if cls.param is None and raw:
        raise ParameterError(f"corrector {name!r} takes no strength; got {spec!r}")
    if raw:
        try:
            corrector = cls(float(raw))
        except ValueError:
            raise ParameterError(
                f"corrector {name!r}: {raw!r} is not a number; write e.g. '{name}:1'"
            ) from None
    else:
        corrector = cls()
    corrector.validate()
    return corrector


class Corrected(Strategy):
    """A strategy whose training sets pass a corrector: its synthetic rows are corrected,
    its real rows left alone. The spec joins both: ``replace+real:1``."""

    name = "corrected"

    def __init__(self, base: Strategy, corrector: Corrector):
        self.base, self.corrector = base, corrector
        self.reference_matches_lab = base.reference_matches_lab and isinstance(
            corrector, HeldBackReal
        )

    @classmethod
    def parse(cls, base: Strategy, corrector: str | Corrector) -> Corrected:
        if isinstance(base, Corrected) or (isinstance(corrector, str) and _JOIN.search(corrector)):
            raise ParameterError(
                f"strategy {base.spec!r} already has a corrector; a strategy takes one"
            )
        strategy = cls(base, parse(corrector))
        strategy.validate()
        return strategy

    @property
    def spec(self) -> str:
        return f"{self.base.spec}+{self.corrector.spec}"

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.base.description}; then {self.corrector.description}"

    @property
    def citation(self) -> str:  # type: ignore[override]
        return f"{self.base.citation}; {self.corrector.citation}"

    @property
    def value(self) -> float | None:
        return self.base.value

    def validate(self) -> None:
        self.base.validate()
        self.corrector.validate()

    def sample_size(self, size: int) -> int:
        return self.base.sample_size(size)

    def real_rows_needed(self, size: int, generations: int) -> int:
        return self.base.real_rows_needed(size, generations) + self.corrector.real_rows_needed(size)

    def check_units(self, units: Units) -> None:
        self.base.check_units(units)
        self.corrector.check_units(units)

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        self.check_units(pool.units)
        train = self.base.training_set(generation, pool, rng)
        return correct_training_set(train, self.corrector, pool, rng)

    @property
    def has_reference(self) -> bool:
        return self.base.has_reference and isinstance(self.corrector, HeldBackReal)

    def reference_step(self, model, current, pool, size, rng):
        if not self.has_reference:
            raise ParameterError(f"strategy {self.spec!r} has no twin in the reference models")
        gamma = float(self.corrector.value)
        return self.base.reference_step(
            _rows.CorrectedModel(model, gamma), current, pool, size, rng
        )


def correct_training_set(
    train: TrainingSet, corrector: Corrector, pool: Pool, rng: np.random.Generator
) -> TrainingSet:
    """``train`` with its synthetic blocks corrected; the rows of ``train.data`` follow its
    provenance block by block, as every strategy builds them."""
    bounds = np.cumsum([0] + [s.rows for s in train.provenance])
    if bounds[-1] != len(train.data):
        raise CollapseError("the training set's provenance does not add up to its rows")
    block = np.repeat(np.arange(len(train.provenance)), [s.rows for s in train.provenance])
    synthetic = np.array([s.generation is not None for s in train.provenance], dtype=bool)
    rows = np.flatnonzero(synthetic[block]) if len(block) else np.zeros(0, dtype=int)
    if len(rows) == 0:
        return train
    fixed = corrector.correct(train.data.iloc[rows].reset_index(drop=True), pool, rng)
    real_rows = train.data.iloc[np.flatnonzero(~synthetic[block])]
    owners = np.where(fixed.origin >= 0, block[rows][np.maximum(fixed.origin, 0)], -1)
    provenance = [s for s in train.provenance if s.generation is None]
    provenance += [
        Source(train.provenance[k].generation, int((owners == k).sum()))
        for k in np.flatnonzero(synthetic)
        if (owners == k).any()
    ]
    # real rows first, then the synthetic blocks in order, then the corrector's real rows
    order = np.argsort(np.where(owners < 0, len(train.provenance), owners), kind="stable")
    parts = [real_rows, fixed.data.iloc[order]]
    if fixed.real_rows:
        provenance.append(Source(None, fixed.real_rows))
    data = pool.units.concat(parts)
    info = dict(train.info) | {f"correct_{k}": v for k, v in fixed.info.items()}
    info["corrector_real_rows"] = float(fixed.real_rows)
    return TrainingSet(data, provenance, info, train.explanation)
