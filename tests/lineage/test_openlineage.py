"""``ouro lineage FILE --openlineage events.jsonl``: run events read back."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest

from ouroboros import lineage
from ouroboros.cli import run
from ouroboros.io import read_table
from ouroboros.lineage.openlineage import FACET, NAMESPACE, events, run_id, write_events
from ouroboros.lineage.tree import ancestry

pytest.importorskip("openlineage.client")
pytestmark = pytest.mark.filterwarnings("ignore:the training data looks synthetic")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("OUROBOROS_STORE", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("OURO_WATERMARK_KEY", "lineage-tests")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_events_describe_every_generation(tmp_path, capsys):
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=100), "c": rng.choice(["a", "b"], 100)})
    real.to_csv(tmp_path / "real.csv", index=False)
    for args in (
        ["fit", "real.csv", "-s", "independent", "--seed", "0", "-o", "m1.ouro"],
        ["sample", "m1.ouro", "-n", "60", "--seed", "1", "-o", "s1.csv"],
        ["fit", "s1.csv", "-s", "independent", "--seed", "0", "-o", "m2.ouro"],
        ["sample", "m2.ouro", "-n", "40", "--seed", "2", "-o", "s2.csv"],
    ):
        assert run([str(tmp_path / a) if "." in a and a[0] != "-" else a for a in args]) == 0
    target = tmp_path / "events.jsonl"
    assert run(["lineage", str(tmp_path / "s2.csv"), "--openlineage", str(target)]) == 0
    assert "4 OpenLineage events appended" in capsys.readouterr().err
    sent = _lines(target)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE", "START", "COMPLETE"]
    assert lineage.recorded(pd.read_csv(tmp_path / "s2.csv")) is None  # ours reads the sidecar
    record = lineage.recorded(read_table(tmp_path / "s2.csv"))
    final = sent[0]
    assert final["job"] == {"namespace": NAMESPACE, "name": "sample.independent", "facets": {}}
    assert uuid.UUID(final["run"]["runId"]) and final["run"]["runId"] == run_id(record.content_hash)
    (output,) = final["outputs"]
    assert output["namespace"] == NAMESPACE and output["name"] == record.content_hash
    facet = output["facets"][FACET]
    assert facet["depth"] == 2 and facet["realShare"] == pytest.approx(0.5)
    assert facet["syntheticShare"] == 1.0 and facet["generator"] == "independent"
    assert facet["modelFileSha256"] == record.model.file_sha256
    assert facet["watermarkKeyId"] == record.watermark_key_id
    assert facet["_schemaURL"].endswith("SyntheticProvenanceDatasetFacet.json")
    symlink = output["facets"]["symlinks"]["identifiers"][0]
    assert symlink["namespace"] == "file" and symlink["name"].endswith("s2.csv")
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == ["x", "c"]
    (training,) = final["inputs"]
    assert training["name"] == record.parents[0].content_hash
    assert training["facets"][FACET]["depth"] == 1
    # the earlier generation: its own run, whose input is the real table
    first = sent[2]
    assert first["outputs"][0]["name"] == training["name"]
    assert first["inputs"][0]["facets"][FACET]["kind"] == "real"
    # writing again appends the same runs after the old lines
    assert run(["lineage", str(tmp_path / "s2.csv"), "--openlineage", str(target)]) == 0
    again = _lines(target)
    assert len(again) == 8 and again[4]["run"] == sent[0]["run"]


def test_mixed_table_becomes_a_mix_run(tmp_path):
    real = lineage.real_record("r" * 64, 10, ["x"])
    model = lineage.ModelInfo(generator="independent")
    sample = lineage.synthetic_record("s" * 64, 10, ["x"], model, real)
    mixed = lineage.mixed_record("m" * 64, 20, ["x"], [(real, 10), (sample, 10)])
    written = events(mixed, ancestry(mixed))
    path = write_events(tmp_path / "ev.jsonl", written)
    jobs = [e["job"]["name"] for e in _lines(path)]
    assert jobs == ["mix", "mix", "sample.independent", "sample.independent"]
    mix_event = _lines(path)[1]
    assert [d["name"] for d in mix_event["inputs"]] == ["r" * 64, "s" * 64]
    assert mix_event["outputs"][0]["facets"][FACET]["syntheticShare"] == 0.5
    assert mix_event["outputs"][0]["facets"][FACET]["realShare"] == pytest.approx(2 / 3)
