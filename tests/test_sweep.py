"""Sweeps: the TOML file, a grid run on the local runner, the store it fills, resuming, the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from ouroboros.cli.sweep import register
from ouroboros.collapse import CollapseResult
from ouroboros.collapse.result import CHECKPOINTS, LAYOUT
from ouroboros.errors import CollapseError, ParameterError
from ouroboros.runners import LocalRunner, Resources
from ouroboros.store import open_store
from ouroboros.sweep import SweepConfig, run_sweep

TINY = """
name = "tiny"
generations = 2
seeds = [3, 4]
strategies = ["mix:0.5"]
holdout = 0.3
metrics = ["tv_complement", "category_coverage"]

[[datasets]]
builtin = "adult"
rows = 160
drop = ["fnlwgt", "education-num"]

[[synthesizers]]
name = "independent"

[[synthesizers]]
name = "gaussian_copula"
label = "copula"
"""


def _config(tmp_path: Path, text: str = TINY) -> SweepConfig:
    path = tmp_path / "sweep.toml"
    path.write_text(textwrap.dedent(text))
    return SweepConfig.from_toml(path)


def _tables(result) -> dict[str, pd.DataFrame]:
    return {key: r.table for key, r in result.results.items()}


def test_the_sweep_file(tmp_path):
    (tmp_path / "data").mkdir()
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": list("abab")}).to_csv(
        tmp_path / "data" / "toy.csv", index=False
    )
    config = _config(
        tmp_path,
        """
        generations = 3
        seeds = 2
        strategies = "replace,accumulate"
        output = "out"

        [[datasets]]
        path = "data/toy.csv"
        target = "y"

        [[synthesizers]]
        name = "gaussian_copula"
        params = { seed = 5 }

        [runner]
        name = "ray"
        address = "auto"
        """,
    )
    assert config.name == "sweep"
    assert config.seeds == (0, 1) and config.strategies == ("replace", "accumulate")
    assert config.datasets[0].name == "toy" and config.datasets[0].path == tmp_path / "data/toy.csv"
    assert config.output == tmp_path / "out"
    assert [c.key for c in config.cells] == ["toy/gaussian_copula"]
    assert config.trajectories == 4
    assert config.runner == {"name": "ray", "address": "auto"}


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ParameterError) as info:
        _config(
            tmp_path,
            """
            generations = 0
            strategies = ["replace", "mix:2"]
            colour = "blue"

            [[datasets]]
            path = "missing.csv"

            [[synthesizers]]
            name = "no-such-generator"
            """,
        )
    message = str(info.value)
    for expected in (
        "'generations' must be an integer >= 1",
        "strategy 'mix:2'",
        "unknown keys ['colour']",
        "no file",
        "no-such-generator",
    ):
        assert expected in message
    with pytest.raises(ParameterError, match="not valid TOML"):
        _config(tmp_path, "name = ")


VALID = {
    "generations": 2,
    "strategies": ["replace"],
    "datasets": [{"builtin": "adult"}],
    "synthesizers": [{"name": "independent"}],
}


@pytest.mark.parametrize(
    ("change", "where", "parameter", "allowed"),
    [
        ({"generations": 0}, "sweep", "generations", "an integer >= 1"),
        ({"generations": True}, "sweep", "generations", "an integer >= 1"),
        ({"seeds": [1, 1]}, "sweep", "seeds", "a count >= 1 or a list of distinct"),
        ({"seeds": 0}, "sweep", "seeds", "a count >= 1"),
        ({"strategies": []}, "sweep", "strategies", "a list of strategy specs"),
        ({"holdout": 1.5}, "sweep", "holdout", "a fraction in (0, 1)"),
        ({"sample_size": 1}, "sweep", "sample_size", "an integer >= 2"),
        ({"metrics": "tail_kept"}, "sweep", "metrics", "a non-empty list of metric names"),
        ({"seed": -1}, "sweep", "seed", "an integer >= 0"),
        ({"output": 3}, "sweep", "output", "a folder path"),
        ({"store": ""}, "sweep", "store", "a store URL"),
        ({"reports": "yes"}, "sweep", "reports", "true or false"),
        ({"name": ""}, "sweep", "name", "a non-empty string"),
        ({"datasets": []}, "sweep", "datasets", "a non-empty list of [[datasets]] tables"),
        ({"synthesizers": {}}, "sweep", "synthesizers", "a non-empty list of [[synth"),
        ({"runner": []}, "sweep", "runner", "a [runner] table"),
        ({"runner": {"name": "slurm"}}, "[runner]", "name", "'local' or 'ray'"),
        ({"runner": {"workers": 0}}, "[runner]", "workers", "an integer >= 1"),
        ({"runner": {"max_retries": -2}}, "[runner]", "max_retries", "an integer >= 0"),
        ({"runner": {"address": 5}}, "[runner]", "address", "a Ray address"),
        (
            {"datasets": [{"builtin": "adult", "rows": 2}]},
            "[[datasets]] #1",
            "rows",
            "an integer >= 4",
        ),
        (
            {"datasets": [{"builtin": "adult", "drop": "x"}]},
            "[[datasets]] #1",
            "drop",
            "a list of column names",
        ),
        (
            {"datasets": [{"builtin": "adult", "target": 1}]},
            "[[datasets]] #1",
            "target",
            "a column name",
        ),
        ({"datasets": [{"builtin": 7}]}, "[[datasets]] #1", "builtin", "the name of a bundled"),
        ({"datasets": [{"builtin": "nope"}]}, "[[datasets]] #1", "builtin", "the name of a bundl"),
        ({"synthesizers": [{"name": 3}]}, "[[synthesizers]] #1", "name", "a generator name"),
        ({"synthesizers": [{}]}, "[[synthesizers]] #1", "name", "a generator name"),
        (
            {"synthesizers": [{"name": "independent", "params": 3}]},
            "[[synthesizers]] #1",
            "params",
            "a table of hyper-parameters",
        ),
        (
            {"synthesizers": [{"name": "independent", "gpus": -1}]},
            "[[synthesizers]] #1",
            "gpus",
            "a number >= 0",
        ),
    ],
)
def test_each_bad_value_names_its_parameter(change, where, parameter, allowed):
    data = {**VALID, **change}
    with pytest.raises(ParameterError) as info:
        SweepConfig.from_dict(data)
    message = str(info.value)
    assert "1 problem(s)" in message
    assert f"{where} parameter '{parameter}' must be {allowed}" in message
    given = next(iter(change.values()))
    if where == "[runner]":
        given = given[parameter]
    elif where != "sweep":
        given = given[0].get(parameter, "missing")
    assert ("it is missing" if given == "missing" else f"got {given!r}") in message


def test_the_constraint_table_drives_the_defaults_and_unknown_keys():
    from ouroboros.sweep.config import RUNNER, SWEEP

    config = SweepConfig.from_dict(VALID, source="grid.toml")
    assert (config.name, config.seeds, config.holdout, config.reports) == ("grid", (0,), 0.3, True)
    assert config.sample_size is None and config.metrics is None and config.runner == {}
    assert {c.key for c in SWEEP} >= {"generations", "strategies", "runner"}
    assert [c.key for c in RUNNER] == ["name", "workers", "address", "max_retries"]
    with pytest.raises(ParameterError) as info:
        SweepConfig.from_dict({"strategies": ["replace"], "runner": {"colour": 1}})
    message = str(info.value)
    assert "sweep parameter 'generations' must be an integer >= 1; it is missing" in message
    assert "[runner]: unknown keys ['colour']" in message
    assert "sweep parameter 'datasets'" in message and "4 problem(s)" in message


def test_a_sweep_fills_the_store(tmp_path):
    config = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "out")
    assert result.ok, result.errors

    store = open_store(url)
    sweep = store.get_run(result.sweep_id)
    assert (sweep.kind, sweep.status, sweep.config["seeds"]) == ("sweep", "finished", [3, 4])
    children = store.list_runs(parent=sweep.id)
    assert {c.name for c in children} == {"adult/independent", "adult/copula"}
    assert {c.status for c in children} == {"finished"}
    for child in children:
        metrics = store.metrics([child.id])
        assert len(metrics) == 1 * 2 * 2 * 2  # strategies x seeds x generations x metrics
        expected = result.results[child.name].table
        merged = metrics.merge(expected, on=["seed", "strategy", "generation", "metric"])
        assert len(merged) == len(expected)
        assert (merged["value_x"] - merged["value_y"]).abs().max() < 1e-12
        provenance = store.provenance([child.id])
        mixed = provenance[(provenance["strategy"] == "mix:0.5") & (provenance["generation"] == 1)]
        assert set(mixed["source"]) == {"real", "synthetic"}
        artifacts = store.artifacts(child.id)
        assert set(artifacts) == {*LAYOUT, CHECKPOINTS}
        assert Path(artifacts["report"]).is_file() and Path(artifacts["results"]).is_file()
        # the result folder `ouro collapse -o` writes (tests/collapse/test_collapse_cli.py)
        folder = Path(artifacts["results"]).parent
        assert sorted(p.name for p in folder.iterdir()) == sorted([*LAYOUT.values(), CHECKPOINTS])
        saved = CollapseResult.load(folder)
        pd.testing.assert_frame_equal(saved.table, expected)


def test_a_sweep_resumes_from_its_checkpoints(tmp_path):
    text = TINY.replace('name = "tiny"', 'name = "tiny"\nreports = false')
    config = _config(tmp_path, text.replace("seeds = [3, 4]", "seeds = [3]"))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first = run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "out")
    with pytest.raises(CollapseError, match="already holds results"):
        run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "out")
    models = sorted((tmp_path / "out").rglob("model.ouro"))
    stamps = [m.stat().st_mtime_ns for m in models]
    again = run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "out", resume=True)
    assert [m.stat().st_mtime_ns for m in models] == stamps  # nothing was trained again
    for key, table in _tables(first).items():
        pd.testing.assert_frame_equal(_tables(again)[key], table)
    store = open_store(url)
    assert len(store.list_runs(kind="sweep")) == 2
    assert "report" not in store.artifacts(again.run_ids["adult/copula"])


def test_a_cell_that_cannot_start_stops_the_sweep_before_anything_runs(tmp_path):
    config = _config(tmp_path, TINY.replace('drop = ["fnlwgt", "education-num"]', 'target = "x"'))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(CollapseError, match="adult/independent: parameter 'target'"):
        run_sweep(config, runner=LocalRunner(), store=url, output=tmp_path / "out")
    assert not (tmp_path / "runs.db").exists()


def test_the_sweep_command(tmp_path):
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """ouro"""

    register(app)
    path = tmp_path / "sweep.toml"
    text = TINY.replace('name = "tiny"', 'name = "tiny"\nreports = false')
    path.write_text(text.replace("seeds = [3, 4]", "seeds = [3]"))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["sweep", str(path), "--store", url, "-o", str(tmp_path / "out")]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = open_store(url).list_runs(kind="collapse")
    assert len(runs) == 2
    assert all(run.id in result.output for run in runs)
    assert "ouro runs compare" in result.output


class _Recording(LocalRunner):
    def run(self, tasks):
        self.seen = [(task.key, task.resources) for task in tasks]
        return super().run(tasks)


def test_per_synthesizer_resources_reach_the_runner(tmp_path):
    text = TINY.replace('label = "copula"', 'label = "copula"\ncpus = 2\ngpus = 0.5')
    config = _config(tmp_path, text.replace("generations = 2", "generations = 1"))
    runner = _Recording()
    run_sweep(config, runner=runner, store=f"sqlite:///{tmp_path / 'r.db'}", output=tmp_path / "o")
    resources = {key.split("|")[0]: res for key, res in runner.seen}
    assert resources == {
        "adult/independent": Resources(cpus=1.0, gpus=0.0),
        "adult/copula": Resources(cpus=2, gpus=0.5),
    }
