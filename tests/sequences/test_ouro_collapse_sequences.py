"""`ouro collapse --sequence-key` runs the lab on whole entities from the command line."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from ouroboros.cli import app
from ouroboros.collapse import CollapseResult
from ouroboros.testing.processes import entity_table


def test_ouro_collapse_on_a_sequence_table_counts_and_keeps_entities(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = entity_table(60, 4.0, 0.5)
    data, out = tmp_path / "events.csv", tmp_path / "runs"
    real.to_csv(data, index=False)
    args = ["collapse", str(data), "--synth", "sequence_bootstrap", "--sequence-key", "id"]
    args += ["--sequence-index", "step", "--generations", "2", "--strategy", "mix:0.5"]
    args += ["--seeds", "1", "--metrics", "long_sequences_kept,sequence_length_distance"]
    args += ["-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "training entities" in " ".join(result.output.split())
    saved = CollapseResult.load(out)
    assert saved.config["unit"] == "entities"
    assert saved.theory_curves() == {}, "the reference models draw rows: no theory curve"
    assert set(saved.table["metric"]) == {"long_sequences_kept", "sequence_length_distance"}
    sample = pd.read_parquet(next(out.glob("**/gen-001/sample.parquet")))
    lengths = sample.groupby("id").size()
    assert len(lengths) == saved.config["sample_size"], "a sample holds size entities"
