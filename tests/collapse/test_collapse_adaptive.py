"""The adaptive controller: its budget invariant, its levers, its records and its report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.collapse import CollapseExperiment, strategies
from ouroboros.collapse.adaptive import Adaptive
from ouroboros.errors import ParameterError

SIZE = 200


def frame(tag: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{tag}{i}" for i in range(n)], "x": np.arange(n, dtype=float)})


class Scripted(Adaptive):
    """The controller with the measurement replaced by a script of tail_kept values."""

    def __init__(self, tails: dict[int, float], **kwargs):
        super().__init__(**kwargs)
        self.tails = tails

    def measure(self, sample, pool):
        generation = int(sample["id"].iloc[0].split("-")[0][1:])
        return {"tail_kept": self.tails[generation], "coverage": 0.9}


def run(controller: Adaptive, generations: int) -> list[strategies.TrainingSet]:
    samples = {k: frame(f"g{k}-", SIZE) for k in range(generations)}
    pool = strategies.Pool(frame("real-", SIZE), frame("reserve-", 500), samples.__getitem__, SIZE)
    pool.history = [{}]
    out = []
    for generation in range(1, generations):
        train = controller.training_set(generation, pool, np.random.default_rng(generation))
        out.append(train)
        pool.history.append(dict(train.info))
    return out


def real_share(train: strategies.TrainingSet) -> float:
    return sum(s.rows for s in train.provenance if s.generation is None) / len(train.data)


def test_budget_is_never_exceeded_and_spent_where_tails_fall():
    tails = {0: 0.6, **{k: 0.6 for k in range(1, 5)}, **{k: 0.4 for k in range(5, 12)}}
    controller = Scripted(tails, budget=0.05, max_correct=0.0, min_correct=0.0)
    trains = run(controller, 12)
    shares = [real_share(t) for t in trains]
    for g in range(1, len(shares) + 1):  # the average over generations 1..g stays within B
        assert np.mean(shares[:g]) <= 0.05 + 1e-9
    assert shares[:5] == [0.0] * 5  # nothing spent while the tails hold
    assert max(shares[5:]) > 0.05  # the banked budget goes where the drift is
    assert all(len(t.data) == SIZE for t in trains)
    late = trains[6]
    assert late.info["adaptive_drift"] == pytest.approx(0.2)
    assert late.info["adaptive_accumulate"] > 0.95  # the drifted latest sample weighs little
    assert "tail kept fell to 0.40 (generation 0: 0.60)" in late.explanation
    assert "% real rows" in late.explanation
    # accumulation draws from the earlier, verified-good generations
    assert any(s.generation is not None and s.generation < 5 for s in late.provenance)


def test_within_tolerance_it_accumulates_every_earlier_sample_and_spends_nothing():
    controller = Scripted({k: 0.6 for k in range(8)}, min_correct=0.0)
    trains = run(controller, 8)
    for train in trains:
        assert all(s.generation is not None for s in train.provenance)
        assert "so no real rows" in train.explanation
    # equal drift, equal weight: the last training set draws from all seven earlier samples
    last = trains[-1]
    assert {s.generation for s in last.provenance} == set(range(7))
    assert last.info["adaptive_accumulate"] > 0.7


def test_detection_drift_within_its_noise_is_not_a_drift():
    controller = Adaptive(margin=1.0)
    pool = strategies.Pool(frame("r", SIZE), frame("v", 400), lambda k: frame("g", SIZE), SIZE)
    noise = controller.drifts({"detection_auc": 0.91}, {"detection_auc": 0.90}, pool)
    assert noise["detection_auc"] == 0.0  # one standard error of the difference is ~0.03
    real = controller.drifts({"detection_auc": 0.99}, {"detection_auc": 0.90}, pool)
    assert 0.1 < real["detection_auc"] < 0.18  # 0.18 of goodness, less the margin
    bare = Adaptive(margin=0.0).drifts({"detection_auc": 0.91}, {"detection_auc": 0.90}, pool)
    assert bare["detection_auc"] == pytest.approx(0.02)


def test_auc_standard_error_bounds_the_simulated_one():
    from scipy.stats import norm

    from ouroboros.collapse.adaptive import auc_standard_error

    # binormal scores with AUC 0.9, 50 positives and 200 negatives, 2,000 trials
    rng = np.random.default_rng(0)
    shift = np.sqrt(2) * norm.ppf(0.9)
    pos, neg = rng.normal(shift, 1, (2000, 50)), rng.normal(0, 1, (2000, 200))
    aucs = (pos[:, :, None] > neg[:, None, :]).mean(axis=(1, 2))
    # the exponential approximation is conservative for binormal scores: a safe margin
    assert 1.0 <= auc_standard_error(0.9, 50, 200) / aucs.std() <= 1.4
    assert auc_standard_error(0.9, 200, 1000) < auc_standard_error(0.9, 50, 200)


def test_detection_drift_resamples_from_a_larger_reservoir(monkeypatch):
    from ouroboros.collapse import correctors

    def favour_odd(self, synthetic, pool, rng):  # a stand-in classifier: odd x look real
        w = 1.0 + 9.0 * (synthetic["x"].to_numpy() % 2)
        return w / w.sum()

    monkeypatch.setattr(correctors.Importance, "weights", favour_odd)
    controller = Adaptive(budget=0.0, reservoir=2.0)
    assert controller.sample_size(SIZE) == 2 * SIZE
    samples = {k: frame(f"g{k}-", 2 * SIZE) for k in range(3)}
    pool = strategies.Pool(frame("real-", SIZE), frame("v", 400), samples.__getitem__, SIZE)
    pool.history = [{}, {"adaptive_drift": 0.0}]
    train = controller._build(pool, np.random.default_rng(0), 0, np.ones(3), correct=2.0)
    assert len(train.data) == SIZE and train.info["candidates"] == 2 * SIZE
    assert (train.data["x"] % 2).mean() > 0.8  # resampled toward what the classifier favours
    blocks = [s.generation for s in train.provenance]
    assert blocks == sorted(blocks) and sum(s.rows for s in train.provenance) == SIZE


def test_allocation_respects_each_sample_size():
    from ouroboros.collapse.adaptive import _allocate

    counts = _allocate(
        300, np.array([1.0, 1e-9, 1e-9]), np.array([200, 200, 200]), np.random.default_rng(0)
    )
    assert counts.sum() == 300 and counts[0] == 200


def test_decide_raises_levers_with_the_drift():
    controller = Adaptive(budget=0.1, tolerance=0.05, max_correct=2.0, min_correct=0.5)
    calm = controller.decide(3, 0.0, spent=0.0)
    assert calm["real_share"] == 0 and calm["correct"] == 0.5  # Gillman: correct always
    warm = controller.decide(3, 0.025, spent=0.0, worst="detection_auc")
    assert warm["real_share"] == 0 and warm["correct"] == pytest.approx(1.25)
    hot = controller.decide(3, 0.10, spent=0.0, worst="detection_auc")
    assert hot["real_share"] == pytest.approx(0.2) and hot["correct"] == pytest.approx(2.0)
    # reweighting cannot bring tails back: a tail loss does not raise the correction
    assert controller.decide(3, 0.10, spent=0.0, worst="tail_kept")["correct"] == 0.5
    with pytest.raises(ParameterError, match="min_correct"):
        Adaptive(min_correct=3.0, max_correct=1.0).validate()
    broke = controller.decide(3, 0.10, spent=0.3)
    assert broke["real_share"] == 0  # the bank is empty
    assert controller.real_rows_needed(100, 10) == 100 + controller.validation


def test_parameters():
    assert strategies.parse("adaptive").spec == "adaptive:0.05"
    assert strategies.parse("adaptive:0.1").budget == 0.1
    for bad in ("adaptive:2", "adaptive:-0.1"):
        with pytest.raises(ParameterError):
            strategies.parse(bad)
    with pytest.raises(ParameterError, match="validation"):
        Adaptive(validation=5).validate()


@pytest.mark.slow
def test_the_lab_records_and_reports_the_decisions(tmp_path):
    rng = np.random.default_rng(0)
    n = 700
    table = pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(1),
            "colour": rng.choice(["red", "green", "blue", "amber"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "member": rng.choice(["yes", "no"], n),
        }
    )
    result = CollapseExperiment(
        "independent",
        table,
        holdout=0.2,
        generations=3,
        strategy="adaptive:0.1",
        seeds=1,
        sample_size=150,
        metrics=["tail_kept"],
        target="member",
    ).run()
    runs = result.generations
    assert (runs["status"] == "ok").all()
    assert runs["decision"].notna().sum() == 2  # generations 1 and 2
    assert {"adaptive_drift", "adaptive_real_share", "adaptive_tail_kept"} <= set(runs.columns)
    html = result.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
    assert "What the adaptive controller decided" in html and "Real rows spent" in html
    assert runs["decision"].dropna().iloc[0] in html


def test_the_report_shows_decisions_and_real_rows(tmp_path):
    from ouroboros.collapse import CollapseResult, GenerationRecord, Score
    from ouroboros.collapse.strategies import Source

    records = []
    for spec in ("mix:0.05", "adaptive:0.05"):
        for g in range(3):
            real = SIZE if g == 0 else (10 if spec == "mix:0.05" else 20 * (g - 1))
            provenance = [Source(None, real)] + ([Source(g - 1, SIZE - real)] if g else [])
            decision = f"generation {g}: tail kept fell to 0.41, so {real / SIZE:.0%} real rows"
            records.append(
                GenerationRecord(
                    generation=g,
                    strategy=spec,
                    seed=0,
                    train_rows=SIZE,
                    provenance=tuple(p for p in provenance if p.rows),
                    scores=(Score("tail_kept", "collapse", "higher", 0.6 - 0.05 * g),),
                    info={"adaptive_real_share": real / SIZE} if spec != "mix:0.05" and g else {},
                    decision=decision if spec != "mix:0.05" and g else None,
                )
            )
    config = {"strategies": ["mix:0.05", "adaptive:0.05"], "generations": 3, "seeds": [0]}
    config |= {"synthesizer": {"name": "x", "params": {}}, "sample_size": SIZE, "metrics": []}
    config |= {"train_rows": SIZE, "holdout_rows": SIZE, "target": None}
    result = CollapseResult.from_records(records, config)
    again = GenerationRecord.from_dict(records[-1].to_dict())
    assert again.decision == records[-1].decision
    html = result.to_html(tmp_path / "r.html", theory=False).read_text(encoding="utf-8")
    assert "generation 2: tail kept fell to 0.41, so 10% real rows" in html
    assert "Real rows spent" in html and "What the adaptive controller decided" in html
