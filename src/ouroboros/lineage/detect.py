"""Is this table synthetic? Its lineage record, the catalog, then the watermark.

:func:`detect` reads a table's own lineage record (``frame.attrs``), looks its content
hash and its row hashes up in the catalog, and tests its rows for the keyed watermark
of :mod:`ouroboros.lineage.watermark`. The watermark test needs no record, no file
name and no model: only the key.

The test. Identical rows are counted once. Each distinct row with at least one rare,
fine-grained unit gets the randomised p-value ``u`` of
:func:`~ouroboros.lineage.watermark.row_pvalues`, exactly uniform and independent across
rows on real data; which column subsets are fine-grained is judged on the
:data:`~ouroboros.lineage.watermark.RARE_BLOCK` distinct rows of smallest row id, so the
order of the file does not matter. For each level ``a`` of
:data:`LEVELS` the count of rows with ``u <= a`` is ``Binomial(rows, a)`` on real data;
the p-value is the smallest binomial tail, times the number of levels (Bonferroni).
Sampled rows were kept for small ``u`` (1 in :data:`~ouroboros.lineage.watermark.OVERSAMPLE`),
so they crowd the lowest level. The share of synthetic rows is Storey's (2002, "A direct
approach to false discovery rates") estimate ``1 - #{u > lambda} / (rows (1 - lambda))``,
real rows being uniform above ``lambda`` and sampled ones almost never there; it is
the share among the rows that can be tested (those with a rare unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ouroboros.errors import DataError
from ouroboros.lineage import watermark as wm
from ouroboros.lineage.catalog import lookup, open_catalog, row_evidence
from ouroboros.lineage.frames import recorded, resolve
from ouroboros.lineage.hashing import content_hash, row_hashes
from ouroboros.lineage.record import LineageRecord
from ouroboros.store import Store

#: significance at which a table is called synthetic
DEFAULT_SIGNIFICANCE = 1e-6
#: row p-value levels tested: the rates at which the sampler keeps rows
LEVELS = (1.0 / wm.OVERSAMPLE, 1.0 / wm.OVERSAMPLE_CONDITIONAL)
#: Storey's lambda for the share of synthetic rows
SHARE_LAMBDA = 0.25


def watermark_test(
    frame: pd.DataFrame,
    key: bytes | None = None,
    *,
    max_rows: int | None = None,
    significance: float = DEFAULT_SIGNIFICANCE,
) -> dict[str, Any]:
    """Test the rows of ``frame`` for the watermark of ``key`` (default: this user's key).

    ``max_rows`` tests a fixed random subset of that many rows (the guard's budget).
    Returns ``p_value``, ``share`` (estimated share of watermarked rows), ``rows_flagged``
    (rows under the first level; on real data one in ``1 / LEVELS[0]`` is, by chance),
    ``testable_rows`` and, when the table cannot carry the mark, ``can_test=False`` and
    the ``reason``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"detect expects a pandas DataFrame, got {type(frame).__name__}")
    key = wm.load_key() if key is None else key
    rows = len(frame)
    if max_rows is not None and rows > max_rows:
        picked = np.sort(np.random.default_rng(0).choice(rows, max_rows, replace=False))
        frame = frame.iloc[picked]
    result: dict[str, Any] = {"key_id": wm.key_id(key), "rows_tested": len(frame)}
    if len(frame) == 0 or frame.shape[1] == 0:
        return {**result, **_untestable("the table has no rows or no columns")}
    codes = wm.table_codes(frame)
    columns = list(frame.columns)
    row_ids = wm.unit_hashes(
        wm.keyed_columns(codes, columns, b"rows"), columns, tuple(range(len(columns))), b"rows"
    )
    distinct, inverse = np.unique(row_ids, return_inverse=True)
    first = np.full(len(distinct), -1)
    first[inverse[::-1]] = np.arange(len(frame))[::-1]
    # distinct rows in the order of their ids: the first RARE_BLOCK of them, whatever
    # the order of the file, judge which column subsets are fine-grained
    codes = codes[first]
    u = wm.row_pvalues(*wm.row_evidence(codes, columns, key))
    testable = ~np.isnan(u)
    n = int(testable.sum())
    result.update(distinct_rows=len(distinct), testable_rows=n)
    best = min(len(LEVELS) * a**n for a in LEVELS) if n else 1.0
    if best >= significance:
        reason = (
            "no row has a fine-grained value combination that occurs only once in the "
            "table (a column, or pair of columns, whose values are almost all distinct); "
            "a table of few-valued categories or integers cannot carry the mark"
            if n == 0
            else f"only {n} rows have a value combination that occurs once; even if all "
            f"were marked the p-value could not reach {significance:g}"
        )
        return {**result, **_untestable(reason)}
    values = u[testable]
    tails = [float(stats.binom.sf(int((values <= a).sum()) - 1, n, a)) for a in LEVELS]
    share = 1.0 - float((values > SHARE_LAMBDA).sum()) / (n * (1.0 - SHARE_LAMBDA))
    flagged_distinct = np.nan_to_num(u, nan=1.0) <= LEVELS[0]
    result.update(
        can_test=True,
        reason=None,
        p_value=min(1.0, len(LEVELS) * min(tails)),
        share=float(np.clip(share, 0.0, 1.0)),
        rows_flagged=int(flagged_distinct[inverse].sum()),
        rows_flagged_by_chance=float(n * LEVELS[0]),
    )
    return result


def _untestable(reason: str) -> dict[str, Any]:
    return {"can_test": False, "reason": reason, "p_value": 1.0, "share": 0.0, "rows_flagged": 0}


def catalog_matches(
    frame: pd.DataFrame, store: Store | None, significance: float = DEFAULT_SIGNIFICANCE
) -> dict[str, Any]:
    """Stored synthetic tables holding more rows of ``frame`` than chance allows
    (:func:`~ouroboros.lineage.catalog.row_evidence`)."""
    if store is None:
        return row_evidence(np.zeros(0, dtype=np.uint64), None)
    hashes = row_hashes(frame)
    return row_evidence(hashes, store, own=content_hash(frame, hashes), significance=significance)


def _known_lineage(frame: pd.DataFrame, store: Store | None) -> LineageRecord | None:
    """The frame's record (its own, derived from the one it carries, or the catalog's);
    ``None`` when nothing is recorded anywhere."""
    if recorded(frame) is None and store is None:
        return None
    record = resolve(frame, store)
    if recorded(frame) is None and lookup(record.content_hash, store) is None:
        return None
    return record


def _open(store: Any) -> tuple[Store | None, bool]:
    """``store`` as an open catalog (a URL is opened read-only, never created), and whether
    this call opened it."""
    if store is None or isinstance(store, Store):
        return store, False
    return open_catalog(str(store), create=False), True


def detect(
    frame: pd.DataFrame,
    *,
    key: bytes | None = None,
    significance: float = DEFAULT_SIGNIFICANCE,
    store: Any = None,
    max_rows: int | None = None,
) -> dict[str, Any]:
    """Whether ``frame`` holds synthetic rows: ``synthetic`` (at ``significance``),
    ``p_value`` (of the watermark test), ``synthetic_share``, ``rows``, ``rows_flagged``,
    ``lineage`` (the record when one is found), and the ``evidence`` behind them.

    ``store`` is the catalog (a :class:`~ouroboros.store.Store` or a URL, opened
    read-only; ``None``: no catalog); ``key`` the watermark key (default: this user's);
    ``max_rows`` tests the watermark on a fixed random subset of that many rows.
    """
    test = watermark_test(frame, key, max_rows=max_rows, significance=significance)
    catalog, opened = _open(store)
    try:
        record = _known_lineage(frame, catalog)
        rows = catalog_matches(frame, catalog, significance)
    finally:
        if opened and catalog is not None:
            catalog.close()
    evidence = []
    record_share = None if record is None else record.row_synthetic_share
    if record_share:
        evidence.append("lineage record")
    # real rows equal sampled ones by chance where rows take few values: only the excess counts
    matched, matched_share = rows["rows_matched"], rows["share"]
    if rows["synthetic"]:
        evidence.append(f"catalog: {matched} rows of stored synthetic tables")
    marked = test["can_test"] and test["p_value"] < significance
    if marked:
        evidence.append("watermark")
    share = record_share or max(matched_share, test["share"] if marked else 0.0)
    return {
        "synthetic": bool(evidence),
        "p_value": float(test["p_value"]),
        "synthetic_share": float(share),
        "rows": int(len(frame)),
        "rows_flagged": int(max(test["rows_flagged"], matched)),
        "lineage": None if record is None else record.to_dict(),
        "significance": significance,
        "evidence": evidence,
        "watermark": test,
        "catalog": rows,
    }
