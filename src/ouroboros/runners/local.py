"""The default runner: the calling process, or a pool of local worker processes."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ouroboros.errors import check_param
from ouroboros.runners.base import Runner, Task, TaskResult, call_task, check_tasks


def _context(tasks: list[Task]) -> multiprocessing.context.BaseContext:
    """A start method that never forks this process (it may hold threads or a CUDA context).

    With ``forkserver``, the server imports the tasks' modules once when it starts, and
    every worker is forked from it already warm, instead of importing torch and the
    rest anew in each worker.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    modules = {task.fn.__module__ for task in tasks} - {"__main__", "builtins"}
    context.set_forkserver_preload(sorted(modules | {"ouroboros.runners.base"}))
    return context


class LocalRunner(Runner):
    """Run tasks in this process (``workers=1``) or in a pool of worker processes.

    With one worker, tasks run one after the other in the calling process: no
    pickling, and a debugger or profiler sees everything. With more, at most
    ``workers`` tasks run at once, each in a fresh process. A task that raises is
    retried up to ``max_retries`` times, and so is a task whose worker process died
    (killed, out of memory): the pool is replaced and the task retried. A worker
    death is charged only to the task that caused it: when several tasks were
    running, they are rerun one at a time until the culprit dies alone.
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
        # ``starts`` is what a result reports; ``charged`` is what counts against
        # max_retries, which a task running beside a dying worker is not charged.
        starts = {task.key: 0 for task in tasks}
        charged = dict(starts)
        # Tasks that were running beside others when a worker died: any of them
        # may be the culprit, so they run alone until each has finished once.
        suspects: set[str] = set()
        running: dict[Future, Task] = {}
        context = _context(tasks)
        pool = self._pool(context)
        try:
            while queue or running:
                limit = 1 if suspects else self.workers
                while queue and len(running) < limit:
                    task = queue[0]
                    try:
                        future = pool.submit(call_task, task.fn, task.kwargs)
                    except BrokenProcessPool:  # an idle worker died: nothing to charge
                        _discard(pool)
                        pool = self._pool(context)
                        continue
                    running[future] = queue.popleft()
                    starts[task.key] += 1
                    charged[task.key] += 1
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                lost = {f for f in done if isinstance(f.exception(), BrokenProcessPool)}
                if lost:
                    # A broken pool fails every future it holds: collect them all.
                    done, _ = wait(running)
                    lost = {f for f in done if isinstance(f.exception(), BrokenProcessPool)}
                    _discard(pool)
                    pool = self._pool(context)
                    if len(lost) > 1:
                        for future in lost:
                            task = running.pop(future)
                            charged[task.key] -= 1
                            suspects.add(task.key)
                            queue.appendleft(task)
                        done -= lost
                for future in done:
                    task = running.pop(future)
                    suspects.discard(task.key)
                    ok, value = _outcome(future, task)
                    if ok:
                        yield TaskResult(task.key, value=value, attempts=starts[task.key])
                    elif charged[task.key] <= self.max_retries:
                        queue.appendleft(task)
                    else:
                        yield TaskResult(task.key, error=value, attempts=starts[task.key])
        finally:
            _discard(pool)

    def _pool(self, context: multiprocessing.context.BaseContext) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context)


def _discard(pool: ProcessPoolExecutor) -> None:
    """Let a broken pool go without joining it: its workers are dead or being terminated,
    and joining a broken pool's management thread can hang (CPython 3.11)."""
    pool.shutdown(wait=False, cancel_futures=True)


def _outcome(future: Future, task: Task) -> tuple[bool, object]:
    """``(ok, value or error text)`` of a finished pool future."""
    try:
        return future.result()
    except BrokenProcessPool:
        return False, f"the worker process running task {task.key!r} died"
    except Exception as exc:  # e.g. a return value that cannot be pickled
        return False, f"{type(exc).__name__}: {exc}"
