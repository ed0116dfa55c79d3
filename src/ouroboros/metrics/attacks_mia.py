"""Shadow-model membership inference on chosen target rows, and the epsilon it proves.

After Stadler, Oprisanu & Troncoso (2022), "Synthetic Data – Anonymisation Groundhog
Day", and Houssiau, Jordon, Cohen, Daniel, Elliott, Geddes, Mole, Rangel-Smith &
Szpruch (2022), "TAPAS: a Toolbox for Adversarial Privacy Auditing of Synthetic Data".
The attacker knows the generator and reference rows from the same population. It
trains the generator ``n_shadows`` times on reference rows, each target row put in
half of the training sets (balanced per target, drawn at random), featurises each
synthetic table as seen from each target (distance to the nearest synthetic row, mean
distance to the five nearest, the share of synthetic rows within the target's own
local radius: its distance to its fifth-nearest reference row) and fits a logistic
regression per target; its out-of-fold scores give the attack's AUC, and at the 0.5
threshold its true and false positive rates. Outliers are the rows most at risk
(:func:`outlier_targets`).

A generator that is (epsilon, delta)-DP bounds every such test: ``TPR <= e^eps FPR +
delta`` and ``1 - FPR <= e^eps (1 - TPR) + delta``, so the observed rates give an
empirical lower bound on epsilon (Jagielski, Ullman & Oprea 2020, "Auditing
Differentially Private Machine Learning"; Nasr et al. 2021), taken here at
Clopper-Pearson (1934) bounds of the rates. The bound pools the trials of every target,
which come from shared shadow fits: read it as indicative rather than exact.

This attack costs ``n_shadows`` fits of the generator, so it is not run by
``evaluate``; call :func:`membership_inference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from ouroboros.errors import ParameterError
from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.stats import roc_auc
from ouroboros.schema import Schema

#: nearest synthetic rows averaged in the second feature; reference neighbour that sets
#: a target's local radius
_K = 5


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval of Clopper & Pearson (1934)."""
    alpha = 1.0 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = (
        1.0
        if successes == trials
        else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    )
    return low, high


def epsilon_lower_bound(
    true_positives: int,
    positives: int,
    false_positives: int,
    negatives: int,
    delta: float = 0.0,
    confidence: float = 0.95,
) -> float:
    """The epsilon an attack with these counts proves at ``delta`` (0 when none):
    ``max(log((TPR - delta) / FPR), log((1 - FPR - delta) / (1 - TPR)))`` at the
    Clopper-Pearson lower bound of TPR and upper bound of FPR."""
    tpr, _ = clopper_pearson(true_positives, positives, confidence)
    _, fpr = clopper_pearson(false_positives, negatives, confidence)
    bounds = [0.0]
    if tpr - delta > 0:
        bounds.append(math.log((tpr - delta) / fpr))
    if 1 - fpr - delta > 0:
        bounds.append(math.log((1 - fpr - delta) / (1 - tpr)))
    return max(bounds)


@dataclass
class MembershipInference:
    """What the shadow-model attack achieved, pooled over targets and per target."""

    auc: float
    advantage: float
    tpr: float
    fpr: float
    epsilon_lower_bound: float
    delta: float
    n_shadows: int
    trials: int
    targets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def outlier_targets(real: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    """Positions of the ``n`` rows of ``real`` farthest from their fifth-nearest other row
    in the evaluation embedding: the rows a membership attack finds easiest."""
    context = EvaluationContext(real, real, seed=seed)
    points, index = context.embedding(context.real), context.knn_index(context.real)
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(squared, np.inf)
    radius = np.sort(squared, axis=1)[:, min(_K, len(points) - 1) - 1]
    return np.sort(index[np.argsort(-radius, kind="stable")[:n]])


def _features(
    reference: pd.DataFrame, synthetic: pd.DataFrame, targets: pd.DataFrame, schema: Schema
) -> np.ndarray:
    """``(targets, 3)`` features of one synthetic table as seen from each target."""
    context = EvaluationContext(reference, synthetic, targets, schema=schema)
    fake = context.embedding(context.synthetic)
    held = np.empty_like(context.embedding(context.holdout))
    held[context.knn_index(context.holdout)] = context.embedding(context.holdout)
    real = context.embedding(context.real)
    to_fake = np.sqrt(((held[:, None, :] - fake[None, :, :]) ** 2).sum(axis=2))
    to_real = np.sqrt(((held[:, None, :] - real[None, :, :]) ** 2).sum(axis=2))
    radius = np.sort(to_real, axis=1)[:, min(_K, to_real.shape[1]) - 1]
    close = np.sort(to_fake, axis=1)[:, : min(_K, to_fake.shape[1])]
    return np.column_stack(
        [
            np.log(close[:, 0] + 1e-6),
            np.log(close.mean(axis=1) + 1e-6),
            (to_fake <= radius[:, None]).mean(axis=1),
        ]
    )


def _scores(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold membership probabilities of one target's shadow tables."""
    out = np.full(len(labels), 0.5)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, test_rows in split.split(features, labels):
        x = features[fit_rows]
        centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        model = LogisticRegression(C=1.0, max_iter=200)
        model.fit((x - centre) / scale, labels[fit_rows])
        out[test_rows] = model.predict_proba((features[test_rows] - centre) / scale)[:, 1]
    return out


def membership_inference(
    generator_factory: Callable[[int], Any],
    real: pd.DataFrame,
    targets: pd.DataFrame,
    n_shadows: int = 16,
    *,
    train_rows: int | None = None,
    synthetic_rows: int | None = None,
    folds: int = 4,
    delta: float = 0.0,
    confidence: float = 0.95,
    seed: int = 0,
) -> MembershipInference:
    """Attack the generator built by ``generator_factory(seed)`` (anything with
    ``fit(table)`` and ``sample(n, seed=...)``) on the ``targets`` rows.

    ``real`` holds the attacker's reference rows (without the targets); each shadow
    training set has ``train_rows`` of them (default: half) plus the targets that are
    members in it, and each shadow releases ``synthetic_rows`` rows (default: as many).
    """
    if n_shadows < 2 * folds:
        raise ParameterError(f"parameter 'n_shadows' must be at least 2 * folds ({2 * folds})")
    if not len(targets):
        raise ParameterError("parameter 'targets' must hold at least one row")
    rng = np.random.default_rng(seed)
    reference = real.reset_index(drop=True)
    targets = targets.reset_index(drop=True)[list(reference.columns)]
    schema = Schema.detect(reference)
    train_rows = train_rows or len(reference) // 2
    synthetic_rows = synthetic_rows or train_rows
    members = np.stack(
        [rng.permutation(np.arange(n_shadows) < n_shadows // 2) for _ in range(len(targets))],
        axis=1,
    )
    features = np.empty((n_shadows, len(targets), 3))
    for s in range(n_shadows):
        rows = rng.choice(len(reference), train_rows - int(members[s].sum()), replace=False)
        table = pd.concat([reference.iloc[rows], targets[members[s]]], ignore_index=True)
        table = table.iloc[rng.permutation(len(table))].reset_index(drop=True)
        model = generator_factory(int(rng.integers(2**31))).fit(table)
        synthetic = model.sample(synthetic_rows, seed=int(rng.integers(2**31)))
        features[s] = _features(reference, synthetic, targets, schema)
    labels = members.astype(int)
    scores = np.column_stack(
        [_scores(features[:, t], labels[:, t], folds, seed) for t in range(len(targets))]
    )
    per_target = [
        {"target": t, "auc": float(roc_auc(labels[:, t], scores[:, t]))}
        for t in range(len(targets))
    ]
    flat_labels, flat_scores = labels.ravel(), scores.ravel()
    called = flat_scores > 0.5
    tp, fp = int((called & (flat_labels == 1)).sum()), int((called & (flat_labels == 0)).sum())
    positives, negatives = int(flat_labels.sum()), int((flat_labels == 0).sum())
    tpr, fpr = tp / positives, fp / negatives
    return MembershipInference(
        auc=float(roc_auc(flat_labels, flat_scores)),
        advantage=tpr - fpr,
        tpr=tpr,
        fpr=fpr,
        epsilon_lower_bound=epsilon_lower_bound(tp, positives, fp, negatives, delta, confidence),
        delta=delta,
        n_shadows=n_shadows,
        trials=len(flat_labels),
        targets=per_target,
    )
