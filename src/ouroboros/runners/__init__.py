"""Executors for independent units of work: a local process pool (default) or Ray.

A unit is a :class:`Task` (a module-level function and its keyword arguments);
a :class:`Runner` runs many and yields a :class:`TaskResult` for each as it
finishes. Importing this package never imports Ray.
"""

from __future__ import annotations

from ouroboros.errors import ParameterError
from ouroboros.runners.base import Resources, Runner, Task, TaskResult
from ouroboros.runners.local import LocalRunner
from ouroboros.runners.ray_runner import RayRunner

RUNNERS = ("local", "ray")


def get_runner(
    name: str = "local",
    *,
    workers: int = 1,
    address: str | None = None,
    max_retries: int | None = None,
) -> Runner:
    """The runner called ``name``: ``"local"`` (``workers`` processes) or ``"ray"``.

    For Ray, ``address`` is ``"auto"``, ``"HOST:PORT"`` or None (a private local
    Ray); ``workers`` does not apply, the cluster's CPUs set the parallelism.
    ``max_retries`` of None keeps the runner's own default.
    """
    retries = {} if max_retries is None else {"max_retries": max_retries}
    if name == "local":
        return LocalRunner(workers=workers, **retries)
    if name == "ray":
        return RayRunner(address=address, **retries)
    raise ParameterError(f"parameter 'runner' must be one of {', '.join(RUNNERS)}; got {name!r}")


__all__ = [
    "RUNNERS",
    "LocalRunner",
    "RayRunner",
    "Resources",
    "Runner",
    "Task",
    "TaskResult",
    "get_runner",
]
