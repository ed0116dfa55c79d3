"""Lineage at every step: the published table carries its record and is in the catalog; the
fit goes through the contamination guard."""

from __future__ import annotations

import json

import pytest

from ouroboros import lineage
from ouroboros.cli import run as cli
from ouroboros.io import read_table
from ouroboros.lineage.guard import SyntheticDataError
from ouroboros.pipeline import run


def test_published_table_carries_its_lineage_record(write_config, tmp_path):
    result = run(write_config(publish='path = "out/synthetic.parquet"'))
    table = read_table(result.published)
    record = lineage.recorded(table)
    assert record is not None and record.kind == "synthetic" and record.depth == 1
    assert record.content_hash == lineage.content_hash(table)
    assert record.model.generator == "gaussian_copula"
    (parent,) = record.parents
    train = read_table(
        next((tmp_path / ".ouro-pipeline" / "steps" / "source").glob("*/train.parquet"))
    )
    assert parent.content_hash == lineage.content_hash(train)
    with lineage.open_catalog() as store:
        assert lineage.lookup(record.content_hash, store) == record


def test_a_csv_is_published_with_its_sidecar(write_config):
    result = run(write_config())
    sidecar = result.published.with_name(result.published.name + ".lineage.json")
    assert json.loads(sidecar.read_text())["kind"] == "synthetic"


def test_catalog_false_keeps_the_catalog_out(write_config, tmp_path):
    run(write_config(publish='path = "out/synthetic.csv"\ncatalog = false'))
    assert not (tmp_path / "runs.db").exists()


def test_the_fit_goes_through_the_guard(write_config, tmp_path, capsys):
    first = run(write_config(publish='path = "out/synthetic.parquet"\ncatalog = false'))
    # the next pipeline takes the published synthetic table as its source
    strict = write_config(
        "again.toml",
        source=f'path = "{first.published}"\nholdout = 0.25',
        generator='name = "gaussian_copula"\nguard = "strict"',
        publish='path = "out/again.csv"',
    )
    with pytest.raises(SyntheticDataError, match="synthetic"):
        run(strict)
    assert cli(["pipeline", "run", str(strict)]) == 1
    assert "looks synthetic" in capsys.readouterr().err
    allowed = write_config(
        "allowed.toml",
        source=f'path = "{first.published}"\nholdout = 0.25',
        generator='name = "gaussian_copula"\nguard = "strict"\nallow_synthetic = true',
        publish='path = "out/again.parquet"',
    )
    record = lineage.recorded(read_table(run(allowed).published))
    assert record.depth == 2  # trained on depth-1 data
