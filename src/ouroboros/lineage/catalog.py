"""The lineage catalog: every table's record and row hashes in the store, by content hash.

The catalog lives in the run store (:mod:`ouroboros.store`) and follows its URL rules:
``--store``, else ``$OUROBOROS_STORE``, else ``sqlite:///runs.db``. Writers create it;
readers (a fit looking up its training data) never do: :func:`open_catalog` with
``create=False`` returns None where there is none yet.

Row hashes are evidence only beyond chance. Where rows take few distinct values, real
rows equal rows of a published synthetic table by chance (a few percent of them on a
table of a handful of categorical columns). A synthetic record therefore keeps its
``chance_match_rate`` r0 (:func:`chance_match_rate`), and :func:`row_evidence` tests the
matched count M of n rows against the null "at most :data:`MIN_SYNTHETIC_SHARE` of the
rows are synthetic" (M ~ Binomial(n, s_min + (1 - s_min) r0)), estimating the share of
synthetic rows as (M / n - r0) / (1 - r0), the mixture estimate of a contamination model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ouroboros.errors import StoreError
from ouroboros.lineage.record import UNKNOWN, LineageRecord
from ouroboros.store import Store, default_url, open_store, store_path

#: the share of synthetic rows that row-hash evidence must show beyond chance
MIN_SYNTHETIC_SHARE = 0.01


def open_catalog(url: str | None = None, *, create: bool = True) -> Store | None:
    """The catalog at ``url`` (default: the run store's URL rules).

    With ``create=False`` a catalog that does not exist yet is not created, and None
    is returned.
    """
    url = default_url() if url is None else str(url)
    if not create:
        try:
            if not store_path(url).is_file():
                return None
        except StoreError:  # not a file URL (a server): open it as it is
            pass
    return open_store(url, create=create)


def chance_match_rate(hashes: np.ndarray, reference: np.ndarray | None = None) -> float:
    """The share of real rows expected to equal one of the rows (``hashes``) of a synthetic
    table by chance.

    Without real rows to hand it is the leave-one-out rate of the table itself: the
    share of its rows that equal another of its rows (each row is a fresh draw from the
    model against the others). With ``reference`` (row hashes of the model's real
    training rows) it is at least the share of those that occur in the table: a model
    that reproduces its training rows makes them match more often than fresh draws.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    if not hashes.size:
        return 0.0
    rate = float(pd.Series(hashes).duplicated(keep=False).mean())
    if reference is not None and len(reference):
        reproduced = pd.Series(np.asarray(reference, dtype=np.uint64)).isin(hashes)
        rate = max(rate, float(reproduced.mean()))  # (a hash table: np.isin sorts)
    return rate


def publish(record: LineageRecord, store: Store, row_hashes: np.ndarray | None = None) -> None:
    """Keep ``record`` (and the table's row hashes, when given) in the catalog ``store``.

    The record's ancestors are kept too, each under its own hash, so that a copy of any
    table of the ancestry is recognised. A record without a chance match rate (written
    before there was one, or of a table derived from a sample) gets the leave-one-out rate
    of ``row_hashes``.
    """
    if row_hashes is not None and record.chance_match_rate is None:
        record = record.replace(chance_match_rate=chance_match_rate(row_hashes))
    for key, ancestor in record.ancestors.items():
        if key != UNKNOWN and store.get_lineage(key) is None:
            store.put_lineage(key, dict(ancestor))
    store.put_lineage(record.content_hash, record.to_dict())
    if row_hashes is not None:
        store.put_row_hashes(record.content_hash, np.asarray(row_hashes, dtype=np.uint64))


def lookup(content_hash: str, store: Store | None) -> LineageRecord | None:
    """The record the catalog ``store`` holds for ``content_hash``, or None."""
    if store is None or content_hash == UNKNOWN:
        return None
    found = store.get_lineage(content_hash)
    return None if found is None else LineageRecord.from_dict(found)


def all_synthetic(record: dict[str, Any] | LineageRecord) -> bool:
    """Whether every row of the table of ``record`` is synthetic (a sample, or a subset or
    edit of one): the tables whose row hashes the catalog keeps and matches."""
    found = LineageRecord.from_dict(record)
    return found.row_synthetic_share >= 1.0


def _excess(matched: int, rows: int, rate: float) -> tuple[float, float]:
    """The p-value of ``matched`` of ``rows`` under the null of :data:`MIN_SYNTHETIC_SHARE`
    synthetic rows and chance match ``rate``, and the estimated share of synthetic rows."""
    null = MIN_SYNTHETIC_SHARE + (1.0 - MIN_SYNTHETIC_SHARE) * rate
    p_value = float(stats.binom.sf(matched - 1, rows, min(null, 1.0))) if matched else 1.0
    share = (matched / rows - rate) / (1.0 - rate) if rate < 1.0 else 0.0
    return p_value, float(np.clip(share, 0.0, 1.0))


def row_evidence(
    hashes: np.ndarray,
    store: Store | None,
    *,
    own: str | None = None,
    significance: float = 1e-6,
) -> dict[str, Any]:
    """Stored synthetic tables that hold more of the rows (``hashes``) than chance allows.

    Each table sharing rows is tested as in the module docstring (Bonferroni over the
    tables); ``own`` (the tested table's content hash) is left out. Returns ``searched``,
    ``tables`` (content hash to rows matched, every table sharing rows), ``p_value``,
    ``synthetic``, and for the table beyond chance with the largest estimated share (the
    samples of one model share many rows, so shares are not added up) ``rows_matched``,
    ``expected_by_chance`` and ``share`` (estimated share of synthetic rows).
    """
    found: dict[str, Any] = {"searched": store is not None, "tables": {}, "rows_matched": 0,
                             "expected_by_chance": 0.0, "p_value": 1.0, "share": 0.0,
                             "synthetic": False}  # fmt: skip
    rows = len(hashes)
    if store is None or not rows:
        return found
    tests = {}
    for table, matched in store.match_row_hashes(hashes).items():
        record = store.get_lineage(table)
        if table == own or record is None or not all_synthetic(record):
            continue
        rate = float(record.get("chance_match_rate") or 0.0)
        found["tables"][table] = int(matched)
        tests[table] = (int(matched), rate, *_excess(int(matched), rows, rate))
    if not tests:
        return found
    p_value = min(1.0, len(tests) * min(test[2] for test in tests.values()))
    beyond = [test for test in tests.values() if len(tests) * test[2] < significance]
    if not beyond:
        return {**found, "p_value": p_value}
    # samples of one model share rows: the best-supported table alone, not a sum over tables
    matched, rate, _, share = max(beyond, key=lambda test: test[3])
    found.update(p_value=p_value, synthetic=True, rows_matched=min(rows, matched),
                 expected_by_chance=rate * rows, share=share)  # fmt: skip
    return found
