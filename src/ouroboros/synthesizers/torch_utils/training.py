"""The training loop the neural generators share: settings, batches, held-out rows,
early stopping, time budget, history and progress bar."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ouroboros.errors import ParameterError
from ouroboros.synthesizers.torch_utils.device import adapt_threads

#: rows pushed through a network at once when sampling or scoring (bounds memory)
CHUNK = 16_384


@dataclass(frozen=True, kw_only=True)
class LoopSettings:
    """How long and how to train (built by ``NeuralSynthesizer._loop_settings``)."""

    epochs: int
    batch_size: int
    time_budget: float | None
    early_stopping: bool
    patience: int
    verbose: bool
    description: str


@dataclass
class History:
    """Per-epoch means of every loss, the held-out signal, and why training stopped."""

    values: dict[str, list] = field(default_factory=dict)
    stopped: str = "epochs"
    best_epoch: int = -1
    seconds: float = 0.0

    def add(self, key: str, value) -> None:
        self.values.setdefault(key, []).append(value)

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in self.values.items()}
        out["_stopped"] = self.stopped
        out["_best_epoch"] = self.best_epoch
        out["_seconds"] = self.seconds
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> History:
        values = {k: np.asarray(v).tolist() for k, v in state.items() if not k.startswith("_")}
        return cls(
            values,
            str(state.get("_stopped", "epochs")),
            int(state.get("_best_epoch", -1)),
            float(state.get("_seconds", 0.0)),
        )


def split_validation(
    n: int, fraction: float, enabled: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and, when early stopping is on, a held-out set."""
    rows = np.arange(n)
    if not enabled or n < 20:
        return rows, rows[:0]
    order = rng.permutation(n)
    held = max(int(round(n * fraction)), 1)
    return np.sort(order[held:]), np.sort(order[:held])


def batches(
    n: int, batch_size: int, generator: torch.Generator, device, multiple: int = 1
) -> Iterator[torch.Tensor]:
    """Shuffled row indices for one epoch, in full batches (a multiple of ``multiple``)."""
    size = min(batch_size, n) // multiple * multiple
    if size < multiple:
        raise ParameterError(
            f"parameter 'batch_size' gives batches of {size} rows; at least {multiple} needed"
        )
    order = torch.randperm(n, generator=generator, device=device)
    for k in range(max(n // size, 1)):
        yield order[k * size : (k + 1) * size]


def train(
    settings: LoopSettings,
    epoch: Callable[[], Iterator[dict[str, float]]],
    modules: Sequence[nn.Module],
    validate: Callable[[], float] | None = None,
    extra: Callable[[History], None] | None = None,
) -> History:
    """Run ``epoch()`` (a generator of per-step loss dicts) until ``epochs``, the time budget,
    or ``patience`` epochs without a better held-out ``validate()`` (lower is better; the best
    weights are restored). ``extra(history)`` records per-epoch values of a model's own."""
    history = History()
    start = time.perf_counter()
    best, best_state, waited = float("inf"), None, 0
    with _progress(settings) as (progress, task):
        for number in range(settings.epochs):
            sums: dict[str, float] = {}
            steps = 0
            out_of_time = False
            for losses in epoch():
                steps += 1
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value
                if settings.time_budget is not None and (
                    time.perf_counter() - start >= settings.time_budget
                ):
                    out_of_time = True
                    break
            for key, value in sums.items():
                history.add(key, value / max(steps, 1))
            if extra is not None:
                extra(history)
            adapt_threads()
            message = "  ".join(f"{k} {v / max(steps, 1):.4f}" for k, v in sums.items())
            if validate is not None:
                score = float(validate())
                history.add("validation", score)
                message += f"  val {score:.4f}"
                if score < best:
                    best, waited, history.best_epoch = score, 0, number
                    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
                else:
                    waited += 1
            if progress is not None:
                progress.update(task, advance=1, info=message)
            if out_of_time:
                history.stopped = "time_budget"
                break
            if validate is not None and waited >= settings.patience:
                history.stopped = "early_stopping"
                break
    if best_state is not None:
        for module, state in zip(modules, best_state, strict=True):
            module.load_state_dict(state)
    history.seconds = time.perf_counter() - start
    return history


@contextmanager
def _progress(settings: LoopSettings):
    if not settings.verbose:
        yield None, None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(settings.description, total=settings.epochs, info="")
        yield progress, task


def in_chunks(n: int, chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` pairs covering ``range(n)``."""
    for start in range(0, n, chunk):
        yield start, min(start + chunk, n)
