"""A collapse experiment after validation: every setting resolved, nothing trained yet."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ouroboros.collapse.strategies import Strategy
from ouroboros.collapse.units import ROWS, Units
from ouroboros.schema import Schema

FORMAT = "ouroboros-collapse"


@dataclass(frozen=True, eq=False)
class Plan:
    """What :meth:`~ouroboros.collapse.CollapseExperiment.run` will do.

    ``synthesizer`` is ``{"cls": class or registry name, "params": {...}}``; ``train``
    and ``holdout`` the real rows to train on and to evaluate against; ``schema`` the
    training table's :meth:`~ouroboros.schema.Schema.to_dict`; ``sample_size`` the
    training units per generation (rows; whole entities of a keyed sequence table; steps
    of one series: :mod:`ouroboros.collapse.units`).
    """

    synthesizer: dict[str, Any]
    strategies: tuple[Strategy, ...]
    seeds: tuple[int, ...]
    generations: int
    sample_size: int
    metrics: tuple[str, ...]
    target: str | None
    train: pd.DataFrame
    holdout: pd.DataFrame
    schema: dict[str, Any]

    def config(self) -> dict[str, Any]:
        """The JSON-ready settings stored with the checkpoints and the results."""
        cls = self.synthesizer["cls"]
        name = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        params = json.loads(json.dumps(self.synthesizer["params"], default=repr))
        unit = Units.of(Schema.from_dict(self.schema)).kind
        return {
            "format": FORMAT,
            "format_version": 1,
            "synthesizer": {"name": name, "params": params},
            "strategies": [s.spec for s in self.strategies],
            "citations": {s.spec: s.citation for s in self.strategies},
            "seeds": list(self.seeds),
            "generations": self.generations,
            "sample_size": self.sample_size,
            "unit": unit,
            "metrics": list(self.metrics),
            "target": self.target,
            "train_rows": len(self.train),
            "holdout_rows": len(self.holdout),
            "data": {"train": _fingerprint(self.train), "holdout": _fingerprint(self.holdout)},
            # the reference models draw rows: a sequence run gets no theory curve
            "categorical_frequencies": {
                c["name"]: c["frequencies"]
                for c in self.schema["columns"]
                if c.get("kind") == "categorical" and c.get("frequencies") and unit == ROWS
            },
        }


def _fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode()
    )
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
