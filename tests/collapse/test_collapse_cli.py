"""``ouro collapse``: results, checkpoints and report in one folder; resume; clear errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ouroboros.cli import app
from ouroboros.collapse import CollapseResult
from ouroboros.collapse.result import CHECKPOINTS, LAYOUT
from ouroboros.errors import CollapseError, ParameterError

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 200
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 1, n).round(2),
            "region": rng.choice(["north", "south", "east", "west", "island"], n),
        }
    )
    path = tmp_path_factory.mktemp("data") / "table.csv"
    table.to_csv(path, index=False)
    return path


def args(data, out, *extra):
    return [
        "collapse",
        str(data),
        "--synth",
        "independent",
        "--generations",
        "2",
        "--strategy",
        "replace,mix:0.5",
        "--seeds",
        "0,7",
        "--holdout-frac",
        "0.3",
        "--metrics",
        "tail_kept,category_coverage",
        "-o",
        str(out),
        *extra,
    ]


def test_collapse_writes_results_checkpoints_and_report(data, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, args(data, out))
    assert result.exit_code == 0, result.output
    assert "replace:" in result.output and "mix:0.5:" in result.output
    for name in ("results.parquet", "provenance.parquet", "generations.parquet", "report.html"):
        assert (out / name).is_file()
    # the layout a sweep writes per cell (tests/test_sweep.py checks the same)
    assert sorted(p.name for p in out.iterdir()) == sorted([*LAYOUT.values(), CHECKPOINTS])
    assert CollapseResult.load(out).config["seeds"] == [0, 7]
    assert (out / "checkpoints" / "mix-0.5" / "seed-7" / "gen-001" / "record.json").is_file()
    saved = CollapseResult.read_parquet(out / "results.parquet")
    assert sorted(saved.table["seed"].unique()) == [0, 7]
    assert set(saved.table["strategy"]) == {"replace", "mix:0.5"}
    assert len(pd.read_parquet(out / "provenance.parquet")) > 0
    assert "<img" in (out / "report.html").read_text()

    again = runner.invoke(app, args(data, out))
    assert again.exit_code != 0
    assert isinstance(again.exception, CollapseError) and "--resume" in str(again.exception)

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("record.json")}
    resumed = runner.invoke(app, args(data, out, "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("record.json")} == stamps
    pd.testing.assert_frame_equal(
        CollapseResult.read_parquet(out / "results.parquet").table, saved.table
    )


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        (["--strategy", "mix:2"], ParameterError, r"\[0, 1\]"),
        (["--seeds", "two"], ParameterError, "--seeds"),
        (["--holdout-frac", "0.999"], CollapseError, "holdout"),
        (["--synth", "nope"], ParameterError, "unknown synthesizer"),
    ],
)
def test_bad_options_fail_clearly(data, tmp_path, extra, error, match):
    result = runner.invoke(app, args(data, tmp_path / "run") + extra)
    assert result.exit_code != 0
    assert isinstance(result.exception, error)
    assert re.search(match, str(result.exception))
