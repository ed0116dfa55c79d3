"""Utility: is a model trained on synthetic data as good as one trained on real data?

Train-synthetic-test-real (TSTR) against train-real-test-real (TRTR; Esteban et
al. 2017, "Real-valued (Medical) Time Series Generation with Recurrent
Conditional GANs") for the target column, with two model families: a linear
model (logistic or ridge regression on standardised and one-hot features) and
gradient-boosted trees. The test rows are holdout rows, or, without a
holdout, a quarter of the real rows left out of TRTR training (the synthetic
data may then have been fitted on them, which flatters TSTR).

Skill is above chance: 2·AUC - 1 (macro one-vs-rest over the classes in the
test rows) for classification, R² for regression, both floored at 0. The score
per family is TSTR skill over TRTR skill.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score

from ouroboros.metrics.base import Metric, MetricResult, mean_of
from ouroboros.metrics.context import UTILITY_ROWS, EncodedTable, EvaluationContext
from ouroboros.metrics.detection import boosting_classifier, tree_features
from ouroboros.metrics.stats import roc_auc

FAMILIES = ("linear", "boosting")
#: TRTR skill below which a family's ratio is not reported (the target is not predictable)
MIN_SKILL = 0.01


def is_classification(context: EvaluationContext) -> bool:
    return context.target in context.categorical_columns


def _labels(context: EvaluationContext, table: EncodedTable, index: np.ndarray):
    """Target values at ``index`` and the positions where the target is present."""
    if is_classification(context):
        y = table.codes[context.target][index]
        keep = y >= 0
    else:
        y = table.numeric[context.target][index]
        keep = ~np.isnan(y)
    return y[keep], index[keep]


def _split(context: EvaluationContext) -> dict:
    """Training rows of the real table and the test rows (holdout, or a quarter of real)."""
    if context.holdout is not None:
        return {
            "real_train": context.sample_index(context.real, UTILITY_ROWS),
            "test_table": context.holdout,
            "test": context.sample_index(context.holdout, UTILITY_ROWS),
        }
    order = context.real.permutation(context.seed)
    n_test = min(UTILITY_ROWS, context.real.n // 4)
    return {
        "real_train": order[n_test : n_test + UTILITY_ROWS],
        "test_table": context.real,
        "test": order[:n_test],
    }


def _fit_predict(context, family, train_table, train_index, test_table, test_index):
    """Predictions on the test rows of a model of ``family`` trained on the training rows."""
    y_train, train_index = _labels(context, train_table, train_index)
    exclude = (context.target,)
    classification = is_classification(context)
    classes = np.unique(y_train)
    if len(y_train) == 0 or (classification and len(classes) < 2):
        return None
    if family == "boosting":
        x_train, _, categorical = tree_features(context, train_table, train_index, exclude)
        x_test, _, _ = tree_features(context, test_table, test_index, exclude)
        if classification:
            model = boosting_classifier(categorical, context.seed)
        else:
            model = HistGradientBoostingRegressor(
                max_iter=100,
                early_stopping=False,
                categorical_features=categorical if categorical.any() else None,
                random_state=context.seed,
            )
    else:
        x_train = context.features(train_table, train_index, exclude)
        x_test = context.features(test_table, test_index, exclude)
        model = LogisticRegression(max_iter=100) if classification else Ridge(alpha=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
        if not classification:
            return model.predict(x_test)
        proba = np.zeros((len(test_index), context.n_levels(context.target)))
        proba[:, model.classes_.astype(np.int64)] = model.predict_proba(x_test)
    return proba


def skill(context: EvaluationContext, y: np.ndarray, prediction: np.ndarray | None) -> float:
    """Skill above chance: 2·AUC - 1 (macro one-vs-rest) or R², floored at 0."""
    if prediction is None:
        return 0.0
    if is_classification(context):
        aucs = [
            roc_auc(y == c, prediction[:, c]) for c in np.unique(y) if 0 < np.sum(y == c) < len(y)
        ]
        return max(2 * float(np.mean(aucs)) - 1, 0.0) if aucs else math.nan
    return max(float(r2_score(y, prediction)), 0.0)


def predictions(context: EvaluationContext, source: str) -> dict:
    """Test labels and each family's predictions for a model trained on ``source`` rows.

    ``source`` is ``"real"`` (TRTR) or ``"synthetic"`` (TSTR); cached for every
    metric and the ceiling.
    """
    split = _split(context)
    test_table = split["test_table"]

    def make():
        y_test, test_index = _labels(context, test_table, split["test"])
        if source == "real":
            table, index = context.real, split["real_train"]
        else:
            table = context.synthetic
            index = context.sample_index(table, UTILITY_ROWS)
        return {
            "y": y_test,
            "test_index": test_index,
            "test_table": test_table,
            **{
                family: _fit_predict(context, family, table, index, test_table, test_index)
                for family in FAMILIES
            },
        }

    key = context.real.key if source == "real" else context.synthetic.key
    return context.memo(("utility", key, test_table.key, context.target), make)


class _Utility(Metric):
    requires = frozenset({"target"})
    uses_holdout = True
    subsample = (
        f"models trained on at most {UTILITY_ROWS:,} rows and tested on at most "
        f"{UTILITY_ROWS:,} rows (model fitting is super-linear)"
    )

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        if reason is None and context.real.n < 20:
            return "needs at least 20 real rows"
        return reason


class TSTRRatio(_Utility):
    """TSTR skill over TRTR skill for the target, averaged over model families (1: as real)."""

    name = "tstr_ratio"
    category = "utility"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        trtr, tstr = predictions(context, "real"), predictions(context, "synthetic")
        rows, details = (
            [],
            {"task": "classification" if is_classification(context) else "regression"},
        )
        for family in FAMILIES:
            real_skill = skill(context, trtr["y"], trtr[family])
            synthetic_skill = skill(context, tstr["y"], tstr[family])
            details[family] = {"trtr": real_skill, "tstr": synthetic_skill}
            if real_skill >= MIN_SKILL:
                rows.append((family, synthetic_skill / real_skill))
        details["test_rows"] = len(trtr["y"])
        details["skill"] = (
            "2·AUC - 1 (macro one-vs-rest)" if is_classification(context) else "R² (floored at 0)"
        )
        return MetricResult(mean_of(rows), rows, details)


METRICS = (TSTRRatio,)
