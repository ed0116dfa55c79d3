"""The contamination guard: check what a model is about to be trained on.

Before training, :func:`check` looks at the data's lineage record (its own, or the
catalog's for its content hash), then the catalog's row hashes, then the watermark,
stopping at the first that finds synthetic rows. A policy then decides: ``"warn"``
(the default: one warning naming the data, its synthetic share, its depth and how to
proceed), ``"strict"`` (refuse with :class:`SyntheticDataError`) or ``"off"``. Data
whose synthetic share is at most ``max_synthetic_share`` and whose depth is at most
``max_depth`` passes; ``allow_synthetic`` lets anything pass but still records what
was found (the collapse lab feeds synthetic data back on purpose).

Row hashes count only beyond the rows that equal published synthetic rows by chance
(:func:`~ouroboros.lineage.catalog.row_evidence`): real rows of a table of few distinct
values are not taken for synthetic ones. The row-hash and watermark checks read at most
:data:`GUARD_ROWS` rows (a fixed random subset of a larger table), which keeps the
guard's cost small next to any fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import OuroborosError, OuroborosWarning, ParameterError
from ouroboros.lineage.catalog import open_catalog
from ouroboros.lineage.detect import DEFAULT_SIGNIFICANCE, catalog_matches, watermark_test
from ouroboros.lineage.record import LineageRecord

POLICIES = ("warn", "strict", "off")
#: rows the row-hash and watermark checks read at most
GUARD_ROWS = 5_000
#: where a table's name (its file) may be given in ``DataFrame.attrs``
SOURCE_KEY = "ouroboros.source"


class SyntheticDataError(OuroborosError, ValueError):
    """Training data holds synthetic rows beyond the guard's thresholds (policy ``strict``)."""


class SyntheticDataWarning(OuroborosWarning):
    """Training data holds synthetic rows beyond the guard's thresholds (policy ``warn``)."""


def check_policy(policy: str, max_synthetic_share: float, max_depth: int | None) -> None:
    """Refuse a policy or threshold that is not allowed (one message naming it)."""
    if policy not in POLICIES:
        raise ParameterError(f"parameter 'guard' must be one of {list(POLICIES)}; got {policy!r}")
    share = max_synthetic_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ParameterError(f"parameter 'max_synthetic_share' must be in [0, 1]; got {share!r}")
    if max_depth is not None and (
        isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0
    ):
        raise ParameterError(
            f"parameter 'max_depth' must be None or an integer >= 0; got {max_depth!r}"
        )


def inspect(
    data: pd.DataFrame,
    record: dict[str, Any] | LineageRecord | None = None,
    *,
    store: Any = "default",
    key: bytes | None = None,
) -> dict[str, Any]:
    """What is known of ``data``'s synthetic rows: ``synthetic``, ``share``, ``depth``
    (``None`` when only the watermark or row hashes say so: at least 1), ``source`` (which
    check found them) and ``p_value`` (of the row-hash test beyond chance, or of the
    watermark, when it ran).

    ``record`` is the data's resolved lineage (as ``fit`` keeps it); ``store`` the
    catalog (``"default"``: the run store's, if it exists; ``None``: none).
    """
    if record is not None:
        found = LineageRecord.from_dict(record)
        if found.row_synthetic_share > 0 or found.depth > 0:
            return {
                "synthetic": True,
                "share": found.row_synthetic_share,
                "depth": found.depth,
                "source": "lineage record",
                "p_value": None,
            }
    sample = data
    if len(data) > GUARD_ROWS:
        picked = np.random.default_rng(0).choice(len(data), GUARD_ROWS, replace=False)
        sample = data.take(np.sort(picked))
    catalog = open_catalog(create=False) if store == "default" else store
    try:
        rows = catalog_matches(sample, catalog)
    finally:
        if store == "default" and catalog is not None:
            catalog.close()
    if rows["synthetic"]:  # beyond the rows that equal synthetic ones by chance
        return {"synthetic": True, "share": max(rows["share"], 1.0 / len(sample)),
                "depth": None, "source": "catalog rows", "p_value": rows["p_value"]}  # fmt: skip
    test = watermark_test(sample, key)
    marked = test["can_test"] and test["p_value"] < DEFAULT_SIGNIFICANCE
    return {
        "synthetic": bool(marked),
        "share": max(test["share"], 1.0 / len(sample)) if marked else 0.0,
        "depth": None,
        "source": "watermark" if marked else None,
        "p_value": test["p_value"],
    }


def check(
    data: pd.DataFrame,
    record: dict[str, Any] | LineageRecord | None = None,
    *,
    policy: str = "warn",
    max_synthetic_share: float = 0.0,
    max_depth: int | None = None,
    allow_synthetic: bool = False,
    store: Any = "default",
    key: bytes | None = None,
    stacklevel: int = 3,
) -> dict[str, Any] | None:
    """Apply the guard to training ``data`` and return what it found (``None`` when off).

    The result has :func:`inspect`'s keys plus ``policy``, ``allowed`` (the data passed:
    within thresholds, or ``allow_synthetic``) and ``name``.
    """
    check_policy(policy, max_synthetic_share, max_depth)
    if policy == "off":
        return None
    found = inspect(data, record, store=store, key=key)
    name = str(data.attrs.get(SOURCE_KEY) or "the training data")
    too_deep = max_depth is not None and (found["depth"] or 1) > max_depth
    over = found["synthetic"] and (found["share"] > max_synthetic_share or too_deep)
    verdict = {**found, "policy": policy, "allowed": bool(allow_synthetic or not over),
               "name": name}  # fmt: skip
    if not over or allow_synthetic:
        return verdict
    message = _message(name, found, max_synthetic_share, max_depth, policy)
    if policy == "strict":
        raise SyntheticDataError(message)
    warnings.warn(message, SyntheticDataWarning, stacklevel=stacklevel)
    return verdict


def _message(name: str, found: dict[str, Any], share: float, depth: int | None, policy: str):
    depth_text = "depth at least 1" if found["depth"] is None else f"depth {found['depth']}"
    limits = f"max_synthetic_share={share:g}" + ("" if depth is None else f", max_depth={depth}")
    way = (
        "pass allow_synthetic=True (ouro fit --allow-synthetic) to train on it anyway"
        if policy == "strict"
        else "pass guard='strict' to refuse such data, or allow_synthetic=True to silence this"
    )
    return (
        f"{name} looks synthetic ({found['source']}): synthetic share "
        f"{found['share']:.1%}, {depth_text}, beyond {limits}; training on synthetic data "
        f"feeds model collapse; {way}"
    )
