"""Lineage records: JSON round trip, and the rules of depth, synthetic and real share."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from ouroboros import lineage, synthesizers
from ouroboros.errors import DataWarning
from ouroboros.io import LINEAGE_KEY, AttrsRecord
from ouroboros.lineage import (
    LineageError,
    LineageRecord,
    ModelInfo,
    mixed_record,
    real_record,
    synthetic_record,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("OUROBOROS_STORE", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("OURO_WATERMARK_KEY", "lineage-tests")


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 9, n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )


def _fit(data: pd.DataFrame, seed: int = 0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the guard warns of synthetic training data
        return synthesizers.create("independent", seed=seed).fit(data)


def _model(name: str = "independent") -> ModelInfo:
    return ModelInfo(generator=name, params={"seed": 0}, seed=0, sample_seed=1)


def test_record_round_trips_through_json():
    real = real_record("r" * 64, 100, ["a", "b"])
    synthetic = synthetic_record("s" * 64, 50, ["a", "b"], _model(), real, watermark_key_id="k1")
    mixed = mixed_record("m" * 64, 150, ["a", "b"], [(real, 100), (synthetic, 50)])
    derived = lineage.derived_record("d" * 64, 20, ["a"], mixed)
    for record in (real, synthetic, mixed, derived):
        text = record.to_json()
        back = LineageRecord.from_json(text)
        assert back == record
        assert LineageRecord.from_dict(json.loads(text)).to_dict() == record.to_dict()
    assert synthetic.model.file_sha256 is None
    assert synthetic.watermark_key_id == "k1"
    assert set(mixed.ancestors) == {real.content_hash, synthetic.content_hash}


def test_bad_records_name_the_problem():
    good = real_record("r" * 64, 10, ["a"]).to_dict()
    with pytest.raises(LineageError, match="newer than this ouroboros"):
        LineageRecord.from_dict({**good, "version": 99})
    with pytest.raises(LineageError, match=r"lacks the fields \['rows'\]"):
        LineageRecord.from_dict({k: v for k, v in good.items() if k != "rows"})
    with pytest.raises(LineageError, match="kind must be one of"):
        LineageRecord.from_dict({**good, "kind": "fake"})
    with pytest.raises(LineageError, match="not valid JSON"):
        LineageRecord.from_json("{")


def test_three_generations_retrained_on_their_own_output():
    """Depth counts the models; real share is one real row on a trace of g + 1 rows."""
    data = _table()
    expected = [(1, 1.0, 0.0), (2, 1 / 2, 1.0), (3, 1 / 3, 1.0)]
    for generation, (depth, real_share, synthetic_share) in enumerate(expected):
        data = _fit(data, seed=generation).sample(100, seed=generation, watermark=False)
        record = lineage.recorded(data)
        assert record.kind == "synthetic"
        assert record.content_hash == lineage.content_hash(data)
        assert (record.depth, record.synthetic_share) == (depth, synthetic_share)
        assert record.real_share == pytest.approx(real_share)
        assert record.model.generator == "independent" and record.model.sample_seed == generation
        assert len(record.ancestors) == generation + 1  # every earlier table, the real one too
    assert [p.kind for p in record.parents] == ["synthetic"]


def test_mix_strategy_real_share_tends_to_the_real_share_of_each_generation():
    """The collapse lab's mix:0.4 keeps 40% real rows: real share 0.4 / (1 - 0.6**(g+1))."""
    real = real_record("r" * 64, 1000, ["x"])
    sample = synthetic_record("s0", 1000, ["x"], _model(), real)
    shares = [sample.real_share]
    for generation in range(1, 30):
        train = mixed_record(f"t{generation}", 1000, ["x"], [(real, 400), (sample, 600)])
        assert train.synthetic_share == pytest.approx(0.6)
        sample = synthetic_record(f"s{generation}", 1000, ["x"], _model(), train)
        assert sample.depth == generation + 1
        shares.append(sample.real_share)
    closed_form = [0.4 / (1 - 0.6 ** (g + 1)) for g in range(30)]
    assert shares == pytest.approx(closed_form)
    assert shares[-1] == pytest.approx(0.4, abs=1e-6)  # "40% of its ancestry is real"


def test_mixed_table_of_real_and_synthetic_rows():
    real = real_record("r" * 64, 100, ["x"])
    sample = synthetic_record("s" * 64, 100, ["x"], _model(), real)
    half = mixed_record("m" * 64, 200, ["x"], [(real, 100), (sample, 100)])
    assert half.kind == "mixed" and half.depth == 1
    assert half.synthetic_share == pytest.approx(0.5)
    assert half.real_share == pytest.approx(2 / 3)  # traces of 1 and 2 rows, one real each
    trained = synthetic_record("t" * 64, 10, ["x"], _model(), half)
    assert trained.depth == 2 and trained.synthetic_share == pytest.approx(0.5)
    assert trained.real_share == pytest.approx(2 / 3)
    only_real = mixed_record(
        "o" * 64, 200, ["x"], [(real, 100), (real_record("q", 100, ["x"]), 100)]
    )
    assert (only_real.depth, only_real.real_share, only_real.synthetic_share) == (0, 1.0, 0.0)


def test_collapse_lab_records_every_generation(tmp_path):
    from ouroboros.collapse import CollapseExperiment
    from ouroboros.collapse.experiment import trajectory_dir
    from ouroboros.io import read_table

    rng = np.random.default_rng(1)
    real = pd.DataFrame({"x": rng.normal(size=160), "y": rng.normal(size=160)})
    experiment = CollapseExperiment(
        "independent",
        real,
        holdout=0.25,
        generations=4,
        strategy="mix:0.4",
        seeds=1,
        metrics=["ks_complement"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        experiment.run(checkpoint_dir=tmp_path / "lab")
    folder = trajectory_dir(tmp_path / "lab", "mix:0.4", 0)
    for generation in range(4):
        sample = read_table(folder / f"gen-{generation:03d}" / "sample.parquet")
        record = lineage.recorded(sample)
        assert record.content_hash == lineage.content_hash(sample)
        assert record.depth == generation + 1
        assert record.real_share == pytest.approx(0.4 / (1 - 0.6 ** (generation + 1)))
        assert record.synthetic_share == pytest.approx(0.0 if generation == 0 else 0.6, abs=0.01)
        assert [p.kind for p in record.parents] == ["real" if generation == 0 else "mixed"]


def test_stale_record_makes_a_derived_table():
    sample = _fit(_table()).sample(80, seed=0, watermark=False)
    head = sample.head(30)  # pandas carries attrs into derived frames
    assert head.attrs[LINEAGE_KEY]["content_hash"] != lineage.content_hash(head)
    record = lineage.resolve(head)
    parent = lineage.recorded(sample)
    assert record.kind == "derived" and record.rows == 30
    assert record.parents[0].content_hash == parent.content_hash
    assert (record.depth, record.real_share) == (parent.depth, parent.real_share)
    assert record.synthetic_share == 1.0


def test_concat_records_a_mixed_table():
    real = _table(100, seed=3)
    sample = _fit(real).sample(50, seed=0, watermark=False)
    combined = lineage.concat([real, sample])
    record = lineage.recorded(combined)
    assert record.kind == "mixed" and record.rows == 150 and record.depth == 1
    assert record.synthetic_share == pytest.approx(1 / 3)
    assert [p.rows for p in record.parents] == [100, 50]
    trained = _fit(combined).sample(20, seed=0, watermark=False)
    assert lineage.recorded(trained).depth == 2
    assert lineage.recorded(trained).synthetic_share == pytest.approx(1 / 3)


def test_record_in_attrs_is_shared_not_copied():
    sample = _fit(_table()).sample(40, seed=0, watermark=False)
    value = sample.attrs[LINEAGE_KEY]
    assert isinstance(value, AttrsRecord)
    assert sample["x"].attrs[LINEAGE_KEY] is value
    assert copy.deepcopy(value) is value
    with pytest.raises(TypeError, match="read-only"):
        value["depth"] = 0


def test_fit_finds_training_data_in_the_catalog_by_hash():
    sample = _fit(_table()).sample(60, seed=0, watermark=False)
    record = lineage.recorded(sample)
    store = lineage.open_catalog()
    lineage.publish(record, store, lineage.row_hashes(sample))
    stripped = sample.copy()
    stripped.attrs = {}
    model = _fit(stripped)
    assert model.training_lineage_["content_hash"] == record.content_hash
    assert model.training_lineage_["depth"] == 1
    assert lineage.recorded(model.sample(10, seed=1, watermark=False)).depth == 2


def test_real_share_is_finite_and_in_range():
    record = real_record("r", 1, ["x"])
    for _ in range(5):
        record = synthetic_record("s", 1, ["x"], _model(), record)
        assert 0 < record.real_share <= 1 and math.isfinite(record.trace_rows)


def test_unreadable_record_does_not_stop_a_fit():
    data = _table()
    data.attrs[LINEAGE_KEY] = {"format": "ouroboros-lineage", "version": 99, "content_hash": "x"}
    with pytest.warns(DataWarning, match="lineage record is ignored: lineage record version 99"):
        kept = lineage.training_lineage(data)
    assert kept["kind"] == "real" and kept["content_hash"] == lineage.content_hash(data)


def test_sampled_tables_record_their_chance_match_rate():
    train = _table(400)[["k", "c"]]  # 27 possible rows: most real rows equal sampled ones
    model = _fit(train)
    assert len(model.training_row_hashes_) == 400  # kept in memory for the rate
    sample = model.sample(300, seed=0, watermark=False)
    record = lineage.recorded(sample)
    hashes = lineage.row_hashes(sample)
    repeated = pd.Series(hashes).duplicated(keep=False).mean()
    reproduced = np.isin(lineage.row_hashes(train), hashes).mean()
    assert record.chance_match_rate == pytest.approx(max(repeated, reproduced))
    assert record.chance_match_rate > 0.5
    assert LineageRecord.from_json(record.to_json()) == record
    # a record from before the rate existed gets the table's own (leave-one-out) rate
    store = lineage.open_catalog()
    lineage.publish(record.replace(chance_match_rate=None), store, hashes)
    assert lineage.lookup(record.content_hash, store).chance_match_rate == pytest.approx(repeated)
    store.close()
