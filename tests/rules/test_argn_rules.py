"""ARGN's native conditions and imputation honour the rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import ConditionError
from ouroboros.synthesizers import Synthesizer
from ouroboros.synthesizers.argn import ARGNSynthesizer

RULES = [
    "job -> code",
    "end >= start",
    "hhmm == hour * 100 + minute",
    "fixed(colour, size)",
    "pay * years >= 0",  # kept only by rejection
]


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    jobs = np.array(["clerk", "nurse", "pilot", "smith"])
    job = rng.integers(0, 4, n)
    hour, minute = rng.integers(0, 24, n), rng.integers(0, 60, n)
    start = rng.integers(0, 1000, n)
    combos = np.array([("red", "S"), ("blue", "M"), ("green", "L")])[rng.integers(0, 3, n)]
    return pd.DataFrame(
        {
            "job": jobs[job],
            "code": np.array(["J0", "J1", "J2", "J3"])[job],
            "start": start,
            "end": start + rng.integers(0, 50, n),
            "hour": hour,
            "minute": minute,
            "hhmm": hour * 100 + minute,
            "colour": combos[:, 0],
            "size": combos[:, 1],
            "pay": np.round(rng.gamma(3, 10, n), 1),
            "years": rng.integers(0, 40, n),
        }
    )


@pytest.fixture(scope="module")
def model() -> ARGNSynthesizer:
    return ARGNSynthesizer(seed=0, **ARGNSynthesizer.test_params).fit(_table(), rules=RULES)


def _keeps_rules(rows: pd.DataFrame) -> None:
    codes = {"clerk": "J0", "nurse": "J1", "pilot": "J2", "smith": "J3"}
    assert (rows["code"] == rows["job"].map(codes)).all()
    assert (rows["end"] >= rows["start"]).all()
    assert (rows["hhmm"] == rows["hour"] * 100 + rows["minute"]).all()
    pairs = set(zip(rows["colour"], rows["size"], strict=True))
    assert pairs <= {("red", "S"), ("blue", "M"), ("green", "L")}


def test_conditions_on_derived_columns_condition_the_network(model, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fell back to rejection from unconditional draws")

    monkeypatch.setattr(Synthesizer, "_rejection_sample", refuse)
    rows = model.sample(40, seed=1, conditions={"code": "J2"}, watermark=False)
    assert (rows["job"] == "pilot").all() and len(rows) == 40
    rows = model.sample(40, seed=1, conditions={"size": "M", "end": (500, 700)}, watermark=False)
    assert (rows["colour"] == "blue").all() and rows["end"].between(500, 700).all()
    _keeps_rules(rows)
    rows = model.sample(30, seed=2, conditions={"hour": 7, "code": "J0"}, watermark=False)
    assert ((rows["hhmm"] // 100) == 7).all() and (rows["job"] == "clerk").all()


def test_a_condition_that_breaks_a_rule_is_a_condition_error(model):
    with pytest.raises(ConditionError, match="job -> code"):
        model.sample(5, conditions={"job": "pilot", "code": "J0"})
    with pytest.raises(ConditionError, match="fixed"):
        model.sample(5, conditions={"colour": "red", "size": "L"})


def test_a_condition_no_drawn_row_meets_fails_clearly(model):
    with pytest.raises(ConditionError, match=r"the rules were met by only 0 of \d+ drawn rows"):
        model.sample(5, conditions={"hhmm": 1299})  # a minute of 99 is never drawn


def test_impute_keeps_the_rules(model):
    real = _table(200, seed=7)
    masked = real.copy().astype(object)
    rng = np.random.default_rng(3)
    for column in ["job", "code", "start", "end", "hour", "hhmm", "colour", "size"]:
        masked.loc[rng.random(len(real)) < 0.25, column] = None
    masked = masked.infer_objects()
    filled = model.impute(masked, seed=1)
    _keeps_rules(filled)
    observed = masked.notna()
    for column in real.columns:
        assert (filled.loc[observed[column], column] == real.loc[observed[column], column]).all()
    # cells the rules fix from observed ones are those of the real rows
    solved = masked["hour"].isna() & masked["hhmm"].notna() & masked["minute"].notna()
    assert solved.any() and (filled.loc[solved, "hour"] == real.loc[solved, "hour"]).all()
    solved = masked["job"].isna() & masked["code"].notna()
    assert solved.any() and (filled.loc[solved, "job"] == real.loc[solved, "job"]).all()
    assert filled["start"].dtype == real["start"].dtype
    pd.testing.assert_frame_equal(filled, model.impute(masked, seed=1))
