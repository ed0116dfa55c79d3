"""LocalRunner: in-process and process-pool execution, retries, dead workers, validation."""

from __future__ import annotations

import sys

import pytest
import runner_units as units

from ouroboros.errors import MissingDependencyError, ParameterError
from ouroboros.runners import (
    LocalRunner,
    RayRunner,
    Resources,
    Task,
    TaskResult,
    get_runner,
)


def _by_key(results) -> dict[str, TaskResult]:
    results = list(results)
    by_key = {r.key: r for r in results}
    assert len(by_key) == len(results)
    return by_key


def _steppers(root, n=4, steps=3, **extra) -> list[Task]:
    return [
        Task(
            f"unit-{i}",
            units.stepper,
            {"checkpoint_dir": str(root / f"unit-{i}"), "seed": i, "steps": steps, **extra},
        )
        for i in range(n)
    ]


def test_importing_runners_does_not_import_ray():
    code = "import sys, ouroboros.runners; print('ray' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("workers", [1, 2])
def test_results_for_every_task_and_errors_as_text(workers):
    tasks = [Task(f"sq{i}", units.square, {"x": i}) for i in range(5)]
    tasks.append(Task("bad", units.fail, {"message": "boom 42"}))
    tasks.append(Task("exit", units.exit_now, {}))
    results = _by_key(LocalRunner(workers=workers).run(tasks))
    assert {k: r.value for k, r in results.items() if k.startswith("sq")} == {
        f"sq{i}": i * i for i in range(5)
    }
    assert all(results[f"sq{i}"].ok and results[f"sq{i}"].attempts == 1 for i in range(5))
    assert not results["bad"].ok
    assert "ValueError: boom 42" in results["bad"].error
    assert "SystemExit" in results["exit"].error


def test_same_results_in_process_and_in_pool(tmp_path):
    inline = _by_key(LocalRunner(workers=1).run(_steppers(tmp_path / "a")))
    pooled = _by_key(LocalRunner(workers=2).run(_steppers(tmp_path / "b")))
    assert {k: r.value for k, r in inline.items()} == {k: r.value for k, r in pooled.items()}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_task_is_retried_until_it_succeeds(tmp_path, workers):
    task = Task("flaky", units.fail_until, {"marker_dir": str(tmp_path), "failures": 2})
    (result,) = LocalRunner(workers=workers, max_retries=2).run([task])
    assert result.ok and result.value == 3 and result.attempts == 3


def test_retries_exhausted_keep_the_last_error(tmp_path):
    task = Task("flaky", units.fail_until, {"marker_dir": str(tmp_path), "failures": 5})
    (result,) = LocalRunner(max_retries=1).run([task])
    assert result.attempts == 2
    assert "planned failure 2 of 5" in result.error


def test_a_dead_worker_is_replaced_and_its_task_retried(tmp_path):
    tasks = [Task("dies", units.die_once, {"marker": str(tmp_path / "died")})]
    tasks += [Task(f"sq{i}", units.square, {"x": i}) for i in range(4)]
    results = _by_key(LocalRunner(workers=2, max_retries=1).run(tasks))
    assert results["dies"].value == "survived"
    assert results["dies"].attempts == 2
    assert all(results[f"sq{i}"].value == i * i for i in range(4))


def test_a_worker_death_is_charged_only_to_the_task_that_died(tmp_path):
    # The slow units are running when the other worker dies: they must not be
    # charged for it, even with no retries allowed.
    tasks = _steppers(tmp_path, n=3, steps=2, sleep=0.3)
    tasks.insert(1, Task("dies", units.die_always, {}))
    results = _by_key(LocalRunner(workers=2, max_retries=0).run(tasks))
    assert "died" in results["dies"].error
    assert results["dies"].attempts in (1, 2)  # 2 when it first died beside a sibling
    expected = _by_key(LocalRunner().run(_steppers(tmp_path / "expected", n=3, steps=2)))
    for key, result in expected.items():
        assert results[key].ok and results[key].value == result.value


def test_a_retried_unit_resumes_from_its_checkpoints(tmp_path):
    log = tmp_path / "log.txt"
    (first,) = LocalRunner().run(_steppers(tmp_path, n=1, steps=2, log=str(log)))
    (second,) = LocalRunner().run(_steppers(tmp_path, n=1, steps=4, log=str(log)))
    done = [line.split()[1] for line in log.read_text().splitlines()]
    assert done == ["0", "1", "2", "3"]
    (fresh,) = LocalRunner().run(_steppers(tmp_path / "fresh", n=1, steps=4))
    assert second.value == pytest.approx(fresh.value)


def test_closing_early_stops_the_pool():
    tasks = [Task(f"sq{i}", units.square, {"x": i}) for i in range(20)]
    results = LocalRunner(workers=2).run(tasks)
    first = next(results)
    results.close()
    assert first.ok


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        (LocalRunner(workers=0), "'workers' must be an integer >= 1"),
        (LocalRunner(workers=2.5), "'workers' must be an integer >= 1"),
        (LocalRunner(max_retries=-1), "'max_retries' must be an integer >= 0"),
        (RayRunner(max_retries=-2), "'max_retries' must be an integer >= 0"),
        (RayRunner(address=""), "'address'"),
    ],
)
def test_bad_runner_parameters(runner, message):
    with pytest.raises(ParameterError, match=message):
        list(runner.run([Task("a", units.square, {"x": 1})]))


def test_bad_tasks_are_refused_before_anything_runs():
    with pytest.raises(ParameterError, match="used twice"):
        list(LocalRunner().run([Task("a", units.square, {"x": 1})] * 2))
    with pytest.raises(ParameterError, match="module-level function"):
        list(LocalRunner(workers=2).run([Task("a", lambda: 1, {})]))
    with pytest.raises(ParameterError, match="resources must be >= 0"):
        list(LocalRunner().run([Task("a", units.square, {"x": 1}, Resources(cpus=-1))]))
    with pytest.raises(ParameterError, match="Task objects"):
        list(LocalRunner().run(["a"]))


def test_lambdas_are_fine_in_process():
    (result,) = LocalRunner().run([Task("a", lambda: 7, {})])
    assert result.value == 7


def test_get_runner():
    local = get_runner("local", workers=3)
    assert isinstance(local, LocalRunner) and local.workers == 3 and local.max_retries == 0
    ray = get_runner("ray", address="10.0.0.1:6379", max_retries=5)
    assert isinstance(ray, RayRunner)
    assert (ray.address, ray.max_retries) == ("10.0.0.1:6379", 5)
    with pytest.raises(ParameterError, match="'runner' must be one of local, ray; got 'dask'"):
        get_runner("dask")


def test_missing_ray_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ouroboros-synth\[ray\]'"):
        RayRunner().run([Task("a", units.square, {"x": 1})])
