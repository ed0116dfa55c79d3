"""``ouro evaluate``, ``ouro metrics`` and ``ouro report`` from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ouroboros.cli import app, run
from ouroboros.testing.metrics import metric_tables


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    tables = metric_tables(n=300, seed=11)
    paths = {}
    for role in ("real", "fresh", "holdout"):
        paths[role] = folder / f"{role}.csv"
        tables[role].to_csv(paths[role], index=False)
    paths["folder"] = folder
    return paths


def test_evaluate_writes_the_report_and_the_scores(files):
    report, scores = files["folder"] / "report.html", files["folder"] / "scores.json"
    args = [
        "evaluate",
        str(files["real"]),
        str(files["fresh"]),
        "--holdout",
        str(files["holdout"]),
        "--target",
        "label",
        "--sensitive",
        "group",
        "-o",
        str(report),
        "--json",
        str(scores),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "fidelity" in result.output and "verdict" in result.output
    data = json.loads(scores.read_text())
    assert {r["name"] for r in data["metrics"]} >= {"tstr_ratio", "utility_gap_ratio"}
    assert "<html" in report.read_text()
    again = files["folder"] / "again.html"
    assert run(["report", str(scores), "-o", str(again)]) == 0
    assert again.stat().st_size > 10_000


def test_metrics_lists_every_metric():
    result = CliRunner().invoke(app, ["metrics"])
    assert result.exit_code == 0
    assert "detection_auc" in result.output and "membership_auc" in result.output


def test_one_metric_without_holdout(files):
    args = ["evaluate", str(files["real"]), str(files["fresh"]), "-m", "ks_complement"]
    assert run(args) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "nope"], "parameter 'target': no column 'nope'"),
        (["-m", "dcr_share"], "needs a holdout"),
        (["-o", "/no/such/folder/r.html"], "does not exist"),
        (["--holdout", "/no/such/file.csv"], "no such file"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(files, capsys, extra, message):
    assert run(["evaluate", str(files["real"]), str(files["fresh"]), *extra]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and message in last
