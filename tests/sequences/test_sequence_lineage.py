"""Sequence samples carry their lineage record as row tables do, and ``ouro detect`` says
plainly that it cannot test their watermark (sequences carry none yet)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ouroboros import synthesizers
from ouroboros.cli import app
from ouroboros.io import write_table
from ouroboros.lineage import resolve
from ouroboros.testing.sequences import sequence_schema, sequence_table


def test_a_sequence_sample_has_lineage_and_an_untestable_watermark(tmp_path, monkeypatch):
    monkeypatch.setenv("OURO_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    real = sequence_table(30, seed=0)
    model = synthesizers.create("sequence_bootstrap", seed=0).fit(real, sequence_schema(real))
    out = model.sample(12, seed=1)
    record = resolve(out)
    assert record.kind == "synthetic" and record.depth == 1
    assert record.model.generator == "sequence_bootstrap" and record.watermark_key_id is None
    write_table(out, tmp_path / "events.csv")
    found = CliRunner().invoke(
        app, ["detect", str(tmp_path / "events.csv"), "--json", str(tmp_path / "r.json")]
    )
    assert found.exit_code == 0, found.output
    assert "watermark: cannot test this table" in found.output
    assert "sequence generator 'sequence_bootstrap'" in found.output
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["synthetic"] and result["evidence"] == ["lineage record"]
    assert not result["watermark"]["can_test"] and result["p_value"] == 1.0
