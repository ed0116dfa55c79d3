"""The lineage catalog: every table's record and row hashes in the store, by content hash.

The catalog lives in the run store (:mod:`ouroboros.store`) and follows its URL rules:
``--store``, else ``$OUROBOROS_STORE``, else ``sqlite:///runs.db``. Writers create it;
readers (a fit looking up its training data) never do: :func:`open_catalog` with
``create=False`` returns None where there is none yet.
"""

from __future__ import annotations

import numpy as np

from ouroboros.errors import StoreError
from ouroboros.lineage.record import UNKNOWN, LineageRecord
from ouroboros.store import Store, default_url, open_store, store_path


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


def publish(record: LineageRecord, store: Store, row_hashes: np.ndarray | None = None) -> None:
    """Keep ``record`` (and the table's row hashes, when given) in the catalog ``store``.

    The record's ancestors are kept too, each under its own hash, so that a copy of any
    table of the ancestry is recognised.
    """
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
