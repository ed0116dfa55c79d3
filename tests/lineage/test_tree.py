"""The ancestry tree and ``ouro lineage FILE`` (text and --json)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ouroboros import lineage
from ouroboros.cli import run
from ouroboros.lineage import ModelInfo, mixed_record, real_record, synthetic_record
from ouroboros.lineage.tree import ancestry, render, tree

pytestmark = pytest.mark.filterwarnings("ignore:the training data looks synthetic")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("OUROBOROS_STORE", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("OURO_WATERMARK_KEY", "lineage-tests")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def chain(tmp_path):
    """real.csv -> m1.ouro -> s1.csv -> m2.ouro -> s2.parquet through the CLI."""
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {"x": rng.normal(size=120), "k": rng.integers(0, 5, 120), "c": rng.choice(["a", "b"], 120)}
    ).to_csv(tmp_path / "real.csv", index=False)
    steps = [
        ["fit", "real.csv", "-s", "independent", "--seed", "0", "-o", "m1.ouro"],
        ["sample", "m1.ouro", "-n", "80", "--seed", "1", "-o", "s1.csv"],
        ["fit", "s1.csv", "-s", "independent", "--seed", "0", "-o", "m2.ouro"],
        ["sample", "m2.ouro", "-n", "50", "--seed", "2", "-o", "s2.parquet"],
    ]
    for step in steps:
        args = [str(tmp_path / a) if a.endswith((".csv", ".ouro", ".parquet")) else a for a in step]
        assert run(args) == 0, step
    return tmp_path


def _model() -> ModelInfo:
    return ModelInfo(generator="independent", params={}, seed=0)


def test_tree_shows_model_and_training_data_down_to_real(chain, capsys):
    capsys.readouterr()
    assert run(["lineage", str(chain / "s2.parquet")]) == 0
    out = capsys.readouterr().out
    assert "lineage from its own record" in out
    assert "s2.parquet · synthetic · 50 rows · depth 2 · real share 50.0%" in out
    assert "sampled from model independent seed 0, sample seed 2" in out
    assert "trained on 80 rows of" in out and "depth 1 · real share 100.0%" in out
    assert "trained on 120 rows of" in out and "real · 120 rows · depth 0" in out
    assert out.index("depth 2") < out.index("depth 1") < out.index("depth 0")


def test_json_output_and_a_copy_found_by_hash(chain, capsys):
    shutil.copyfile(chain / "s1.csv", chain / "copy.csv")  # no sidecar
    capsys.readouterr()
    assert run(["lineage", str(chain / "copy.csv"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source"] == "catalog"
    assert payload["record"]["depth"] == 1 and payload["record"]["kind"] == "synthetic"
    assert payload["content_hash"] == payload["record"]["content_hash"]
    node = payload["tree"]
    assert node["model"]["generator"] == "independent" and node["model"]["file_sha256"]
    (training,) = node["parents"]
    assert training["table"]["kind"] == "real" and training["rows_taken"] == 120
    assert training["parents"] == [] and not training["missing"]


def test_model_file_and_an_unrecorded_table(chain, capsys):
    capsys.readouterr()
    assert run(["lineage", str(chain / "m2.ouro"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source"] == "model" and payload["record"]["depth"] == 1
    other = chain / "other.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(other, index=False)
    assert run(["lineage", str(other)]) == 0
    out = capsys.readouterr().out
    assert "counts as real data" in out and "depth 0" in out
    assert run(["lineage", str(chain / "missing.csv")]) == 1


def test_shared_ancestors_are_drawn_once():
    """accumulate trains on every earlier generation: the tree refers back, never repeats."""
    real = real_record("r" * 64, 100, ["x"])
    samples = [synthetic_record("s0", 100, ["x"], _model(), real)]
    for g in range(1, 5):
        parts = [(real, 100)] + [(s, 100) for s in samples]
        train = mixed_record(f"t{g}", 100 * (g + 1), ["x"], parts)
        samples.append(synthetic_record(f"s{g}", 100, ["x"], _model(), train))
    last = samples[-1]
    # itself, its training table t4, the real table, s0..s3 and their training tables t1..t3
    expected = {"s4", "t4", "r" * 64, "s0", "s1", "s2", "s3", "t1", "t2", "t3"}
    assert set(ancestry(last)) == expected
    nodes = tree(last)

    def walk(node):
        yield node
        for child in node["parents"]:
            yield from walk(child)

    drawn = [n for n in walk(nodes) if not n["repeated"]]
    hashes = [n["table"]["content_hash"] for n in drawn]
    assert len(hashes) == len(set(hashes)) == len(ancestry(last))
    assert any(n["repeated"] for n in walk(nodes))
    assert render(nodes, "last.csv").label.startswith("[bold]last.csv[/]")


def test_missing_ancestor_is_marked():
    real = real_record("r" * 64, 10, ["x"])
    sample = synthetic_record("s" * 64, 10, ["x"], _model(), real).replace(ancestors={})
    (parent,) = tree(sample)["parents"]
    assert parent["missing"] and parent["table"]["kind"] == "real"
    assert lineage.LineageRecord.from_dict(sample.to_dict()) == sample


def test_collapse_lab_keeps_its_generations_in_the_catalog(tmp_path, capsys):
    rng = np.random.default_rng(2)
    data = tmp_path / "real.csv"
    pd.DataFrame({"x": rng.normal(size=120), "y": rng.normal(size=120)}).to_csv(data, index=False)
    args = ["collapse", str(data), "-s", "independent", "-g", "2", "--strategy", "replace"]
    args += ["--seeds", "1", "--metrics", "ks_complement", "-o", str(tmp_path / "lab")]
    assert run(args) == 0
    assert "2 generation samples kept in the lineage catalog" in capsys.readouterr().err
    (last,) = (tmp_path / "lab").glob("**/gen-001/sample.parquet")
    from ouroboros.io import read_table

    pd.read_parquet(last).to_csv(tmp_path / "stripped.csv", index=False)  # no record
    assert run(["lineage", str(tmp_path / "stripped.csv"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source"] == "catalog"
    assert payload["record"] == lineage.recorded(read_table(last)).to_dict(ancestors=False)
    assert payload["record"]["depth"] == 2 and payload["record"]["real_share"] == 0.5
