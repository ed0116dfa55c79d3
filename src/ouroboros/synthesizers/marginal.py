"""Base of the marginal-based differentially private generators (``mst``, ``aim``).

They share one shape (McKenna et al. 2021, "Winning the NIST Contest: A scalable and
general approach to differentially private synthetic data"): settle a private schema,
discretise, select and measure noisy marginals under zCDP, estimate a graphical model
consistent with them (:mod:`ouroboros.synthesizers.pgm`), sample from it. Subclasses
only select and measure. The whole fit reads the data through the budget: the schema
statistics (public, or measured with ``schema_share`` of it), the marginals, and the
row count (estimated from the noisy marginals, never counted). Sampling and saving
spend nothing: they only post-process what was released.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.errors import ParameterError
from ouroboros.lineage.record import real_record
from ouroboros.privacy import PrivacyBudget, resolve_fit
from ouroboros.privacy.accounting import gaussian_rho
from ouroboros.schema import Schema
from ouroboros.synthesizers.base import Synthesizer, Tags
from ouroboros.synthesizers.discretise import Discretiser
from ouroboros.synthesizers.params import Integer, Number, Param
from ouroboros.synthesizers.pgm import (
    GraphicalModel,
    JunctionTree,
    Measurement,
    cells,
    coarsen,
)

#: the content hash recorded for a private training table
WITHHELD = "withheld (differential privacy)"


class MarginalSynthesizer(Synthesizer):
    """Select-measure-generate under zCDP; subclasses implement :meth:`_measure_all`."""

    tags: ClassVar[Tags] = Tags(conditioning="rejection", differential_privacy=True)
    mechanism: ClassVar[str] = ""
    #: how the budget is accounted (the ledger composes zCDP releases in rho)
    accountant: ClassVar[str] = "zCDP"
    parameters: ClassVar[dict[str, Param]] = {
        "epsilon": Param(1.0, Number(0.0, closed="neither")),
        "delta": Param(1e-6, Number(0.0, 1.0, closed="neither")),
        "schema_share": Param(None, Number(0.0, 0.5, closed="high", optional=True)),
        "bins": Param(32, Integer(minimum=2)),
        "iterations": Param(1000, Integer(minimum=1)),
    }

    def fit(
        self,
        data: pd.DataFrame,
        schema: Schema | dict | str | os.PathLike | None = None,
        rules: list[str] | None = None,
        rule_tolerance: float = 0.0,
    ) -> MarginalSynthesizer:
        """Fit under (epsilon, delta)-DP. ``schema`` is taken as public knowledge as it is
        (never re-measured); what it lacks is measured with ``schema_share`` of the
        budget, or refused when ``schema_share`` is None."""
        self._check_params()
        schema = _as_schema(schema)
        private, rng = resolve_fit(
            data,
            schema,
            rules,
            owner=type(self).__name__,
            epsilon=self.epsilon,
            delta=self.delta,
            schema_share=self.schema_share,
            seed=self.seed,
        )
        self.budget_: PrivacyBudget = private.budget
        self.schema_ = private.schema
        self.rules_ = None
        measured = {n for n, s in private.sources.items() if s == "measured"}
        self.transformer_ = Discretiser.from_schema(private.schema, data, int(self.bins), measured)
        self._fit(self.transformer_.encode(data), rng)
        self.n_training_rows_ = int(round(self.model_.total))
        # the private table's content hash and exact size stay out of the model file: with
        # all rows but one known, a hash would test membership of the last
        self.training_lineage_ = real_record(
            WITHHELD, self.n_training_rows_, self.schema_.names
        ).to_dict()
        self.epsilon_spent_ = float(self.budget_.epsilon_spent())
        self.privacy_ = self._privacy_record()
        self.sample_rng_ = np.random.default_rng(rng.integers(2**63))
        return self

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        sizes = self.transformer_.sizes
        self.model_ = self._measure_all(matrix, sizes, rng)

    @abstractmethod
    def _measure_all(
        self, codes: np.ndarray, sizes: tuple[int, ...], rng: np.random.Generator
    ) -> GraphicalModel:
        """Select and measure marginals of ``codes`` within ``self.budget_``'s model part,
        and return the estimated model."""

    # ------------------------------------------------------------ measuring
    def _measure(
        self,
        codes: np.ndarray,
        sizes: tuple[int, ...],
        clique: tuple[int, ...],
        sigma: float,
        rng: np.random.Generator,
        groups: tuple[np.ndarray | None, ...] | None = None,
    ) -> Measurement:
        """The Gaussian mechanism on the marginal of ``clique`` (L2 sensitivity 1: one row
        adds or removes one count), at the resolution of ``groups`` (see
        :class:`~ouroboros.synthesizers.pgm.Measurement`), recorded in the budget."""
        counts = coarsen(marginal_counts(codes, sizes, clique), groups)
        noisy = counts + rng.normal(0.0, sigma, counts.shape)
        names = [self.transformer_.names[a] for a in clique]
        self.budget_.spend(
            "model", "x".join(names), "Gaussian mechanism on a marginal",
            gaussian_rho(sigma), sigma=float(sigma), sensitivity=1.0, cells=int(counts.size),
        )  # fmt: skip
        return Measurement(clique, noisy, float(sigma), groups)

    def _privacy_record(self) -> dict[str, Any]:
        record = {
            "mechanism": self.mechanism,
            "neighbouring": "add or remove one row",
            "schema_sources": dict(self.schema_.extras.get("privacy", {}).get("sources", {})),
            "post_processing": "sampling, saving and evaluation spend no budget",
        }
        return {**record, **self.budget_.to_dict()}

    # ------------------------------------------------------------ sampling
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.model_.sample(n, rng)

    def describe(self) -> dict[str, Any]:
        """The base summary plus the privacy record (mechanism, budget, split, spends)."""
        return {**super().describe(), "privacy": self.privacy_}

    # ------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        tree = self.model_.tree
        return {
            "sizes": list(self.model_.sizes),
            "cliques": [list(c) for c in tree.cliques],
            "parent": list(tree.parent),
            "order": list(tree.order),
            "total": self.model_.total,
            "marginals": list(self.model_.marginals_),
            "privacy": self.privacy_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        sizes = tuple(int(s) for s in state["sizes"])
        cliques = [tuple(int(a) for a in c) for c in state["cliques"]]
        tree = JunctionTree(
            cliques, [int(p) for p in state["parent"]], [int(o) for o in state["order"]]
        )
        marginals = [np.asarray(m, dtype=np.float64) for m in state["marginals"]]
        for clique, table in zip(cliques, marginals, strict=True):
            if table.size != cells(clique, sizes):
                raise ValueError(f"clique {clique} table has {table.size} cells")
        self.model_ = GraphicalModel(
            sizes, tree, [np.zeros(0)] * len(cliques), float(state["total"])
        )
        self.model_.marginals_ = [
            m.reshape([sizes[a] for a in c]) for c, m in zip(cliques, marginals, strict=True)
        ]
        self.privacy_ = dict(state["privacy"])
        self.budget_ = PrivacyBudget.from_dict(self.privacy_)
        self.epsilon_spent_ = float(self.privacy_["epsilon_spent"])

    def _load_transformer(self, state: dict[str, Any], schema: Schema) -> Discretiser:
        return Discretiser.from_state(state)


def marginal_counts(
    codes: np.ndarray, sizes: tuple[int, ...], clique: tuple[int, ...]
) -> np.ndarray:
    """Exact counts of ``codes`` over ``clique``, shaped one axis per attribute."""
    shape = [sizes[a] for a in clique]
    flat = np.ravel_multi_index(tuple(codes[:, a] for a in clique), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(np.float64)


def _as_schema(schema: Any) -> Schema | None:
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, (str, os.PathLike)):
        return Schema.load(schema)
    if isinstance(schema, dict):
        return Schema.from_dict(schema)
    raise ParameterError(
        f"parameter 'schema' must be a Schema, a dict or a JSON path; got {type(schema).__name__}"
    )
