"""Where the peer libraries (SDV, SDMetrics) live for benchmarks: never in the project.

They are installed in a separate virtual environment, ``bench/.venv-sdv`` by
default (``make bench-env`` creates it), or the interpreter named by the
environment variable ``OURO_BENCH_PYTHON``. Benchmarks run them as subprocesses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SHARED_DATASETS = BENCH.parent.parent / "shared" / "datasets"


def peer_python() -> str:
    """Path of the interpreter that has SDV and SDMetrics installed."""
    explicit = os.environ.get("OURO_BENCH_PYTHON")
    if explicit:
        return explicit
    default = BENCH / ".venv-sdv" / "bin" / "python"
    if not default.exists():
        sys.exit(
            "the peer environment is missing: run `make bench-env` (or set OURO_BENCH_PYTHON "
            "to a Python that has sdv and sdmetrics installed)"
        )
    return str(default)
