"""Contract checks every generator must pass (like scikit-learn's estimator checks).

``check_synthesizer(factory)`` runs them all; ``factory(seed)`` returns a fresh,
unfitted generator with cheap settings (:func:`fast_factory` builds one from a class's
``test_params``). Each check raises ``AssertionError`` with a message that says what
broke. The checks read the generator's :class:`~ouroboros.synthesizers.base.Tags` and
test what each one promises.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ouroboros.errors import ConditionError, DataError, NotFittedError, ParameterError
from ouroboros.synthesizers.base import Synthesizer

Factory = Callable[[int], Synthesizer]

#: how far the sampled missing rate may be from the training rate (fast settings train briefly)
MISSING_RATE_TOLERANCE = 0.15
#: rows a "native" generator may decode to meet a rare condition, per row asked for
NATIVE_ROWS_PER_ROW = 16


def fast_factory(klass: type[Synthesizer]) -> Factory:
    """``factory(seed)`` building ``klass`` with its ``test_params`` (the cheap settings)."""
    return lambda seed: klass(seed=seed, **klass.test_params)


def contract_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A small table with every kind the contract covers."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    base = np.where(group == "a", 10.0, np.where(group == "b", 20.0, 30.0))
    amount = np.round(base + rng.normal(0, 2, n), 2)
    amount[rng.random(n) < 0.1] = np.nan
    start = pd.Timestamp("2024-01-01")
    dates = (start + pd.to_timedelta(rng.integers(0, 365, n), unit="D")).strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),
            "group": group,
            "amount": amount,
            "count": rng.poisson(base).astype("int64"),
            "flag": rng.random(n) < 0.3,
            "date": dates,
            "city": [f"city{v:03d}" for v in rng.integers(0, 150, n)],
            "constant": "same",
        }
    )


def check_fit_returns_self(factory: Factory, data: pd.DataFrame) -> None:
    model = factory(0)
    assert model.fit(data) is model, "fit must return self"


def check_sample_before_fit(factory: Factory, data: pd.DataFrame) -> None:
    try:
        factory(0).sample(5)
    except NotFittedError:
        return
    raise AssertionError("sample before fit must raise NotFittedError")


def check_sample_shape_and_dtypes(factory: Factory, data: pd.DataFrame) -> None:
    model = factory(0).fit(data)
    out = model.sample(137, seed=1)
    assert len(out) == 137, f"sample(137) returned {len(out)} rows"
    assert list(out.columns) == list(data.columns), (
        f"columns {list(out.columns)} differ from training columns {list(data.columns)}"
    )
    for column in data.columns:
        assert out[column].dtype == data[column].dtype, (
            f"column {column!r}: dtype {out[column].dtype} differs from training {data[column].dtype}"
        )
    for bad in (0, -3, 2.5):
        try:
            model.sample(bad)
        except ParameterError:
            continue
        raise AssertionError(f"sample({bad!r}) must raise ParameterError")


def check_tags_declared(factory: Factory, data: pd.DataFrame) -> None:
    tags = factory(0).tags
    assert tags.conditioning in ("native", "rejection"), (
        f"tags.conditioning must be 'native' or 'rejection'; got {tags.conditioning!r}"
    )
    for field in ("requires_torch", "handles_missing", "differential_privacy", "deterministic"):
        assert isinstance(getattr(tags, field), bool), f"tags.{field} must be a bool"


def check_same_seed_same_rows(factory: Factory, data: pd.DataFrame) -> None:
    if not factory(0).tags.deterministic:
        return  # the generator declares that seeds do not pin its output
    first, second = factory(7).fit(data), factory(7).fit(data)
    pd.testing.assert_frame_equal(first.sample(50, seed=3), second.sample(50, seed=3))
    pd.testing.assert_frame_equal(first.sample(50), second.sample(50))
    assert not first.sample(50, seed=4).equals(first.sample(50, seed=5)), (
        "different seeds gave identical samples"
    )


def check_save_load(factory: Factory, data: pd.DataFrame) -> None:
    model = factory(0).fit(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ouro"
        model.save(path)
        loaded = Synthesizer.load(path)
    assert type(loaded) is type(model), "load returned another class"
    assert loaded.get_params() == model.get_params(), "parameters changed through save/load"
    pd.testing.assert_frame_equal(model.sample(60, seed=11), loaded.sample(60, seed=11))
    pd.testing.assert_frame_equal(model.sample(60), loaded.sample(60))


def check_kinds_survive(factory: Factory, data: pd.DataFrame) -> None:
    model = factory(0).fit(data)
    out = model.sample(400, seed=2)
    if "amount" in data:
        assert out["amount"].isna().any(), "missing values were not restored"
        assert out["amount"].notna().any(), "every value came out missing"
    if "id" in data:
        assert out["id"].is_unique, "identifiers must be unique"
    if "date" in data:
        parsed = pd.to_datetime(out["date"], format="%Y-%m-%d", errors="coerce")
        assert parsed.notna().all(), "dates lost their format"
    if "flag" in data:
        assert set(out["flag"].unique()) <= {True, False}, "booleans must stay booleans"
    for column in ("group", "city"):
        if column in data:
            unseen = set(out[column].dropna()) - set(data[column].dropna())
            assert not unseen, f"column {column!r}: invented categories {sorted(unseen)[:5]}"
    if "count" in data:
        assert out["count"].between(data["count"].min(), data["count"].max()).all(), (
            "integers left the training range"
        )
    if "constant" in data:
        assert (out["constant"] == data["constant"].iloc[0]).all(), "constant column changed"


def check_conditions(factory: Factory, data: pd.DataFrame) -> None:
    if "group" not in data:
        return
    model = factory(0).fit(data)
    out = model.sample(40, seed=1, conditions={"group": "c"})
    assert len(out) == 40 and (out["group"] == "c").all(), "condition on a category not met"
    try:
        model.sample(10, conditions={"group": "never-seen"})
    except ConditionError:
        pass
    else:
        raise AssertionError("an unseen category must raise ConditionError")
    if "amount" in data:
        low, high = data["amount"].quantile([0.40, 0.41])
        try:
            out = model.sample(20, seed=2, conditions={"amount": (low, high)})
        except ConditionError as exc:
            assert "amount" in str(exc), f"the ConditionError must name the column: {exc}"
        else:
            assert out["amount"].between(low, high).all(), "a range condition was not met"


def check_native_conditioning(factory: Factory, data: pd.DataFrame) -> None:
    """A "native" generator meets a rare condition on every row, drawing few rows."""
    if factory(0).tags.conditioning != "native" or "group" not in data:
        return
    rare = data.copy()
    rare.loc[rare.index[: max(len(rare) // 40, 2)], "group"] = "rare"
    model = factory(0).fit(rare)
    decoded = [0]
    inverse = model.transformer_.inverse_transform

    def counting(matrix: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        decoded[0] += len(matrix)
        return inverse(matrix, rng)

    model.transformer_.inverse_transform = counting
    try:
        # the watermark draws more rows on purpose; this check measures the steering
        out = model.sample(40, seed=1, conditions={"group": "rare"}, watermark=False)
    finally:
        del model.transformer_.inverse_transform
    assert len(out) == 40 and (out["group"] == "rare").all(), "a rare condition was not met"
    assert decoded[0] <= 40 * NATIVE_ROWS_PER_ROW, (
        f"native conditioning decoded {decoded[0]} rows for 40 rows of a 2.5% category; "
        "declare conditioning='rejection' if the model does not steer its draws"
    )


def missing_table(n: int = 3000, rate: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """A number missing at ``rate`` beside a category: the missing-value check's data."""
    rng = np.random.default_rng(seed)
    value = rng.normal(10, 2, n)
    value[rng.random(n) < rate] = np.nan
    return pd.DataFrame({"value": value, "group": rng.choice(["a", "b"], n)})


def check_missing_values(factory: Factory, data: pd.DataFrame) -> None:
    """``handles_missing``: the missing rate comes back; otherwise ``fit`` says no."""
    table = missing_table()
    model = factory(0)
    if not model.tags.handles_missing:
        try:
            model.fit(table)
        except DataError as exc:
            assert "value" in str(exc), f"the DataError must name the column: {exc}"
            return
        raise AssertionError("handles_missing=False, yet fit accepted missing values")
    expected = table["value"].isna().mean()
    rate = model.fit(table).sample(2000, seed=1)["value"].isna().mean()
    assert abs(rate - expected) <= MISSING_RATE_TOLERANCE, (
        f"missing rate {rate:.3f} in the sample, {expected:.3f} in the training data"
    )


def check_privacy_budget(factory: Factory, data: pd.DataFrame) -> None:
    """A DP generator takes ``epsilon`` and ``delta`` and reports ``epsilon_spent_``;
    any other generator takes no ``epsilon`` that would suggest a guarantee."""
    model = factory(0)
    names = model.param_names()
    if not model.tags.differential_privacy:
        assert "epsilon" not in names, "an 'epsilon' parameter needs differential_privacy=True"
        return
    assert {"epsilon", "delta"} <= set(names), "a DP generator takes 'epsilon' and 'delta'"
    if "dp" in names:  # differential privacy offered as an option: check it switched on
        model.set_params(dp=True)
    model.fit(data)
    spent = getattr(model, "epsilon_spent_", None)
    assert isinstance(spent, float) and 0 < spent <= model.epsilon * (1 + 1e-9), (
        f"epsilon_spent_ must be a float in (0, epsilon={model.epsilon}]; got {spent!r}"
    )


ALL_CHECKS = (
    check_tags_declared,
    check_fit_returns_self,
    check_sample_before_fit,
    check_sample_shape_and_dtypes,
    check_same_seed_same_rows,
    check_save_load,
    check_kinds_survive,
    check_conditions,
    check_native_conditioning,
    check_missing_values,
    check_privacy_budget,
)


def check_synthesizer(factory: Factory, data: pd.DataFrame | None = None) -> None:
    """Run every contract check on generators made by ``factory(seed)``."""
    data = contract_table() if data is None else data
    for check in ALL_CHECKS:
        check(factory, data)
