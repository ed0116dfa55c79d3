"""Private-PGM: a graphical model consistent with noisy marginals, on a junction tree.

McKenna, Sheldon & Miklau 2019 ("Graphical-model based estimation and inference for
differential privacy"): the distribution of largest entropy that best fits the noisy
marginal measurements is a graphical model over the measured cliques. Its log-potentials
live on the maximal cliques of a junction tree (triangulated by greedy min-fill); mirror
descent with Armijo backtracking updates them, and belief propagation (sum-product in log
space) turns potentials into clique marginals. Plain numpy: no compile step, memory the
size of the clique tables.

Attributes are integers ``0..d-1`` with domain ``sizes``; a clique is a sorted tuple of
attributes and its table an array with one axis per attribute, in that order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

Clique = tuple[int, ...]


# ---------------------------------------------------------------- tables over cliques
def expand(values: np.ndarray, attrs: Clique, target: Clique) -> np.ndarray:
    """``values`` over ``attrs`` reshaped to broadcast over the superset ``target``."""
    shape = [values.shape[attrs.index(a)] if a in attrs else 1 for a in target]
    return values.reshape(shape)


def project(values: np.ndarray, attrs: Clique, keep: Clique) -> np.ndarray:
    """Sum ``values`` over ``attrs`` down to ``keep`` (a subset, sorted)."""
    axes = tuple(i for i, a in enumerate(attrs) if a not in keep)
    return values.sum(axis=axes) if axes else values


def logsumexp(values: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """log(sum(exp(values))) over ``axis`` (all axes when None), without overflow
    (array methods rather than numpy functions: this runs thousands of times a fit)."""
    if axis is None:
        top = values.max()
        return np.log(np.exp(values - top).sum()) + top
    top = values.max(axis=axis, keepdims=True)
    return (np.log(np.exp(values - top).sum(axis=axis, keepdims=True)) + top).squeeze(axis)


def _log_project(values: np.ndarray, attrs: Clique, keep: Clique) -> np.ndarray:
    axes = tuple(i for i, a in enumerate(attrs) if a not in keep)
    return logsumexp(values, axis=axes) if axes else values


def cells(clique: Clique, sizes: tuple[int, ...]) -> int:
    return math.prod(sizes[a] for a in clique)


# ---------------------------------------------------------------- junction tree
@dataclass
class JunctionTree:
    """Maximal cliques, and a rooted spanning tree over them (``parent[0] == -1``);
    ``order`` lists cliques root first, every parent before its children."""

    cliques: list[Clique]
    parent: list[int]
    order: list[int]

    def separator(self, k: int) -> Clique:
        if self.parent[k] < 0:
            return ()
        return tuple(sorted(set(self.cliques[k]) & set(self.cliques[self.parent[k]])))

    def children(self, k: int) -> list[int]:
        return [j for j, p in enumerate(self.parent) if p == k]

    def size(self, sizes: tuple[int, ...]) -> int:
        """Cells over every clique table."""
        return sum(cells(c, sizes) for c in self.cliques)

    def home(self, attrs: Clique) -> int | None:
        """A clique holding every attribute of ``attrs`` (the smallest), or ``None``."""
        best = None
        for k, clique in enumerate(self.cliques):
            if set(attrs) <= set(clique) and (
                best is None or len(clique) < len(self.cliques[best])
            ):
                best = k
        return best


def triangulate(cliques: list[Clique], n_attrs: int, sizes: tuple[int, ...]) -> list[Clique]:
    """Maximal cliques of a chordal graph holding every clique, by greedy elimination
    (fewest fill-in edges first, then the smallest new clique)."""
    neighbours = {a: set() for a in range(n_attrs)}
    for clique in cliques:
        for a, b in itertools.combinations(clique, 2):
            neighbours[a].add(b)
            neighbours[b].add(a)
    remaining, found = set(range(n_attrs)), []

    def cost(a: int) -> tuple[int, int]:
        near = neighbours[a] & remaining
        fill = sum(1 for x, y in itertools.combinations(near, 2) if y not in neighbours[x])
        return fill, cells((a, *near), sizes)

    while remaining:
        a = min(sorted(remaining), key=cost)
        near = neighbours[a] & remaining
        for x, y in itertools.combinations(near, 2):
            neighbours[x].add(y)
            neighbours[y].add(x)
        found.append(tuple(sorted({a, *near})))
        remaining.discard(a)
    maximal = [c for c in found if not any(set(c) < set(o) for o in found)]
    return sorted(set(maximal), key=lambda c: (-len(c), c))


def junction_tree(cliques: list[Clique], n_attrs: int, sizes: tuple[int, ...]) -> JunctionTree:
    """A junction tree whose cliques cover ``cliques`` (and every attribute)."""
    maximal = triangulate(cliques, n_attrs, sizes)
    # maximum spanning tree on separator sizes (Kruskal); a forest joins on empty separators
    pairs = sorted(
        itertools.combinations(range(len(maximal)), 2),
        key=lambda p: -len(set(maximal[p[0]]) & set(maximal[p[1]])),
    )
    group = list(range(len(maximal)))

    def find(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    adjacent: dict[int, list[int]] = {i: [] for i in range(len(maximal))}
    for i, j in pairs:
        if find(i) != find(j):
            group[find(i)] = find(j)
            adjacent[i].append(j)
            adjacent[j].append(i)
    parent, order, seen = [-1] * len(maximal), [0], {0}
    for k in order:
        for j in sorted(adjacent[k]):
            if j not in seen:
                seen.add(j)
                parent[j] = k
                order.append(j)
    return JunctionTree(maximal, parent, order)


def model_size_mb(cliques: list[Clique], n_attrs: int, sizes: tuple[int, ...]) -> float:
    """Megabytes of float64 clique tables of the junction tree over ``cliques``."""
    return junction_tree(cliques, n_attrs, sizes).size(sizes) * 8 / 2**20


# ---------------------------------------------------------------- the model
@dataclass
class Measurement:
    """A noisy marginal: ``values`` (counts, shaped over ``clique``) with noise ``sigma``
    (a scale, or one per cell where cells were pooled).

    ``groups`` (one per clique attribute: ``None``, or an array mapping each code to a
    group) makes it a marginal at a coarser resolution, counts summed per group: a linear
    query like any other to Private-PGM (McKenna et al. 2019, section 3), whose fit
    spreads each group's count over its codes by the finer measurements."""

    clique: Clique
    values: np.ndarray
    sigma: float | np.ndarray
    groups: tuple[np.ndarray | None, ...] | None = None


def coarsen(table: np.ndarray, groups: tuple[np.ndarray | None, ...] | None) -> np.ndarray:
    """``table`` summed per group along every axis that has a map (codes to groups)."""
    return _sum_groups(table, _onehots(groups))


def _onehots(groups: tuple[np.ndarray | None, ...] | None) -> tuple[np.ndarray | None, ...]:
    if groups is None:
        return ()
    out = []
    for group in groups:
        if group is None:
            out.append(None)
            continue
        onehot = np.zeros((len(group), int(group.max()) + 1))
        onehot[np.arange(len(group)), group] = 1.0
        out.append(onehot)
    return tuple(out)


def _sum_groups(table: np.ndarray, onehots: tuple[np.ndarray | None, ...]) -> np.ndarray:
    if len(onehots) == 2:  # a pair, the common case: two matrix products
        rows, columns = onehots
        table = table if rows is None else rows.T @ table
        return table if columns is None else table @ columns
    for axis, onehot in enumerate(onehots):
        if onehot is not None:
            table = np.moveaxis(np.tensordot(table, onehot, axes=([axis], [0])), -1, axis)
    return table


def refine(table: np.ndarray, groups: tuple[np.ndarray | None, ...] | None) -> np.ndarray:
    """The adjoint of :func:`coarsen`: every code takes its group's value."""
    if groups is None:
        return table
    for axis, group in enumerate(groups):
        if group is not None:
            table = np.take(table, group, axis=axis)
    return table


@dataclass
class GraphicalModel:
    """Log-potentials on a junction tree's cliques and the table total (rows)."""

    sizes: tuple[int, ...]
    tree: JunctionTree
    potentials: list[np.ndarray]
    total: float
    marginals_: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def empty(cls, sizes: tuple[int, ...], tree: JunctionTree, total: float) -> GraphicalModel:
        shapes = [tuple(sizes[a] for a in c) for c in tree.cliques]
        return cls(sizes, tree, [np.zeros(s) for s in shapes], float(total))

    def belief_propagation(self, potentials: list[np.ndarray]) -> list[np.ndarray]:
        """Clique marginals (counts summing to ``total``) of ``potentials``."""
        tree, cliques = self.tree, self.tree.cliques
        up: dict[int, np.ndarray] = {}
        incoming = [p.copy() for p in potentials]
        for k in reversed(tree.order[1:]):
            sep = tree.separator(k)
            up[k] = _log_project(incoming[k], cliques[k], sep)
            parent = tree.parent[k]
            incoming[parent] = incoming[parent] + expand(up[k], sep, cliques[parent])
        beliefs = [np.empty(0)] * len(cliques)
        beliefs[tree.order[0]] = incoming[tree.order[0]]
        for k in tree.order[1:]:
            parent, sep = tree.parent[k], tree.separator(k)
            down = _log_project(beliefs[parent], cliques[parent], sep) - up[k]
            beliefs[k] = incoming[k] + expand(down, sep, cliques[k])
        out = []
        for belief in beliefs:
            log_z = logsumexp(belief)
            out.append(np.exp(belief - log_z) * self.total)
        return out

    def marginal(self, attrs: Clique) -> np.ndarray:
        """The model's marginal over ``attrs`` (counts), by summing a clique that holds
        them or, when none does, by variable elimination over the tree's conditionals."""
        attrs = tuple(sorted(attrs))
        home = self.tree.home(attrs)
        if home is not None:
            return project(self.marginals_[home], self.tree.cliques[home], attrs)
        return self._eliminate(attrs)

    def _eliminate(self, attrs: Clique) -> np.ndarray:
        tree = self.tree
        keep = set(tree.order)
        changed = True
        while changed:  # drop leaves that add no wanted attribute: their conditional sums to 1
            changed = False
            for k in list(keep):
                if k == tree.order[0] or any(c in keep for c in tree.children(k)):
                    continue
                if not (set(tree.cliques[k]) - set(tree.separator(k))) & set(attrs):
                    keep.discard(k)
                    changed = True
        factors = []
        for k in keep:
            clique, sep = tree.cliques[k], tree.separator(k)
            table = self.marginals_[k] / self.total
            if sep:
                below = expand(project(table, clique, sep), sep, clique)
                table = np.divide(table, below, out=np.zeros_like(table), where=below > 0)
            factors.append((clique, table))
        hidden = set().union(*(set(c) for c, _ in factors)) - set(attrs)
        while hidden:
            var = min(
                sorted(hidden),
                key=lambda v: cells(
                    tuple(sorted(set().union(*(set(c) for c, _ in factors if v in c)))),
                    self.sizes,
                ),
            )
            hidden.discard(var)
            factors = _sum_out(factors, var)
        clique, table = _multiply(factors)
        return project(table, clique, attrs) * self.total

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows of codes, clique by clique from the root (forward sampling).

        Within each group of rows that share the values already drawn, the next values
        are allotted in proportion to the model's conditional counts, rounded at random
        (as private-pgm's ``synthetic_data``): far less sampling noise than drawing each
        row on its own, with the same expected marginals.
        """
        tree, cliques = self.tree, self.tree.cliques
        out = np.zeros((n, len(self.sizes)), dtype=np.int64)
        for k in tree.order:
            clique, sep = cliques[k], tree.separator(k)
            rest = tuple(a for a in clique if a not in sep)
            axes = [clique.index(a) for a in sep + rest]
            table = np.moveaxis(self.marginals_[k], axes, range(len(clique)))
            cond = np.maximum(table.reshape(cells(sep, self.sizes), -1), 0.0)
            if sep:
                shape = [self.sizes[a] for a in sep]
                row = np.ravel_multi_index(tuple(out[:, a] for a in sep), shape)
            else:
                row = np.zeros(n, dtype=np.int64)
            order = np.argsort(row, kind="stable")
            groups, starts, counts = np.unique(row[order], return_index=True, return_counts=True)
            picked = np.empty(n, dtype=np.int64)
            for group, start, count in zip(groups, starts, counts, strict=True):
                picked[order[start : start + count]] = allot(cond[group], int(count), rng)
            values = np.unravel_index(picked, [self.sizes[a] for a in rest])
            for a, v in zip(rest, values, strict=True):
                out[:, a] = v
        return out


def allot(weights: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` codes in random order whose counts are ``m * weights / sum`` rounded at random
    (each count is its floor or its ceiling, the total exactly ``m``)."""
    total = weights.sum()
    if total <= 0:
        weights, total = np.ones_like(weights), float(len(weights))
    counts = weights * (m / total)
    whole = np.floor(counts).astype(np.int64)
    extra = m - int(whole.sum())
    if extra > 0:
        fraction = counts - whole
        fraction = np.where(fraction > 0, fraction, 0.0)
        if np.count_nonzero(fraction) < extra:  # float rounding: fall back to the weights
            fraction = fraction + weights / total
        up = rng.choice(len(weights), size=extra, replace=False, p=fraction / fraction.sum())
        whole[up] += 1
    codes = np.repeat(np.arange(len(weights)), whole)
    rng.shuffle(codes)
    return codes


def _multiply(factors: list[tuple[Clique, np.ndarray]]) -> tuple[Clique, np.ndarray]:
    clique = tuple(sorted(set().union(*(set(c) for c, _ in factors))))
    table = np.ones([1] * len(clique))
    for attrs, values in factors:
        table = table * expand(values, attrs, clique)
    return clique, table


def _sum_out(factors: list[tuple[Clique, np.ndarray]], var: int) -> list:
    touching = [f for f in factors if var in f[0]]
    others = [f for f in factors if var not in f[0]]
    clique, table = _multiply(touching)
    kept = tuple(a for a in clique if a != var)
    return [*others, (kept, project(table, clique, kept))]


# ---------------------------------------------------------------- estimation
def estimate_total(measurements: list[Measurement]) -> float:
    """Rows in the table, from the noisy sums weighted by their inverse variance."""
    weights = np.array(
        [1.0 / np.sum(np.broadcast_to(m.sigma, m.values.shape) ** 2) for m in measurements]
    )
    sums = np.array([m.values.sum() for m in measurements])
    return max(float(np.dot(weights, sums) / weights.sum()), 1.0)


def estimate(
    sizes: tuple[int, ...],
    measurements: list[Measurement],
    *,
    iterations: int = 1000,
    total: float | None = None,
    warm: GraphicalModel | None = None,
) -> GraphicalModel:
    """Fit a graphical model to ``measurements`` by mirror descent on the squared error
    (each measurement weighted by 1/sigma^2), with Armijo backtracking.

    ``warm`` (a model on a tree whose cliques the new one keeps) starts from its potentials.
    """
    total = estimate_total(measurements) if total is None else total
    alpha = 1.0 / total**2 * min(float(np.min(m.sigma)) for m in measurements) ** 2
    measurements = combine(measurements)
    cliques = [m.clique for m in measurements]
    # a warm start keeps the old cliques, so that every old potential has a home
    tree = junction_tree(cliques + (warm.tree.cliques if warm else []), len(sizes), sizes)
    model = GraphicalModel.empty(sizes, tree, total)
    if warm is not None:
        model.potentials = _carry_potentials(warm, tree, sizes)
    # per measurement: its clique's index, the axes summed away, its broadcast shape
    plan = []
    for m in measurements:
        k = tree.home(m.clique)
        clique = tree.cliques[k]
        axes = tuple(i for i, a in enumerate(clique) if a not in m.clique)
        shape = [sizes[a] if a in m.clique else 1 for a in clique]
        weight = 1.0 / np.asarray(m.sigma, dtype=np.float64) ** 2
        plan.append((k, axes, shape, m.values, weight, m.groups, _onehots(m.groups)))

    def loss(marginals: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        value, grads = 0.0, [np.zeros_like(p) for p in model.potentials]
        sums: dict[tuple, np.ndarray] = {}  # measurements that share a clique share its sums
        for k, axes, shape, values, weight, groups, onehots in plan:
            if (k, axes) not in sums:
                sums[k, axes] = marginals[k].sum(axis=axes) if axes else marginals[k]
            fine = sums[k, axes]
            diff = _sum_groups(fine, onehots) - values
            weighted = diff * weight
            value += 0.5 * float((diff * weighted).sum())
            grads[k] += refine(weighted, groups).reshape(shape)
        return value, grads

    theta = model.potentials
    mu = model.belief_propagation(theta)
    current = loss(mu)
    for _ in range(iterations):
        value, grads = current
        alpha *= 2.0
        for _ in range(25):
            trial = [t - alpha * g for t, g in zip(theta, grads, strict=True)]
            trial_mu = model.belief_propagation(trial)
            trial_loss = loss(trial_mu)
            decrease = sum(
                float(np.sum(g * (a - b))) for g, a, b in zip(grads, mu, trial_mu, strict=True)
            )
            if value - trial_loss[0] >= 0.5 * alpha * decrease:
                break
            alpha *= 0.5
        theta, mu, current = trial, trial_mu, trial_loss
    model.potentials, model.marginals_ = theta, mu
    return model


def combine(measurements: list[Measurement]) -> list[Measurement]:
    """Measurements of one marginal at one resolution merged into their inverse-variance
    weighted mean (a sufficient statistic: the squared loss differs by a constant)."""
    merged: dict[tuple, list] = {}
    for m in measurements:
        groups = (
            () if m.groups is None else tuple(None if g is None else g.tobytes() for g in m.groups)
        )
        weight = 1.0 / np.asarray(m.sigma, dtype=np.float64) ** 2
        key = (m.clique, groups)
        if key in merged:
            merged[key][1] = merged[key][1] + weight * m.values
            merged[key][2] = merged[key][2] + weight
        else:
            merged[key] = [m, weight * m.values, weight]
    out = []
    for first, weighted, weight in merged.values():
        sigma = 1.0 / np.sqrt(weight)
        sigma = float(sigma) if np.ndim(sigma) == 0 else sigma
        out.append(Measurement(first.clique, weighted / weight, sigma, first.groups))
    return out


def _carry_potentials(warm: GraphicalModel, tree: JunctionTree, sizes: tuple[int, ...]) -> list:
    """The warm model's potentials, each added onto a new clique that holds its clique."""
    out = [np.zeros(tuple(sizes[a] for a in c)) for c in tree.cliques]
    for clique, potential in zip(warm.tree.cliques, warm.potentials, strict=True):
        k = tree.home(clique)
        if k is None:
            return [np.zeros(tuple(sizes[a] for a in c)) for c in tree.cliques]
        out[k] = out[k] + expand(potential, clique, tree.cliques[k])
    return out
