"""The default runner: the calling process, or a pool of local worker processes."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ouroboros.errors import check_param
from ouroboros.runners.base import Runner, Task, TaskResult, call_task, check_tasks


def _context() -> multiprocessing.context.BaseContext:
    # Workers import torch; forking a process that may hold threads or a CUDA
    # context is unsafe, so start them fresh.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class LocalRunner(Runner):
    """Run tasks in this process (``workers=1``) or in a pool of worker processes.

    With one worker, tasks run one after the other in the calling process: no
    pickling, and a debugger or profiler sees everything. With more, at most
    ``workers`` tasks run at once, each in a fresh process. A task that raises is
    retried up to ``max_retries`` times. When a worker process dies (killed, out of
    memory) the pool cannot tell which task it ran, so every task running at that
    moment is charged one attempt and retried in a new pool while attempts remain.
    """

    def __init__(self, workers: int = 1, max_retries: int = 0):
        self.workers = workers
        self.max_retries = max_retries

    def _validate(self) -> None:
        check_param(
            "workers",
            self.workers,
            isinstance(self.workers, int) and self.workers >= 1,
            "an integer >= 1",
        )
        check_param(
            "max_retries",
            self.max_retries,
            isinstance(self.max_retries, int) and self.max_retries >= 0,
            "an integer >= 0",
        )

    def run(self, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        """Run ``tasks`` and yield each result as it finishes."""
        self._validate()
        tasks = check_tasks(tasks, importable=self.workers > 1)
        if self.workers == 1:
            return self._run_inline(tasks)
        return self._run_pool(tasks)

    def _run_inline(self, tasks: list[Task]) -> Iterator[TaskResult]:
        for task in tasks:
            for attempt in range(1, self.max_retries + 2):
                ok, value = call_task(task.fn, task.kwargs)
                if ok:
                    yield TaskResult(task.key, value=value, attempts=attempt)
                    break
            else:
                yield TaskResult(task.key, error=value, attempts=attempt)

    def _run_pool(self, tasks: list[Task]) -> Iterator[TaskResult]:
        queue = deque(tasks)
        attempts = {task.key: 0 for task in tasks}
        running: dict[Future, Task] = {}
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
        try:
            while queue or running:
                # Submit only as many tasks as there are workers, so that a dying
                # worker takes down no more than the tasks actually running.
                while queue and len(running) < self.workers:
                    task = queue.popleft()
                    attempts[task.key] += 1
                    try:
                        future = pool.submit(call_task, task.fn, task.kwargs)
                    except BrokenProcessPool:
                        attempts[task.key] -= 1
                        queue.appendleft(task)
                        break
                    running[future] = task
                if not running:
                    pool.shutdown(wait=True)
                    pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    # Every future of a broken pool fails; collect them all at once.
                    done, _ = wait(running)
                    pool.shutdown(wait=True)
                    pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
                for future in done:
                    task = running.pop(future)
                    ok, value = _outcome(future, task)
                    n = attempts[task.key]
                    if ok:
                        yield TaskResult(task.key, value=value, attempts=n)
                    elif n <= self.max_retries:
                        queue.appendleft(task)
                    else:
                        yield TaskResult(task.key, error=value, attempts=n)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _outcome(future: Future, task: Task) -> tuple[bool, object]:
    """``(ok, value or error text)`` of a finished pool future."""
    try:
        return future.result()
    except BrokenProcessPool:
        return False, f"the worker process running task {task.key!r} died"
    except Exception as exc:  # e.g. a return value that cannot be pickled
        return False, f"{type(exc).__name__}: {exc}"
