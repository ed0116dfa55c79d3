"""The lineage record every table ouroboros writes carries: what it is and where it came from.

A table is ``real`` (no recorded ancestry), ``synthetic`` (sampled from a model; its parent
is the model's training data), ``mixed`` (assembled from the rows of other tables) or
``derived`` (a table edited or subset after its record was written; it inherits its
parent's figures).

**Depth.** Real data has depth 0; a model trained on data whose deepest part has depth d
writes depth d + 1; a mixed table has the depth of its deepest part.

**Real share.** A table's ancestry is the rows its rows come from: a synthetic row comes
from its model's training rows (the row itself is the model's output, not a source); a row
of a mixed table *is* a row of one of its parts. Follow a row picked at random back, to a
random training row of its model, then that row's source, and so on until a real row
ends the trace. ``real_share`` is the share of real rows among the rows on that trace,
in expectation: every trace ends in exactly one real row, so it is ``1 / E[rows on the
trace]``, counting for a synthetic table the trace from its training data and for a mixed
table the trace from its own rows. ``trace_rows`` keeps that expectation (the table's own
row included), which is what the recursion needs:

- real: ``trace_rows = 1``, ``real_share = 1``;
- synthetic, trained on D: ``trace_rows = 1 + D.trace_rows``, ``real_share = 1 / D.trace_rows``;
- mixed from parts P_i giving shares w_i of the rows:
  ``trace_rows = sum_i w_i P_i.trace_rows``, ``real_share = 1 / trace_rows``;
- derived: the parent's figures.

So a model trained on real data writes a table whose ancestry is all real (1.0, depth 1);
retraining on its own output alone gives 1/2, 1/3, ... (one real row on a trace of g + 1);
and the collapse lab's ``mix:0.4`` (40% real rows each generation) gives
``real_share = 0.4 / (1 - 0.6**(g + 1))`` at generation g, which tends to 0.4: "40% of its
ancestry is real". A table that is half real rows and half rows of a table sampled from a
real-trained model has real share 1 / (0.5 * 1 + 0.5 * 2) = 2/3.

``synthetic_share`` is the share of synthetic rows in the training data for a synthetic
table, and the share of synthetic rows in the table itself for the other kinds; a parent's
``synthetic_share`` is always the share of synthetic rows in that parent table.

``chance_match_rate`` (synthetic tables) is the share of real rows expected to equal a row
of the table by chance, as in a table of few distinct values: the catalog's row-hash
evidence counts only matches beyond it (:func:`ouroboros.lineage.catalog.row_evidence`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ouroboros import __version__
from ouroboros.errors import ParameterError

RECORD_FORMAT = "ouroboros-lineage"
RECORD_VERSION = 1
KINDS = ("real", "synthetic", "mixed", "derived")
#: ancestors embedded in one record (nearest first); older ones are found in the catalog
MAX_ANCESTORS = 256
#: the content hash of training data a model file did not record (written before lineage)
UNKNOWN = "unknown"


class LineageError(ParameterError):
    """A lineage record that cannot be read: it names the field and what was expected."""


def now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot hold written as text (numpy scalars as numbers)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


@dataclass(frozen=True)
class ModelInfo:
    """The model a synthetic table was sampled from.

    ``seed`` is the model's own seed parameter, ``sample_seed`` the seed of the draw;
    ``file_sha256`` the sha256 of the model file when the model was saved or loaded.
    """

    generator: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    sample_seed: int | None = None
    library_version: str = __version__
    file_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "params": _json_safe(self.params),
            "seed": self.seed,
            "sample_seed": self.sample_seed,
            "library_version": self.library_version,
            "file_sha256": self.file_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        _need(data, "model", ("generator",))
        return cls(
            generator=str(data["generator"]),
            params=dict(data.get("params") or {}),
            seed=data.get("seed"),
            sample_seed=data.get("sample_seed"),
            library_version=str(data.get("library_version", "")),
            file_sha256=data.get("file_sha256"),
        )


@dataclass(frozen=True)
class Parent:
    """A table this one came from: ``rows`` is how many rows it gave (training rows for a
    model); ``synthetic_share`` the share of synthetic rows in that table itself."""

    content_hash: str
    rows: int
    kind: str
    synthetic_share: float
    depth: int
    real_share: float
    trace_rows: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Parent:
        names = [f.name for f in fields(cls)]
        _need(data, "parent", names)
        return cls(
            content_hash=str(data["content_hash"]),
            rows=int(data["rows"]),
            kind=_kind(data["kind"]),
            synthetic_share=float(data["synthetic_share"]),
            depth=int(data["depth"]),
            real_share=float(data["real_share"]),
            trace_rows=float(data["trace_rows"]),
        )


@dataclass(frozen=True)
class LineageRecord:
    """Where a table came from; JSON-able and versioned (see the module docstring for the
    rules of ``depth``, ``real_share`` and ``synthetic_share``).

    ``ancestors`` holds the records (without their own ancestors) of up to
    :data:`MAX_ANCESTORS` tables of the ancestry, keyed by content hash, so that the tree
    can be drawn from the file alone.
    """

    content_hash: str
    rows: int
    columns: tuple[str, ...]
    kind: str
    depth: int = 0
    synthetic_share: float = 0.0
    real_share: float = 1.0
    trace_rows: float = 1.0
    parents: tuple[Parent, ...] = ()
    model: ModelInfo | None = None
    created: str = field(default_factory=now)
    watermark_key_id: str | None = None
    ancestors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: int = RECORD_VERSION
    chance_match_rate: float | None = None

    def __hash__(self) -> int:  # the mappings inside cannot be hashed; equal records agree here
        return hash((self.content_hash, self.kind, self.rows, self.created))

    # ------------------------------------------------------------ derived figures
    @property
    def row_synthetic_share(self) -> float:
        """The share of synthetic rows in this table itself."""
        return 1.0 if self.kind == "synthetic" else self.synthetic_share

    def as_parent(self, rows: int | None = None) -> Parent:
        """This table as the parent of another, which took ``rows`` of its rows."""
        return Parent(
            content_hash=self.content_hash,
            rows=self.rows if rows is None else int(rows),
            kind=self.kind,
            synthetic_share=self.row_synthetic_share,
            depth=self.depth,
            real_share=self.real_share,
            trace_rows=self.trace_rows,
        )

    def with_ancestry(self) -> dict[str, Mapping[str, Any]]:
        """This record (without ancestors) and its ancestors, nearest first."""
        return {self.content_hash: self.to_dict(ancestors=False), **self.ancestors}

    def replace(self, **changes: Any) -> LineageRecord:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return LineageRecord(**{**values, **changes})

    # ------------------------------------------------------------ JSON
    def to_dict(self, ancestors: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "version": self.version,
            "content_hash": self.content_hash,
            "rows": self.rows,
            "columns": list(self.columns),
            "kind": self.kind,
            "depth": self.depth,
            "synthetic_share": self.synthetic_share,
            "real_share": self.real_share,
            "trace_rows": self.trace_rows,
            "parents": [p.to_dict() for p in self.parents],
            "model": None if self.model is None else self.model.to_dict(),
            "created": self.created,
            "watermark_key_id": self.watermark_key_id,
            "chance_match_rate": self.chance_match_rate,
        }
        if ancestors:
            data["ancestors"] = {k: dict(v) for k, v in self.ancestors.items()}
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageRecord:
        """Read a record written by :meth:`to_dict`; any problem raises :class:`LineageError`."""
        if isinstance(data, LineageRecord):
            return data
        if not isinstance(data, Mapping):
            raise LineageError(f"a lineage record is a JSON object; got {type(data).__name__}")
        if data.get("format", RECORD_FORMAT) != RECORD_FORMAT:
            raise LineageError(f"not a lineage record: format {data.get('format')!r}")
        version = data.get("version", RECORD_VERSION)
        if not isinstance(version, int) or version > RECORD_VERSION:
            raise LineageError(
                f"lineage record version {version!r} is newer than this ouroboros ({__version__}) "
                f"reads (up to {RECORD_VERSION}); upgrade ouroboros"
            )
        _need(data, "lineage record", ("content_hash", "rows", "columns", "kind"))
        try:
            model = data.get("model")
            rate = data.get("chance_match_rate")
            return cls(
                content_hash=str(data["content_hash"]),
                rows=int(data["rows"]),
                columns=tuple(str(c) for c in data["columns"]),
                kind=_kind(data["kind"]),
                depth=int(data.get("depth", 0)),
                synthetic_share=float(data.get("synthetic_share", 0.0)),
                real_share=float(data.get("real_share", 1.0)),
                trace_rows=float(data.get("trace_rows", 1.0)),
                parents=tuple(Parent.from_dict(p) for p in data.get("parents") or ()),
                model=None if model is None else ModelInfo.from_dict(model),
                created=str(data.get("created", "")),
                watermark_key_id=data.get("watermark_key_id"),
                ancestors={str(k): dict(v) for k, v in (data.get("ancestors") or {}).items()},
                version=version,
                chance_match_rate=None if rate is None else float(rate),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise LineageError(f"lineage record has a field of the wrong type: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> LineageRecord:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise LineageError(f"lineage record is not valid JSON: {exc}") from exc


def _need(data: Mapping[str, Any], what: str, names: Iterable[str]) -> None:
    if not isinstance(data, Mapping):
        raise LineageError(f"a {what} is a JSON object; got {type(data).__name__}")
    missing = [n for n in names if n not in data]
    if missing:
        raise LineageError(f"{what} lacks the fields {missing}; it may be damaged")


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise LineageError(f"lineage kind must be one of {list(KINDS)}; got {value!r}")
    return str(value)


# ---------------------------------------------------------------- the rules
def real_record(content_hash: str, rows: int, columns: Iterable[str]) -> LineageRecord:
    """The record of a table with no recorded ancestry: real, depth 0."""
    return LineageRecord(content_hash, int(rows), tuple(str(c) for c in columns), "real")


def synthetic_record(
    content_hash: str,
    rows: int,
    columns: Iterable[str],
    model: ModelInfo,
    training: LineageRecord,
    watermark_key_id: str | None = None,
    chance_match_rate: float | None = None,
) -> LineageRecord:
    """The record of a table sampled from ``model``, trained on the table of ``training``."""
    return LineageRecord(
        content_hash=content_hash,
        rows=int(rows),
        columns=tuple(str(c) for c in columns),
        kind="synthetic",
        depth=training.depth + 1,
        synthetic_share=training.row_synthetic_share,
        real_share=1.0 / training.trace_rows,
        trace_rows=1.0 + training.trace_rows,
        parents=(training.as_parent(),),
        model=model,
        watermark_key_id=watermark_key_id,
        ancestors=_merge_ancestry([training]),
        chance_match_rate=chance_match_rate,
    )


def mixed_record(
    content_hash: str,
    rows: int,
    columns: Iterable[str],
    parts: Iterable[tuple[LineageRecord, int]],
) -> LineageRecord:
    """The record of a table assembled from ``(record, rows taken)`` parts."""
    parts = [(record, int(n)) for record, n in parts if int(n) > 0]
    total = sum(n for _, n in parts)
    if not parts or total <= 0:
        raise ParameterError("a mixed table needs at least one part that gives rows")
    trace = sum(n * record.trace_rows for record, n in parts) / total
    return LineageRecord(
        content_hash=content_hash,
        rows=int(rows),
        columns=tuple(str(c) for c in columns),
        kind="mixed",
        depth=max(record.depth for record, _ in parts),
        synthetic_share=sum(n * record.row_synthetic_share for record, n in parts) / total,
        real_share=1.0 / trace,
        trace_rows=trace,
        parents=tuple(record.as_parent(n) for record, n in parts),
        ancestors=_merge_ancestry([record for record, _ in parts]),
    )


def derived_record(
    content_hash: str, rows: int, columns: Iterable[str], parent: LineageRecord
) -> LineageRecord:
    """The record of a table edited or subset from ``parent`` after its record was written."""
    return LineageRecord(
        content_hash=content_hash,
        rows=int(rows),
        columns=tuple(str(c) for c in columns),
        kind="derived",
        depth=parent.depth,
        synthetic_share=parent.row_synthetic_share,
        real_share=parent.real_share,
        trace_rows=parent.trace_rows,
        parents=(parent.as_parent(rows),),
        watermark_key_id=parent.watermark_key_id,
        ancestors=_merge_ancestry([parent]),
    )


def _merge_ancestry(records: list[LineageRecord]) -> dict[str, Mapping[str, Any]]:
    """The ancestry of several tables, nearest first: the tables, then their ancestors."""
    merged: dict[str, Mapping[str, Any]] = {}
    for record in records:
        merged.setdefault(record.content_hash, record.to_dict(ancestors=False))
    for record in records:
        for key, value in record.ancestors.items():
            merged.setdefault(key, value)
    return dict(list(merged.items())[:MAX_ANCESTORS])
