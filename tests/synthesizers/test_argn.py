"""ARGN: tokens, any-order conditions, imputation, temperature and top-p, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ouroboros.errors import ConditionError, DataError, ParameterError
from ouroboros.synthesizers import load
from ouroboros.synthesizers.argn import ARGNSynthesizer
from ouroboros.synthesizers.torch_utils.weights import module_arrays
from ouroboros.testing import check_synthesizer, contract_table

FAST = ARGNSynthesizer.test_params
#: a model that learns: enough epochs and width for the small tables below
LEARN = {"epochs": 40, "batch_size": 256, "width": 64, "n_threads": 1, "early_stopping": False}
JOBS = ["clerk", "nurse", "pilot", "smith"]
#: P(job | sex, edu): the joint dependency the conditional tests look for
JOB_PROBS = {
    ("F", "lo"): [0.6, 0.3, 0.0, 0.1],
    ("F", "hi"): [0.1, 0.5, 0.4, 0.0],
    ("M", "lo"): [0.1, 0.0, 0.1, 0.8],
    ("M", "hi"): [0.2, 0.0, 0.7, 0.1],
}


def people(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """sex and edu independent; job depends on both; code is a function of job; pay on job."""
    gen = np.random.default_rng(seed)
    sex = gen.choice(["F", "M"], n)
    edu = gen.choice(["lo", "hi"], n, p=[0.6, 0.4])
    job = np.array([gen.choice(JOBS, p=JOB_PROBS[(s, e)]) for s, e in zip(sex, edu, strict=True)])
    base = {"clerk": 30.0, "nurse": 45.0, "pilot": 90.0, "smith": 35.0}
    pay = np.array([base[j] for j in job]) + gen.normal(0, 3, n)
    return pd.DataFrame(
        {
            "sex": sex,
            "edu": edu,
            "job": job,
            "code": pd.Series(job).map({j: f"J{k}" for k, j in enumerate(JOBS)}),
            "pay": pay.round(1),
            "years": gen.integers(0, 40, n).astype("int64"),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return contract_table(400, seed=5)


@pytest.fixture(scope="module")
def fitted(table) -> ARGNSynthesizer:
    return ARGNSynthesizer(seed=0, **FAST).fit(table)


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return people()


@pytest.fixture(scope="module")
def learnt(real) -> ARGNSynthesizer:
    return ARGNSynthesizer(seed=0, **LEARN).fit(real)


def test_contract():
    check_synthesizer(lambda seed: ARGNSynthesizer(seed=seed, **FAST))


def test_tokens_keep_point_masses_exact_and_bin_the_rest():
    gen = np.random.default_rng(1)
    gain = np.where(gen.random(2000) < 0.9, 0, gen.integers(1, 99_999, 2000)).astype("int64")
    data = pd.DataFrame({"gain": gain, "x": gen.normal(size=2000), "k": gen.integers(0, 5, 2000)})
    model = ARGNSynthesizer(seed=0, n_bins=16, **{**LEARN, "epochs": 10}).fit(data)
    gain_tokens, x_tokens, k_tokens = model.tokenizer_.columns
    assert gain_tokens.exact[0] and x_tokens.size <= 16 + 1 and k_tokens.size == 5
    assert k_tokens.exact.all() and not x_tokens.exact.any()
    tokens = model.tokenizer_.encode(model.transformer_.transform(data))
    assert ((tokens[:, 0] == 0) == (gain == 0)).all()  # the zeros are one exact token
    # bins hold about 1/16 of the rows each; decoded values stay smooth and in range
    shares = np.bincount(tokens[:, 1], minlength=x_tokens.size) / len(data)
    assert shares.max() < 0.1
    out = model.sample(2000, seed=0)
    assert out["x"].nunique() > 1500 and out["x"].between(data.x.min(), data.x.max()).all()
    assert 0.85 < (out["gain"] == 0).mean() < 0.95


def test_same_seed_same_weights_and_rows(table):
    a = ARGNSynthesizer(seed=9, **FAST).fit(table)
    b = ARGNSynthesizer(seed=9, **FAST).fit(table)
    for key, value in module_arrays(a.net_).items():
        assert np.array_equal(value, module_arrays(b.net_)[key]), key
    pd.testing.assert_frame_equal(a.sample(30, seed=1), b.sample(30, seed=1))
    conditions = {"group": "b", "amount": (15.0, 25.0)}
    pd.testing.assert_frame_equal(
        a.sample(30, seed=2, conditions=conditions), b.sample(30, seed=2, conditions=conditions)
    )


def test_conditions_hold_on_every_row(fitted, table):
    out = fitted.sample(200, seed=1, conditions={"group": "c", "count": 12})
    assert len(out) == 200 and (out["group"] == "c").all() and (out["count"] == 12).all()
    out = fitted.sample(200, seed=2, conditions={"amount": (12.5, 14.25), "flag": True})
    assert out["amount"].between(12.5, 14.25).all() and out["flag"].all()
    out = fitted.sample(100, seed=3, conditions={"date": ("2024-03-01", "2024-03-31")})
    assert pd.to_datetime(out["date"]).between("2024-03-01", "2024-03-31").all()
    rare = table["city"].value_counts().index[-1]  # pooled into "other"
    assert (fitted.sample(20, seed=4, conditions={"city": rare})["city"] == rare).all()
    with pytest.raises(ConditionError, match="never occurs"):
        fitted.sample(5, conditions={"group": "nope"})


def test_two_conditions_keep_the_real_conditional_distribution(learnt, real):
    """Conditioning on sex and edu at once gives job the real P(job | sex, edu)."""
    for sex, edu in JOB_PROBS:
        out = learnt.sample(1500, seed=5, conditions={"sex": sex, "edu": edu})
        assert ((out["sex"] == sex) & (out["edu"] == edu)).all()
        shares = out["job"].value_counts(normalize=True).reindex(JOBS, fill_value=0)
        subset = real[(real["sex"] == sex) & (real["edu"] == edu)]
        truth = subset["job"].value_counts(normalize=True).reindex(JOBS, fill_value=0)
        tv = 0.5 * np.abs(shares - truth).sum()
        marginal = real["job"].value_counts(normalize=True).reindex(JOBS, fill_value=0)
        assert tv < 0.08, (sex, edu, tv)
        assert tv < 0.5 * (0.5 * np.abs(marginal - truth).sum()), (sex, edu)


def test_conditions_on_late_columns_reach_back_to_early_ones(learnt, real):
    """Conditions on columns late in the table order still shape the earlier columns."""
    out = learnt.sample(1500, seed=11, conditions={"job": "pilot", "years": (10, 29)})
    assert (out["job"] == "pilot").all() and out["years"].between(10, 29).all()
    subset = real[(real["job"] == "pilot") & real["years"].between(10, 29)]
    for column in ("sex", "edu"):
        shares = out[column].value_counts(normalize=True)
        truth = subset[column].value_counts(normalize=True)
        tv = 0.5 * shares.sub(truth, fill_value=0).abs().sum()
        assert tv < 0.06, (column, tv)


def test_a_column_that_is_a_function_of_another_is_reproduced(learnt):
    out = learnt.sample(2000, seed=6)
    expected = out["job"].map({j: f"J{k}" for k, j in enumerate(JOBS)})
    assert (out["code"] == expected).mean() > 0.97
    pilots = learnt.sample(300, seed=7, conditions={"code": "J2"})
    assert (pilots["job"] == "pilot").mean() > 0.95
    assert pilots["pay"].median() > 75  # the pay of pilots, not of everyone


def test_impute_fills_only_missing_cells_from_the_observed_ones(learnt, real):
    frame = real.head(400).set_axis(np.arange(400) + 1000)  # any index
    gen = np.random.default_rng(3)
    holes = {c: gen.random(len(frame)) < 0.3 for c in ("job", "pay", "years")}
    holes["job"] |= np.arange(len(frame)) < 100  # job missing, code observed
    holes["code"] = np.arange(len(frame)) >= 300  # code missing, job mostly observed
    masked = frame.copy()
    for column, rows in holes.items():
        masked.loc[rows, column] = np.nan
    filled = learnt.impute(masked, seed=1)
    assert filled.notna().all().all()
    observed = masked.notna()
    for column in frame:
        kept = observed[column].to_numpy()
        assert (filled.loc[kept, column] == masked.loc[kept, column]).all(), column
    assert filled.index.equals(frame.index) and list(filled.columns) == list(frame.columns)
    # job is read off the observed code, code off the observed job
    both = holes["job"] & ~holes["code"]
    assert (filled.loc[both, "job"] == frame.loc[both, "job"]).mean() > 0.95
    assert filled["years"].dtype == real["years"].dtype
    pd.testing.assert_frame_equal(filled, learnt.impute(masked, seed=1))
    assert not filled.equals(learnt.impute(masked, seed=2))
    with pytest.raises(DataError, match="job"):
        learnt.impute(masked.drop(columns="job"))


def _entropy(values: pd.Series) -> float:
    shares = values.value_counts(normalize=True).to_numpy()
    return float(-(shares * np.log(shares)).sum())


def test_temperature_and_top_p_sharpen_the_draws(learnt):
    """Sampling settings apply to a fitted model; lower values concentrate on the modes."""
    full = learnt.sample(2000, seed=10)
    entropies = []
    try:
        for temperature in (1.0, 0.5, 0.1):
            learnt.set_params(temperature=temperature)
            entropies.append(_entropy(learnt.sample(2000, seed=8)["job"]))
        learnt.set_params(temperature=0.0)
        greedy = learnt.sample(50, seed=9)
        learnt.set_params(temperature=1.0, top_p=0.3)
        nucleus = learnt.sample(2000, seed=10)
    finally:
        learnt.set_params(temperature=1.0, top_p=1.0)
    assert entropies[0] > entropies[1] > entropies[2]
    assert greedy.drop(columns="pay").nunique().max() == 1  # every row the modal row
    assert _entropy(nucleus["job"]) < entropies[0]
    assert nucleus["years"].nunique() < full["years"].nunique()


def test_model_file_keeps_samples_and_history(learnt, tmp_path):
    back = load(learnt.save(tmp_path / "argn.ouro"))
    assert back.history_.values == learnt.history_.values
    pd.testing.assert_frame_equal(back.sample(40, seed=5), learnt.sample(40, seed=5))
    conditions = {"sex": "F", "pay": (40.0, 60.0)}
    pd.testing.assert_frame_equal(
        back.sample(40, seed=6, conditions=conditions),
        learnt.sample(40, seed=6, conditions=conditions),
    )


def test_early_stopping_on_held_out_likelihood(table):
    params = {**FAST, "epochs": 300, "width": 64, "patience": 2}
    model = ARGNSynthesizer(seed=0, **params).fit(table)
    assert model.history_.stopped == "early_stopping"
    assert len(model.history_.values["validation"]) < 300


@pytest.mark.parametrize(
    "params",
    [
        {"n_bins": 1},
        {"temperature": -0.5},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"dropout": 1.0},
        {"layers": 0},
        {"learning_rate": 0},
    ],
)
def test_bad_parameters_are_named(table, params):
    with pytest.raises(ParameterError, match=next(iter(params))):
        ARGNSynthesizer(**params).fit(table)


def test_auto_device_fits_and_samples_where_it_is(table):
    model = ARGNSynthesizer(seed=0, device="auto", **FAST).fit(table)
    expected = "cuda" if torch.cuda.is_available() else model.device_.type
    assert model.device_.type == expected and next(model.net_.parameters()).device.type == expected
    assert len(model.sample(20, seed=1, conditions={"group": "a"})) == 20
