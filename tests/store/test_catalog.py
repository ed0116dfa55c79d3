"""The lineage catalog and the privacy ledger: records, row hashes and releases."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros.errors import DataError, StoreError
from ouroboros.store import open_store
from ouroboros.store.catalog import table_id


def test_lineage_records_round_trip_and_replace(store):
    assert store.get_lineage("abc") is None
    record = {"depth": 2, "real_share": 0.25, "parents": ["p1", "p2"], "model": {"seed": 0}}
    store.put_lineage("abc", record)
    assert store.get_lineage("abc") == record
    store.put_lineage("abc", {**record, "depth": 3})
    assert store.get_lineage("abc")["depth"] == 3
    assert store.get_lineage("other") is None


def test_bad_lineage_records_are_refused(store):
    with pytest.raises(StoreError, match="lineage record of 'abc' cannot be stored as JSON"):
        store.put_lineage("abc", {"bad": object()})
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        store.put_lineage("abc", {"share": math.nan})
    with pytest.raises(DataError, match="must be a dict"):
        store.put_lineage("abc", [1, 2])
    with pytest.raises(DataError, match="content_hash must be a non-empty string"):
        store.put_lineage("", {})
    assert store.get_lineage("abc") is None


def test_row_hashes_are_matched_by_table(store):
    rng = np.random.default_rng(0)
    first = rng.integers(0, 2**64, size=1000, dtype=np.uint64)
    second = rng.integers(0, 2**64, size=500, dtype=np.uint64)
    store.put_row_hashes("first", first)
    store.put_row_hashes("second", np.concatenate([second, first[:10]]))
    probe = np.concatenate([first[:100], second[:50], rng.integers(0, 2**64, 300, np.uint64)])
    assert store.match_row_hashes(probe) == {"first": 100, "second": 60}
    # Rows given twice count twice; the stored tables keep each hash once.
    assert store.match_row_hashes(np.concatenate([first[-3:], first[-3:]])) == {"first": 6}
    assert store.match_row_hashes(rng.integers(0, 2**64, 100, np.uint64)) == {}
    assert store.match_row_hashes(np.array([], dtype=np.uint64)) == {}


def test_row_hashes_keep_all_64_bits(store):
    edges = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    store.put_row_hashes("edges", edges)
    for value in edges:
        assert store.match_row_hashes(np.array([value], dtype=np.uint64)) == {"edges": 1}
    # The same bits as int64 are the same hashes.
    assert store.match_row_hashes(edges.view(np.int64)) == {"edges": 5}


def test_putting_row_hashes_again_replaces_them(store):
    store.put_row_hashes("t", np.arange(10, dtype=np.uint64))
    store.put_row_hashes("t", np.arange(5, 15, dtype=np.uint64))
    assert store.match_row_hashes(np.arange(20, dtype=np.uint64)) == {"t": 10}
    store.put_row_hashes("t", np.array([], dtype=np.uint64))
    assert store.match_row_hashes(np.arange(20, dtype=np.uint64)) == {}


def test_bad_row_hashes_are_refused(store):
    with pytest.raises(DataError, match="1-D array of integers"):
        store.put_row_hashes("t", np.array([0.5, 1.5]))
    with pytest.raises(DataError, match="1-D array of integers"):
        store.match_row_hashes(np.zeros((2, 2), dtype=np.uint64))
    with pytest.raises(DataError, match="content_hash"):
        store.put_row_hashes(None, np.arange(3))


def test_table_ids_are_stable_signed_64_bit_numbers():
    assert table_id("abc") == table_id("abc") != table_id("abd")
    assert -(2**63) <= table_id("abc") < 2**63


@pytest.mark.slow
def test_a_million_row_hashes(store):
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 2**64, size=1_000_000, dtype=np.uint64)
    store.put_row_hashes("big", rows)
    probe = rng.integers(0, 2**64, size=1_000_000, dtype=np.uint64)
    probe[::20] = rows[::20]  # 5% of the probe is in the stored table
    start = time.perf_counter()
    assert store.match_row_hashes(probe) == {"big": 50_000}
    # Well under a minute even on a loaded 2-core machine (about 1 s unloaded).
    assert time.perf_counter() - start < 30


def test_releases_are_kept_per_dataset_in_order(store):
    assert store.releases("data") == []
    first = {"mechanism": "aim", "epsilon": 1.0, "delta": 1e-6, "accountant": "zcdp"}
    second = {"mechanism": "dpsgd", "epsilon": 0.5, "delta": 0.0, "model": "m.ouro"}
    store.record_release("data", first)
    store.record_release("data", second)
    store.record_release("other", first)
    stored = store.releases("data")
    assert [{k: v for k, v in r.items() if k != "created"} for r in stored] == [first, second]
    assert stored[0]["created"] <= stored[1]["created"]
    assert sum(r["epsilon"] for r in stored) == 1.5
    assert len(store.releases("other")) == 1


def test_a_check_refuses_a_release_inside_the_transaction(store):
    def budget(total: float):
        def check(earlier):
            spent = sum(r["epsilon"] for r in earlier)
            if spent + 1.0 > total:
                raise DataError(f"over budget: {spent} spent of {total}")

        return check

    release = {"mechanism": "aim", "epsilon": 1.0, "delta": 1e-6}
    store.record_release("data", release, check=budget(2.0))
    store.record_release("data", release, check=budget(2.0))
    with pytest.raises(DataError, match="over budget: 2.0 spent of 2.0"):
        store.record_release("data", release, check=budget(2.0))
    assert len(store.releases("data")) == 2


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ({"epsilon": 1.0, "delta": 0.0}, "needs a 'mechanism'"),
        ({"mechanism": "aim", "delta": 0.0}, "finite number 'epsilon' >= 0"),
        ({"mechanism": "aim", "epsilon": -1.0, "delta": 0.0}, "'epsilon' >= 0"),
        ({"mechanism": "aim", "epsilon": math.inf, "delta": 0.0}, "'epsilon' >= 0"),
        ({"mechanism": "aim", "epsilon": 1.0, "delta": 2.0}, "'delta' >= 0 and <= 1"),
        ({"mechanism": "aim", "epsilon": True, "delta": 0.0}, "'epsilon'"),
        ("aim", "must be a dict"),
    ],
)
def test_bad_releases_are_refused(store, release, message):
    with pytest.raises(DataError, match=message):
        store.record_release("data", release)
    assert store.releases("data") == []


@settings(max_examples=25, deadline=None)
@given(
    stored=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=30), min_size=1, max_size=3),
    probe=st.lists(st.integers(0, 2**64 - 1), max_size=40),
    picks=st.lists(st.integers(0, 200), max_size=20),
)
def test_matches_agree_with_numpy(tmp_path_factory, stored, probe, picks):
    """Whatever the tables and the probe (repeats, shared rows, the 64-bit edges), each
    table's count is the number of probe rows found in it."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('m') / 'runs.db'}")
    pool = [h for table in stored for h in table]
    probe = probe + [pool[i % len(pool)] for i in picks] if pool else probe
    for i, table in enumerate(stored):
        store.put_row_hashes(f"t{i}", np.array(table, dtype=np.uint64))
    expected = {}
    query = np.array(probe, dtype=np.uint64)
    for i, table in enumerate(stored):
        count = int(np.isin(query, np.array(table, dtype=np.uint64)).sum())
        if count:
            expected[f"t{i}"] = count
    assert store.match_row_hashes(query) == expected
    store.close()
