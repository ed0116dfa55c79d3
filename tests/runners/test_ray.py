"""RayRunner on a real two-node Ray cluster on 127.0.0.1, plus a node killed mid-sweep."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import runner_units as units

from ouroboros.runners import LocalRunner, RayRunner, Task
from ouroboros.store import open_store
from ouroboros.sweep import SweepConfig, run_sweep

ray = pytest.importorskip("ray")

from ray_cluster import RAY, LocalRayCluster  # noqa: E402

if not RAY.exists():
    pytest.skip(f"the `ray` command is not installed next to {RAY.parent}", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    """Head + ``node2`` + ``victim`` (one CPU each); the kill test takes ``victim`` down."""
    local = LocalRayCluster()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", local.env["RAY_AUTH_MODE"])  # the driver, like the nodes
        try:
            local.start(["node2", "victim"])
            yield local
        finally:
            local.stop()


def _steppers(root: Path, n: int, steps: int, **extra) -> list[Task]:
    return [
        Task(
            f"unit-{i}",
            units.stepper,
            {"checkpoint_dir": str(root / f"unit-{i}"), "seed": 100 + i, "steps": steps, **extra},
        )
        for i in range(n)
    ]


def _values(results) -> dict[str, float]:
    results = list(results)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return {r.key: r.value for r in results}


def test_a_sweep_on_ray_equals_the_local_runner(cluster, tmp_path):
    tasks = _steppers(tmp_path / "ray", n=6, steps=3)
    on_ray = _values(RayRunner(address=cluster.address).run(tasks))
    local = _values(LocalRunner().run(_steppers(tmp_path / "local", n=6, steps=3)))
    assert on_ray == local
    assert not ray.is_initialized()  # the runner disconnects when it connected itself


def test_a_collapse_sweep_on_ray_equals_the_local_runner(cluster, tmp_path):
    config = SweepConfig.from_dict(
        {
            "name": "on-ray",
            "generations": 2,
            "seeds": [0, 1],
            "strategies": ["replace", "accumulate"],
            "metrics": ["tv_complement", "category_coverage"],
            "reports": False,
            "datasets": [{"builtin": "adult", "rows": 160}],
            "synthesizers": [{"name": "gaussian_copula"}],
        }
    )
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    on_ray = run_sweep(
        config, runner=RayRunner(address=cluster.address), store=url, output=tmp_path / "ray"
    )
    local = run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "local")
    assert on_ray.ok and local.ok, (on_ray.errors, local.errors)
    key = "adult/gaussian_copula"
    pd.testing.assert_frame_equal(on_ray.results[key].table, local.results[key].table)
    store = open_store(url)
    stored = store.metrics([on_ray.run_ids[key]])
    assert len(stored) == len(on_ray.results[key].table)
    assert store.get_run(on_ray.sweep_id).status == "finished"


def test_failures_are_retried_then_reported(cluster, tmp_path):
    tasks = [
        Task("bad", units.fail, {"message": "boom 7"}),
        Task("flaky", units.fail_until, {"marker_dir": str(tmp_path), "failures": 1}),
        Task("exit", units.exit_now, {}),
    ]
    results = {r.key: r for r in RayRunner(address=cluster.address, max_retries=1).run(tasks)}
    assert "boom 7" in results["bad"].error and results["bad"].attempts == 2
    assert results["flaky"].value == 2 and results["flaky"].attempts == 2
    assert "sys.exit(3)" in results["exit"].error


def test_killing_a_node_mid_sweep_loses_no_result(cluster, tmp_path):
    log = tmp_path / "log.txt"
    tasks = _steppers(tmp_path / "ray", n=6, steps=8, sleep=0.4, log=str(log))
    killed = threading.Event()

    def kill_the_victim_once_it_works() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
            workers = {int(pid) for _, _, node, pid in lines if node == "victim"}
            if workers:
                # A machine lost takes its workers along: a worker left running without its
                # raylet could still finish and hand back a small, inlined result.
                cluster.kill("victim")
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_victim_once_it_works, daemon=True)
    killer.start()
    results = list(RayRunner(address=cluster.address, max_retries=3).run(tasks))
    killer.join()
    assert killed.is_set(), "no task ever ran on the victim node"

    expected = _values(LocalRunner().run(_steppers(tmp_path / "local", n=6, steps=8)))
    assert _values(results) == expected

    done = [line.split() for line in log.read_text().splitlines()]
    # Every step checkpointed before the kill was skipped by the retry, not done again.
    assert max(Counter((unit, step) for unit, step, _, _ in done).values()) == 1
    victims = {unit for unit, _, node, _ in done if node == "victim"}
    retried = {r.key for r in results if r.attempts > 1}
    assert retried and retried <= victims
    for unit in retried:
        nodes = [node for name, _, node, _ in done if name == unit]
        assert nodes[0] == "victim" and nodes[-1] != "victim"
