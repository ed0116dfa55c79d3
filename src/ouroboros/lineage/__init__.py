"""Never feed synthetic data back unknowingly: where every table came from.

A :class:`LineageRecord` says what a table is (real, synthetic, mixed, derived), its
content hash, the model it was sampled from and the tables that model was trained on,
its generation depth and its real share (:mod:`ouroboros.lineage.record` defines both).
Sampled frames carry it in ``frame.attrs["ouroboros.lineage"]``; :mod:`ouroboros.io`
writes it into Parquet metadata or a CSV sidecar; the catalog in the store keeps it by
content hash.
"""

from ouroboros.lineage.catalog import lookup, open_catalog, publish
from ouroboros.lineage.detect import detect
from ouroboros.lineage.frames import (
    attach,
    attach_lineage,
    concat,
    mix,
    recorded,
    resolve,
    sample_record,
    training_lineage,
)
from ouroboros.lineage.hashing import content_hash, row_hashes
from ouroboros.lineage.record import (
    LineageError,
    LineageRecord,
    ModelInfo,
    Parent,
    derived_record,
    mixed_record,
    real_record,
    synthetic_record,
)

__all__ = [
    "LineageError",
    "LineageRecord",
    "ModelInfo",
    "Parent",
    "attach",
    "attach_lineage",
    "concat",
    "content_hash",
    "derived_record",
    "detect",
    "lookup",
    "mix",
    "mixed_record",
    "open_catalog",
    "publish",
    "real_record",
    "recorded",
    "resolve",
    "row_hashes",
    "sample_record",
    "synthetic_record",
    "training_lineage",
]
