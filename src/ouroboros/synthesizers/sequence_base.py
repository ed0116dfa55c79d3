"""The base of the sequence generators: static columns first, then lengths, then events.

A fit takes the event table apart (:mod:`~ouroboros.synthesizers.sequence_data`): the
entity table (static columns, number of events, first time) is learnt by an ordinary
tabular generator, the events (time gaps and event columns) by the subclass, on the
matrix of a :class:`TableTransformer` over the event table. ``sample(n)`` draws ``n``
entities from the tabular generator (meeting ``conditions`` on static columns), then
their events; for one series (no entity key) it draws ``n`` steps from ``start``. The
order is the one of PAR (Zhang, Patki & Veeramachaneni 2022, "Sequential Models in the
Synthetic Data Vault"): context, then length, then the sequence.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.errors import ConditionError, ModelFileError, ParameterError
from ouroboros.lineage import attach_lineage
from ouroboros.lineage.guard import check_policy
from ouroboros.schema import Schema, detect_column
from ouroboros.synthesizers.base import Synthesizer, Tags, _refuse_missing, _resolve_schema
from ouroboros.synthesizers.params import OneOf, Param
from ouroboros.synthesizers.sequence_data import (
    GAP,
    LENGTH,
    START,
    Layout,
    assemble,
    layout_of,
    split,
)
from ouroboros.transforms import TableTransformer

#: tabular generators that may learn the entity table
STATIC_SYNTHESIZERS = ("gaussian_copula", "independent", "argn", "tvae", "ctgan", "tabddpm")


class EventTransformer(TableTransformer):
    """A :class:`TableTransformer` over the event table that saves that table's schema."""

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "event_schema": self.schema.to_dict()}


@dataclass
class Sequences:
    """The training sequences a subclass's ``_fit`` reads: each entity's row of the entity
    table, its number of events, and every event's time (seconds or step; ``None``
    without an index), in sequence order."""

    entities: pd.DataFrame
    lengths: np.ndarray
    times: np.ndarray | None

    @property
    def firsts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)


class SequenceSynthesizer(Synthesizer):
    """A generator of event sequences; subclasses implement ``_fit(matrix, rng)`` (reading
    ``self.sequences_``) and ``_sample_events(entities, lengths, rng)``.

    Parameters
    ----------
    static_synthesizer:
        The registered tabular generator that learns one row per entity (static columns,
        number of events, first time) and answers conditions on static columns.
    """

    tags: ClassVar[Tags] = Tags(sequential=True)
    parameters: ClassVar[dict[str, Param]] = {
        "static_synthesizer": Param("gaussian_copula", OneOf(STATIC_SYNTHESIZERS)),
    }

    def _transformer_options(self) -> dict[str, Any]:
        return {"encoders": {"numeric": "quantile", "categorical": "ordinal"}}

    # ------------------------------------------------------------ fitting
    def fit(
        self,
        data: pd.DataFrame,
        schema: Schema | dict | str | os.PathLike | None = None,
        rules: list[str] | None = None,
        rule_tolerance: float = 0.0,
        *,
        guard: str = "warn",
        max_synthetic_share: float = 0.0,
        max_depth: int | None = None,
        allow_synthetic: bool = False,
    ) -> SequenceSynthesizer:
        """Learn the sequences of ``data`` under ``schema``'s sequence spec (without one,
        ``data`` is a single series in row order); the contamination guard runs as in
        ``Synthesizer.fit``."""
        self._check_params()
        check_policy(guard, max_synthetic_share, max_depth)
        schema = _resolve_schema(data, schema)
        if rules or schema.rules:
            raise ParameterError(
                f"{type(self).__name__} does not keep rules yet; fit without 'rules' "
                "(or remove them from the schema)"
            )
        if not self.tags.handles_missing:
            _refuse_missing(type(self).__name__, data)
        self._trace_training_data(data, guard, max_synthetic_share, max_depth, allow_synthetic)
        rng = np.random.default_rng(self.seed)
        self.schema_, self.rules_ = schema, None
        self.layout_ = layout_of(data, schema)
        entities, events, lengths = split(data, self.layout_)
        times = None
        if self.layout_.spec.index is not None:
            gaps = events[GAP].to_numpy(dtype="float64")
            firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            offsets = np.repeat(np.cumsum(gaps)[firsts], lengths)
            times = np.repeat(entities[START].to_numpy(), lengths) + np.cumsum(gaps) - offsets
        self.static_model_ = None
        if not self.layout_.single:
            seed = int(rng.integers(2**62))
            model = _static_model(self.static_synthesizer, seed)
            self.static_model_ = model.fit(entities, _sub_schema(schema, entities), guard="off")
        event_schema = _sub_schema(schema, events)
        self.transformer_ = EventTransformer(event_schema, **self._transformer_options())
        self.transformer_.fit(events, rng)
        matrix = self.transformer_.transform(events, rng)
        self.n_training_rows_ = len(data)
        self.sequences_ = Sequences(entities, lengths, times)
        try:
            self._fit(matrix, rng)
        finally:
            del self.sequences_
        self.sample_rng_ = np.random.default_rng(rng.integers(2**63))
        return self

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The encoded events of ``n`` unconditioned entities (or ``n`` steps of one
        series); :meth:`sample` also keeps the entities, to assemble the table."""
        entities = self._draw_entities(n, rng, None, None)
        return self._sample_events(entities, _lengths(entities), rng)

    # ------------------------------------------------------------ sampling
    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: dict[str, Any] | None = None,
        start: Any = None,
        watermark: bool = False,
    ) -> pd.DataFrame:
        """``n`` entities with their events (or, for one series, ``n`` steps), in the
        training columns, order and dtypes.

        ``conditions`` fix or bound static columns (as in ``Synthesizer.sample``);
        ``start`` is the first time or step of a single series (default: the training
        series' first). Sequences carry no watermark yet (``watermark`` is accepted and
        ignored, and ``ouro detect`` says it cannot test a table whose record names a
        sequence generator); the table carries its lineage record as every sample does.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ParameterError(f"parameter 'n' must be a positive integer; got {n!r}")
        n = int(n)
        rng = self.sample_rng_ if seed is None else np.random.default_rng(seed)
        entities = self._draw_entities(n, rng, conditions, start)
        lengths = _lengths(entities)
        matrix = self._sample_events(entities, lengths, rng)
        events = self.transformer_.inverse_transform(matrix, rng)
        table = assemble(self.layout_, entities, events, lengths)
        return attach_lineage(self, table, seed, watermark_key_id=None)

    def _draw_entities(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: dict[str, Any] | None,
        start: Any,
    ) -> pd.DataFrame:
        """The static rows, lengths and first times of ``n`` entities (one row holding
        ``n`` and ``start`` for a single series)."""
        layout = self.layout_
        if layout.single:
            if conditions:
                raise ConditionError(
                    f"conditions {sorted(conditions)}: one series has no static columns to "
                    "condition on; give the table a sequence key"
                )
            entities = pd.DataFrame({LENGTH: [n]})
            if layout.spec.index is not None:
                entities[START] = [self._start_seconds(start)]
        else:
            if start is not None:
                raise ParameterError(
                    "parameter 'start' sets the first time of a single series; entities draw "
                    "their own first times"
                )
            self._check_conditions(conditions or {})
            seed_static = int(rng.integers(2**62))
            entities = self.static_model_.sample(
                n, seed=seed_static, conditions=conditions, watermark=False
            )
        return entities

    @abstractmethod
    def _sample_events(
        self, entities: pd.DataFrame, lengths: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The encoded events of every entity, in order: ``(lengths.sum(), output_dim)``."""

    def _check_conditions(self, conditions: dict[str, Any]) -> None:
        wrong = [c for c in conditions if c not in self.layout_.spec.static]
        if wrong:
            raise ConditionError(
                f"conditions on {wrong}: sequence generators condition on static columns "
                f"{self.layout_.spec.static}; events follow from them"
            )

    def _start_seconds(self, start: Any) -> float:
        if start is None:
            return self.layout_.first_start
        if self.layout_.index_kind == "datetime":
            try:
                stamp = pd.Timestamp(start)
            except (ValueError, TypeError) as exc:
                raise ParameterError(
                    f"parameter 'start' must be a timestamp; got {start!r}"
                ) from exc
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            return float((stamp - pd.Timestamp(0)) / pd.Timedelta(seconds=1))
        if isinstance(start, bool) or not isinstance(start, (int, float, np.number)):
            raise ParameterError(
                f"parameter 'start' must be a number (the first step); got {start!r}"
            )
        return float(start)

    # ------------------------------------------------------------ persistence
    def _load_transformer(self, state: dict[str, Any], schema: Schema) -> TableTransformer:
        return EventTransformer.from_state(state, Schema.from_dict(state["event_schema"]))

    def _get_state(self) -> dict[str, Any]:
        static = None if self.static_model_ is None else model_tree(self.static_model_)
        return {"layout": self.layout_.to_state(), "static": static, "events": self._event_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.layout_ = Layout.from_state(state["layout"])
        static = state.get("static")
        self.static_model_ = None if static is None else model_from_tree(static)
        self._set_event_state(state["events"])

    @abstractmethod
    def _event_state(self) -> dict[str, Any]:
        """The event model's state for the model file (arrays and JSON-able values)."""

    @abstractmethod
    def _set_event_state(self, state: dict[str, Any]) -> None:
        """Restore the event model from :meth:`_event_state`'s output."""

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["sequence"] = {**self.layout_.spec.to_dict(), "entities": self.layout_.n_entities}
        return out


def _static_model(name: str, seed: int) -> Synthesizer:
    from ouroboros.synthesizers.registry import create

    return create(name, seed=seed)


def _sub_schema(schema: Schema, table: pd.DataFrame) -> Schema:
    """The schema of a derived table: the training kinds of its columns, detected
    statistics for the columns the split added."""
    columns = []
    for name in table.columns:
        if name in schema:
            columns.append(schema[name])
        else:
            columns.append(detect_column(table[name]))
    sub = Schema(columns=columns, n_rows=len(table))
    return sub.conform(table) if len(table) else sub


def model_tree(model: Synthesizer) -> dict[str, Any]:
    """A fitted generator as one JSON-and-arrays tree (what ``save`` writes to a file)."""
    return {
        "class": model.name,
        "params": model.get_params(),
        "schema": model.schema_.to_dict(),
        "n_training_rows": model.n_training_rows_,
        "transformer": model.transformer_.to_state(),
        "model": model._get_state(),
        "sample_rng": model.sample_rng_.bit_generator.state,
    }


def model_from_tree(tree: dict[str, Any]) -> Synthesizer:
    """Inverse of :func:`model_tree`; the class comes from the registry only."""
    from ouroboros.synthesizers.registry import get

    name = tree["class"]
    if name not in STATIC_SYNTHESIZERS:
        raise ModelFileError(
            f"the entity model's class {name!r} is not one of {STATIC_SYNTHESIZERS}"
        )
    model = get(name)(**tree["params"])
    model.schema_ = Schema.from_dict(tree["schema"])
    model.rules_ = None
    model.transformer_ = model._load_transformer(tree["transformer"], model.schema_)
    model.n_training_rows_ = int(tree["n_training_rows"])
    model._set_state(tree["model"])
    model.sample_rng_ = np.random.default_rng()
    model.sample_rng_.bit_generator.state = tree["sample_rng"]
    return model


def _lengths(entities: pd.DataFrame) -> np.ndarray:
    """Each entity's number of events (at least one)."""
    return np.clip(entities[LENGTH].to_numpy(dtype=np.int64), 1, None)
