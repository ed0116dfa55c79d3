"""Strategies: how generation g's training set is built from real and earlier synthetic data.

Generation 0 always trains on the real training rows; a strategy decides every later
generation's training set. Each strategy cites the paper that studied it and carries its
numpy twin for the reference models of :mod:`ouroboros.collapse.reference`
(:meth:`Strategy.reference_step`), so a new strategy is one class. A strategy is an
object; its ``spec`` (``"mix:0.2"``) is its text form in files and on the command line.

>>> from ouroboros.collapse import strategies
>>> strategies.parse("mix:0.2").spec
'mix:0.2'
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.collapse import _rows
from ouroboros.collapse._rows import ReferenceModel, Rows
from ouroboros.collapse.units import Units
from ouroboros.errors import CollapseError, ParameterError


@dataclass(frozen=True)
class Source:
    """One block of a training set: ``rows`` rows that came from the real data
    (``generation`` is None) or from the synthetic sample of ``generation``."""

    generation: int | None
    rows: int

    @property
    def kind(self) -> str:
        return "real" if self.generation is None else "synthetic"


@dataclass
class TrainingSet:
    """The rows generation g trains on, where they came from, and strategy diagnostics.

    The rows of ``data`` follow ``provenance`` block by block."""

    data: pd.DataFrame
    provenance: list[Source]
    info: dict[str, float] = field(default_factory=dict)
    #: why the strategy built it so, in plain words (adaptive strategies)
    explanation: str = ""


@dataclass
class Pool:
    """What a strategy may draw from.

    ``real`` holds the real rows generation 0 trained on (``size`` of them); ``reserve``
    the real training rows never used yet, in a fixed random order; ``synthetic(k)``
    returns generation k's synthetic sample; ``schema`` the table's
    :class:`~ouroboros.schema.Schema` (its rules serve the ``rules`` corrector);
    ``target`` the experiment's target column; ``history[k]`` the ``info`` recorded by
    generation k, for strategies that decide from what earlier generations measured.
    ``size`` and every draw count :attr:`units`: rows of a plain table, whole entities
    of a keyed sequence table, steps of one series (:mod:`ouroboros.collapse.units`).
    """

    real: pd.DataFrame
    reserve: pd.DataFrame
    synthetic: Callable[[int], pd.DataFrame]
    size: int
    schema: Any = None
    target: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def units(self) -> Units:
        """How this table is counted, drawn and joined (from ``schema``)."""
        return Units.of(self.schema)


Verifier = Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], np.ndarray]


class Named:
    """A named step of the loop with at most one parameter, written ``name:value``
    (strategies and correctors): ``param`` names the attribute holding the value."""

    name: ClassVar[str]
    param: ClassVar[str | None] = None

    @property
    def value(self) -> float | None:
        """The parameter (a share, a keep rate, a strength), if there is one."""
        return None if self.param is None else getattr(self, self.param)

    @property
    def spec(self) -> str:
        """Text form, e.g. ``mix:0.2``; the label used in results and reports."""
        return self.name if self.param is None else f"{self.name}:{self.value:g}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class Strategy(Named, ABC):
    """Base class of a data strategy for recursive training.

    A strategy with a parameter (``mix:λ``) names it in ``param`` and stores it under
    that attribute; :func:`parse` builds one from its text form. Overriding
    :meth:`reference_step` gives it a twin in the reference models.
    """

    name: ClassVar[str]
    citation: ClassVar[str]
    description: ClassVar[str]
    param: ClassVar[str | None] = None
    #: False when the reference twin differs in kind from the lab's strategy, so that the
    #: report draws no theory curve for it
    reference_matches_lab: ClassVar[bool] = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Strategy) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def validate(self) -> None:
        """Raise :class:`ParameterError` if the parameter is out of range."""
        if self.param is not None:
            _share(self.name, self.value)

    def sample_size(self, size: int) -> int:
        """Units to draw from each generation's model when training sets hold ``size``."""
        return size

    def real_rows_needed(self, size: int, generations: int) -> int:
        """Real training units a whole run of ``generations`` generations consumes."""
        return size

    def check_units(self, units: Units) -> None:
        """Raise :class:`CollapseError` if the strategy cannot keep these units whole."""

    @abstractmethod
    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        """The training set of ``generation`` (>= 1)."""

    @property
    def has_reference(self) -> bool:
        """Whether the reference models can simulate this strategy."""
        return _has_twin(type(self))

    def reference_step(
        self,
        model: ReferenceModel,
        current: _rows.Params,
        pool: list[Rows],
        size: int,
        rng: np.random.Generator,
    ) -> Rows:
        """The next training set of a reference model, for every trial at once.

        ``current`` holds the parameters of the latest fit, ``pool[0]`` the real rows of
        the first fit (a strategy may append its samples to ``pool``), ``size`` the rows
        per training set. Strategies without a twin keep this default.
        """
        raise ParameterError(f"strategy {self.spec!r} has no twin in the reference models")


def _has_twin(cls: type[Strategy]) -> bool:
    """Whether the strategy class overrides :meth:`Strategy.reference_step`."""
    return cls.reference_step is not Strategy.reference_step


def _share(name: str, value: object) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and 0.0 <= float(value) <= 1.0
    if not ok:
        raise ParameterError(
            f"strategy {name!r}: the share must be a number in [0, 1], e.g. '{name}:0.2'; "
            f"got {value!r}"
        )


class Replace(Strategy):
    name = "replace"
    citation = (
        "Shumailov et al. 2024, 'AI models collapse when trained on recursively generated data'"
    )
    description = "trains only on the previous generation's synthetic sample"

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        data = pool.synthetic(generation - 1)
        return TrainingSet(data, [Source(generation - 1, len(data))])

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        return model.sample(current, size, rng)


class Accumulate(Strategy):
    name = "accumulate"
    citation = (
        "Gerstgrasser et al. 2024, 'Is Model Collapse Inevitable? Breaking the Curse of "
        "Recursion by Accumulating Real and Synthetic Data'"
    )
    description = "trains on the real data plus every earlier generation's synthetic sample"

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        frames = [pool.real] + [pool.synthetic(k) for k in range(generation)]
        provenance = [Source(None, len(pool.real))]
        provenance += [Source(k, len(frames[k + 1])) for k in range(generation)]
        return TrainingSet(pool.units.concat(frames), provenance)

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        pool.append(model.sample(current, size, rng))
        return _rows.concat(pool)


class AccumulateSubsample(Strategy):
    name = "accumulate-subsample"
    citation = (
        "Kazdan et al. 2024, 'Collapse or Thrive? Perils and Promises of Synthetic Data in a "
        "Self-Generating World'"
    )
    description = "draws a fixed-size training set from real plus all earlier synthetic data"

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        frames = [pool.real] + [pool.synthetic(k) for k in range(generation)]
        total = sum(pool.units.count(f) for f in frames)
        chosen = np.sort(rng.choice(total, size=pool.size, replace=False))
        data, rows = pool.units.gather(frames, chosen, rng)
        provenance = [
            Source(None if k < 0 else int(k), int(rows[k + 1]))
            for k in range(-1, generation)
            if rows[k + 1]
        ]
        return TrainingSet(data, provenance)

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        rows = Accumulate().reference_step(model, current, pool, size, rng)
        trials, total = rows[0].shape
        return _rows.take(rows, np.sort(_rows.smallest(rng.random((trials, total)), size), axis=1))


class Mix(Strategy):
    name = "mix"
    param = "share"
    citation = (
        "Bertrand et al. 2024, 'On the Stability of Iterative Retraining of Generative Models "
        "on their Own Data'"
    )
    description = "keeps a fixed share of real units (drawn from the original real data)"

    def __init__(self, share: float):
        self.share = share

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        units = pool.units
        n_real = round(self.share * pool.size)
        real = units.draw(pool.real, n_real, rng)
        synthetic = units.draw(pool.synthetic(generation - 1), pool.size - n_real, rng)
        provenance = [Source(None, len(real)), Source(generation - 1, len(synthetic))]
        return TrainingSet(units.concat([real, synthetic]), [p for p in provenance if p.rows])

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        synthetic = model.sample(current, size, rng)
        mask = _rows.slots(synthetic[0].shape[0], size, round(self.share * size), rng)
        return _rows.where(mask, pool[0], synthetic)


class Fresh(Strategy):
    name = "fresh"
    param = "share"
    citation = "Alemohammad et al. 2024, 'Self-Consuming Generative Models Go MAD'"
    description = "adds a share of new real rows each generation, never used before"

    def __init__(self, share: float):
        self.share = share

    def real_rows_needed(self, size: int, generations: int) -> int:
        return size + (generations - 1) * round(self.share * size)

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        units, unit = pool.units, pool.units.kind
        n_new = round(self.share * pool.size)
        start = (generation - 1) * n_new
        left = units.count(pool.reserve) - start
        if n_new > left:
            raise CollapseError(
                f"strategy {self.spec!r} needs {n_new} new real {unit} at generation "
                f"{generation} but only {left} unused real {unit} are left; give more real "
                f"{unit}, a smaller sample_size or a smaller share"
            )
        fresh = units.part(pool.reserve, start, start + n_new)
        synthetic = units.draw(pool.synthetic(generation - 1), pool.size - n_new, rng)
        provenance = [Source(None, len(fresh)), Source(generation - 1, len(synthetic))]
        return TrainingSet(units.concat([fresh, synthetic]), [p for p in provenance if p.rows])

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        synthetic = model.sample(current, size, rng)
        new = model.sample(model.truth(synthetic[0].shape[0]), size, rng)
        mask = _rows.slots(synthetic[0].shape[0], size, round(self.share * size), rng)
        return _rows.where(mask, new, synthetic)


class Curate(Strategy):
    """Keep the most realistic synthetic rows according to a verifier.

    Each generation draws ``size / keep`` units from the previous model and keeps the
    ``size`` the verifier scores highest. A verifier is any callable
    ``verifier(real, candidates, rng) -> scores`` of one score per row (higher is more
    realistic) or a boolean mask (rows that pass; the training set may then be smaller).
    On a sequence table it sees the rows without the entity key, an entity scores the
    mean of its rows (passes when all pass) and one series keeps its best window
    (:meth:`~ouroboros.collapse.units.Units.keep`). The default is
    :class:`ouroboros.collapse.verifiers.Discriminator`. The reference twin uses the
    oracle verifier (the true log-likelihood ratio, a Bayes-optimal discriminator).
    """

    name = "curate"
    param = "keep"
    citation = (
        "Feng et al. 2024, 'Beyond Model Collapse: Scaling Up with Synthesized Data Requires "
        "Verification'"
    )
    description = "filters each synthetic sample with a verifier before training on it"
    # the oracle ranks whole categories at once (every row of a category scores the same),
    # unlike the lab's learned verifier: the reference curve is not the lab's prediction
    reference_matches_lab = False

    def __init__(self, keep: float = 0.5, verifier: Verifier | None = None):
        self.keep = keep
        self.verifier = verifier

    def validate(self) -> None:
        super().validate()
        if self.keep == 0:
            raise ParameterError("strategy 'curate': the keep rate must be above 0; got 0")

    def sample_size(self, size: int) -> int:
        return math.ceil(size / self.keep - 1e-9)

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        from ouroboros.collapse.verifiers import Discriminator

        units = pool.units
        candidates = pool.synthetic(generation - 1)
        verifier = self.verifier or Discriminator()
        scores = np.asarray(verifier(units.features(pool.real), units.features(candidates), rng))
        if scores.shape != (len(candidates),):
            raise CollapseError(
                f"the curate verifier returned {scores.shape} scores for {len(candidates)} rows"
            )
        data = units.keep(candidates, scores, pool.size)
        if len(data) == 0:
            raise CollapseError(f"the curate verifier kept none of the {len(candidates)} rows")
        return TrainingSet(
            data,
            [Source(generation - 1, len(data))],
            {"keep_rate": units.count(data) / units.count(candidates)},
        )

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        candidates = model.sample(current, self.sample_size(size), rng)
        score = model.log_ratio(candidates, current)
        return _rows.take(candidates, np.sort(_rows.smallest(-score, size), axis=1))


class Anchor(Strategy):
    """Every generation trains on all the real rows plus ``round(ratio * size)`` rows from
    the previous model; ``ratio`` (λ, synthetic-to-real) may exceed 1.

    Bertrand et al. prove local stability when the first model is good enough and λ is
    bounded; for a correctly specified Gaussian mean the loop contracts by λ/(1+λ) for every
    λ and the stationary error is (1 + λ/(1 + 2λ))σ²/n (``docs/COLLAPSE_THEORY.md``).
    """

    name = "anchor"
    param = "ratio"
    citation = (
        "Bertrand et al. 2024, 'On the Stability of Iterative Retraining of Generative Models "
        "on their Own Data'"
    )
    description = "keeps all the real rows and adds λ times as many synthetic rows"

    def __init__(self, ratio: float = 1.0):
        self.ratio = ratio

    def validate(self) -> None:
        value = self.ratio
        ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not (ok and math.isfinite(float(value)) and 0.0 <= float(value) <= 100.0):
            raise ParameterError(
                "strategy 'anchor': the synthetic-to-real ratio λ must be a number in "
                f"[0, 100], e.g. 'anchor:1'; got {value!r}"
            )

    def synthetic_rows(self, size: int) -> int:
        """Synthetic units added to the ``size`` real units."""
        return round(self.ratio * size)

    def sample_size(self, size: int) -> int:
        return max(size, self.synthetic_rows(size))

    def training_set(self, generation: int, pool: Pool, rng: np.random.Generator) -> TrainingSet:
        units, previous = pool.units, pool.synthetic(generation - 1)
        count = min(self.synthetic_rows(pool.size), units.count(previous))
        synthetic = units.draw(previous, count, rng)
        provenance = [Source(None, len(pool.real)), Source(generation - 1, len(synthetic))]
        return TrainingSet(units.concat([pool.real, synthetic]), [p for p in provenance if p.rows])

    def reference_step(self, model, current, pool, size, rng) -> Rows:
        extra = self.synthetic_rows(size)
        if extra == 0:
            return pool[0]
        return _rows.concat([pool[0], model.sample(current, extra, rng)])


_REGISTRY: dict[str, type[Strategy]] = {}
#: the "+" that joins a strategy and its corrector: one followed by a name
_JOIN = re.compile(r"\+(?=\s*[A-Za-z_])")


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy class to the registry (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or not getattr(cls, "name", ""):
        raise ParameterError(f"register expects a named Strategy subclass; got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (Replace, Accumulate, AccumulateSubsample, Mix, Fresh, Curate, Anchor):
    register(_cls)


def names() -> list[str]:
    """Names of the registered strategies."""
    return sorted(_REGISTRY)


def reference_names() -> list[str]:
    """Names of the registered strategies the reference models can simulate."""
    return [name for name in names() if _has_twin(_REGISTRY[name])]


def get(name: str) -> type[Strategy]:
    """The strategy class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"unknown strategy {name!r}; choose from {', '.join(names())}"
        ) from None


def parse(spec: str | Strategy) -> Strategy:
    """A validated strategy from its text form (``replace``, ``mix:0.2``, ``curate:0.5``...)."""
    if isinstance(spec, Strategy):
        spec.validate()
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"a strategy must be a name such as 'mix:0.2'; got {spec!r}")
    joined = _JOIN.split(spec, maxsplit=1)
    if len(joined) == 2:  # a strategy with a corrector: "replace+real:1" (not "1e+06")
        from ouroboros.collapse.correctors import Corrected

        return Corrected.parse(parse(joined[0]), joined[1])
    name, _, raw = spec.strip().partition(":")
    cls = get(name.strip())
    if cls.param is None:
        if raw:
            raise ParameterError(f"strategy {name!r} takes no parameter; got {spec!r}")
        strategy = cls()
    elif raw:
        try:
            value = float(raw)
        except ValueError:
            raise ParameterError(
                f"strategy {name!r}: {raw!r} is not a number; write e.g. '{name}:0.2'"
            ) from None
        strategy = cls(**{cls.param: value})
    else:
        try:
            strategy = cls()
        except TypeError:
            raise ParameterError(
                f"strategy {name!r} needs its {cls.param}, e.g. '{name}:0.2'"
            ) from None
    strategy.validate()
    return strategy
