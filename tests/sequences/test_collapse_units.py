"""The collapse lab works in whole entities on sequence tables and in contiguous stretches
on one series: no strategy cuts a sequence, sizes count entities, keys never collide."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ouroboros.collapse import CollapseExperiment, strategies
from ouroboros.collapse.adaptive import Adaptive
from ouroboros.collapse.trajectory import run_trajectory, split_real
from ouroboros.collapse.units import Units
from ouroboros.errors import CollapseError
from ouroboros.io import read_table
from ouroboros.testing.sequences import sequence_schema, sequence_table

SPECS = [
    "replace",
    "accumulate",
    "accumulate-subsample",
    "mix:0.5",
    "fresh:0.2",
    "anchor:1",
    "curate:0.5",
]
SIZE, GENERATIONS = 20, 3


def _verifier(real: pd.DataFrame, candidates: pd.DataFrame, rng) -> np.ndarray:
    """A quick stand-in for the discriminator: small values look real. It must never see
    the entity key (generated keys differ from real ones by construction)."""
    assert "entity" not in real.columns and "entity" not in candidates.columns
    return -np.abs(candidates["value"].to_numpy(dtype=float))


def _parse(spec: str) -> strategies.Strategy:
    strategy = strategies.parse(spec)
    if isinstance(strategy, strategies.Curate):
        strategy.verifier = _verifier
    return strategy


def _keyed_pool(strategy: strategies.Strategy, text_keys: bool = False):
    """A pool of real entities and, per generation, a stand-in sample numbered as the lab
    numbers a generation's sample (its own key range)."""
    real = sequence_table(60, seed=0)
    if text_keys:
        real["entity"] = "e" + real["entity"].astype(str)
    schema = sequence_schema(real)
    units = Units.of(schema)
    real_set, reserve = split_real(real, SIZE, seed=0, units=units)
    total = strategy.sample_size(SIZE)
    samples = [
        units.relabel(
            _keys_like(sequence_table(total, seed=10 + g), real), g * total, real["entity"]
        )
        for g in range(GENERATIONS)
    ]
    pool = strategies.Pool(real_set, reserve, samples.__getitem__, SIZE, schema)
    return real, samples, pool


def _keys_like(table: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    table["entity"] = table["entity"].astype(real["entity"].dtype)
    return table


def _assert_whole(data: pd.DataFrame, sources: list[pd.DataFrame], key: str = "entity") -> None:
    """Each entity of ``data`` is all the rows of the one source entity with its key, in
    their order, and the entities lie one after another."""
    source = pd.concat(sources, ignore_index=True)
    keys = pd.unique(data[key])
    runs = int((data[key] != data[key].shift()).sum())
    assert runs == len(keys), "an entity's rows are not together"
    picked = source[source[key].isin(keys)]
    rank = pd.Categorical(picked[key], categories=keys).codes
    expected = picked.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)
    assert set(keys) <= set(source[key]), "an entity key is in no source"
    pd.testing.assert_frame_equal(data.reset_index(drop=True), expected, check_dtype=False)


def _one_source(sources: list[pd.DataFrame], key: str) -> bool:
    sets = [set(s[key]) for s in sources]
    return sum(len(s) for s in sets) == len(set().union(*sets))


@pytest.mark.parametrize("spec", SPECS)
def test_every_strategy_keeps_entities_whole_and_counts_them(spec):
    strategy = _parse(spec)
    real, samples, pool = _keyed_pool(strategy)
    assert _one_source([real, *samples], "entity"), "real and sample keys must stay apart"
    units = pool.units
    assert units.kind == "entities" and units.count(pool.real) == SIZE
    rng = np.random.default_rng(0)
    for generation in range(1, GENERATIONS + 1):
        train = strategy.training_set(generation, pool, rng)
        _assert_whole(train.data, [real, *samples])
        count = units.count(train.data)
        expected = {
            "accumulate": SIZE + sum(units.count(samples[k]) for k in range(generation)),
            "anchor:1": 2 * SIZE,
        }.get(spec, SIZE)
        assert count == expected, f"{spec}: {count} entities at generation {generation}"
        assert sum(s.rows for s in train.provenance) == len(train.data)
        start = 0
        for source in train.provenance:  # each block's entities come from its source
            block = train.data.iloc[start : start + source.rows]
            start += source.rows
            table = real if source.generation is None else samples[source.generation]
            assert set(block["entity"]) <= set(table["entity"]), spec


def test_text_keys_and_repeated_entities_get_fresh_keys():
    strategy = strategies.parse("mix:0.5")
    real, samples, pool = _keyed_pool(strategy, text_keys=True)
    assert samples[0]["entity"].str.startswith("g").all()
    assert not set(samples[0]["entity"]) & set(real["entity"])
    train = strategy.training_set(1, pool, np.random.default_rng(1))
    _assert_whole(train.data, [real, *samples])
    units = pool.units
    twice = units.take(samples[0], np.array([0, 1, 0]))
    assert units.count(twice) == 3, "an entity taken twice must be two entities"
    n0 = int((samples[0]["entity"] == "g0").sum())
    first, copy = twice.iloc[:n0], twice.iloc[-n0:]
    assert (first["entity"] == "g0").all() and copy["entity"].nunique() == 1
    assert copy["entity"].iloc[0] not in set(samples[0]["entity"])
    pd.testing.assert_frame_equal(
        first.drop(columns="entity").reset_index(drop=True),
        copy.drop(columns="entity").reset_index(drop=True),
    )
    joined = units.concat([samples[0], samples[0]])
    assert units.count(joined) == 2 * units.count(samples[0]), "concat must keep copies apart"


@pytest.mark.parametrize("spec", ["replace+real:1", "replace+importance:1"])
def test_correctors_swap_and_reweight_whole_entities(spec, monkeypatch):
    class Quick:  # the classifier's probability of "real", without the classifier
        def __call__(self, real, candidates, rng):
            return 0.5 + 0.4 * np.tanh(_verifier(real, candidates, rng))

    monkeypatch.setattr("ouroboros.collapse.verifiers.Discriminator", Quick)
    strategy = strategies.parse(spec)
    real, samples, pool = _keyed_pool(strategy)
    train = strategy.training_set(1, pool, np.random.default_rng(0))
    _assert_whole_copies(train.data, [real, *samples])
    assert pool.units.count(train.data) == SIZE


def _assert_whole_copies(data: pd.DataFrame, sources: list[pd.DataFrame]) -> None:
    """Each entity of ``data`` (a copy under a fresh key included) is a whole source
    entity, its rows together and in order."""
    runs = int((data["entity"] != data["entity"].shift()).sum())
    assert runs == data["entity"].nunique(), "an entity's rows are not together"
    source = pd.concat(sources, ignore_index=True)

    def shapes(frame: pd.DataFrame) -> set:
        rows = pd.util.hash_pandas_object(frame.drop(columns="entity"), index=False)
        return set(rows.groupby(frame["entity"].to_numpy(), sort=False).agg(tuple))

    assert shapes(data) <= shapes(source)


def test_adaptive_spends_and_reweights_whole_entities(monkeypatch):
    class Quick:
        def __call__(self, real, candidates, rng):
            return 0.5 + 0.4 * np.tanh(_verifier(real, candidates, rng))

    monkeypatch.setattr("ouroboros.collapse.verifiers.Discriminator", Quick)
    strategy = Adaptive(budget=0.2, validation=40)
    real, samples, pool = _keyed_pool(strategy)

    def measure(self, sample, pool):  # generation 0's sample covers, later ones do not
        return {"coverage": 0.9 if sample is samples[0] else 0.5}

    monkeypatch.setattr(Adaptive, "measure", measure)
    pool.history = [{}]
    rng = np.random.default_rng(0)
    for generation in (1, 2):
        train = strategy.training_set(generation, pool, rng)
        pool.history.append(train.info)
        _assert_whole_copies(train.data, [real, *samples])
        assert pool.units.count(train.data) == SIZE
    # generation 1 measures no drift yet; generation 2 sees coverage fall and spends
    real_block = train.data.iloc[: train.provenance[0].rows]
    assert train.provenance[0].generation is None and len(real_block)
    assert set(real_block["entity"]) <= set(pool.real["entity"])
    assert train.info["adaptive_real_share"] == pool.units.count(real_block) / SIZE > 0


def test_row_correctors_and_series_refuse_what_would_cut_sequences():
    keyed = Units("entity", "time")
    series = Units(None, "time", series=True)
    with pytest.raises(CollapseError, match="plain tables only"):
        strategies.parse("replace+rules").check_units(keyed)
    for spec in ("replace+real:1", "mix:0.2+importance:1", "adaptive"):
        with pytest.raises(CollapseError, match="one series"):
            strategies.parse(spec).check_units(series)
    strategies.parse("mix:0.2+importance:1").check_units(keyed)


def _series(n: int = 200) -> pd.DataFrame:
    table = sequence_table(40, seed=3, mean_length=8).drop(columns=["entity", "group"])
    table = table.iloc[:n].reset_index(drop=True)
    stamps = pd.Timestamp("2024-01-01 00:00") + pd.to_timedelta(np.arange(n), "h")
    table["time"] = stamps.strftime("%Y-%m-%d %H:%M")
    table["step"] = np.arange(n)
    return table


@pytest.mark.parametrize("spec", SPECS)
def test_one_series_draws_windows_and_joins_them_in_time(spec):
    series = _series()
    schema = sequence_schema(series, key=None)
    units = Units.of(schema)
    strategy = _parse(spec)
    shuffled = series.sample(frac=1.0, random_state=0)
    real_set, reserve = split_real(shuffled, 50, seed=0, units=units)
    assert (real_set["step"] == np.arange(50)).all() and (
        reserve["step"] == 50 + np.arange(150)
    ).all()
    total = strategy.sample_size(50)
    # a stand-in sample: a series that starts where the training series starts
    samples = [series.iloc[:total].assign(step=1000 * (g + 1) + np.arange(total)) for g in range(3)]
    pool = strategies.Pool(real_set, reserve, samples.__getitem__, 50, schema)
    rng = np.random.default_rng(0)
    for generation in (1, 2):
        data = strategy.training_set(generation, pool, rng).data
        when = pd.to_datetime(data["time"], format="%Y-%m-%d %H:%M")
        assert when.is_monotonic_increasing and when.is_unique, spec
        block = data["step"] // 1000
        for _, part in data.groupby(block.to_numpy(), sort=False):
            steps = part["step"].to_numpy()
            assert (np.diff(steps) == 1).all(), f"{spec}: a window is not contiguous"
            moved = when[part.index] - pd.to_datetime(
                series["time"].iloc[steps % 1000].to_numpy(), format="%Y-%m-%d %H:%M"
            )
            assert (moved % pd.Timedelta(days=1) == pd.Timedelta(0)).all(), "time of day moved"


def test_one_series_holds_out_its_last_stretch_and_counts_steps():
    series = _series(120)
    exp = CollapseExperiment(
        "sequence_bootstrap",
        series.sample(frac=1.0, random_state=1),
        holdout=0.25,
        generations=2,
        strategy="replace",
        seeds=1,
        schema=sequence_schema(series, key=None),
    )
    plan = exp.plan()
    assert list(plan.holdout["step"]) == list(range(90, 120))
    assert list(plan.train["step"]) == list(range(90))
    assert plan.sample_size == 90


def test_sizes_count_entities_in_the_plan():
    real = sequence_table(50, seed=0)
    common = dict(holdout=0.2, generations=3, seeds=1, schema=sequence_schema(real))
    plan = CollapseExperiment("sequence_bootstrap", real, strategy="replace", **common).plan()
    n_train = plan.train["entity"].nunique()
    assert plan.sample_size == n_train < len(plan.train)
    fresh = CollapseExperiment("sequence_bootstrap", real, strategy="fresh:0.2", **common).plan()
    size = fresh.sample_size
    assert size + 2 * round(0.2 * size) <= n_train < size + 1 + 2 * round(0.2 * (size + 1))
    with pytest.raises(CollapseError, match="plain tables only"):
        CollapseExperiment("sequence_bootstrap", real, strategy="replace+rules", **common).plan()


def test_the_extra_sample_takes_fresh_keys_and_evaluation_whole_entities(tmp_path):
    real, holdout = sequence_table(30, seed=0), sequence_table(8, seed=4)
    holdout["entity"] += 500
    schema = sequence_schema(real)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = run_trajectory(
            real=real,
            holdout=holdout,
            schema=schema.to_dict(),
            synthesizer={"cls": "sequence_bootstrap", "params": {}},
            strategy="anchor:2",
            seed=0,
            generations=2,
            size=10,
            metrics=["sequence_length_distance"],
            checkpoint_dir=tmp_path,
        )
    assert [r.status for r in records] == ["ok", "ok"]
    taken = set(real["entity"]) | set(holdout["entity"])
    for generation in range(len(records)):
        sample = read_table(tmp_path / f"gen-{generation:03d}" / "sample.parquet")
        keys = set(sample["entity"])
        assert len(keys) == 20, "the first and the extra draw must not share a key"
        assert not keys & taken, "a sample key names a real entity"
        taken |= keys
    first = read_table(tmp_path / "gen-000" / "sample.parquet")
    assert records[1].train_rows == len(split_real(real, 10, 0, Units.of(schema))[0]) + len(first)


def test_plain_tables_draw_the_same_rows_as_before():
    frame = pd.DataFrame({"x": np.arange(50), "y": np.arange(50) % 7})
    units = Units.of(None)
    assert units.kind == "rows"
    got = units.draw(frame, 12, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    pd.testing.assert_frame_equal(got, frame.iloc[np.sort(rng.choice(50, size=12, replace=False))])
    first, rest = split_real(frame, 20, seed=3)
    order = np.random.default_rng([3, 0, 1]).permutation(50)
    assert list(first["x"]) == list(order[:20]) and list(rest["x"]) == list(order[20:])
    synthetic = frame.assign(x=frame["x"] + 100)
    pool = strategies.Pool(first, rest, lambda k: synthetic, 20)
    mixed = strategies.parse("mix:0.5").training_set(1, pool, np.random.default_rng(2)).data
    rng = np.random.default_rng(2)
    real_rows = first.iloc[np.sort(rng.choice(20, size=10, replace=False))]
    synthetic_rows = synthetic.iloc[np.sort(rng.choice(50, size=10, replace=False))]
    expected = pd.concat([real_rows, synthetic_rows], ignore_index=True)
    pd.testing.assert_frame_equal(mixed, expected)
