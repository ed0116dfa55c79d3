"""What one generation of a trajectory did: its record, kept as ``record.json`` in its checkpoint.

The JSON form (:meth:`GenerationRecord.to_dict`) is the checkpoint format: a resumed run
reads it back with :meth:`GenerationRecord.from_dict`, so its keys never change meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ouroboros.collapse.strategies import Source


@dataclass(frozen=True)
class Score:
    """One metric of one generation; ``ceiling`` is its real-vs-real value (None if unknown)."""

    metric: str
    category: str
    direction: str
    value: float | None
    ceiling: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "category": self.category,
            "direction": self.direction,
            "value": self.value,
            "ceiling": self.ceiling,
        }


@dataclass(frozen=True)
class GenerationRecord:
    """One generation of one (strategy, seed) trajectory.

    ``strategy`` is the strategy's spec (``"mix:0.2"``); ``status`` is ``"ok"`` or
    ``"failed"`` (with ``error``, its last line, and ``traceback``). ``provenance`` says
    where the training rows came from, ``info`` holds strategy diagnostics (curate's
    ``keep_rate``), ``seconds`` the time of each step, ``computed_by`` the host and process,
    ``decision`` an adaptive strategy's reasons in plain words.
    """

    generation: int
    strategy: str
    seed: int
    status: str = "ok"
    error: str | None = None
    traceback: str | None = None
    computed_by: str | None = None
    started: str | None = None
    train_rows: int | None = None
    provenance: tuple[Source, ...] = ()
    scores: tuple[Score, ...] = ()
    info: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    decision: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ceilings(self) -> dict[str, float | None]:
        """Metric -> real-vs-real ceiling."""
        return {score.metric: score.ceiling for score in self.scores}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form written to ``record.json``."""
        return {
            "generation": self.generation,
            "strategy": self.strategy,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "traceback": self.traceback,
            "computed_by": self.computed_by,
            "started": self.started,
            "train_rows": self.train_rows,
            "provenance": [{"generation": s.generation, "rows": s.rows} for s in self.provenance],
            "scores": [score.to_dict() for score in self.scores],
            "info": dict(self.info),
            "seconds": dict(self.seconds),
            "decision": self.decision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        """Read :meth:`to_dict`'s form (keys a failed generation never reached may be absent)."""
        return cls(
            generation=int(data["generation"]),
            strategy=str(data["strategy"]),
            seed=int(data["seed"]),
            status=data.get("status", "ok"),
            error=data.get("error"),
            traceback=data.get("traceback"),
            computed_by=data.get("computed_by"),
            started=data.get("started"),
            train_rows=data.get("train_rows"),
            provenance=tuple(
                Source(s["generation"], int(s["rows"])) for s in data.get("provenance") or ()
            ),
            scores=tuple(Score(**score) for score in data.get("scores") or ()),
            info={k: float(v) for k, v in (data.get("info") or {}).items()},
            seconds={k: float(v) for k, v in (data.get("seconds") or {}).items()},
            decision=data.get("decision"),
        )
