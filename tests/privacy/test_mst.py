"""MST fits and samples on small data, reproducibly, with its privacy record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import ParameterError, SchemaError
from ouroboros.privacy import ACCOUNTANT
from ouroboros.schema import ColumnKind, ColumnSchema, Schema
from ouroboros.synthesizers import registry
from ouroboros.synthesizers.base import Synthesizer
from ouroboros.synthesizers.mst import MSTSynthesizer


def correlated(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + (rng.random(n) < 0.2)) % 4
    c = np.where(b > 1, "hi", "lo")
    return pd.DataFrame({"a": a, "b": b, "c": c, "x": a * 10 + rng.normal(0, 1, n)})


def public_schema() -> Schema:
    return Schema(
        columns=[
            ColumnSchema("a", ColumnKind.CATEGORICAL, "int64", categories=[0, 1, 2, 3]),
            ColumnSchema("b", ColumnKind.CATEGORICAL, "int64", categories=[0, 1, 2, 3]),
            ColumnSchema("c", ColumnKind.CATEGORICAL, "object", categories=["hi", "lo"]),
            ColumnSchema("x", ColumnKind.CONTINUOUS, "float64", min=-10.0, max=50.0),
        ]
    )


@pytest.fixture(scope="module")
def fitted():
    return MSTSynthesizer(seed=0, epsilon=5.0, iterations=200, bins=16).fit(
        correlated(), schema=public_schema()
    )


def test_registered_as_private():
    assert registry.get("mst") is MSTSynthesizer
    assert MSTSynthesizer.tags.differential_privacy


def test_keeps_a_strong_dependence(fitted):
    out = fitted.sample(3000, seed=1)
    real = correlated()
    assert list(out.columns) == list(real.columns)
    assert out.dtypes.equals(real.dtypes)
    agree = (out["a"] == out["b"]).mean()
    assert agree == pytest.approx((real["a"] == real["b"]).mean(), abs=0.06)
    assert out["x"].between(-10, 50).all()


def test_same_seed_same_model_and_rows():
    data, schema = correlated(800), public_schema()
    first = MSTSynthesizer(seed=3, iterations=30).fit(data, schema=schema)
    second = MSTSynthesizer(seed=3, iterations=30).fit(data, schema=schema)
    pd.testing.assert_frame_equal(first.sample(100, seed=2), second.sample(100, seed=2))
    assert not first.sample(100, seed=2).equals(first.sample(100, seed=3))


def test_privacy_record_adds_up(fitted):
    record = fitted.privacy_
    assert record["accountant"] == ACCOUNTANT and "MST" in record["mechanism"]
    assert record["epsilon"] == 5.0 and record["delta"] == 1e-6
    assert record["split"]["schema"]["rho"] == 0.0
    assert sum(s["rho"] for s in record["spends"]) == pytest.approx(record["rho"])
    kinds = {s["mechanism"] for s in record["spends"]}
    assert any("exponential" in k for k in kinds) and any("Gaussian" in k for k in kinds)
    assert fitted.epsilon_spent_ == pytest.approx(5.0, rel=1e-6)
    assert fitted.training_lineage_["content_hash"].startswith("withheld")


def test_model_file_round_trip_keeps_samples_and_the_record(fitted, tmp_path):
    path = fitted.save(tmp_path / "mst.ouro")
    loaded = Synthesizer.load(path)
    pd.testing.assert_frame_equal(fitted.sample(50, seed=4), loaded.sample(50, seed=4))
    assert loaded.privacy_ == fitted.privacy_
    assert loaded.describe()["privacy"]["epsilon_spent"] == fitted.epsilon_spent_


def test_without_public_bounds_or_schema_share_it_refuses():
    with pytest.raises(SchemaError, match="schema_share"):
        MSTSynthesizer(seed=0).fit(correlated(200))


def test_rules_are_refused():
    with pytest.raises(ParameterError, match="rules"):
        MSTSynthesizer(seed=0).fit(correlated(200), schema=public_schema(), rules=["a >= 0"])
