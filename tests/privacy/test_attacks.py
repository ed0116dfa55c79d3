"""Privacy attacks: anonymeter-style risks against a control set, the shadow-model
membership attack, and the epsilon its rates prove."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import ParameterError
from ouroboros.metrics import registry
from ouroboros.metrics.attacks import (
    InferenceRisk,
    LinkabilityRisk,
    SinglingOutRisk,
    residual_risk,
    risk_result,
    wilson,
)
from ouroboros.metrics.attacks_mia import (
    clopper_pearson,
    epsilon_lower_bound,
    membership_inference,
    outlier_targets,
)
from ouroboros.metrics.context import EvaluationContext
from ouroboros.testing.metrics import metric_tables

TABLES = metric_tables(400, seed=5)
ATTACKS = (SinglingOutRisk, LinkabilityRisk, InferenceRisk)


def _risk(metric, synthetic):
    real, holdout = TABLES["real"], TABLES["holdout"]
    context = EvaluationContext(real, synthetic, holdout, target="label", sensitive="group")
    return metric.compute(real, synthetic, context=context)


@pytest.mark.parametrize("klass", ATTACKS, ids=lambda k: k.name)
def test_risk_is_near_zero_for_an_independent_sample_and_high_for_a_copy(klass):
    fresh = _risk(klass(), TABLES["fresh"])
    copy = _risk(klass(), TABLES["real"].copy())
    assert fresh.details["ci_low"] <= 0.02 and fresh.value <= 0.1
    assert copy.details["ci_low"] > 0.15 and copy.value > fresh.value + 0.2
    assert 0 <= copy.details["ci_low"] <= copy.value <= copy.details["ci_high"] <= 1


def test_attacks_are_privacy_metrics_in_the_registry():
    for klass in ATTACKS:
        assert registry.get(klass.name) is klass and klass.category == "privacy"


def test_inference_reports_each_secret_and_the_worst():
    real = TABLES["real"]
    context = EvaluationContext(real, real.copy(), TABLES["holdout"])
    result = InferenceRisk().compute(real, real, context=context)
    assert len(result.rows) == 3
    assert result.value == max(v for _, v in result.rows)


def test_wilson_matches_its_formula_and_the_residual_risk_its_definition():
    rate = wilson(30, 100)
    z = 1.959963984540054
    assert rate.value == pytest.approx((30 + z * z / 2) / (100 + z * z))
    assert rate.error == pytest.approx(z / (100 + z * z) * math.sqrt(30 * 70 / 100 + z * z / 4))
    risk = residual_risk(wilson(60, 100), wilson(20, 100))
    a, c = wilson(60, 100).value, wilson(20, 100).value
    assert risk.value == pytest.approx((a - c) / (1 - c))


def test_risk_interval_covers_the_true_risk_about_as_often_as_claimed():
    rng = np.random.default_rng(0)
    attack, control, n = 0.5, 0.2, 400
    truth = (attack - control) / (1 - control)
    covered = 0
    for _ in range(400):
        result = risk_result(rng.binomial(n, attack), rng.binomial(n, control), n)
        covered += result.details["ci_low"] <= truth <= result.details["ci_high"]
    assert 0.90 <= covered / 400 <= 0.99


# ------------------------------------------------------------------ membership inference
POPULATION = pd.concat([TABLES["real"], TABLES["holdout"], TABLES["fresh"]], ignore_index=True)


class _Copier:
    """Releases its training rows."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, table):
        self.table = table
        return self

    def sample(self, n, seed=None):
        return self.table.sample(n, replace=len(self.table) < n, random_state=seed)


class _Independent(_Copier):
    """Releases rows of the population, whatever it was trained on."""

    def sample(self, n, seed=None):
        return POPULATION.sample(n, random_state=seed)


def _attack(factory):
    reference = TABLES["real"].iloc[:200]
    chosen = outlier_targets(reference, 3)
    targets, rest = reference.iloc[chosen], reference.drop(reference.index[chosen])
    return membership_inference(factory, rest, targets, n_shadows=8, train_rows=100, folds=2)


def test_membership_attack_finds_a_copying_generator_and_not_an_independent_one():
    copying, independent = _attack(_Copier), _attack(_Independent)
    assert copying.auc > 0.95 and copying.advantage > 0.8
    assert copying.epsilon_lower_bound > 0.5  # 24 trials prove little more
    assert 0.2 <= independent.auc <= 0.8 and independent.epsilon_lower_bound < 0.5
    assert len(copying.targets) == 3 and copying.trials == 24


def test_outlier_targets_are_the_isolated_rows():
    table = pd.DataFrame({"x": np.r_[np.linspace(0, 1, 50), 40.0], "g": ["a"] * 51})
    assert 50 in outlier_targets(table, 1)


def test_epsilon_lower_bound_follows_the_dp_inequalities():
    assert epsilon_lower_bound(50, 100, 50, 100) == 0.0
    perfect = epsilon_lower_bound(100, 100, 0, 100)
    tpr, _ = clopper_pearson(100, 100)
    _, fpr = clopper_pearson(0, 100)
    assert tpr == pytest.approx(0.025 ** (1 / 100)) and fpr == pytest.approx(1 - 0.025 ** (1 / 100))
    assert perfect == pytest.approx(math.log(tpr / fpr))
    assert epsilon_lower_bound(100, 100, 0, 100, delta=0.5) < perfect
    assert epsilon_lower_bound(1000, 1000, 0, 1000) > perfect  # more trials prove more


def test_membership_attack_needs_enough_shadows():
    with pytest.raises(ParameterError, match="n_shadows"):
        membership_inference(_Copier, TABLES["real"], TABLES["real"].iloc[:2], n_shadows=3)


def test_the_report_shows_the_attacks_in_the_privacy_section():
    from ouroboros.metrics import evaluate
    from ouroboros.report.evaluation import render_evaluation

    real = TABLES["real"]
    names = [k.name for k in ATTACKS]
    html = render_evaluation(
        evaluate(real, real.copy(), holdout=TABLES["holdout"], metrics=names).to_dict()
    )
    assert "Attacks against a real control set" in html and "attribute inference" in html
