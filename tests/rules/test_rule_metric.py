"""``rule_violations``: each declared and discovered rule, beside its ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ouroboros import synthesizers
from ouroboros.metrics import evaluate
from ouroboros.schema import Schema


def test_rule_violations_rows_and_ceiling():
    rng = np.random.default_rng(0)
    n = 1200
    level = rng.integers(0, 5, n)
    low = rng.normal(10, 2, n).round(2)
    table = pd.DataFrame(
        {
            "level": np.array(list("abcde"))[level],
            "level_num": level * 3,
            "low": low,
            "high": (low + rng.exponential(1, n)).round(2),
        }
    )
    train, holdout = table.iloc[:800], table.iloc[800:].reset_index(drop=True)
    schema = Schema.detect(train)
    schema.rules = ["high >= low"]
    plain = synthesizers.create("independent", seed=0).fit(train).sample(400, seed=1)
    result = evaluate(train, plain, holdout=holdout, schema=schema, metrics=["rule_violations"])
    rows = result.table.set_index("column")
    assert rows.loc["high >= low", "value"] > 0.2
    assert rows.loc["high >= low", "ceiling"] == 0
    assert rows.loc["level -> level_num", "value"] > 0.5
    kept = synthesizers.create("independent", seed=0).fit(train, schema=schema)
    sample = kept.sample(400, seed=1)
    again = evaluate(
        train, sample, holdout=holdout, schema=kept.schema_, metrics=["rule_violations"]
    )
    assert again.table.set_index("column").loc["high >= low", "value"] == 0
