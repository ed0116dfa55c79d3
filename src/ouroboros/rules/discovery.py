"""Discovery of the rules a table obeys on every row (or above a tolerance).

Four families, each screened on a sample of rows and then confirmed on all of them:
orderings between numeric or datetime columns, functional dependencies, columns
missing together, and exact linear relations with small integer coefficients among
up to three numeric columns (``total == a + b``, ``code == 100 * hour + minute``).
Chance is guarded against by support: columns with few distinct values take no part
in orderings or equations, a dependency needs repeated determinant values, an
ordering whose ranges barely overlap (implied by the ranges) is dropped, and so are
rules implied by others (``a <= c`` given ``a <= b <= c``). Only rules that can be
kept by construction together are proposed; each comes with the reason it was kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from ouroboros.rules.evaluate import column_values
from ouroboros.rules.language import BinOp, Col, Compare, Num, node_string, parse, quote
from ouroboros.rules.plan import plan

#: rows screened before a candidate is confirmed on the whole table
SAMPLE_ROWS = 20_000
#: distinct values (in the sample) a column needs to take part in orderings and equations
MIN_DISTINCT = 10
#: share of rows where two ranges overlap for an ordering to say more than the ranges
MIN_OVERLAP = 0.05
#: determinants with more distinct values than this make lookup tables too large
MAX_DETERMINANT = 10_000
#: missing cells a missing-together pattern needs
MIN_MISSING = 10
#: largest integer coefficient of an equation
MAX_COEFFICIENT = 1000
_NUMERIC = ("continuous", "integer", "datetime")


@dataclass(frozen=True)
class Finding:
    """A discovered rule, its family and why it was kept."""

    rule: str
    family: str
    reason: str


def discover(
    data: pd.DataFrame,
    kinds: Mapping[str, str],
    formats: Mapping[str, str | None] | None = None,
    tolerance: float = 0.0,
    seed: int = 0,
) -> list[Finding]:
    """Rules that hold on all rows of ``data`` but a ``tolerance`` share.

    ``kinds`` maps each column to its schema kind (``continuous``, ``integer``,
    ``categorical``, ``datetime``; others are skipped); ``formats`` the datetime
    columns stored as text to their format.
    """
    n = len(data)
    allowed = int(tolerance * n)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, SAMPLE_ROWS), replace=False))
    formats = dict(formats or {})
    numeric = {
        c: column_values(data[c], kinds[c] == "datetime", formats.get(c))
        for c in data.columns
        if kinds.get(c) in _NUMERIC
    }
    rich = [c for c, (v, _) in numeric.items() if _distinct(v[sample]) >= MIN_DISTINCT]
    findings = [
        *_missing_together(data, kinds),
        *_equations(numeric, rich, sample, allowed),
        *_dependencies(data, kinds, sample, allowed),
        *_orderings(numeric, rich, sample, allowed),
    ]
    modelled = [c for c, k in kinds.items() if k in (*_NUMERIC, "categorical")]
    rules = [parse(f.rule, list(data.columns)) for f in findings]
    checked = set(plan(rules, modelled).checked)
    return [f for i, f in enumerate(findings) if i not in checked]


def _distinct(values: np.ndarray) -> int:
    return len(np.unique(values[~np.isnan(values)]))


def _missing_together(data: pd.DataFrame, kinds: Mapping[str, str]) -> list[Finding]:
    groups: dict[bytes, list[str]] = {}
    for name in data.columns:
        if kinds.get(name) not in (*_NUMERIC, "categorical"):
            continue
        mask = data[name].isna().to_numpy()
        if MIN_MISSING <= mask.sum() < len(mask):
            groups.setdefault(np.packbits(mask).tobytes(), []).append(name)
    out = []
    for names in groups.values():
        for other in names[1:]:
            out.append(
                Finding(
                    f"isnull({quote(names[0])}) == isnull({quote(other)})",
                    "missing",
                    f"missing in the same {int(data[other].isna().sum())} rows",
                )
            )
    return out


def _orderings(
    numeric: dict[str, tuple[np.ndarray, str]], rich: list[str], sample: np.ndarray, allowed: int
) -> list[Finding]:
    found: dict[tuple[str, str], str] = {}
    for a, b in combinations(rich, 2):
        (va, ka), (vb, kb) = numeric[a], numeric[b]
        if (ka == "dt") != (kb == "dt"):
            continue
        for low, high, vl, vh in ((a, b, va, vb), (b, a, vb, va)):
            if _breaks(vl[sample], vh[sample]) > allowed or _breaks(vl, vh) > allowed:
                continue
            both = ~np.isnan(vl) & ~np.isnan(vh)
            overlap = float(
                np.mean((vl[both] >= np.min(vh[both])) & (vh[both] <= np.max(vl[both])))
            )
            if overlap >= MIN_OVERLAP and not np.allclose(vl[both], vh[both]):
                found[(low, high)] = (
                    f"holds on the {int(both.sum())} rows where both are present; "
                    f"their ranges overlap on {overlap:.0%} of them"
                )
    implied = {(a, c) for (a, b) in found for (b2, c) in found if b == b2 and (a, c) in found}
    return [
        Finding(f"{quote(a)} <= {quote(b)}", "ordering", reason)
        for (a, b), reason in found.items()
        if (a, b) not in implied
    ]


def _breaks(low: np.ndarray, high: np.ndarray) -> int:
    with np.errstate(invalid="ignore"):
        return int(np.sum(low > high + 1e-9 * np.maximum(1.0, np.abs(high))))


def _equations(
    numeric: dict[str, tuple[np.ndarray, str]], rich: list[str], sample: np.ndarray, allowed: int
) -> list[Finding]:
    names = [c for c in rich if numeric[c][1] == "num"]
    if not names:
        return []
    matrix = np.column_stack([numeric[c][0][sample] for c in names])
    rows = matrix[~np.isnan(matrix).any(axis=1)][:2000]
    if len(rows) < 3 * MIN_DISTINCT:
        return []
    order = sorted(range(len(names)), key=lambda j: -np.mean(np.abs(rows[:, j])))
    seen: set[frozenset[str]] = set()
    out = []
    for t in order:
        others = [j for j in range(len(names)) if j != t]
        for size in (1, 2):
            for group in combinations(others, size):
                key = frozenset([names[t], *(names[j] for j in group)])
                if any(s <= key for s in seen):
                    continue
                coefs = _integer_fit(rows[:, t], rows[:, list(group)])
                if coefs is None:
                    continue
                tree = Compare("==", Col(names[t]), _linear([names[j] for j in group], coefs))
                full = np.column_stack([numeric[names[j]][0] for j in (t, *group)])
                if _misfits(full, coefs) > allowed:
                    continue
                seen.add(key)
                out.append(
                    Finding(node_string(tree), "equation", f"exact on every row ({len(full)})")
                )
    return out


def _integer_fit(target: np.ndarray, inputs: np.ndarray) -> np.ndarray | None:
    design = np.column_stack([inputs, np.ones(len(target))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    coefs = np.round(solution)
    if np.any(coefs[:-1] == 0) or np.any(np.abs(coefs) > MAX_COEFFICIENT):
        return None
    if inputs.shape[1] == 1 and coefs[0] == 1 and coefs[1] == 0:
        return None  # a copy: the ordering search finds it both ways
    if _misfits(np.column_stack([target, inputs]), coefs) > 0:
        return None
    return coefs


def _misfits(columns: np.ndarray, coefs: np.ndarray) -> int:
    present = ~np.isnan(columns).any(axis=1)
    target, inputs = columns[present, 0], columns[present, 1:]
    fitted = inputs @ coefs[:-1] + coefs[-1]
    return int(np.sum(np.abs(target - fitted) > 1e-9 * np.maximum(1.0, np.abs(target))))


def _linear(names: list[str], coefs: np.ndarray):
    tree = None
    for name, coef in zip(names, coefs[:-1], strict=True):
        term = Col(name) if abs(coef) == 1 else BinOp("*", Num(abs(float(coef))), Col(name))
        if tree is None:
            tree = term if coef > 0 else BinOp("-", Num(0.0), term)
        else:
            tree = BinOp("+" if coef > 0 else "-", tree, term)
    if coefs[-1]:
        tree = BinOp("+" if coefs[-1] > 0 else "-", tree, Num(abs(float(coefs[-1]))))
    return tree


def _dependencies(
    data: pd.DataFrame, kinds: Mapping[str, str], sample: np.ndarray, allowed: int
) -> list[Finding]:
    names = [c for c in data.columns if kinds.get(c) in ("categorical", "integer", "datetime")]
    codes = {c: pd.factorize(data[c], use_na_sentinel=False)[0] for c in names}
    sizes = {c: int(codes[c].max()) + 1 for c in names}
    n = len(data)
    found: dict[str, tuple[str, str]] = {}
    pairs = {}
    for det in names:
        counts = np.bincount(codes[det])
        if not 2 <= sizes[det] <= MAX_DETERMINANT or counts[counts >= 2].sum() < n / 2:
            continue
        for dep in names:
            if dep == det or sizes[dep] < 2 or sizes[dep] > sizes[det]:
                continue
            if _fd_breaks(codes[det][sample], codes[dep][sample], sizes[dep]) > allowed:
                continue
            if _fd_breaks(codes[det], codes[dep], sizes[dep]) > allowed:
                continue
            pairs[(det, dep)] = sizes[det]
    for (det, dep), size in sorted(pairs.items(), key=lambda kv: kv[1]):
        if dep in found or found.get(det, ("",))[0] == dep:
            continue  # already derived, or one-to-one with the reverse already kept
        if any((det, m) in pairs and (m, dep) in pairs and (m, det) not in pairs for m in names):
            continue  # implied through another column
        why = "one-to-one" if (dep, det) in pairs else f"{size} values of {det!r}"
        found[dep] = (det, f"{why}, each with one value of {dep!r}")
    return [
        Finding(f"{quote(det)} -> {quote(dep)}", "dependency", reason)
        for dep, (det, reason) in found.items()
    ]


def _fd_breaks(det: np.ndarray, dep: np.ndarray, n_dep: int) -> int:
    """Rows whose dependent value is not the commonest of their determinant's."""
    pairs, counts = np.unique(det.astype(np.int64) * n_dep + dep, return_counts=True)
    best = np.zeros(int(det.max()) + 1, dtype=np.int64)
    np.maximum.at(best, pairs // n_dep, counts)
    return int(len(det) - best.sum())
