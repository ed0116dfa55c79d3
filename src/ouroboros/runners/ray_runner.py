"""Run tasks on a Ray cluster (the optional extra ``ouroboros-synth[ray]``).

Ray does the scheduling, the per-task resources and the retries of tasks that
raised or were lost with their worker or machine (Moritz et al. 2018, "Ray: A
Distributed Framework for Emerging AI Applications").
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

from ouroboros.errors import MissingDependencyError, ParameterError, check_param
from ouroboros.runners.base import Runner, Task, TaskResult, check_tasks

INSTALL_HINT = "pip install 'ouroboros-synth[ray]'"


def _import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the Ray runner needs Ray, which is not installed; install it with: {INSTALL_HINT}"
        ) from exc


class _AttemptCounter:
    """A tiny actor counting how many times each task has started, retries included."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}

    def start(self, key: str) -> int:
        self.starts[key] = self.starts.get(key, 0) + 1
        return self.starts[key]

    def count(self, key: str) -> int:
        return self.starts.get(key, 0)


def _ray_call(fn: Any, kwargs: dict[str, Any], key: str, counter: Any) -> tuple[Any, Any]:
    """The remote body of every task: note the attempt, then call the unit.

    The attempt number travels back as a reference instead of being awaited here:
    a task blocked in ``ray.get`` lends its CPU to another task, which would
    oversubscribe the node.
    """
    attempt = counter.start.remote(key)
    try:
        return attempt, fn(**kwargs)
    except SystemExit as exc:  # would end the Ray worker instead of failing the task
        raise RuntimeError(f"task {key!r} called sys.exit({exc.code!r})") from exc


class RayRunner(Runner):
    """Run tasks on a Ray cluster, each with its own CPU and GPU request.

    ``address`` is what ``ray.init`` takes: ``"auto"`` for the cluster started on
    this machine with ``ray start``, ``"HOST:PORT"`` for a remote head node,
    ``None`` to start a private single-machine Ray for this run. Ray retries a
    task that raised or whose worker or node died, up to ``max_retries`` times
    (units resume from their checkpoints). ``runtime_env`` is passed to
    ``ray.init`` (e.g. ``{"pip": [...]}`` or ``{"env_vars": {...}}``). If Ray is
    already initialised in this process, that connection is used as it is.
    """

    def __init__(
        self,
        address: str | None = "auto",
        max_retries: int = 3,
        runtime_env: dict | None = None,
    ):
        self.address = address
        self.max_retries = max_retries
        self.runtime_env = runtime_env

    def _validate(self) -> None:
        check_param(
            "address",
            self.address,
            self.address is None or (isinstance(self.address, str) and self.address != ""),
            'None, "auto" or "HOST:PORT"',
        )
        check_param(
            "max_retries",
            self.max_retries,
            isinstance(self.max_retries, int) and self.max_retries >= 0,
            "an integer >= 0",
        )
        check_param(
            "runtime_env",
            self.runtime_env,
            self.runtime_env is None or isinstance(self.runtime_env, dict),
            "None or a dict",
        )

    def run(self, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        """Submit every task to Ray, then yield each result as it finishes."""
        self._validate()
        tasks = check_tasks(tasks, importable=True)
        ray = _import_ray()
        return self._run(ray, tasks)

    def _connect(self, ray: Any) -> bool:
        """Initialise Ray unless it already is; return whether this call did it."""
        if ray.is_initialized():
            return False
        try:
            ray.init(
                address=self.address,
                runtime_env=self.runtime_env,
                logging_level="WARNING",
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ParameterError(
                f"parameter 'address': cannot connect to a Ray cluster at {self.address!r} "
                f"({type(exc).__name__}: {exc}); start one with `ray start --head`, or pass the "
                "head node's HOST:PORT"
            ) from exc
        return True

    def _run(self, ray: Any, tasks: list[Task]) -> Iterator[TaskResult]:
        started = self._connect(ray)
        counter = None
        pending: dict[Any, str] = {}
        try:
            # The counter lives beside the driver and needs no CPU, so a worker
            # node lost mid-run does not take the attempt counts with it.
            here = ray.get_runtime_context().get_node_id()
            strategies = importlib.import_module("ray.util.scheduling_strategies")
            affinity = strategies.NodeAffinitySchedulingStrategy(here, soft=False)
            counter = (
                ray.remote(_AttemptCounter)
                .options(num_cpus=0, scheduling_strategy=affinity)
                .remote()
            )
            remote = ray.remote(_ray_call)
            for task in tasks:
                ref = remote.options(
                    num_cpus=task.resources.cpus,
                    num_gpus=task.resources.gpus,
                    max_retries=self.max_retries,
                    retry_exceptions=True,
                    name=task.key,
                ).remote(task.fn, task.kwargs, task.key, counter)
                pending[ref] = task.key
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    key = pending.pop(ref)
                    try:
                        attempt, value = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        attempts = _fetch(ray, counter.count.remote(key))
                        yield TaskResult(key, error=str(exc), attempts=attempts)
                    else:
                        yield TaskResult(key, value=value, attempts=_fetch(ray, attempt))
        finally:
            for ref in pending:
                ray.cancel(ref)
            if counter is not None:
                ray.kill(counter)
            if started:
                ray.shutdown()


def _fetch(ray: Any, ref: Any) -> int:
    """An attempt number from the counter; 1 if the counter was lost."""
    try:
        return max(int(ray.get(ref)), 1)
    except ray.exceptions.RayError:
        return 1
