"""Detection: can a classifier tell synthetic rows from real ones?

A classifier two-sample test (Lopez-Paz & Oquab 2017, "Revisiting Classifier
Two-Sample Tests"): gradient-boosted trees, 3-fold, on a fixed subsample of
real and synthetic rows; the out-of-fold ROC AUC is the score (0.5: the rows
cannot be told apart). Which columns give the synthetic rows away is measured
by permutation importance (Breiman 2001): the drop in held-out AUC when one
column is shuffled.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import (
    DETECTION_FOLDS,
    DETECTION_ROWS,
    EncodedTable,
    EvaluationContext,
)
from ouroboros.metrics.stats import roc_auc

#: held-out rows per fold on which columns are shuffled for the attribution
ATTRIBUTION_ROWS = 1_000
#: the most categories gradient boosting handles natively; the rarest are pooled beyond
_MAX_CATEGORY = 254


def tree_features(
    context: EvaluationContext, table: EncodedTable, index: np.ndarray, exclude=()
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Raw numeric values and category codes (NaN for missing), for tree models.

    Returns the matrix, its column names and the mask of categorical columns.
    """
    names, blocks, is_categorical = [], [], []
    for column in context.columns:
        if column in exclude:
            continue
        if column in context.numeric_columns:
            blocks.append(table.numeric[column][index])
            is_categorical.append(False)
        else:
            codes = np.minimum(table.codes[column][index], _MAX_CATEGORY).astype(np.float64)
            codes[table.codes[column][index] < 0] = np.nan
            blocks.append(codes)
            is_categorical.append(True)
        names.append(column)
    return np.column_stack(blocks), names, np.array(is_categorical, dtype=bool)


def boosting_classifier(categorical: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        early_stopping=False,
        categorical_features=categorical if categorical.any() else None,
        random_state=seed,
    )


def _detection(context: EvaluationContext) -> dict:
    def make():
        real_index = context.sample_index(context.real, DETECTION_ROWS)
        fake_index = context.sample_index(context.synthetic, DETECTION_ROWS)
        x_real, names, categorical = tree_features(context, context.real, real_index)
        x_fake, _, _ = tree_features(context, context.synthetic, fake_index)
        x = np.vstack([x_real, x_fake])
        y = np.r_[np.zeros(len(x_real)), np.ones(len(x_fake))]
        folds = StratifiedKFold(DETECTION_FOLDS, shuffle=True, random_state=context.seed)
        rng = np.random.default_rng(context.seed)
        scores = np.empty(len(y))
        drops = np.zeros(len(names))
        for train, test in folds.split(x, y):
            model = boosting_classifier(categorical, context.seed).fit(x[train], y[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
            # every column shuffled in turn on part of the fold, predicted in one batch; the
            # part is spread over the fold, whose sorted indices put real rows first
            part = test[:: max(1, len(test) // ATTRIBUTION_ROWS)][:ATTRIBUTION_ROWS]
            shuffled = np.tile(x[part], (len(names), 1))
            for j in range(len(names)):
                block = slice(j * len(part), (j + 1) * len(part))
                shuffled[block, j] = rng.permutation(shuffled[block, j])
            permuted = model.predict_proba(shuffled)[:, 1].reshape(len(names), len(part))
            part_auc = roc_auc(y[part], scores[part])
            drops += part_auc - np.array([roc_auc(y[part], p) for p in permuted])
        return {
            "auc": float(roc_auc(y, scores)),
            "drops": dict(
                zip(names, np.maximum(drops / DETECTION_FOLDS, 0.0).tolist(), strict=True)
            ),
            "rows": [len(real_index), len(fake_index)],
        }

    return context.memo(("detection", context.synthetic.key), make)


class _Detection(Metric):
    category = "detection"
    subsample = (
        f"at most {DETECTION_ROWS:,} real and {DETECTION_ROWS:,} synthetic rows "
        f"({DETECTION_FOLDS}-fold boosting is super-linear)"
    )

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if min(context.real.n, context.synthetic.n) < 2 * DETECTION_FOLDS:
            return f"needs at least {2 * DETECTION_FOLDS} real and {2 * DETECTION_FOLDS} synthetic rows"
        return super().not_applicable(context)


class DetectionAUC(_Detection):
    """Out-of-fold ROC AUC of a classifier telling synthetic from real rows (0.5: cannot).

    Values below 0.5 are chance and are reported as 0.5.
    """

    name = "detection_auc"
    direction = "lower"
    best, worst = 0.5, 1.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        result = _detection(context)
        details = {"raw_auc": result["auc"], "rows": result["rows"], "folds": DETECTION_FOLDS}
        return MetricResult(max(result["auc"], 0.5), [], details)


class DetectionAttribution(_Detection):
    """Per column, the drop in detection AUC when the column is shuffled; the largest drop.

    A large drop means this column gives the synthetic rows away.
    """

    name = "detection_attribution"
    direction = "lower"
    best, worst = 0.0, 0.5

    def _compute(self, context: EvaluationContext) -> MetricResult:
        drops = _detection(context)["drops"]
        rows = sorted(drops.items(), key=lambda item: -item[1])
        return MetricResult(max(drops.values()), rows)


METRICS = (DetectionAUC, DetectionAttribution)
