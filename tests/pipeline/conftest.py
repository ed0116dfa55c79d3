"""A small table and a factory of pipeline files around it."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from ouroboros import datasets
from ouroboros.store import STORE_ENV

run_module = importlib.import_module("ouroboros.pipeline.run")


@pytest.fixture(autouse=True)
def _catalog(monkeypatch, tmp_path):
    """The lineage catalog (the run store) of every test lives in its own folder."""
    monkeypatch.setenv(STORE_ENV, f"sqlite:///{tmp_path / 'runs.db'}")


@pytest.fixture(scope="session")
def small_table():
    """300 Adult rows, six columns: numbers and categories, fast to fit and score."""
    table = datasets.load("adult").iloc[:300]
    return table[["age", "hours-per-week", "education", "sex", "race", "income"]].reset_index(
        drop=True
    )


@pytest.fixture
def write_config(tmp_path, small_table):
    """``write_config(**sections)``: a pipeline file in ``tmp_path`` and its data; a section
    given as a string replaces the default one's body."""
    data = tmp_path / "data.csv"
    small_table.to_csv(data, index=False)
    (tmp_path / "out").mkdir()
    defaults = {
        "source": 'path = "data.csv"\nholdout = 0.25\ntarget = "income"',
        "generator": 'name = "gaussian_copula"\nseed = 0',
        "sample": "rows = 200",
        "evaluate": 'metrics = ["detection_auc"]',
        "gate": 'detection_auc = "<= 1.0"\nexact_copies = "<= 300"',
        "publish": 'path = "out/synthetic.csv"',
    }

    def write(name: str = "pipeline.toml", **sections: str | None) -> Path:
        body = {**defaults, **sections}
        text = "".join(f"[{k}]\n{v}\n\n" for k, v in body.items() if v is not None)
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def calls(monkeypatch):
    """Count how often each step's function runs (publish included)."""
    counts: dict[str, int] = {}

    def counted(step):
        def make(ctx, out, meta):
            counts[step.name] = counts.get(step.name, 0) + 1
            return step.make(ctx, out, meta)

        return dataclasses.replace(step, make=make)

    monkeypatch.setattr(run_module, "STEPS", tuple(counted(s) for s in run_module.STEPS))
    publish = run_module.publish_table

    def counted_publish(entries, config):
        counts["publish"] = counts.get("publish", 0) + 1
        return publish(entries, config)

    monkeypatch.setattr(run_module, "publish_table", counted_publish)
    return counts
