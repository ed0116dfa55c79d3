"""The collapse lab: recursive training on synthetic data, measured generation by generation.

- :class:`CollapseExperiment` runs a generator through generations of training on data
  built by a strategy, evaluates each generation against real holdout rows, and
  checkpoints every generation so that an interrupted run resumes.
- :mod:`~ouroboros.collapse.strategies` holds the strategies (``replace``,
  ``accumulate``, ``accumulate-subsample``, ``mix:λ``, ``fresh:λ``, ``curate``, ``anchor:λ``).
- :mod:`~ouroboros.collapse.correctors` correct synthetic training rows (``replace+real:1``);
  :mod:`~ouroboros.collapse.adaptive` holds ``adaptive:B``, which measures drift and sets
  each generation's real share, accumulation and correction within a real-row budget.
- :mod:`~ouroboros.collapse.reference` simulates the models the theory covers exactly,
  each strategy through its own numpy twin.

Vocabulary: a *strategy* is a :class:`~ouroboros.collapse.strategies.Strategy` object;
its *spec* (``"mix:0.2"``) is its text form in files and on the command line, and the
label of the ``strategy`` column of every result table.
"""

from ouroboros.collapse import adaptive, correctors, reference, strategies
from ouroboros.collapse.experiment import CollapseExperiment, default_metrics
from ouroboros.collapse.plan import Plan
from ouroboros.collapse.records import GenerationRecord, Score
from ouroboros.collapse.result import CollapseResult
from ouroboros.collapse.trajectory import run_trajectory

__all__ = [
    "CollapseExperiment",
    "CollapseResult",
    "GenerationRecord",
    "Plan",
    "Score",
    "adaptive",
    "correctors",
    "default_metrics",
    "reference",
    "run_trajectory",
    "strategies",
]
