"""Where a dp=True neural generator starts: public bins, noisy one-way marginals, and the
budget split that pays for them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opacus")

from ouroboros.errors import ParameterError  # noqa: E402
from ouroboros.schema import ColumnKind, ColumnSchema, Schema  # noqa: E402
from ouroboros.synthesizers.base import Synthesizer  # noqa: E402
from ouroboros.synthesizers.modelfile import read_model  # noqa: E402
from ouroboros.synthesizers.private_marginals import simplex_projection  # noqa: E402
from ouroboros.synthesizers.tabddpm import TabDDPMSynthesizer  # noqa: E402
from ouroboros.synthesizers.torch_utils.private import epsilon_of  # noqa: E402
from ouroboros.synthesizers.tvae import TVAESynthesizer  # noqa: E402
from ouroboros.transforms.numeric import PublicBinEncoder  # noqa: E402

N = 4_000
SIZES = {"colour": 4, "size": 3, "hours": 10}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _table(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Skewed categories and a number piled near one end of its public range."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "grey"], n, p=[0.7, 0.2, 0.07, 0.03])
    size = np.where(colour == "red", "small", rng.choice(["medium", "large"], n))
    hours = np.clip(rng.gamma(2.0, 6.0, n), 0, 100)
    return pd.DataFrame({"colour": colour, "size": size, "hours": hours})


SCHEMA = Schema(
    columns=[
        ColumnSchema("colour", ColumnKind.CATEGORICAL, "object", categories=["red", "green", "blue", "grey"]),
        ColumnSchema("size", ColumnKind.CATEGORICAL, "object", categories=["small", "medium", "large"]),
        ColumnSchema("hours", ColumnKind.CONTINUOUS, "float64", 0.0, 0.0, 100.0),
    ]
)  # fmt: skip


def _codes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for column in ("colour", "size"):
        categories = SCHEMA[column].categories
        counts = frame[column].map({c: i for i, c in enumerate(categories)}).to_numpy()
        out[column] = np.bincount(counts.astype(int), minlength=len(categories)) / len(frame)
    hours = np.clip((frame["hours"].to_numpy() // 10).astype(int), 0, 9)
    out["hours"] = np.bincount(hours, minlength=10) / len(frame)
    return out


def _one_way_tv(real: pd.DataFrame, fake: pd.DataFrame) -> float:
    a, b = _codes(real), _codes(fake)
    return float(np.mean([0.5 * np.abs(a[c] - b[c]).sum() for c in a]))


def _tvae(**extra) -> TVAESynthesizer:
    params = {"dp": True, "epsilon": 3.0, "seed": 0, "epochs": 2, "batch_size": 1000}
    params |= {"width": 32, "layers": 1, "latent_dim": 8, "n_threads": 1, "dp_bins": 20}
    return TVAESynthesizer(**{**params, **extra})


# ------------------------------------------------------------------ encoder
def test_public_bins_encode_one_hot_and_decode_at_midpoints():
    encoder = PublicBinEncoder(bins=4).fit(np.array([0.0, 10.0, 3.3]), np.random.default_rng(0))
    block = encoder.transform(np.array([0.0, 2.4, 2.6, 9.99, 10.0, 12.0]))
    assert block.shape == (6, 4) and (block.sum(axis=1) == 1).all()
    assert encoder.inverse(block).tolist() == [1.25, 1.25, 3.75, 8.75, 8.75, 8.75]
    again = PublicBinEncoder.from_state(encoder.to_state())
    assert np.array_equal(again.inverse(block), encoder.inverse(block))


def test_integral_values_over_a_narrow_range_get_a_bin_per_integer():
    encoder = PublicBinEncoder(bins=100).fit(np.arange(1.0, 17.0), np.random.default_rng(0))
    values = np.arange(1.0, 17.0)
    assert encoder.transform(values).shape == (16, 16)
    assert np.array_equal(encoder.inverse(encoder.transform(values)), values)


def test_simplex_projection_keeps_the_total_and_cuts_noise_on_empty_cells():
    noisy = np.array([500.0, 300.0, 12.0, -15.0, 8.0, -3.0])
    projected = simplex_projection(noisy, 800.0)
    assert projected.sum() == pytest.approx(800.0) and (projected >= 0).all()
    assert projected[3] == 0 and projected[5] == 0
    exact = np.array([5.0, 3.0, 2.0])
    assert np.allclose(simplex_projection(exact, 10.0), exact)


# ------------------------------------------------------------------ the fit
def test_a_dp_tvae_starts_from_the_noisy_marginals_and_keeps_them():
    data = _table()
    uniform = pd.DataFrame(
        {
            "colour": np.resize(SCHEMA["colour"].categories, N),
            "size": np.resize(SCHEMA["size"].categories, N),
            "hours": np.linspace(0, 100, N),
        }
    )
    fitted = _tvae().fit(data, schema=SCHEMA)
    untrained = _tvae(marginals_share=0.0).fit(data, schema=SCHEMA)
    tv_fitted = _one_way_tv(data, fitted.sample(N, seed=1))
    assert tv_fitted < 0.05
    assert tv_fitted < _one_way_tv(data, uniform) / 5
    assert tv_fitted < _one_way_tv(data, untrained.sample(N, seed=1))


def test_the_budget_split_adds_up_and_the_noise_is_calibrated_to_the_steps_taken(tmp_path):
    model = _tvae(marginals_share=0.25).fit(_table(), schema=SCHEMA)
    record = model.privacy_
    parts = record["budget_split"]["parts"]
    assert set(parts) == {"row count", "marginals", "DP-SGD"}
    assert sum(p["rho_share"] for p in parts.values()) == pytest.approx(1.0)
    assert parts["marginals"]["rho_share"] == 0.25
    whats = [m["what"] for m in record["measurements"]]
    assert any("marginals" in w for w in whats)
    assert record["steps"] == record["steps_planned"] == 2 * (model.n_training_rows_ // 1000)
    measurements = [_as_measurement(m) for m in record["measurements"]]
    spent = epsilon_of(
        record["noise_multiplier"], record["sample_rate"], record["steps"], record["delta"],
        measurements,
    )  # fmt: skip
    assert spent == pytest.approx(model.epsilon_spent_) and 0.995 * 3.0 <= spent <= 3.0
    alone = epsilon_of(0.0, record["sample_rate"], 0, record["delta"], measurements)
    assert alone < 3.0
    path = model.save(tmp_path / "model.ouro")
    _, state = read_model(path)
    assert state["model"]["privacy"]["budget_split"] == record["budget_split"]
    loaded = Synthesizer.load(path)
    assert loaded.sample(30, seed=2).equals(model.sample(30, seed=2))


def _as_measurement(m: dict):
    from ouroboros.synthesizers.torch_utils.private import Measurement

    return Measurement(**m)


def test_shares_that_leave_dp_sgd_nothing_are_refused():
    table = _table()
    with pytest.raises(ParameterError, match="leave DP-SGD"):
        _tvae(marginals_share=0.9, schema_share=0.2).fit(table.drop(columns="size"))


def test_without_a_share_no_marginals_are_measured():
    model = _tvae(marginals_share=0.0, epochs=1).fit(_table(), schema=SCHEMA)
    assert "marginals" not in model.privacy_["budget_split"]["parts"]
    assert not any("marginals" in m["what"] for m in model.privacy_["measurements"])


def test_dp_tabddpm_samples_numbers_from_public_bins():
    model = TabDDPMSynthesizer(
        dp=True, epsilon=3.0, seed=0, epochs=1, batch_size=1000, steps=20, sample_steps=5,
        width=32, layers=1, time_dim=16, n_threads=1, dp_bins=20,
    ).fit(_table(), schema=SCHEMA)  # fmt: skip
    hours = model.sample(200, seed=0)["hours"]
    assert hours.between(0, 100).all()
    assert set(np.round(hours, 6)) <= set(np.round(np.arange(2.5, 100, 5.0), 6))
