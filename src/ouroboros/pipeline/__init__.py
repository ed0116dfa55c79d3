"""From real data to a published synthetic table with one config, every step cached.

``ouroboros.pipeline.run("pipeline.toml")`` (or ``ouro pipeline run``) runs source →
schema → fit → sample → evaluate → gate → publish. Each step's output is
content-addressed in a cache folder beside the config (:mod:`~ouroboros.pipeline.cache`):
the same config again does no work, a changed generator refits without re-reading the
source, a killed run resumes without repeating a finished step, and a corrupted entry is
recomputed, never used. The gate (:mod:`~ouroboros.pipeline.gate`) publishes only when
every threshold holds; the HTML report is written either way.

.. code-block:: toml

    [source]
    path = "data.csv"          # or a Parquet file, or: builtin = "adult"
    holdout = 0.2              # kept aside for the ceilings; or holdout_path = "..."
    target = "y"               # optional, for utility
    [generator]
    name = "gaussian_copula"
    seed = 0
    params = {}
    [sample]
    rows = 10000               # default: as many as the training rows
    [evaluate]                 # optional
    metrics = ["tv_complement", "detection_auc", "exact_copy_rate"]
    [gate]                     # metric, scorecard category or count = threshold
    detection_auc = "<= 0.9"
    exact_copies = "<= 0"
    [adapt]                    # optional: on a failed gate, try corrected settings
    max_attempts = 3
    correct = "importance:1"   # optional: first correct the same model's sample
    [publish]
    path = "out/synthetic.parquet"
    report = "out/report.html" # default: beside path
"""

from ouroboros.pipeline.config import CACHE_FOLDER, PipelineConfig, PipelineConfigError
from ouroboros.pipeline.run import GATE_FAILED, PipelineResult, StepOutcome, run, status

__all__ = [
    "CACHE_FOLDER",
    "GATE_FAILED",
    "PipelineConfig",
    "PipelineConfigError",
    "PipelineResult",
    "StepOutcome",
    "run",
    "status",
]
