"""The lab's strategies on small tables: sizes, provenance, real-row bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from ouroboros.collapse import strategies
from ouroboros.collapse.verifiers import Discriminator
from ouroboros.errors import CollapseError, ParameterError

SIZE = 40


def frame(tag: str, n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{tag}{i}" for i in range(start, start + n)], "x": np.arange(n)})


@pytest.fixture
def pool():
    samples = {k: frame(f"g{k}-", SIZE) for k in range(6)}
    return strategies.Pool(frame("real-", SIZE), frame("reserve-", 200), samples.__getitem__, SIZE)


def origins(data: pd.DataFrame) -> pd.Series:
    return data["id"].str.split("-").str[0]


def rng():
    return np.random.default_rng(0)


def check_provenance(train: strategies.TrainingSet):
    counts = origins(train.data).replace({"reserve": "real"}).value_counts().to_dict()
    expected = {
        ("real" if s.generation is None else f"g{s.generation}"): s.rows for s in train.provenance
    }
    assert counts == expected
    assert sum(s.rows for s in train.provenance) == len(train.data)


def test_replace_trains_on_the_previous_generation_only(pool):
    train = strategies.parse("replace").training_set(3, pool, rng())
    check_provenance(train)
    assert set(origins(train.data)) == {"g2"}
    assert len(train.data) == SIZE


def test_accumulate_keeps_everything(pool):
    train = strategies.parse("accumulate").training_set(3, pool, rng())
    check_provenance(train)
    assert len(train.data) == 4 * SIZE
    assert [s.generation for s in train.provenance] == [None, 0, 1, 2]


def test_accumulate_subsample_draws_a_fixed_size_from_the_pool(pool):
    train = strategies.parse("accumulate-subsample").training_set(4, pool, rng())
    check_provenance(train)
    assert len(train.data) == SIZE
    assert train.data["id"].is_unique
    assert set(origins(train.data)) <= {"real", "g0", "g1", "g2", "g3"}


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_mix_keeps_a_fixed_real_share(pool, share):
    train = strategies.parse(f"mix:{share}").training_set(2, pool, rng())
    check_provenance(train)
    assert (origins(train.data) == "real").sum() == round(share * SIZE)
    assert len(train.data) == SIZE and train.data["id"].is_unique


def test_fresh_uses_new_real_rows_each_generation(pool):
    rule = strategies.parse("fresh:0.25")
    seen = set()
    for generation in range(1, 5):
        train = rule.training_set(generation, pool, rng())
        check_provenance(train)
        fresh = set(train.data.loc[origins(train.data) == "reserve", "id"])
        assert len(fresh) == SIZE // 4
        assert not fresh & seen
        seen |= fresh
    assert rule.real_rows_needed(SIZE, 5) == SIZE + 4 * (SIZE // 4)


def test_fresh_reports_its_rows_as_real(pool):
    train = strategies.parse("fresh:0.5").training_set(1, pool, rng())
    assert train.provenance[0] == strategies.Source(None, SIZE // 2)
    assert train.provenance[0].kind == "real"


def test_fresh_runs_out_of_reserve_clearly(pool):
    small = strategies.Pool(pool.real, pool.reserve.iloc[:15], pool.synthetic, SIZE)
    rule = strategies.parse("fresh:0.25")
    rule.training_set(1, small, rng())
    with pytest.raises(CollapseError, match="unused real rows"):
        rule.training_set(2, small, rng())


def test_curate_keeps_the_best_scored_rows(pool):
    def prefer_even(real, candidates, generator):
        return (candidates["x"].to_numpy() % 2 == 0).astype(float)

    samples = {1: frame("g1-", 2 * SIZE)}
    big = strategies.Pool(pool.real, pool.reserve, samples.__getitem__, SIZE)
    rule = strategies.Curate(keep=0.5, verifier=prefer_even)
    assert rule.sample_size(SIZE) == 2 * SIZE
    train = rule.training_set(2, big, rng())
    assert len(train.data) == SIZE
    assert (train.data["x"] % 2 == 0).all()
    assert train.info["keep_rate"] == pytest.approx(0.5)
    assert rule.spec == "curate:0.5"


def test_curate_with_a_pass_fail_verifier_records_its_keep_rate(pool):
    rule = strategies.Curate(keep=0.5, verifier=lambda r, c, g: c["x"].to_numpy() < 10)
    train = rule.training_set(1, pool, rng())
    assert len(train.data) == 10
    assert train.info["keep_rate"] == pytest.approx(10 / SIZE)
    reject_all = strategies.Curate(keep=0.5, verifier=lambda r, c, g: np.zeros(len(c), bool))
    with pytest.raises(CollapseError, match="kept none"):
        reject_all.training_set(1, pool, rng())


def test_discriminator_prefers_realistic_rows():
    generator = np.random.default_rng(1)
    real = pd.DataFrame({"a": generator.normal(size=300), "c": generator.choice(["x", "y"], 300)})
    good = pd.DataFrame({"a": generator.normal(size=200), "c": generator.choice(["x", "y"], 200)})
    bad = pd.DataFrame({"a": generator.normal(6, 1, size=200), "c": ["z"] * 200})
    candidates = pd.concat([good, bad], ignore_index=True)
    # one thread: OpenMP spinning on a busy 2-core machine costs more than it saves here
    with threadpool_limits(1):
        scores = Discriminator()(real, candidates, np.random.default_rng(0))
        again = Discriminator()(real, candidates, np.random.default_rng(0))
    assert scores.shape == (400,)
    assert scores[:200].mean() > scores[200:].mean() + 0.3
    np.testing.assert_array_equal(scores, again)


def test_registry_and_parsing():
    assert strategies.names() == sorted(
        ["replace", "accumulate", "accumulate-subsample", "mix", "fresh", "curate", "anchor"]
        + ["adaptive"]
    )
    assert strategies.parse(" mix:0.20 ").spec == "mix:0.2"
    assert strategies.parse("curate").keep == 0.5
    assert strategies.parse("fresh:1").spec == "fresh:1"
    for name in strategies.names():
        cls = strategies.get(name)
        assert cls.citation and " 20" in cls.citation
    assert strategies.parse("mix:0.2") == strategies.Mix(0.2)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("mix:1.2", r"\[0, 1\]"),
        ("fresh:-0.5", r"\[0, 1\]"),
        ("mix:nan", r"\[0, 1\]"),
        ("mix", "needs its share"),
        ("mix:half", "not a number"),
        ("replace:0.1", "takes no parameter"),
        ("curate:0", "above 0"),
        ("shuffle", "unknown strategy"),
        ("", "strategy"),
    ],
)
def test_bad_strategies(spec, match):
    with pytest.raises(ParameterError, match=match):
        strategies.parse(spec)


def test_a_registered_strategy_is_usable(pool):
    @strategies.register
    class FirstHalf(strategies.Strategy):
        name = "first-half"
        citation = "test 2024"
        description = "half the previous sample"

        def training_set(self, generation, pool, rng):
            data = pool.synthetic(generation - 1).iloc[: pool.size // 2]
            return strategies.TrainingSet(data, [strategies.Source(generation - 1, len(data))])

    try:
        assert strategies.parse("first-half").training_set(1, pool, rng()).data.shape[0] == 20
    finally:
        strategies._REGISTRY.pop("first-half")


def test_every_builtin_strategy_has_a_reference_twin():
    # adaptive decides from measurements on real validation rows: no closed-form twin
    assert strategies.reference_names() == [n for n in strategies.names() if n != "adaptive"]
    for name in strategies.reference_names():
        assert strategies.get(name).reference_step is not strategies.Strategy.reference_step
    assert strategies.parse("mix:0.2").has_reference
    # curate's oracle verifier ranks whole categories: no theory curve for the lab's curate
    assert [n for n in strategies.names() if not strategies.get(n).reference_matches_lab] == [
        "adaptive",
        "curate",
    ]


def test_a_new_strategy_is_one_class_for_the_lab_and_the_reference(pool):
    from ouroboros.collapse import reference

    class Halves(strategies.Strategy):
        name = "halves"
        citation = "test 2024"
        description = "half real, half the previous sample"

        def training_set(self, generation, pool, rng):
            return strategies.Mix(0.5).training_set(generation, pool, rng)

        def reference_step(self, model, current, pool, size, rng):
            return strategies.Mix(0.5).reference_step(model, current, pool, size, rng)

    class Labonly(Halves):
        name = "lab-only"
        reference_step = strategies.Strategy.reference_step

    strategies.register(Halves)
    strategies.register(Labonly)
    try:
        assert strategies.parse("halves").has_reference
        assert not strategies.parse("lab-only").has_reference
        assert "halves" in strategies.reference_names()
        assert "lab-only" not in strategies.reference_names()
        kwargs = dict(generations=4, sample_size=20, trials=30, seed=5)
        ours = reference.simulate("gaussian", strategy="halves", **kwargs)
        mix = reference.simulate("gaussian", strategy="mix:0.5", **kwargs)
        np.testing.assert_array_equal(ours["var"], mix["var"])
        with pytest.raises(ParameterError, match="know the strategies .*halves.*; got 'lab-only'"):
            reference.simulate("gaussian", strategy="lab-only", **kwargs)
        curves = reference.categories_kept(
            {"c": [0.6, 0.3, 0.1]},
            ["halves", "lab-only", "curate", "not-installed:0.3"],
            generations=3,
            sample_size=10,
        )
        assert list(curves) == ["halves"] and curves["halves"].shape == (3,)
        assert curves["halves"][0] <= 1.0
    finally:
        strategies._REGISTRY.pop("halves")
        strategies._REGISTRY.pop("lab-only")
