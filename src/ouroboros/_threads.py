"""Fan numpy work that releases the GIL out over the machine's cores, reproducibly.

Each task gets its own child generator, drawn from the caller's generator before any
task runs, so results never depend on the number of threads or on their timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """Cores this process may use: those it may run on, capped by the BLAS thread limit in
    force, so that a caller limiting BLAS (``OMP_NUM_THREADS``, ``threadpool_limits``, the
    collapse lab's workers) limits these threads too."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        count = os.cpu_count() or 1
    limits = [pool["num_threads"] for pool in threadpool_info() if pool.get("num_threads")]
    return max(1, min([count, *limits]))


def child_rngs(rng: np.random.Generator, count: int) -> list[np.random.Generator]:
    """``count`` independent generators seeded from one draw of ``rng``."""
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(count)
    return [np.random.default_rng(s) for s in seeds]


def thread_map(fn: Callable[[T], R], items: Sequence[T], *, parallel: bool = True) -> list[R]:
    """``[fn(x) for x in items]``, on every core when ``parallel`` and there is more than
    one item; BLAS is kept to one thread meanwhile so that the cores are not oversubscribed."""
    threads = min(len(items), cores()) if parallel and len(items) > 1 else 1
    if threads == 1:
        return [fn(x) for x in items]
    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))
