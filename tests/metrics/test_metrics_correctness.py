"""The metrics measure what they claim: best on identical data, worst on shuffled columns,
copies flagged by privacy, cut tails flagged by the collapse indicators, and the
diversity metrics reproduce the closed forms of COLLAPSE_THEORY.md §5."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, spearmanr, wasserstein_distance

from ouroboros.metrics import evaluate
from ouroboros.metrics.diversity import diversity_scores
from ouroboros.testing.metrics import metric_tables

EXACT_ONE = (
    "ks_complement",
    "tv_complement",
    "correlation_similarity",
    "contingency_similarity",
    "mixed_pair_similarity",
    "missing_rate_similarity",
    "range_coverage",
    "category_coverage",
    "precision",
    "recall",
    "density",
    "coverage",
    "alpha_precision",
    "beta_recall",
    "tstr_ratio",
    "group_share_similarity",
    "outcome_gap_ratio",
    "tail_kept",
    "variance_ratio",
    "entropy_ratio",
    "unique_row_ratio",
)


@pytest.fixture(scope="module")
def tables():
    return metric_tables(n=600, seed=7)


@pytest.fixture(scope="module")
def identical(tables):
    real = tables["real"]
    return evaluate(real, real.copy(), holdout=tables["holdout"], target="label", sensitive="group")


def test_identical_data_scores_best_on_every_metric(identical):
    scores = identical.scores().set_index("metric")["value"]
    assert not identical.skipped
    for name in EXACT_ONE:
        assert scores[name] == pytest.approx(1.0, abs=1e-9), name
    assert scores["wasserstein"] == pytest.approx(0.0, abs=1e-12)
    assert scores["detection_auc"] <= 0.56
    assert scores["detection_attribution"] <= 0.05
    assert scores["utility_gap_ratio"] == pytest.approx(1.0, abs=0.1)
    # identical rows are copies: the privacy metrics must say so
    assert scores["exact_copy_rate"] == 1.0
    assert scores["authenticity"] == 0.0
    # the training rows are cut to the 300 rows of the holdout's reference half: the
    # copies of those are closer to them, the other half are at chance
    assert scores["dcr_share"] == pytest.approx(0.75, abs=0.05)
    assert scores["dcr_ratio"] == 0.0
    assert scores["membership_auc"] > 0.9


def test_ceilings_are_near_best(identical):
    ceilings = identical.scores().set_index("metric")["ceiling"]
    assert ceilings.notna().all()
    for name in ("ks_complement", "tv_complement", "precision", "coverage", "tail_kept"):
        assert ceilings[name] > 0.85, name
    assert 0.35 < ceilings["dcr_share"] < 0.65
    assert ceilings["exact_copy_rate"] < 0.05


def _shuffled_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Each column's values moved under another column of the same kind."""
    out = table.copy()
    for names in (["age", "income", "ratio"], ["colour", "city", "pet"]):
        for a, b in zip(names, names[1:] + names[:1], strict=True):
            out[b] = table[a].to_numpy()
    return out


def _distinct_columns(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 0.5, n),
            "ratio": rng.beta(2, 5, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "city": rng.choice(["Paris", "Lima", "Oslo", "Pune"], n),
            "pet": rng.choice(["cat", "dog"], n),
        }
    )


def test_shuffled_columns_score_near_worst(rng):
    real, holdout = _distinct_columns(800, rng), _distinct_columns(800, rng)
    evaluation = evaluate(
        real,
        _shuffled_columns(_distinct_columns(800, rng)),
        holdout=holdout,
        metrics=[
            "ks_complement",
            "tv_complement",
            "wasserstein",
            "range_coverage",
            "category_coverage",
            "detection_auc",
            "precision",
            "coverage",
        ],
    )
    scores = evaluation.scores().set_index("metric")
    assert (scores["value"][["ks_complement", "tv_complement", "category_coverage"]] < 0.1).all()
    assert scores.loc["range_coverage", "value"] < 0.35
    assert scores.loc["wasserstein", "value"] > 1.0
    assert scores.loc["detection_auc", "value"] > 0.99
    assert scores.loc["precision", "value"] < 0.1 and scores.loc["coverage", "value"] < 0.1
    card = evaluation.category_scores().set_index("category")
    assert card.loc["fidelity", "score"] < 0.15 and card.loc["fidelity", "level"] == 3
    assert card.loc["detection", "score"] < 0.05


def test_copied_training_rows_are_flagged_by_privacy(tables, rng):
    real, fresh = tables["real"], tables["fresh"]
    # twice as many holdout rows as training rows: its reference half matches the training rows
    holdout = metric_tables(n=2 * len(real), seed=8)["holdout"]
    copies = real.iloc[rng.integers(0, len(real), len(real))].reset_index(drop=True)
    partly = pd.concat([copies.iloc[:200], fresh.iloc[200:]], ignore_index=True)
    privacy = ["dcr_ratio", "dcr_share", "exact_copy_rate", "nndr", "membership_auc"]
    full = evaluate(real, copies, holdout=holdout, metrics=privacy + ["authenticity"])
    part = evaluate(real, partly, holdout=holdout, metrics=privacy)
    clean = evaluate(real, fresh, holdout=holdout, metrics=privacy)
    f, p, c = (e.scores().set_index("metric")["value"] for e in (full, part, clean))
    assert f["exact_copy_rate"] == 1.0 and f["dcr_share"] == 1.0 and f["dcr_ratio"] == 0.0
    assert f["nndr"] == 0.0 and f["membership_auc"] > 0.75
    assert full.scores().set_index("metric").loc["authenticity", "value"] == 0.0
    assert p["exact_copy_rate"] == pytest.approx(200 / 600, abs=0.02)
    assert p["dcr_share"] > c["dcr_share"] + 0.1
    assert p["membership_auc"] > c["membership_auc"]
    assert c["exact_copy_rate"] < 0.02 and 0.4 < c["dcr_share"] < 0.6
    assert full.category_scores().set_index("category").loc["privacy", "level"] == 3
    assert clean.category_scores().set_index("category").loc["privacy", "level"] <= 1


def test_cut_tails_are_flagged_by_collapse_indicators(tables):
    real, holdout, fresh = tables["real"], tables["holdout"], tables["fresh"]
    low, high = real["score"].quantile([0.1, 0.9])
    kept = fresh["score"].between(low, high) & fresh["group"].isin(["a", "b", "c"])
    cut = fresh[kept].sample(len(fresh), replace=True, random_state=0).reset_index(drop=True)
    collapse = ["tail_kept", "variance_ratio", "entropy_ratio", "unique_row_ratio"]
    evaluation = evaluate(real, cut, holdout=holdout, metrics=collapse)
    table = evaluation.table.set_index(["metric", "column"])
    assert table.loc[("tail_kept", "score"), "value"] < 0.1
    assert table.loc[("tail_kept", "group"), "value"] < 0.1  # the rare category 'z' is gone
    assert table.loc[("tail_kept", "score"), "ceiling"] > 0.6
    assert table.loc[("variance_ratio", "score"), "value"] < 0.5
    assert evaluation.scores().set_index("metric").loc["unique_row_ratio", "value"] < 0.8
    card = evaluation.category_scores().set_index("category")
    assert card.loc["collapse", "level"] >= 2


def test_coverage_of_two_samples_matches_the_closed_form():
    """E[coverage] = 1 - C(N-1,k)/C(M+N-1,k) and E[density] = 1 (Naeem et al. 2020)."""
    rng = np.random.default_rng(0)
    n = m = 500
    k = 5
    runs = [
        diversity_scores(rng.normal(size=(n, 64)), rng.normal(size=(m, 64)), k) for _ in range(8)
    ]
    coverage = np.array([r["coverage"] for r in runs])
    density = np.array([r["density"] for r in runs])
    expected = 1 - comb(n - 1, k) / comb(m + n - 1, k)
    assert expected == pytest.approx(0.970, abs=0.001)
    assert abs(coverage.mean() - expected) < 4 * coverage.std(ddof=1) / np.sqrt(len(runs)) + 0.003
    assert abs(density.mean() - 1.0) < 4 * density.std(ddof=1) / np.sqrt(len(runs)) + 0.01


@pytest.mark.parametrize(
    ("s", "precision", "recall", "density", "coverage"),
    [(0.8, 0.990, 0.537, 2.25, 0.995), (0.5, 1.0, 0.036, 5.8, 0.947), (0.25, 1.0, 0.0, 9.0, 0.513)],
)
def test_variance_collapse_table_is_reproduced(s, precision, recall, density, coverage):
    """COLLAPSE_THEORY.md §5: real N(0, I16), synthetic s·N(0, I16), N = M = 2000, k = 5."""
    rng = np.random.default_rng(int(s * 100))
    found = diversity_scores(rng.normal(size=(2000, 16)), s * rng.normal(size=(2000, 16)), 5)
    assert found["precision"] == pytest.approx(precision, abs=0.01)
    assert found["recall"] == pytest.approx(recall, abs=0.03)
    assert found["density"] == pytest.approx(density, rel=0.1)
    assert found["coverage"] == pytest.approx(coverage, abs=0.03)


def test_alpha_beta_authenticity_on_identical_fresh_and_copied_samples():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1500, 8))
    same = diversity_scores(real, real.copy())
    assert same["alpha_precision"] == 1.0 and same["beta_recall"] == 1.0
    assert same["authenticity"] == 0.0
    fresh = diversity_scores(real, rng.normal(size=(1500, 8)))
    assert fresh["alpha_precision"] > 0.9 and fresh["beta_recall"] > 0.9
    assert 0.3 < fresh["authenticity"] < 0.9
    shrunk = diversity_scores(real, 0.5 * rng.normal(size=(1500, 8)))
    assert shrunk["alpha_precision"] < 0.3 and shrunk["recall"] < 0.3


def test_marginal_distances_match_scipy(rng):
    real = pd.DataFrame({"x": rng.normal(0, 2, 700), "k": rng.integers(0, 30, 700)})
    synthetic = pd.DataFrame({"x": rng.normal(0.3, 2.5, 500), "k": rng.integers(3, 40, 500)})
    evaluation = evaluate(real, synthetic, metrics=["ks_complement", "wasserstein"])
    table = evaluation.table.set_index(["metric", "column"])["value"]
    for column in ("x", "k"):
        a, b = real[column].to_numpy(float), synthetic[column].to_numpy(float)
        assert table[("ks_complement", column)] == pytest.approx(1 - ks_2samp(a, b).statistic)
        assert table[("wasserstein", column)] == pytest.approx(wasserstein_distance(a, b) / a.std())


def test_correlation_similarity_uses_spearman_on_complete_pairs(rng):
    x = rng.normal(size=400)
    real = pd.DataFrame({"x": x, "y": x**3 + rng.normal(0, 0.5, 400), "z": rng.normal(size=400)})
    real.loc[rng.random(400) < 0.1, "y"] = np.nan
    synthetic = real.assign(y=-real["y"])
    evaluation = evaluate(real, synthetic, metrics=["correlation_similarity"])
    table = evaluation.table.set_index("column")["value"]
    rho = spearmanr(real["x"], real["y"], nan_policy="omit").statistic
    assert table["x × y"] == pytest.approx(1 - abs(rho - (-rho)) / 2, abs=0.01)
    assert table["x × z"] == pytest.approx(1.0)


def test_total_variation_counts_missing_as_a_level():
    real = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50, "x": np.arange(100.0)})
    synthetic = pd.DataFrame({"c": ["a"] * 50 + [None] * 25 + ["b"] * 25, "x": np.arange(100.0)})
    evaluation = evaluate(real, synthetic, metrics=["tv_complement", "missing_rate_similarity"])
    table = evaluation.table.set_index(["metric", "column"])["value"]
    assert table[("tv_complement", "c")] == pytest.approx(0.75)
    assert table[("missing_rate_similarity", "c")] == pytest.approx(0.75)


def test_detection_attribution_names_the_column_that_differs_on_large_tables():
    """Folds list real rows first: the shuffled part must span both (it once held only real
    rows beyond 1,000 per fold, and every drop came out undefined)."""
    rng = np.random.default_rng(0)
    n = 6_000
    real = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    fake = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(2.0, 1.0, size=n)})
    result = evaluate(real, fake, metrics=["detection_attribution"], ceilings=False)
    drops = {row["column"]: row["value"] for row in result["detection_attribution"].rows}
    assert drops["b"] is not None and drops["b"] > 0.2
    assert drops["a"] is not None and drops["a"] < 0.05
