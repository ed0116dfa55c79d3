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

from ouroboros import io
from ouroboros.errors import DataError, DataWarning, StoreError
from ouroboros.io import LINEAGE_KEY, AttrsRecord
from ouroboros.lineage.catalog import (
    all_synthetic,
    chance_match_rate,
    lookup,
    open_catalog,
    publish,
)
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

#: training rows whose hashes a fitted model keeps for :func:`training_reference`
REFERENCE_ROWS = 20_000


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


def training_reference(data: pd.DataFrame) -> np.ndarray:
    """Row hashes of up to :data:`REFERENCE_ROWS` training rows (a fixed random subset), which
    a fitted model keeps in memory (never in its file) for the chance match rate of what
    it samples (:func:`~ouroboros.lineage.catalog.chance_match_rate`)."""
    if len(data) > REFERENCE_ROWS:
        picked = np.random.default_rng(0).choice(len(data), REFERENCE_ROWS, replace=False)
        data = data.take(np.sort(picked))
    return row_hashes(data)


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
    """The record of ``table``, just sampled from ``model`` with ``seed``.

    Its chance match rate uses the row hashes :func:`training_reference` kept of the
    model's training rows, where the model was fitted in this process.
    """
    hashes = row_hashes(table) if hashes is None else hashes
    reference = getattr(model, "training_row_hashes_", None)
    return synthetic_record(
        content_hash(table, hashes),
        len(table),
        table.columns,
        model_info(model, seed),
        training_record(model),
        watermark_key_id=watermark_key_id,
        chance_match_rate=chance_match_rate(hashes, reference),
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


def _written(data: pd.DataFrame) -> io.LineageWrite:
    """What :func:`ouroboros.io.write_table` writes of ``data``'s record: the table's own
    (resolved), and how to keep it in the catalog, with its row hashes where all its rows
    are synthetic. A record that cannot be read is written as it is, and kept nowhere."""
    hashes = row_hashes(data)
    try:
        record = resolve(data, None, hashes)
    except LineageError:
        return dict(data.attrs[LINEAGE_KEY]), None
    rows = hashes if all_synthetic(record) else None  # real rows' hashes stay out
    if rows is not None and record.chance_match_rate is None:  # a subset or edit of a sample
        record = record.replace(chance_match_rate=chance_match_rate(rows))

    def keep(store: Any, path: Any) -> None:
        try:
            if isinstance(store, Store):
                publish(record, store, rows)
                return
            with open_catalog(store) as catalog:
                publish(record, catalog, rows)
        except StoreError as exc:
            if store is not None:  # a catalog asked for by name must be kept
                raise
            warnings.warn(
                f"{str(path)!r} was written, but its lineage record could not be kept in the "
                f"default catalog ({exc}); pass store= (ouro --store) or set $OUROBOROS_STORE",
                DataWarning,
                stacklevel=4,
            )

    return record.to_dict(), keep


io.register_lineage_writer(_written)
