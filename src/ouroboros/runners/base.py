"""Units of work, their results, and the :class:`Runner` interface every executor implements."""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ouroboros.errors import ParameterError


@dataclass(frozen=True)
class Resources:
    """What one task needs: CPUs and a (possibly fractional) number of GPUs.

    Ray schedules on these; the local pool runs one task per worker process and
    only checks them.
    """

    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``fn(**kwargs)``, identified by a unique ``key``.

    ``fn`` must be a module-level function and ``kwargs`` plain picklable values,
    so that worker processes (local or on other machines) can import and call it.
    A unit that may be retried takes a ``checkpoint_dir`` and skips the work it
    finds already checkpointed there: the runner only retries, the unit resumes.
    """

    key: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    resources: Resources = Resources()


@dataclass
class TaskResult:
    """The outcome of one task: its return value, or the error text of its last attempt."""

    key: str
    value: Any = None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """True when the task returned a value (``error`` is None)."""
        return self.error is None


class Runner(ABC):
    """Runs independent tasks and yields their results as they finish.

    Contract shared by every runner:

    - results come in completion order, one per task, each tagged with its task's key;
    - a task that raises is retried up to the runner's ``max_retries``; when every
      attempt failed its result carries ``error`` (the traceback text) and ``run``
      goes on with the other tasks: a task failure never raises;
    - a task lost with its worker (process or machine) is retried the same way;
    - closing the iterator early cancels the tasks not yet started.
    """

    @abstractmethod
    def run(self, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        """Run ``tasks`` and yield one :class:`TaskResult` per task as each finishes."""


def check_tasks(tasks: Sequence[Task], *, importable: bool) -> list[Task]:
    """Validate ``tasks`` at the runner boundary; return them as a list.

    ``importable`` asks that each ``fn`` be reachable by import from another
    process (no lambdas, no functions defined inside functions).
    """
    tasks = list(tasks)
    seen: set[str] = set()
    for task in tasks:
        if not isinstance(task, Task):
            raise ParameterError(f"tasks must be Task objects; got {type(task).__name__}")
        if not isinstance(task.key, str) or not task.key:
            raise ParameterError(f"a task key must be a non-empty string; got {task.key!r}")
        if task.key in seen:
            raise ParameterError(f"task key {task.key!r} is used twice; keys must be unique")
        seen.add(task.key)
        if not callable(task.fn):
            raise ParameterError(f"task {task.key!r}: fn must be callable; got {task.fn!r}")
        if not isinstance(task.kwargs, dict):
            raise ParameterError(f"task {task.key!r}: kwargs must be a dict; got {task.kwargs!r}")
        qualname = getattr(task.fn, "__qualname__", "")
        if importable and ("<" in qualname or not getattr(task.fn, "__module__", None)):
            raise ParameterError(
                f"task {task.key!r}: fn must be a module-level function that worker processes "
                f"can import; got {qualname or task.fn!r} (move it to the top level of a module)"
            )
        cpus, gpus = task.resources.cpus, task.resources.gpus
        if not (cpus >= 0 and gpus >= 0):
            raise ParameterError(
                f"task {task.key!r}: resources must be >= 0; got cpus={cpus!r}, gpus={gpus!r}"
            )
    return tasks


def call_task(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Call ``fn(**kwargs)`` and return ``(True, value)`` or ``(False, traceback text)``.

    ``SystemExit`` raised by a unit is a failure of that unit, not of the runner.
    """
    try:
        return True, fn(**kwargs)
    except (Exception, SystemExit):
        return False, traceback.format_exc()
