"""Lineage records on DataFrames: attach, read back, resolve, and combine.

A record sits in ``frame.attrs["ouroboros.lineage"]`` (a read-only dict, so that pandas
shares it with derived frames instead of copying it). pandas carries ``attrs`` into
frames derived by most operations, so a record found there is trusted only when its
content hash is the frame's: otherwise the frame is a *derived* table of the recorded one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError, DataWarning, StoreError
from ouroboros.io import LINEAGE_KEY, AttrsRecord
from ouroboros.lineage.catalog import lookup, open_catalog
from ouroboros.lineage.hashing import content_hash, row_hashes
from ouroboros.lineage.record import (
    UNKNOWN,
    LineageError,
    LineageRecord,
    ModelInfo,
    derived_record,
    mixed_record,
    real_record,
    synthetic_record,
)
from ouroboros.store import Store


def attach(frame: pd.DataFrame, record: LineageRecord) -> pd.DataFrame:
    """Put ``record`` into ``frame.attrs`` (in place) and return ``frame``."""
    frame.attrs[LINEAGE_KEY] = AttrsRecord(record.to_dict())
    return frame


def recorded(frame: pd.DataFrame) -> LineageRecord | None:
    """The record in ``frame.attrs`` as it stands (not checked against the frame), or None."""
    found = frame.attrs.get(LINEAGE_KEY) if isinstance(frame, pd.DataFrame) else None
    return None if found is None else LineageRecord.from_dict(found)


def resolve(
    frame: pd.DataFrame,
    store: Store | None = None,
    hashes: np.ndarray | None = None,
) -> LineageRecord:
    """The lineage of ``frame``: its own record, else the catalog's, else real (depth 0).

    A record in ``attrs`` whose content hash is not the frame's belongs to a table this
    one was derived from (a subset, an edit): unless the catalog knows the frame, it gets
    a ``derived`` record with that table as parent. ``hashes`` are the frame's row
    hashes, when already computed.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"lineage needs a pandas DataFrame; got {type(frame).__name__}")
    hashes = row_hashes(frame) if hashes is None else hashes
    key = content_hash(frame, hashes)
    own = recorded(frame)
    if own is not None and own.content_hash == key:
        return own
    found = lookup(key, store)
    if found is not None:
        return found
    if own is not None:
        return derived_record(key, len(frame), frame.columns, own)
    return real_record(key, len(frame), frame.columns)


def training_lineage(data: pd.DataFrame) -> dict[str, Any]:
    """The lineage of a model's training data, as a JSON-able dict (what ``fit`` keeps).

    The catalog consulted is the run store's default one, and only if it already exists.
    A record that cannot be read (damaged, or from a newer ouroboros) is ignored with a
    warning: it must not stop a fit.
    """
    try:
        if recorded(data) is not None:
            return resolve(data).to_dict()
    except LineageError as exc:
        warnings.warn(
            f"the training data's lineage record is ignored: {exc}", DataWarning, stacklevel=3
        )
        data = data.copy(deep=False)
        data.attrs.pop(LINEAGE_KEY, None)
    hashes = row_hashes(data)
    try:
        store = open_catalog(create=False)
    except StoreError as exc:  # a catalog that cannot be reached must not stop a fit
        warnings.warn(
            f"the lineage catalog could not be opened ({exc}); the training data counts "
            "as real unless it carries a record",
            DataWarning,
            stacklevel=3,
        )
        store = None
    try:
        return resolve(data, store, hashes).to_dict()
    finally:
        if store is not None:
            store.close()


def model_info(model: Any, seed: int | None = None) -> ModelInfo:
    """What a record says of a (fitted) synthesizer: name, parameters, seeds, model file."""
    from ouroboros import __version__

    params = model.get_params()
    return ModelInfo(
        generator=str(model.name or type(model).__name__),
        params=params,
        seed=params.get("seed"),
        sample_seed=seed,
        library_version=__version__,
        file_sha256=getattr(model, "model_file_sha256_", None),
    )


def training_record(model: Any) -> LineageRecord:
    """The lineage of a fitted model's training data, from the model (or its file).

    A model fitted or saved before lineage records existed counts as trained on real data.
    """
    kept = getattr(model, "training_lineage_", None)
    if kept is not None:
        return LineageRecord.from_dict(kept)
    columns = list(model.schema_.names)
    return real_record(UNKNOWN, int(getattr(model, "n_training_rows_", 0)), columns)


def sample_record(
    model: Any,
    table: pd.DataFrame,
    seed: int | None = None,
    watermark_key_id: str | None = None,
    hashes: np.ndarray | None = None,
) -> LineageRecord:
    """The record of ``table``, just sampled from ``model`` with ``seed``."""
    key = content_hash(table, hashes)
    return synthetic_record(
        key,
        len(table),
        table.columns,
        model_info(model, seed),
        training_record(model),
        watermark_key_id=watermark_key_id,
    )


def attach_lineage(
    model: Any,
    table: pd.DataFrame,
    seed: int | None = None,
    watermark_key_id: str | None = None,
) -> pd.DataFrame:
    """Attach the record of a freshly sampled ``table`` to it (the last step of sampling)."""
    return attach(table, sample_record(model, table, seed, watermark_key_id))


def concat(
    frames: Sequence[pd.DataFrame], store: Store | None = None, **kwargs: Any
) -> pd.DataFrame:
    """``pandas.concat`` of ``frames`` whose result carries a ``mixed`` record.

    Each part's lineage is resolved as in :func:`resolve`; keyword arguments go to
    ``pandas.concat`` (``ignore_index=True`` by default).
    """
    frames = list(frames)
    if not frames:
        raise DataError("concat needs at least one table")
    parts = [(resolve(frame, store), len(frame)) for frame in frames]
    kwargs.setdefault("ignore_index", True)
    combined = pd.concat(frames, **kwargs)
    combined.attrs = {}
    return mix(combined, parts)


def mix(frame: pd.DataFrame, parts: Sequence[tuple[LineageRecord, int]]) -> pd.DataFrame:
    """Attach to ``frame`` the record of a table built from ``(record, rows)`` parts (in place).

    Rows of several tables make a ``mixed`` table; rows of one table make that table
    again (same content) or a ``derived`` one (a subset or a resample of it).
    """
    key = content_hash(frame)
    given = [(record, n) for record, n in parts if n > 0]
    if len(given) == 1:
        parent = given[0][0]
        if parent.content_hash == key:
            return attach(frame, parent)
        return attach(frame, derived_record(key, len(frame), frame.columns, parent))
    return attach(frame, mixed_record(key, len(frame), frame.columns, given))
