"""Grids of collapse experiments declared in one TOML file, run on any runner, kept in the store.

A sweep crosses datasets × synthesizers; each cell is a
:class:`~ouroboros.collapse.CollapseExperiment` over the sweep's strategies × seeds.
The trajectories of every cell go to the runner as one batch
(:mod:`~ouroboros.sweep.batching`), so a cluster is kept busy across cells; each cell
writes a result folder and becomes a run in the store (metrics, provenance, artifacts),
grouped under one run for the sweep (:mod:`~ouroboros.sweep.run`). The file is
validated by :mod:`~ouroboros.sweep.config`.

.. code-block:: toml

    name = "adult-grid"
    generations = 5
    seeds = 3                      # or [0, 1, 2]
    strategies = ["replace", "accumulate", "mix:0.2"]
    holdout = 0.3                  # fraction of each dataset kept out for evaluation
    reports = true                 # an HTML report per cell (default)
    metrics = ["tv_complement", "detection_auc"]   # optional (default: the lab's set)

    [[datasets]]
    name = "adult"
    path = "data/adult.csv.gz"     # relative to this file; or: builtin = "adult"
    target = "income"              # optional
    rows = 5000                    # optional: a random sample of the rows
    drop = ["split"]               # optional: columns to leave out

    [[synthesizers]]
    name = "gaussian_copula"

    [[synthesizers]]
    name = "ctgan"
    label = "ctgan-small"          # optional, to tell apart two uses of one generator
    params = { epochs = 20 }
    gpus = 0.25                    # optional: what each trajectory asks the runner for

    [runner]                       # optional; the command line overrides it
    name = "ray"
    address = "auto"
"""

from ouroboros.sweep.config import Cell, Constraint, DatasetSpec, SweepConfig, SynthesizerSpec
from ouroboros.sweep.run import SweepResult, run_sweep

__all__ = [
    "Cell",
    "Constraint",
    "DatasetSpec",
    "SweepConfig",
    "SweepResult",
    "SynthesizerSpec",
    "run_sweep",
]
