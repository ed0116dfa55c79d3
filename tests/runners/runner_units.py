"""Small module-level units for the runner tests (worker processes import this module)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ouroboros.io import atomic_write_text

NODE_ENV = "OURO_TEST_NODE"


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def exit_now() -> None:
    raise SystemExit(3)


def fail_until(marker_dir: str, failures: int) -> int:
    """Raise on the first ``failures`` calls (counted with files), then return the call count."""
    folder = Path(marker_dir)
    calls = len(list(folder.glob("call-*"))) + 1
    (folder / f"call-{calls}").touch()
    if calls <= failures:
        raise RuntimeError(f"planned failure {calls} of {failures}")
    return calls


def die_once(marker: str) -> str:
    """Kill the worker process the first time (no exception, no cleanup), succeed after."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        os._exit(1)
    return "survived"


def die_always() -> None:
    os._exit(1)


def stepper(
    checkpoint_dir: str, seed: int, steps: int, sleep: float = 0.0, log: str | None = None
) -> float:
    """``steps`` seeded draws, one checkpoint file per step; resumes from the files found.

    Each step done (not skipped) appends ``key step node pid`` to ``log`` after its
    checkpoint is written, so a test can see which steps ran twice and where.
    """
    folder = Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for step in range(steps):
        path = folder / f"step-{step:03d}.json"
        if path.exists():
            value = json.loads(path.read_text())["value"]
        else:
            value = float(np.random.default_rng([seed, step]).normal())
            time.sleep(sleep)
            atomic_write_text(path, json.dumps({"value": value}))
            if log is not None:
                line = f"{folder.name} {step} {os.environ.get(NODE_ENV, '-')} {os.getpid()}\n"
                fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
        total += value
    return total
