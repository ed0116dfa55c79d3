"""The collapse lab: recursive training on synthetic data, measured generation by generation.

- :class:`CollapseExperiment` runs a generator through generations of training on data
  built by a strategy, evaluates each generation against real holdout rows, and
  checkpoints every generation so that an interrupted run resumes.
- :mod:`~ouroboros.collapse.strategies` holds the strategies (``replace``,
  ``accumulate``, ``accumulate-subsample``, ``mix:λ``, ``fresh:λ``, ``curate``).
- :mod:`~ouroboros.collapse.reference` simulates the models the theory covers exactly.
"""

from ouroboros.collapse import reference, strategies
from ouroboros.collapse.experiment import CollapseExperiment, default_metrics
from ouroboros.collapse.result import CollapseResult
from ouroboros.collapse.trajectory import run_trajectory

__all__ = [
    "CollapseExperiment",
    "CollapseResult",
    "default_metrics",
    "reference",
    "run_trajectory",
    "strategies",
]
