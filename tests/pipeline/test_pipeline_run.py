"""A pipeline runs end to end, caches every step, refits only what changed, publishes on a pass."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ouroboros.cli import run as cli
from ouroboros.pipeline import run, status


def test_full_run_publishes_and_writes_the_report(write_config, small_table, tmp_path):
    config = write_config()
    result = run(config)
    assert [s.step for s in result.steps] == [
        "source",
        "schema",
        "fit",
        "sample",
        "evaluate",
        "gate",
        "publish",
    ]
    assert all(s.status == "ran" for s in result.steps)
    assert result.passed and result.exit_code == 0
    published = pd.read_csv(result.published)
    assert len(published) == 200
    assert list(published.columns) == list(small_table.columns)
    html = result.report.read_text(encoding="utf-8")
    assert result.report == tmp_path / "out" / "synthetic.report.html"
    assert "Gate" in html and "detection_auc" in html
    assert (tmp_path / ".ouro-pipeline" / "steps" / "fit").is_dir()


def test_same_config_again_does_no_work(write_config, calls):
    config = write_config()
    run(config)
    first = dict(calls)
    again = run(config)
    assert [s.status for s in again.steps] == ["cached"] * 7
    assert calls == first  # no step function ran a second time


def test_changing_the_generator_refits_but_does_not_reread_the_source(write_config, calls):
    run(write_config())
    changed = run(write_config(generator='name = "independent"\nseed = 0'))
    states = {s.step: s.status for s in changed.steps}
    assert states["source"] == states["schema"] == "cached"
    assert states["fit"] == states["sample"] == states["evaluate"] == "ran"
    assert calls["source"] == 1 and calls["fit"] == 2


@pytest.mark.parametrize("remove", ["table", "sidecar", "model"])
def test_republishes_a_published_file_that_was_removed(write_config, tmp_path, remove):
    config = write_config(publish='path = "out/synthetic.csv"\nmodel = "out/model.ouro"')
    first = run(config)
    files = {
        "table": first.published,
        "sidecar": first.published.with_name("synthetic.csv.lineage.json"),
        "model": tmp_path / "out" / "model.ouro",
    }
    files[remove].unlink()
    assert [s.status for s in status(config)][-1] == "pending"
    again = run(config)
    assert again.steps[-1].status == "ran"
    assert all(path.is_file() for path in files.values())


def test_status_shows_each_step(write_config, capsys):
    config = write_config()
    assert [s.status for s in status(config)] == ["pending"] * 7
    run(config)
    assert [s.status for s in status(config)] == ["done"] * 7
    assert cli(["pipeline", "status", str(config)]) == 0
    out = capsys.readouterr().out
    for step in ("source", "schema", "fit", "sample", "evaluate", "gate", "publish"):
        assert step in out
    assert "done" in out


def test_cli_run_says_what_was_cached(write_config, capsys):
    config = write_config()
    assert cli(["pipeline", "run", str(config)]) == 0
    assert cli(["pipeline", "run", str(config)]) == 0
    err = capsys.readouterr().err
    assert "nothing to do: every step is cached" in err
    assert "cached, no work" in err


def test_gate_failure_exits_3_writes_the_report_and_publishes_nothing(
    write_config, tmp_path, capsys
):
    config = write_config(gate='detection_auc = "<= 0.01"\nexact_copies = "<= 300"')
    assert cli(["pipeline", "run", str(config)]) == 3
    err = capsys.readouterr().err
    assert "detection_auc" in err and "fails by" in err
    assert "nothing was published" in err
    assert not (tmp_path / "out" / "synthetic.csv").exists()
    report = (tmp_path / "out" / "synthetic.report.html").read_text(encoding="utf-8")
    assert "threshold(s) failed" in report and "fails by" not in report  # table, not prose
    gate = run(config).gate
    assert not gate["passed"]
    (check,) = [c for c in gate["checks"] if c["quantity"] == "detection_auc"]
    assert check["miss"] == check["value"] - 0.01
    assert [s.status for s in status(config)][-1] == "blocked"


def test_category_and_count_thresholds(write_config):
    config = write_config(gate='detection = ">= 0.0"\nexact_copies = 0\nprivacy = 0.0')
    gate = run(config).gate
    quantities = {c["quantity"]: c for c in gate["checks"]}
    assert set(quantities) == {"detection", "exact_copies", "privacy"}
    assert quantities["exact_copies"]["op"] == "<="  # a bare number: at least this good
    assert quantities["privacy"]["op"] == ">="
    assert 0.0 <= quantities["detection"]["value"] <= 1.0


def test_python_api_takes_a_dict(tmp_path, small_table):
    small_table.to_parquet(tmp_path / "data.parquet")
    result = run(
        {
            "source": {"path": str(tmp_path / "data.parquet"), "holdout": 0.3},
            "generator": {"name": "independent", "seed": 1},
            "evaluate": {"metrics": ["tv_complement"]},
            "gate": {"tv_complement": ">= 0.5"},
            "publish": {"path": str(tmp_path / "synthetic.parquet")},
        },
        cache=tmp_path / "cache",
    )
    assert result.passed
    assert len(pd.read_parquet(result.published)) == 210  # as many as the training rows
    manifest = next((tmp_path / "cache" / "steps" / "gate").glob("*/manifest.json"))
    assert json.loads(manifest.read_text())["meta"]["passed"] is True
