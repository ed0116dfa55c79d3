"""Node models of the structural causal model: each column given its parents.

A numeric node is ``x = f(parents) + e``: ``f`` a ridge regression on a piecewise-linear
basis of the numeric parents (hinges at their quantiles) and one-hot categorical parents,
``e`` drawn from the empirical quantiles of the training residuals, so the noise keeps
the marginal's shape and abduction (``e = x - f(parents)``) is exact. A categorical node
is a multinomial logistic regression on the same basis, sampled by the inverse CDF of a
uniform noise ``u``; its abduction draws ``u`` from the interval the observed category
occupies (a monotone choice of the noise, as counterfactuals of discrete variables need
one). Every parameter is a plain array, so model files stay free of pickles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: residual quantiles kept per numeric node
_QUANTILES = 257
#: logit given to categories a node never took in training
_ABSENT = -30.0
#: a value held by this share of a numeric node's rows is a point mass of its own
_SPIKE_SHARE = 0.05
_MAX_SPIKES = 3


@dataclass
class NodeValues:
    """A node's values for a batch of rows: standardised numbers (with a missing flag) or
    category codes."""

    number: np.ndarray | None = None
    missing: np.ndarray | None = None
    code: np.ndarray | None = None


@dataclass
class Basis:
    """The design matrix of a node's parents: hinge knots per numeric parent, the number of
    categories per categorical parent, and whether a numeric parent has a missing flag."""

    parents: list[str]
    knots: list[np.ndarray]
    widths: list[int]
    flags: list[bool]

    @classmethod
    def fit(
        cls, parents: list[str], values: dict[str, NodeValues], layout: dict[str, dict], knots: int
    ) -> Basis:
        knot_list, widths, flags = [], [], []
        for name in parents:
            info, got = layout[name], values[name]
            if info["type"] == "numeric":
                levels = np.linspace(0, 1, knots + 2)[1:-1]
                present = got.number[~got.missing] if got.missing is not None else got.number
                grid = np.unique(np.quantile(present, levels)) if len(present) else np.zeros(0)
                knot_list.append(grid)
                widths.append(0)
                flags.append(info["missing"] is not None)
            else:
                knot_list.append(np.zeros(0))
                widths.append(info["stop"] - info["start"])
                flags.append(False)
        return cls(parents, knot_list, widths, flags)

    def design(self, values: dict[str, NodeValues]) -> np.ndarray:
        """The features of every row: ``(n, width)``, without an intercept."""
        blocks = []
        for name, grid, width, flag in zip(
            self.parents, self.knots, self.widths, self.flags, strict=True
        ):
            got = values[name]
            if width:
                blocks.append(np.eye(width)[got.code])
                continue
            x = got.number[:, None]
            blocks.append(np.hstack([x, np.maximum(x - grid[None, :], 0.0)]))
            if flag:
                blocks.append(got.missing[:, None].astype(np.float64))
        if not blocks:
            return np.zeros((0, 0))
        return np.hstack(blocks)

    def to_state(self) -> dict[str, Any]:
        return {
            "parents": list(self.parents),
            "knots": [np.asarray(k, dtype=np.float64) for k in self.knots],
            "widths": list(self.widths),
            "flags": list(self.flags),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Basis:
        return cls(
            list(state["parents"]),
            [np.asarray(k, dtype=np.float64) for k in state["knots"]],
            [int(w) for w in state["widths"]],
            [bool(f) for f in state["flags"]],
        )


def _features(basis: Basis, values: dict[str, NodeValues], n: int) -> np.ndarray:
    x = basis.design(values) if basis.parents else np.zeros((n, 0))
    return np.hstack([np.ones((n, 1)), x])


def fit_linear(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge coefficients of ``y`` on ``x`` (first column the unpenalised intercept)."""
    penalty = ridge * len(x) * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def fit_softmax(x: np.ndarray, codes: np.ndarray, k: int, ridge: float) -> np.ndarray:
    """Multinomial logistic coefficients ``(width, k)``; absent categories get no mass."""
    counts = np.bincount(codes, minlength=k)
    weights = np.zeros((x.shape[1], k))
    weights[0] = np.where(counts > 0, np.log(np.maximum(counts, 1) / len(codes)), _ABSENT)
    seen = np.flatnonzero(counts)
    if x.shape[1] == 1 or len(seen) < 2:
        return weights
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0 / max(ridge * len(x), 1e-9), max_iter=300)
    model.fit(x[:, 1:], codes)
    coef = model.coef_ if len(seen) > 2 else np.vstack([-model.coef_ / 2, model.coef_ / 2])
    intercept = model.intercept_ if len(seen) > 2 else np.array([-1, 1]) * model.intercept_ / 2
    weights[0] = _ABSENT
    weights[0, model.classes_] = intercept
    weights[1:, model.classes_] = coef.T
    return weights


def softmax_cdf(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative category probabilities ``(n, k)``."""
    logits = x @ weights
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    cdf = np.cumsum(p, axis=1)
    return cdf / cdf[:, -1:]


def invert_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The category whose CDF interval holds ``u``, per row."""
    return (u[:, None] > cdf).sum(axis=1).clip(0, cdf.shape[1] - 1)


def _spikes(values: np.ndarray) -> np.ndarray:
    """Values held by at least ``_SPIKE_SHARE`` of the rows (the most common first)."""
    if not len(values):
        return np.zeros(0)
    distinct, counts = np.unique(values, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:_MAX_SPIKES]
    return distinct[order][counts[order] >= _SPIKE_SHARE * len(values)]


def _interval(cdf: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform in the CDF interval of each row's code (the noise of a discrete draw)."""
    rows = np.arange(len(codes))
    upper = cdf[rows, codes]
    lower = np.where(codes > 0, cdf[rows, np.maximum(codes - 1, 0)], 0.0)
    return lower + rng.random(len(codes)) * (upper - lower)


@dataclass
class NodeModel:
    """One node's conditional model; ``kind`` is ``"numeric"`` or ``"categorical"``.

    A numeric node is a mixture: a softmax over its states (``0``: continuous, ``k``: the
    ``k``-th spike, a value held by 5% of the rows or more, such as the zeros of a capital
    gain), then ``f(parents) + e`` in the continuous state, so point masses are kept.
    """

    kind: str
    basis: Basis
    weights: np.ndarray
    residuals: np.ndarray | None = None  # quantiles of the continuous residuals
    missing_weights: np.ndarray | None = None  # a present/missing softmax
    spikes: np.ndarray | None = None  # the spike values (standardised)
    state_weights: np.ndarray | None = None  # softmax over continuous + spikes

    @classmethod
    def fit(
        cls,
        info: dict,
        basis: Basis,
        values: dict[str, NodeValues],
        own: NodeValues,
        ridge: float,
    ) -> NodeModel:
        n = len(own.code if own.code is not None else own.number)
        x = _features(basis, values, n)
        if info["type"] == "categorical":
            k = info["stop"] - info["start"]
            return cls("categorical", basis, fit_softmax(x, own.code, k, ridge))
        observed = ~own.missing if own.missing is not None else np.ones(n, dtype=bool)
        spikes = _spikes(own.number[observed])
        state = _state(own.number, spikes)
        continuous = observed & (state == 0)
        if continuous.sum() >= 2:
            weights = fit_linear(x[continuous], own.number[continuous], ridge)
            residual = own.number[continuous] - x[continuous] @ weights
        else:
            weights, residual = np.zeros(x.shape[1]), np.zeros(1)
        quantiles = np.quantile(residual, np.linspace(0, 1, _QUANTILES))
        missing = None
        if own.missing is not None:
            missing = fit_softmax(x, own.missing.astype(np.int64), 2, ridge)
        states = None
        if len(spikes):
            states = fit_softmax(x[observed], state[observed], len(spikes) + 1, ridge)
        return cls("numeric", basis, weights, quantiles, missing, spikes, states)

    def mean(self, values: dict[str, NodeValues], n: int) -> tuple[np.ndarray, np.ndarray]:
        """The features and the structural prediction ``f(parents)`` (a CDF for categories)."""
        x = _features(self.basis, values, n)
        if self.kind == "categorical":
            return x, softmax_cdf(x, self.weights)
        return x, x @ self.weights

    def _states(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        if self.state_weights is None:
            return np.zeros(len(x), dtype=np.int64)
        return invert_cdf(softmax_cdf(x, self.state_weights), u)

    def _value(self, center: np.ndarray, noise: np.ndarray, state: np.ndarray) -> np.ndarray:
        if self.spikes is None or not len(self.spikes):
            return center + noise
        return np.where(state == 0, center + noise, self.spikes[np.maximum(state - 1, 0)])

    def draw(self, values: dict[str, NodeValues], n: int, rng: np.random.Generator) -> NodeValues:
        """Values of this node for rows whose parents are ``values``."""
        x, center = self.mean(values, n)
        u = rng.random(n)
        if self.kind == "categorical":
            return NodeValues(code=invert_cdf(center, u))
        noise = np.interp(u, np.linspace(0, 1, _QUANTILES), self.residuals)
        state = self._states(x, rng.random(n))
        missing = None
        if self.missing_weights is not None:
            missing = invert_cdf(softmax_cdf(x, self.missing_weights), rng.random(n)) == 1
        return NodeValues(number=self._value(center, noise, state), missing=missing)

    def abduct(
        self, values: dict[str, NodeValues], own: NodeValues, rng: np.random.Generator
    ) -> np.ndarray:
        """The noise of factual rows (Pearl 2009, step 1 of a counterfactual): for a category,
        a uniform in its CDF interval; for a number, the residual (exact in the continuous
        state, drawn from the residuals at a spike) beside a uniform in its state's interval."""
        n = len(own.code if own.code is not None else own.number)
        x, center = self.mean(values, n)
        if self.kind == "categorical":
            return _interval(center, own.code, rng)
        residual = own.number - center
        if self.state_weights is None:
            return np.column_stack([residual, np.zeros(n)])
        state = _state(own.number, self.spikes)
        drawn = np.interp(rng.random(n), np.linspace(0, 1, _QUANTILES), self.residuals)
        u = _interval(softmax_cdf(x, self.state_weights), state, rng)
        return np.column_stack([np.where(state == 0, residual, drawn), u])

    def predict(self, values: dict[str, NodeValues], noise: np.ndarray, n: int) -> NodeValues:
        """This node under the given parents and abducted noise (step 3)."""
        x, center = self.mean(values, n)
        if self.kind == "categorical":
            return NodeValues(code=invert_cdf(center, noise))
        state = self._states(x, noise[:, 1])
        number = self._value(center, noise[:, 0], state)
        return NodeValues(number=number, missing=np.zeros(n, dtype=bool))

    def to_state(self) -> dict[str, Any]:
        state = {"kind": self.kind, "basis": self.basis.to_state(), "weights": self.weights}
        optional = {
            "residuals": self.residuals,
            "missing_weights": self.missing_weights,
            "spikes": self.spikes,
            "state_weights": self.state_weights,
        }
        state.update({k: v for k, v in optional.items() if v is not None})
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NodeModel:
        def array(key: str) -> np.ndarray | None:
            return None if key not in state else np.asarray(state[key], dtype=np.float64)

        return cls(
            str(state["kind"]),
            Basis.from_state(state["basis"]),
            np.asarray(state["weights"], dtype=np.float64),
            array("residuals"),
            array("missing_weights"),
            array("spikes"),
            array("state_weights"),
        )


def _state(numbers: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """``k`` where a value is the ``k``-th spike, else ``0`` (continuous)."""
    state = np.zeros(len(numbers), dtype=np.int64)
    for k, value in enumerate(spikes, start=1):
        state[numbers == value] = k
    return state
