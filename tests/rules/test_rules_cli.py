"""``ouro rules`` and ``ouro fit --rules/--auto-rules/--rule-tolerance``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ouroboros import synthesizers
from ouroboros.cli import run


def table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    hour, minute = rng.integers(0, 24, n), rng.integers(0, 60, n)
    return pd.DataFrame(
        {"hour": hour, "minute": minute, "code": hour * 100 + minute, "x": rng.normal(size=n)}
    )


def test_rules_then_fit_keeps_them(tmp_path, capsys):
    source, rules, model = tmp_path / "t.csv", tmp_path / "rules.json", tmp_path / "m.ouro"
    table(1000).to_csv(source, index=False)
    assert run(["rules", str(source), "-o", str(rules)]) == 0
    written = json.loads(rules.read_text())
    assert "code == 100 * hour + minute" in written["rules"]
    assert all(r["reason"] for r in written["reasons"])
    assert run(["fit", str(source), "--rules", str(rules), "-o", str(model), "--seed", "0"]) == 0
    loaded = synthesizers.load(model)
    assert loaded.schema_.rules == written["rules"]
    sample = loaded.sample(300, seed=0)
    assert (sample["code"] == 100 * sample["hour"] + sample["minute"]).all()


def test_auto_rules_and_a_rule_the_data_breaks(tmp_path, capsys):
    data = table(1000)
    data.loc[:2, "code"] = -1
    source, model, rules = tmp_path / "t.csv", tmp_path / "m.ouro", tmp_path / "r.json"
    data.to_csv(source, index=False)
    assert run(["fit", str(source), "--auto-rules", "-o", str(model)]) == 0
    assert "code == 100 * hour + minute" not in synthesizers.load(model).schema_.rules
    rules.write_text(json.dumps(["code == 100 * hour + minute"]))
    assert run(["fit", str(source), "--rules", str(rules), "-o", str(model)]) == 1
    assert "broken by 3 of 1000 real rows" in capsys.readouterr().err
    args = ["fit", str(source), "--rules", str(rules), "--rule-tolerance", "0.01", "-o", str(model)]
    assert run(args) == 0
    sample = synthesizers.load(model).sample(200, seed=0)
    assert isinstance(sample, pd.DataFrame)
    assert (sample["code"] == 100 * sample["hour"] + sample["minute"]).all()


def test_fit_discovers_rules_by_default_but_not_for_dp_fits(tmp_path, capsys):
    source, model = tmp_path / "t.csv", tmp_path / "m.ouro"
    table(600).to_csv(source, index=False)
    assert run(["fit", str(source), "-o", str(model), "--seed", "0"]) == 0
    assert "code == 100 * hour + minute" in synthesizers.load(model).schema_.rules
    assert "rules discovered and kept (--no-auto-rules: none)" in capsys.readouterr().err
    assert run(["fit", str(source), "--no-auto-rules", "-o", str(model)]) == 0
    assert synthesizers.load(model).schema_.rules == []
    args = ["fit", str(source), "--synth", "mst", "--epsilon", "20", "-p", "schema_share=0.3"]
    args += ["-o", str(model)]
    assert run(args) == 0
    assert synthesizers.load(model).schema_.rules == []
