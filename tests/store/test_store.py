"""The run store API on each backend: runs, metrics, provenance, artifacts; SQLite URLs and
files."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import DataError, ParameterError, StoreError
from ouroboros.store import (
    METRIC_COLUMNS,
    PROVENANCE_COLUMNS,
    SCHEMA_VERSION,
    STORE_ENV,
    SQLiteStore,
    default_url,
    open_store,
)


def _tidy(seeds=(0, 1), strategies=("replace", "accumulate"), generations=3) -> pd.DataFrame:
    rows = [
        {"seed": s, "strategy": k, "generation": g, "metric": m, "value": g + 0.1 * s}
        for s in seeds
        for k in strategies
        for g in range(generations)
        for m in ("tail_share", "coverage")
    ]
    return pd.DataFrame(rows)


def test_a_run_from_creation_to_finish(store):
    run_id = store.create_run("collapse", "adult", {"strategies": ["replace"], "seeds": 2})
    run = store.get_run(run_id)
    assert (run.kind, run.name, run.status, run.finished) == ("collapse", "adult", "running", None)
    assert run.config == {"strategies": ["replace"], "seeds": 2}
    assert {"ouroboros", "python", "host", "pid"} <= set(run.env)
    store.finish_run(run_id, "failed", error="generation 3: boom")
    run = store.get_run(run_id)
    assert (run.status, run.error) == ("failed", "generation 3: boom")
    assert run.finished is not None


def test_metrics_round_trip_and_rewrites_replace(store):
    run_id = store.create_run("collapse", "adult")
    table = _tidy()
    assert store.log_metrics(run_id, table) == len(table)
    # A retried task logs the same keys again: rows are replaced, not duplicated.
    store.log_metrics(run_id, table.assign(value=table["value"] * 10))
    stored = store.metrics([run_id])
    assert list(stored.columns) == METRIC_COLUMNS
    assert len(stored) == len(table)
    merged = stored.merge(table, on=["seed", "strategy", "generation", "metric"])
    np.testing.assert_allclose(merged["value_x"], merged["value_y"] * 10)
    assert str(stored["generation"].dtype) == "Int64"


def test_metrics_without_seed_strategy_or_generation(store):
    run_id = store.create_run("benchmark", "cell")
    store.log_metrics(run_id, [{"metric": "auc", "value": 0.7}, {"metric": "nan", "value": None}])
    store.log_metrics(run_id, [{"metric": "auc", "value": np.float64(0.8)}])
    stored = store.metrics([run_id]).set_index("metric")
    assert stored.loc["auc", "value"] == 0.8
    assert math.isnan(stored.loc["nan", "value"])
    assert stored["seed"].isna().all()


def test_metrics_of_several_runs_keep_the_requested_order(store):
    first = store.create_run("collapse", "a")
    second = store.create_run("collapse", "b")
    store.log_metrics(first, _tidy(seeds=(0,)))
    store.log_metrics(second, _tidy(seeds=(1,)))
    both = store.metrics([second, first[:6]])
    assert list(dict.fromkeys(both["run_id"])) == [second, first]
    assert store.metrics([]).empty


def test_provenance_round_trip(store):
    run_id = store.create_run("collapse", "adult")
    provenance = pd.DataFrame(
        {
            "seed": [0, 0, 0],
            "strategy": ["accumulate"] * 3,
            "generation": [1, 1, 1],
            "source": ["real", "synthetic", "synthetic"],
            "source_generation": pd.array([None, 0, 1], dtype="Int64"),
            "rows": [500, 500, 500],
        }
    )
    store.log_provenance(run_id, provenance)
    store.log_provenance(run_id, provenance)
    stored = store.provenance([run_id])
    assert list(stored.columns) == PROVENANCE_COLUMNS
    pd.testing.assert_frame_equal(
        stored.drop(columns="run_id"), provenance, check_dtype=False, check_like=True
    )


def test_artifacts(store, tmp_path):
    run_id = store.create_run("collapse", "adult")
    store.log_artifact(run_id, "report", tmp_path / "old.html")
    store.log_artifact(run_id, "report", tmp_path / "report.html")
    store.log_artifact(run_id, "results", "results.parquet")
    assert store.artifacts(run_id) == {
        "report": str(tmp_path / "report.html"),
        "results": "results.parquet",
    }


def test_listing_filters_and_sweep_children(store):
    sweep = store.create_run("sweep", "grid")
    children = [store.create_run("collapse", f"cell-{i}", parent=sweep) for i in range(3)]
    store.finish_run(children[0])
    assert {r.id for r in store.list_runs(parent=sweep)} == set(children)
    assert [r.id for r in store.list_runs(status="finished")] == [children[0]]
    assert {r.id for r in store.list_runs(kind="collapse")} == set(children)
    assert len(store.list_runs(limit=2)) == 2
    assert store.list_runs()[-1].id == sweep  # newest first
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.create_run("collapse", "orphan", parent="nope")


def test_run_id_prefixes(store):
    ids = [store.create_run("collapse", str(i)) for i in range(17)]
    assert store.get_run(ids[0][:5]).id == ids[0]
    # 17 ids over 16 hex digits: some first digit is shared.
    shared = pd.Series([i[0] for i in ids]).value_counts().index[0]
    with pytest.raises(StoreError, match="matches several runs"):
        store.get_run(shared)
    with pytest.raises(StoreError, match="no run 'zz'.*ouro runs list"):
        store.get_run("zz")
    with pytest.raises(StoreError, match="no run '_'"):
        store.get_run("_")  # LIKE wildcards are matched literally


def test_writes_to_an_unknown_run_are_refused(store):
    with pytest.raises(StoreError, match="no run 'missing'"):
        store.log_metrics("missing", [{"metric": "m", "value": 1.0}])
    with pytest.raises(StoreError, match="no run 'missing'"):
        store.finish_run("missing")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"value": 1.0}], "needs a non-empty 'metric'"),
        ([{"metric": "m"}], "needs a 'value'"),
        ([{"metric": "m", "value": "high"}], "value must be a number"),
        ([{"metric": "m", "value": 1.0, "seed": 1.5}], "'seed' must hold integers"),
        ({"metric": "m", "value": 1.0}, "got a single dict"),
        (["m"], "rows must be dicts"),
    ],
)
def test_bad_metric_rows(store, rows, message):
    run_id = store.create_run("collapse", "adult")
    with pytest.raises(DataError, match=message):
        store.log_metrics(run_id, rows)
    assert store.metrics([run_id]).empty


def test_bad_provenance_rows_and_parameters(store):
    run_id = store.create_run("collapse", "adult")
    with pytest.raises(DataError, match="needs a 'source'"):
        store.log_provenance(run_id, [{"rows": 3}])
    with pytest.raises(DataError, match="'rows' must be a count"):
        store.log_provenance(run_id, [{"source": "real", "rows": -1}])
    with pytest.raises(ParameterError, match="'status' must be one of finished, failed"):
        store.finish_run(run_id, "done")
    with pytest.raises(ParameterError, match="'kind'"):
        store.create_run("", "x")
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        store.create_run("collapse", "x", {"bad": object()})


def test_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///relative.db")
    assert isinstance(relative, SQLiteStore) and (tmp_path / "relative.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path / 'absolute.db'}")
    assert absolute.path == tmp_path / "absolute.db"
    assert open_store(str(tmp_path / "bare.db")).url == f"sqlite:///{tmp_path / 'bare.db'}"
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert default_url() == "sqlite:///runs.db"
    monkeypatch.setenv(STORE_ENV, "sqlite:///env.db")
    assert open_store().path.name == "env.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://host/db", "expected sqlite:///PATH.*or postgresql://USER@HOST"),
        ("sqlite://", "expected sqlite:///PATH"),
        ("sqlite:///:memory:", "must be a file"),
        ("sqlite:///no/such/folder/runs.db", "folder 'no/such/folder' does not exist"),
    ],
)
def test_bad_urls(tmp_path, monkeypatch, url, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_read_only_commands_do_not_create_a_store(tmp_path):
    with pytest.raises(StoreError, match="no run store at"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_files_that_are_not_run_stores(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        open_store(f"sqlite:///{junk}")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(StoreError, match="not an ouroboros run store"):
        open_store(f"sqlite:///{other}")


def test_a_new_store_is_at_the_newest_schema_in_wal_mode(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    assert store.migrate() == SCHEMA_VERSION
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
