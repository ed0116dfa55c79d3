"""OpenLineage run events for a table's ancestry, so that Marquez, DataHub or any
OpenLineage consumer shows where synthetic data came from.

Each table of the ancestry that was produced by ouroboros (sampled from a model, mixed
from parts, derived from another table) becomes one run of a job in the ``ouroboros``
namespace (``sample.<generator>``, ``mix``, ``derive``): a START and a COMPLETE event
whose inputs are the tables it came from and whose output is the table. Datasets are
named by content hash in the ``ouroboros`` namespace, so a copy of a table found
elsewhere is the same dataset; the inspected file also carries a symlink to its path.
Every dataset carries the custom facet ``ouroboros_syntheticProvenance``
(:class:`SyntheticProvenanceDatasetFacet`: kind, depth, real and synthetic shares,
generator, model file hash, watermark key id). Run ids are UUIDs derived from the
content hash, so that writing the events again describes the same runs.

Events are written with the ``openlineage-python`` client's file transport (the
optional extra ``lineage``), one JSON event per line.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ouroboros import __version__
from ouroboros.errors import MissingDependencyError
from ouroboros.io import atomic_path
from ouroboros.lineage.record import LineageRecord

NAMESPACE = "ouroboros"
FACET = "ouroboros_syntheticProvenance"
PRODUCER = f"urn:ouroboros:{__version__}"
#: where the facet's JSON schema would be published; consumers do not fetch it
FACET_SCHEMA_URL = (
    "https://ouroboros.invalid/spec/facets/1-0-0/SyntheticProvenanceDatasetFacet.json"
)
_RUN_NAMESPACE = uuid.UUID("5b1d1a6e-8a43-4c4e-9a0e-0f3c6b0e2a11")


def _client():
    try:
        import attr
        from openlineage.client import event_v2, facet_v2
        from openlineage.client.transport.file import FileConfig, FileTransport
    except ImportError as exc:
        raise MissingDependencyError(
            "writing OpenLineage events needs the openlineage-python client; "
            "install it with: pip install 'ouroboros-synth[lineage]'"
        ) from exc
    return attr, event_v2, facet_v2, FileConfig, FileTransport


def _facet_class(attr: Any, facet_v2: Any) -> type:
    @attr.define
    class SyntheticProvenanceDatasetFacet(facet_v2.DatasetFacet):
        """Where a table came from, in ouroboros's terms (see :mod:`ouroboros.lineage`)."""

        kind: str
        contentHash: str  # noqa: N815 - OpenLineage facets use camelCase
        rows: int | None
        depth: int
        realShare: float  # noqa: N815
        syntheticShare: float  # noqa: N815
        traceRows: float | None = None  # noqa: N815
        generator: str | None = None
        modelFileSha256: str | None = None  # noqa: N815
        watermarkKeyId: str | None = None  # noqa: N815
        libraryVersion: str | None = None  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL

    return SyntheticProvenanceDatasetFacet


def run_id(content_hash: str) -> str:
    """The run id of the run that produced the table with this content hash."""
    return str(uuid.uuid5(_RUN_NAMESPACE, content_hash))


def job_name(record: LineageRecord) -> str:
    if record.kind == "synthetic" and record.model is not None:
        return f"sample.{record.model.generator}"
    return {"mixed": "mix", "derived": "derive"}.get(record.kind, "record")


def events(
    record: LineageRecord,
    known: dict[str, LineageRecord],
    path: str | os.PathLike | None = None,
) -> list[Any]:
    """The OpenLineage RunEvents (client objects) of ``record``'s ancestry.

    ``known`` maps content hashes to the ancestry's records (see
    :func:`ouroboros.lineage.tree.ancestry`); ``path`` is the inspected file.
    """
    attr, event_v2, facet_v2, _, _ = _client()
    facet_class = _facet_class(attr, facet_v2)
    known = {**known, record.content_hash: record}
    producer = PRODUCER

    def dataset(key: str, make: Any, parent: Any = None) -> Any:
        found = known.get(key)
        facets: dict[str, Any] = {}
        if found is not None:
            facets[FACET] = _facet(facet_class, found, producer)
        elif parent is not None:
            facets[FACET] = facet_class(
                kind=parent.kind,
                contentHash=key,
                rows=None,
                depth=parent.depth,
                realShare=parent.real_share,
                syntheticShare=parent.synthetic_share,
                traceRows=parent.trace_rows,
                producer=producer,
            )
        if found is not None and found.columns:
            facets["schema"] = facet_v2.schema_dataset.SchemaDatasetFacet(
                fields=[
                    facet_v2.schema_dataset.SchemaDatasetFacetFields(name=c) for c in found.columns
                ],
                producer=producer,
            )
        if path is not None and key == record.content_hash:
            target = Path(path).resolve()
            facets["symlinks"] = facet_v2.symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    facet_v2.symlinks_dataset.Identifier(
                        namespace="file", name=str(target), type="file"
                    )
                ],
                producer=producer,
            )
        return make(namespace=NAMESPACE, name=key, facets=facets)

    out = []
    for key, rec in known.items():
        if rec.kind == "real" or not rec.parents:
            continue
        inputs = [dataset(p.content_hash, event_v2.InputDataset, p) for p in rec.parents]
        output = dataset(key, event_v2.OutputDataset)
        run = event_v2.Run(runId=run_id(key))
        job = event_v2.Job(namespace=NAMESPACE, name=job_name(rec))
        time = rec.created or _now()
        for state in (event_v2.RunState.START, event_v2.RunState.COMPLETE):
            out.append(
                event_v2.RunEvent(
                    eventType=state,
                    eventTime=time,
                    run=run,
                    job=job,
                    inputs=inputs,
                    outputs=[output],
                    producer=producer,
                )
            )
    return out


def _facet(facet_class: type, record: LineageRecord, producer: str) -> Any:
    model = record.model
    return facet_class(
        kind=record.kind,
        contentHash=record.content_hash,
        rows=record.rows,
        depth=record.depth,
        realShare=record.real_share,
        syntheticShare=record.synthetic_share,
        traceRows=record.trace_rows,
        generator=None if model is None else model.generator,
        modelFileSha256=None if model is None else model.file_sha256,
        watermarkKeyId=record.watermark_key_id,
        libraryVersion=None if model is None else model.library_version,
        producer=producer,
    )


def _now() -> str:
    from ouroboros.lineage.record import now

    return now()


def write_events(path: str | os.PathLike, run_events: list[Any]) -> Path:
    """Append ``run_events`` to the JSON-lines file ``path`` through the client's file
    transport; the file is replaced atomically (old lines kept, new ones after them)."""
    _, _, _, file_config, file_transport = _client()
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.is_file():
            shutil.copyfile(path, tmp)
        transport = file_transport(file_config(log_file_path=str(tmp), append=True))
        for event in run_events:
            transport.emit(event)
    return path
