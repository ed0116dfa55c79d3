"""One runner call for many experiments: the trajectories of every sweep cell run as one batch.

Each cell's :class:`~ouroboros.collapse.CollapseExperiment` runs in its own thread and
hands its tasks to a :class:`BatchMember`, a runner that only queues them; once every
cell has submitted (or given up), :meth:`Batch.run` sends all tasks to the real runner
at once, so a cluster is kept busy across cells, and routes each result back to the
cell that asked for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ouroboros.errors import CollapseError
from ouroboros.runners import Resources, Runner, Task, TaskResult


class Batch:
    """Gathers the tasks of ``members`` experiments and runs them on ``runner`` together."""

    def __init__(self, runner: Runner, members: int):
        self.runner = runner
        self.waiting = members
        self.lock = threading.Condition()
        self.tasks: list[Task] = []
        self.owners: dict[str, tuple[queue.Queue, str]] = {}
        self.inboxes: list[queue.Queue] = []

    def submit(
        self, member: str, tasks: Sequence[Task], resources: Resources | None
    ) -> queue.Queue:
        """Queue ``member``'s tasks (with ``resources`` if given); return its inbox of results."""
        inbox: queue.Queue = queue.Queue()
        with self.lock:
            for task in tasks:
                key = f"{member}|{task.key}"
                asked = task.resources if resources is None else resources
                self.tasks.append(replace(task, key=key, resources=asked))
                self.owners[key] = (inbox, task.key)
            self.inboxes.append(inbox)
            self.waiting -= 1
            self.lock.notify_all()
        return inbox

    def withdraw(self) -> None:
        """A member that will submit nothing (its experiment failed before running)."""
        with self.lock:
            self.waiting -= 1
            self.lock.notify_all()

    def run(self) -> None:
        """Wait for every member, run the batch, and deliver each result (or the runner's
        failure) to its member's inbox."""
        with self.lock:
            self.lock.wait_for(lambda: self.waiting <= 0)
        try:
            for result in self.runner.run(self.tasks):
                inbox, key = self.owners[result.key]
                inbox.put(replace(result, key=key))
        except Exception as exc:
            for inbox in self.inboxes:
                inbox.put(exc)
            raise


class BatchMember(Runner):
    """The runner one experiment sees: its tasks join the sweep's batch."""

    def __init__(self, batch: Batch, name: str, resources: Resources | None):
        self.batch = batch
        self.name = name
        self.resources = resources
        self.submitted = False

    def run(self, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        if self.submitted:
            raise CollapseError(f"sweep cell {self.name!r} asked to run twice")
        self.submitted = True
        inbox = self.batch.submit(self.name, tasks, self.resources)
        for _ in range(len(tasks)):
            item = inbox.get()
            if isinstance(item, Exception):
                raise item
            yield item
