"""``ouro runs list / show / compare`` and the comparison report."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from ouroboros.cli.runs import register
from ouroboros.errors import StoreError
from ouroboros.store import STORE_ENV, compare, open_store


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """ouro"""

    register(app)
    return app


@pytest.fixture
def filled(store_url):
    url = store_url
    store = open_store(url)
    ids = []
    for name, drift in (("adult <b>&", 0.2), ("credit", 0.05)):
        run_id = store.create_run("collapse", name, {"generations": 3, "note": "<script>x"})
        rows = [
            {"seed": s, "strategy": k, "generation": g, "metric": m, "value": 1 - drift * g + s}
            for s in (0, 1)
            for k in ("replace", "accumulate")
            for g in range(3)
            for m in ("coverage", "tail_share")
        ]
        store.log_metrics(run_id, rows)
        store.log_artifact(run_id, "report", f"runs/{name}.html")
        store.finish_run(run_id)
        ids.append(run_id)
    return url, ids


def test_list(app, filled):
    url, ids = filled
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "list", "--store", url])
    assert result.exit_code == 0, result.output
    assert all(run_id in result.output for run_id in ids)
    assert "adult <b>&" in result.output and "finished" in result.output


def test_list_reads_the_store_from_the_environment(app, filled, monkeypatch):
    url, ids = filled
    monkeypatch.setenv(STORE_ENV, url)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "list", "--kind", "sweep"])
    assert result.exit_code == 0 and "no runs in" in result.output


def test_show(app, filled):
    url, ids = filled
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["runs", "show", ids[0][:6], "--store", url]
    )
    assert result.exit_code == 0, result.output
    assert ids[0] in result.output
    assert "runs/adult <b>&.html" in result.output
    assert re.search(r"coverage\s*│\s*accumulate\s*│\s*1.5\s*│\s*1.1", result.output)


def test_compare_prints_a_table_and_writes_html(app, filled, tmp_path):
    url, ids = filled
    report = tmp_path / "compare.html"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["runs", "compare", ids[0], ids[1][:5], "--store", url, "-o", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "1.5 -> 1.1" in result.output and "1.5 -> 1.4" in result.output
    html = report.read_text()
    assert "adult &lt;b&gt;&amp;" in html and "<b>&" not in html
    assert "&lt;script&gt;" in html and "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2  # one chart per metric, every run side by side in it
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http" not in html.replace("http-equiv", "")  # self-contained


def test_unknown_runs_and_missing_stores_are_errors(app, filled, tmp_path):
    url, _ = filled
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "show", "nope", "--store", url])
    assert isinstance(result.exception, StoreError)
    assert "no run 'nope'" in str(result.exception)
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["runs", "show", "x", "--store", missing]
    )
    assert isinstance(result.exception, StoreError)
    assert not (tmp_path / "missing.db").exists()


def test_list_without_a_store_says_there_are_no_runs_yet(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORE_ENV, raising=False)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "list"])
    assert result.exit_code == 0, result.output
    assert "no runs yet" in result.output and "sqlite:///runs.db" in result.output
    missing = f"sqlite:///{tmp_path / 'sub' / 'other.db'}"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "list", "--store", missing])
    assert result.exit_code == 0, result.output
    assert "no runs yet" in result.output and "other.db" in result.output
    assert list(tmp_path.iterdir()) == []  # listing created no database file


def test_summary_and_curves(filled):
    url, ids = filled
    store = open_store(url)
    table = compare.summary(store, ids)
    row = table[(table["metric"] == "coverage") & (table["strategy"] == "replace")].iloc[0]
    assert row[f"{ids[0]}:first"] == pytest.approx(1.5)
    assert row[f"{ids[0]}:last"] == pytest.approx(1.1)
    assert row[f"{ids[1]}:last"] == pytest.approx(1.4)
    curves = compare.curves(store, ids[:1])
    one = curves[(curves["metric"] == "coverage") & (curves["strategy"] == "replace")]
    assert one["generation"].tolist() == [0, 1, 2]
    assert one["min"].tolist() == pytest.approx([1.0, 0.8, 0.6])
    assert (one["seeds"] == 2).all()


def test_runs_without_generations_or_metrics(filled, tmp_path):
    url, ids = filled
    store = open_store(url)
    bare = store.create_run("benchmark", "no metrics")
    cell = store.create_run("benchmark", "one value")
    store.log_metrics(cell, pd.DataFrame({"metric": ["auc"], "value": [0.75]}))
    table = compare.summary(store, [bare, cell])
    assert table.loc[0, f"{cell}:last"] == 0.75
    path = compare.write_html(store, [bare, cell], tmp_path / "bare.html")
    assert "None of these runs logged metrics by generation" in path.read_text()


def test_a_sweep_stands_for_its_cells(filled):
    url, ids = filled
    store = open_store(url)
    sweep = store.create_run("sweep", "grid")
    cells = [store.create_run("collapse", f"cell-{i}", parent=sweep) for i in range(2)]
    for cell in cells:
        store.log_metrics(cell, [{"generation": 0, "metric": "m", "value": 1.0}])
    assert [r.id for r in compare.runs(store, [sweep, ids[0]])] == [*cells, ids[0]]
    assert [r.id for r in compare.runs(store, [cells[0], sweep])] == cells
