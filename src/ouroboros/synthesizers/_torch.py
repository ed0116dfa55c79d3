"""Shared pieces of the neural generators: device, seeding, span layout, training loop.

Everything random goes through a per-instance :class:`torch.Generator` (batches, noise)
or through module construction under :func:`seeded`, which forks the global torch
state and restores it afterwards, so that fitting never changes anyone else's seeds.
"""

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

from ouroboros.errors import ConditionError, ParameterError
from ouroboros.transforms import OTHER

#: rows pushed through a network at once when sampling or scoring (bounds memory)
CHUNK = 16_384


# --------------------------------------------------------------------------- devices and seeds
def resolve_device(device: str) -> torch.device:
    """The torch device named by ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``
    or ``"auto"`` (a GPU when one is available, else the CPU)."""
    if not isinstance(device, str):
        raise ParameterError(f"parameter 'device' must be a string; got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ParameterError(
            f"parameter 'device' must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'; got {device!r}"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"parameter 'device' is {device!r} but torch sees no CUDA GPU; use 'cpu' or 'auto'"
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(f"parameter 'device' is {device!r} but MPS is not available")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"parameter 'device' must be cpu, cuda or mps; got {device!r}")
    return resolved


def torch_generator(rng: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from the instance's numpy generator."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(2**62)))
    return generator


@contextmanager
def seeded(rng: np.random.Generator, device: torch.device) -> Iterator[None]:
    """Run a block (module construction, parametrisations) with the global torch random
    state seeded from ``rng``, restoring the caller's state afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(int(rng.integers(2**62)))
        yield


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads inside the block (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def dropout(x: torch.Tensor, p: float, generator: torch.Generator, training: bool) -> torch.Tensor:
    """Inverted dropout drawing its mask from ``generator`` (``nn.Dropout`` uses global state)."""
    if not training or p <= 0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1 - p)


def gumbel(shape: Sequence[int], generator: torch.Generator, device) -> torch.Tensor:
    """Standard Gumbel noise."""
    u = torch.rand(tuple(shape), generator=generator, device=device)
    return -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-7)))


# --------------------------------------------------------------------------- weights
class Average:
    """Exponential moving average of a module's weights (Polyak averaging), with the usual
    warm-up: the decay after ``k`` updates is ``min(decay, (1 + k) / (10 + k))``."""

    def __init__(self, module: nn.Module, decay: float):
        self.module = copy.deepcopy(module)
        self.decay = decay
        self.updates = 0
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        self.updates += 1
        rate = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for mine, theirs in zip(self.module.parameters(), source.parameters(), strict=True):
            mine.lerp_(theirs, rate)
        for mine, theirs in zip(self.module.buffers(), source.buffers(), strict=True):
            mine.copy_(theirs)


def module_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as numpy arrays (for the JSON + npz model file)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_module_arrays(module: nn.Module, arrays: dict[str, Any]) -> None:
    """Load arrays written by :func:`module_arrays` (shapes and names must match)."""
    device = next(iter(module.state_dict().values())).device
    state = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in arrays.items()}
    module.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------- spans
class SpanLayout:
    """Index tensors that let a network treat every span of the matrix at once.

    Scalars are grouped by activation (``tanh``/``linear``). The one-hot blocks (softmax
    spans) form one flat group of columns, each tagged with its block, so that softmax,
    sampling and cross-entropy over every block are a few segment operations whose cost
    is the total one-hot width: nothing is padded to the widest block, so memory stays
    proportional to the matrix whatever the mix of block widths.
    """

    def __init__(self, output_info, device: torch.device | str = "cpu"):
        tanh, linear, onehot, segment, widths = [], [], [], [], []
        position = 0
        self.block_columns: list[str] = []
        self.block_kinds: list[str] = []
        for span in output_info:
            columns = range(position, position + span.width)
            if span.activation == "softmax":
                onehot.extend(columns)
                segment.extend([len(widths)] * span.width)
                widths.append(span.width)
                self.block_columns.append(span.column)
                self.block_kinds.append(span.kind)
            elif span.activation == "tanh":
                tanh.extend(columns)
            elif span.activation == "linear":
                linear.extend(columns)
            else:
                raise ParameterError(f"unknown span activation {span.activation!r}")
            position += span.width
        self.dim = position
        self.device = torch.device(device)
        self.n_blocks = len(widths)

        def index(values) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.int64), device=self.device)

        self.tanh, self.linear, self.onehot = index(tanh), index(linear), index(onehot)
        self.segment = index(segment)
        self.widths = index(widths)
        self.flat_start = torch.cumsum(self.widths, 0) - self.widths
        self.flat_width = self.widths[self.segment].float()
        order = np.concatenate([tanh, linear, onehot]).astype(np.int64)
        inverse = np.empty(self.dim, dtype=np.int64)
        inverse[order] = np.arange(self.dim)
        self.inverse_order = index(inverse)

    def flat(self, matrix: torch.Tensor) -> torch.Tensor:
        """The one-hot columns of ``matrix``, ``(n, total one-hot width)``."""
        return matrix[:, self.onehot]

    def segment_sum(self, flat: torch.Tensor) -> torch.Tensor:
        """Sum over each block, ``(n, blocks)``."""
        return flat.new_zeros((len(flat), self.n_blocks)).index_add_(1, self.segment, flat)

    def segment_max(self, flat: torch.Tensor) -> torch.Tensor:
        """Maximum over each block, ``(n, blocks)`` (no gradient)."""
        flat = flat.detach()
        out = flat.new_full((len(flat), self.n_blocks), float("-inf"))
        return out.scatter_reduce_(1, self.segment.expand_as(flat), flat, "amax")

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax of flat logits within each block."""
        shifted = logits - self.segment_max(logits)[:, self.segment]
        return shifted - torch.log(self.segment_sum(torch.exp(shifted)))[:, self.segment]

    def softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax of flat logits within each block."""
        exp = torch.exp(logits - self.segment_max(logits)[:, self.segment])
        return exp / self.segment_sum(exp)[:, self.segment]

    def draw(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A one-hot draw per block from the softmax of flat logits (Gumbel-max)."""
        noisy = logits + gumbel(logits.shape, generator, logits.device)
        return (noisy == self.segment_max(noisy)[:, self.segment]).to(logits.dtype)

    def assemble(
        self, tanh: torch.Tensor, linear: torch.Tensor, flat: torch.Tensor
    ) -> torch.Tensor:
        """Inverse of the grouping: matrix columns in their original order."""
        return torch.cat([tanh, linear, flat], dim=1)[:, self.inverse_order]

    def activate(
        self,
        raw: torch.Tensor,
        *,
        tau: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """tanh on tanh scalars, identity on linear ones, softmax on blocks (Gumbel-softmax
        with temperature ``tau`` when given, as CTGAN's generator does)."""
        logits = self.flat(raw)
        if tau is not None:
            logits = (logits + gumbel(logits.shape, generator, raw.device)) / tau
        return self.assemble(
            torch.tanh(raw[:, self.tanh]), raw[:, self.linear], self.softmax(logits)
        )

    def cross_entropy(self, raw: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every block's logits in ``raw`` against the one-hot entries of
        ``data``, ``(n, blocks)``."""
        return -self.segment_sum(self.flat(data) * self.log_softmax(self.flat(raw)))


# --------------------------------------------------------------------------- conditions
def discrete_conditions(
    transformer, conditions: dict[str, Any], predicates: dict[str, Callable]
) -> tuple[dict[str, int], dict[str, Any]]:
    """Block positions to impose for conditions on one-hot columns, and the pooled values.

    A training value pooled into "other" is imposed as "other"; its predicate becomes
    "drew a pooled value" (``predicates`` is updated) and :func:`fill_pooled` then writes
    the value into the kept rows. This is exact for the model, which draws the value
    inside the pool by training frequency, independently of everything else.
    """
    positions, pooled = {}, {}
    discrete = set(transformer.discrete_columns())
    for column, value in conditions.items():
        if column not in discrete:
            continue
        try:
            positions[column] = transformer.encode_condition(column, value)
        except ConditionError:
            _, _, categories = transformer.category_block(column)
            if not categories or categories[-1] is not OTHER:
                raise
            positions[column] = len(categories) - 1
            pooled[column] = value
            kept = [c for c in categories[:-1] if c is not None]
            predicates[column] = lambda values, kept=kept: (
                ~(values.isna() | values.isin(kept)).to_numpy()
            )
    return positions, pooled


def fill_pooled(table, pooled: dict[str, Any]):
    """Write each pooled condition value into its column, keeping the dtype."""
    import pandas as pd

    for column, value in pooled.items():
        table[column] = pd.array([value] * len(table), dtype=table[column].dtype)
    return table


# --------------------------------------------------------------------------- training loop
@dataclass
class LoopSettings:
    """How long and how to train: the generators' common hyper-parameters."""

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
