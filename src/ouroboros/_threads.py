"""Fan numpy work that releases the GIL out over the machine's cores, reproducibly, and
tell how many cores other processes leave free.

Each task gets its own child generator, drawn from the caller's generator before any
task runs, so results never depend on the number of threads or on their timing.
"""

from __future__ import annotations

import os
import time
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
    one item; BLAS is kept to one thread meanwhile (whatever the number of threads), so that
    the cores are not oversubscribed and the results do not depend on the core count."""
    if not parallel or len(items) < 2:
        return [fn(x) for x in items]
    threads = min(len(items), cores())
    # one BLAS thread whatever the pool's size: a multi-threaded BLAS sums in another order,
    # and a last-bit difference can flip a row's fate (a bound, a rule), so the rows would
    # depend on the number of cores
    with threadpool_limits(1):
        if threads == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(fn, items))


class CpuShare:
    """How many of this process's cores other processes leave free, read from the
    kernel's counters: the machine's busy time (``/proc/stat``) less this process's own
    CPU time, over the window since the last reading. Where ``/proc/stat`` is missing
    (not Linux), every core counts as free."""

    def __init__(self) -> None:
        self._last = self._reading()

    @staticmethod
    def _reading() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [float(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        return time.monotonic(), busy, time.process_time()

    def free_cores(self) -> int:
        """Cores (at least one) that others did not use since the last call."""
        total = cores()
        now, last = self._reading(), self._last
        self._last = now
        if now is None or last is None or now[0] - last[0] < 0.02:
            return total
        wall = now[0] - last[0]
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / wall
        return max(1, min(total, int(total - others + 0.5)))
