"""Reference models: recursive training where the theory has closed forms.

Vectorised over thousands of independent trials, these simulators give the test oracle
for the collapse lab and the theory curves its report overlays. Three models:

- ``"gaussian"``: N(mean, var) refitted by maximum likelihood (``estimator="mle"``,
  ddof=0, as in the notebook of Shumailov et al. 2024), the unbiased estimator
  (``estimator="unbiased"``, ddof=1), or the mean alone with the variance known
  (``estimator="known"``).
- ``"categorical"``: a distribution over ``len(probs)`` categories refitted by
  frequencies (Shumailov et al. 2024, discrete case; Dohmatob et al. 2024, "A Tale of
  Tails", for Zipf data).
- ``"ols"``: ordinary least squares on a fixed design of ``sample_size`` rows drawn from
  N(0, I_dim) once per trial, labels from the previous model plus fresh noise of known
  standard deviation ``noise`` (Gerstgrasser et al. 2024).

Indexing: row ``n`` of every parameter array holds the model after ``n`` fits, and row 0
the true distribution. The first fit uses real data, so generation ``g`` of the lab
corresponds to ``n = g + 1``. Strategies take the lab's names and bring their own step
(:meth:`~ouroboros.collapse.strategies.Strategy.reference_step`); ``curate`` uses the
oracle verifier (the true log-likelihood ratio, i.e. a Bayes-optimal discriminator).

``simulate(..., correct=γ)`` adds the ideal self-correction of Gillman et al. 2024
("Self-Correcting Self-Consuming Loops for Generative Model Training"): every row drawn
from a fitted model is replaced, independently with probability γ/(1 + γ), by a draw
from the truth, so the model's distribution p becomes (p + γ·p*)/(1 + γ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ouroboros.collapse import _rows, strategies
from ouroboros.collapse._rows import Rows
from ouroboros.errors import ParameterError, check_param

MODELS = ("gaussian", "categorical", "ols")
ESTIMATORS = ("mle", "unbiased", "known")


@dataclass(frozen=True)
class Simulation:
    """Fitted parameters of every trial after every fit.

    ``params[name]`` has shape ``(trials, generations + 1, ...)``: gaussian ``mean`` and
    ``var``; categorical ``probs``; ols ``coef``. ``truth`` holds the true parameters.
    """

    model: str
    strategy: str
    generations: int
    sample_size: int
    trials: int
    params: dict[str, np.ndarray]
    truth: dict[str, Any] = field(default_factory=dict)
    #: strength γ of the ideal corrector (0: none)
    correct: float = 0.0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.params[name]


class _Gaussian:
    def __init__(self, mean: float = 0.0, var: float = 1.0, estimator: str = "mle"):
        check_param("var", var, isinstance(var, (int, float)) and var > 0, "a positive number")
        check_param(
            "estimator",
            estimator,
            estimator in ESTIMATORS,
            "'mle', 'unbiased' or 'known'",
        )
        self.mean, self.var, self.estimator = float(mean), float(var), estimator

    @property
    def ddof(self) -> int:
        return int(self.estimator == "unbiased")

    def truth(self, trials: int) -> dict[str, np.ndarray]:
        return {"mean": np.full(trials, self.mean), "var": np.full(trials, self.var)}

    def real(self, trials: int, n: int, rng: np.random.Generator) -> Rows:
        return (self.mean + math.sqrt(self.var) * rng.standard_normal((trials, n)),)

    def fit(self, rows: Rows) -> dict[str, np.ndarray]:
        (x,) = rows
        if self.estimator == "known":
            return {"mean": x.mean(axis=1), "var": np.full(len(x), self.var)}
        return {"mean": x.mean(axis=1), "var": x.var(axis=1, ddof=self.ddof)}

    def sample(self, params: dict, n: int, rng: np.random.Generator) -> Rows:
        noise = rng.standard_normal((len(params["mean"]), n))
        return (params["mean"][:, None] + np.sqrt(params["var"])[:, None] * noise,)

    def log_ratio(self, rows: Rows, params: dict) -> np.ndarray:
        (x,) = rows
        var = np.maximum(params["var"][:, None], np.finfo(float).tiny)
        true = -0.5 * (x - self.mean) ** 2 / self.var - 0.5 * math.log(self.var)
        return true + 0.5 * (x - params["mean"][:, None]) ** 2 / var + 0.5 * np.log(var)


class _Categorical:
    def __init__(self, probs: Any = None):
        p = np.asarray([0.5, 0.3, 0.15, 0.05] if probs is None else probs, dtype=float)
        ok = p.ndim == 1 and len(p) >= 2 and bool(np.all(p >= 0)) and abs(p.sum() - 1) < 1e-9
        check_param(
            "probs", probs, ok, "a 1-D list of at least 2 non-negative numbers summing to 1"
        )
        self.probs = p / p.sum()

    def truth(self, trials: int) -> dict[str, np.ndarray]:
        return {"probs": np.broadcast_to(self.probs, (trials, len(self.probs))).copy()}

    def real(self, trials: int, n: int, rng: np.random.Generator) -> Rows:
        return self.sample(self.truth(trials), n, rng)

    def fit(self, rows: Rows) -> dict[str, np.ndarray]:
        (k,) = rows
        trials, n = k.shape
        flat = (k + np.arange(trials)[:, None] * len(self.probs)).ravel()
        counts = np.bincount(flat, minlength=trials * len(self.probs)).reshape(trials, -1)
        return {"probs": counts / n}

    def sample(self, params: dict, n: int, rng: np.random.Generator) -> Rows:
        # inverse-CDF draws for every trial at once: offsetting trial i's CDF by i keeps the
        # concatenated CDFs sorted, so one searchsorted serves all trials
        p = params["probs"]
        trials, k = p.shape
        cdf = np.cumsum(p, axis=1)
        cdf[:, -1] = 1.0
        offsets = np.arange(trials)[:, None]
        u = rng.random((trials, n)) * (1 - 1e-12) + offsets
        index = np.searchsorted((cdf + offsets).ravel(), u.ravel(), side="right")
        return ((index.reshape(trials, n) - offsets * k).clip(0, k - 1),)

    def log_ratio(self, rows: Rows, params: dict) -> np.ndarray:
        (k,) = rows
        model = np.take_along_axis(params["probs"], k, axis=1)
        with np.errstate(divide="ignore"):
            return np.log(self.probs[k]) - np.log(model)


class _OLS:
    def __init__(self, dim: int = 10, noise: float = 1.0, coef: Any = None):
        check_param("dim", dim, isinstance(dim, int) and dim >= 1, "a positive integer")
        check_param("noise", noise, isinstance(noise, (int, float)) and noise > 0, "positive")
        w = np.ones(dim) / math.sqrt(dim) if coef is None else np.asarray(coef, dtype=float)
        check_param("coef", coef, w.shape == (dim,), f"a vector of length dim={dim}")
        self.dim, self.noise, self.coef = dim, float(noise), w
        self.design: np.ndarray | None = None

    def truth(self, trials: int) -> dict[str, np.ndarray]:
        return {"coef": np.broadcast_to(self.coef, (trials, self.dim)).copy()}

    def real(self, trials: int, n: int, rng: np.random.Generator) -> Rows:
        if self.design is None:
            self.design = rng.standard_normal((trials, n, self.dim))
        return self.sample(self.truth(trials), n, rng)

    def _rows_x(self, index: np.ndarray) -> np.ndarray:
        return np.take_along_axis(self.design, index[:, :, None], axis=1)

    def fit(self, rows: Rows) -> dict[str, np.ndarray]:
        # normal equations from per-design-row counts and label sums: the cost does not
        # grow with the training set, which matters when accumulating generations
        index, y = rows
        trials, n_design = self.design.shape[:2]
        flat = (index + np.arange(trials)[:, None] * n_design).ravel()
        counts = np.bincount(flat, minlength=trials * n_design).reshape(trials, n_design)
        sums = np.bincount(flat, weights=y.ravel(), minlength=trials * n_design).reshape(trials, -1)
        xt = self.design.transpose(0, 2, 1)
        gram = xt @ (counts[:, :, None] * self.design)
        return {"coef": np.linalg.solve(gram, xt @ sums[:, :, None])[..., 0]}

    def sample(self, params: dict, n: int, rng: np.random.Generator) -> Rows:
        trials, rows = self.design.shape[:2]
        index = np.broadcast_to(np.arange(n) % rows, (trials, n))
        mean = (self._rows_x(index) @ params["coef"][:, :, None])[..., 0]
        return index, mean + self.noise * rng.standard_normal((trials, n))

    def log_ratio(self, rows: Rows, params: dict) -> np.ndarray:
        index, y = rows
        x = self._rows_x(index)
        true = y - x @ self.coef
        model = y - (x @ params["coef"][:, :, None])[..., 0]
        return (model**2 - true**2) / (2 * self.noise**2)


def simulate(
    model: str,
    *,
    strategy: str | strategies.Strategy = "replace",
    generations: int,
    sample_size: int,
    trials: int,
    seed: int | None = None,
    correct: float = 0.0,
    **params: Any,
) -> Simulation:
    """Refit ``model`` recursively ``generations`` times in ``trials`` independent trials.

    ``sample_size`` is M, the rows per training set (T, the design rows, for ``ols``).
    ``params`` are the model's: gaussian ``mean``, ``var``, ``estimator``; categorical
    ``probs``; ols ``dim``, ``noise``, ``coef``. Memory grows with ``trials`` times the
    largest training set (``generations * sample_size`` rows under ``accumulate``).
    ``correct`` is the strength γ >= 0 of the ideal corrector applied to every sample
    drawn from a fitted model (the first fit, on real rows, is never corrected).
    """
    check_param("model", model, model in MODELS, f"one of {', '.join(MODELS)}")
    for name, value, low in (("generations", generations, 1), ("trials", trials, 1)):
        check_param(name, value, isinstance(value, int) and value >= low, f"an integer >= {low}")
    check_param(
        "sample_size",
        sample_size,
        isinstance(sample_size, int) and sample_size >= 2,
        "an integer >= 2",
    )
    check_param(
        "correct",
        correct,
        isinstance(correct, (int, float)) and math.isfinite(correct) and correct >= 0,
        "a correction strength >= 0",
    )
    chosen = strategies.parse(strategy)
    try:
        sim = {"gaussian": _Gaussian, "categorical": _Categorical, "ols": _OLS}[model](**params)
    except TypeError as exc:
        raise ParameterError(f"model {model!r}: {exc}") from None
    if model == "ols" and sample_size < sim.dim + 2:
        raise ParameterError(
            f"model 'ols' needs sample_size >= dim + 2 = {sim.dim + 2}; got {sample_size}"
        )
    if not chosen.has_reference:
        raise ParameterError(
            f"the reference models know the strategies {', '.join(strategies.reference_names())}"
            f"; got {chosen.spec!r}"
        )
    rng = np.random.default_rng(seed)
    truth = sim.truth(trials)
    history = {key: [value] for key, value in truth.items()}
    real = sim.real(trials, sample_size, rng)
    pool = [real]
    current = sim.fit(real)
    for key, value in current.items():
        history[key].append(value)
    step_model = _rows.CorrectedModel(sim, float(correct)) if correct > 0 else sim
    for _ in range(2, generations + 1):
        train = chosen.reference_step(step_model, current, pool, sample_size, rng)
        current = sim.fit(train)
        for key, value in current.items():
            history[key].append(value)
    stacked = {key: np.stack(values, axis=1) for key, values in history.items()}
    known = {k: v for k, v in vars(sim).items() if k != "design"}
    return Simulation(
        model, chosen.spec, generations, sample_size, trials, stacked, known, float(correct)
    )


def categories_kept(
    frequencies: dict[str, list[float]],
    specs: list[str],
    *,
    generations: int,
    sample_size: int,
    seed: int = 0,
    columns: int = 8,
    trials: int = 64,
) -> dict[str, np.ndarray]:
    """Expected share of real categories still present per lab generation, per strategy.

    Each of the ``columns`` categorical columns with the most levels (``frequencies``:
    column -> real frequencies) is simulated as a frequency-fitted categorical model;
    the curve is the mean over columns. Strategies without a reference twin that matches
    the lab (:attr:`~ouroboros.collapse.strategies.Strategy.reference_matches_lab`), or
    unknown to this installation, get no curve.
    """
    chosen = sorted(frequencies, key=lambda c: -len(frequencies[c]))[:columns]
    out = {}
    for spec in specs:
        try:
            strategy = strategies.parse(spec)
        except ParameterError:  # registered by a plugin this installation lacks
            continue
        if not (strategy.has_reference and strategy.reference_matches_lab):
            continue
        shares = []
        for column in chosen:
            probs = np.asarray(frequencies[column], dtype=float)
            if len(probs) < 2 or probs.sum() <= 0:
                continue
            try:
                sim = simulate(
                    "categorical",
                    strategy=strategy,
                    generations=generations,
                    sample_size=sample_size,
                    trials=trials,
                    seed=seed,
                    probs=probs / probs.sum(),
                )
            except ParameterError:
                continue
            alive = (sim["probs"][:, 1:] > 0).sum(axis=2) / len(probs)
            shares.append(alive.mean(axis=0))
        if shares:
            out[spec] = np.mean(shares, axis=0)
    return out


def anchor_error(ratio: float, real_rows: int, correct: float = 0.0) -> float:
    """Stationary n·E[(μ∞ − μ)²]/σ² of a Gaussian mean under ``anchor:λ`` with correction γ.

    n real rows are kept, M = round(λn) synthetic rows are added per generation; with
    w = λ/(1+λ) and c = 1/(1+γ) the recursion μ' = (1−w)x̄ + w(K/M)μ + w·z̄ (K ~ Bin(M, c)
    rows kept from the model, z̄ the noise of the M synthetic rows) has the fixed point
    [(1−w)²(1 + 2wc/(1−wc)) + n·w²/M] / (1 − w²c² − w²c(1−c)/M) (Bertrand et al. 2024;
    Gillman et al. 2024). Without correction it is 1 + λ/(1 + 2λ): bounded for every λ.
    """
    n = real_rows
    m = round(ratio * n)
    if m == 0:
        return 1.0
    w, c = m / (n + m), 1.0 / (1.0 + correct)
    top = (1 - w) ** 2 * (1 + 2 * w * c / (1 - w * c)) + n * w**2 / m
    return top / (1 - w**2 * c**2 - w**2 * c * (1 - c) / m)


def fresh_variance(p: float, rows: int, synthetic_share: float) -> float:
    """Stationary variance of a category's frequency under ``fresh`` (new real rows each
    generation) with synthetic share a of N rows, N_s = aN synthetic:
    V∞ = (p(1−p)/N) / (1 − a²(1 − 1/N_s)) (Alemohammad et al. 2024, "Self-Consuming
    Generative Models Go MAD", discrete case; derived in docs/COLLAPSE_THEORY.md)."""
    a, n = synthetic_share, rows
    n_s = a * n
    if n_s == 0:
        return p * (1 - p) / n
    return (p * (1 - p) / n) / (1 - a**2 * (1 - 1 / n_s))
