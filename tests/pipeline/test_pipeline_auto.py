"""``name = "auto"`` keeps the best generator by the scorecard and records the comparison;
``[adapt]`` refits after a failed gate and publishes only what passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.cli import run as cli
from ouroboros.pipeline import PipelineConfigError, run, status


@pytest.fixture
def correlated(tmp_path):
    """Two strongly correlated columns: the copula keeps the pair, the independent
    generator cannot."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    table = pd.DataFrame(
        {"x": x, "y": 2 * x + rng.normal(scale=0.3, size=300), "c": np.where(x > 0, "a", "b")}
    )
    table.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "out").mkdir()
    return tmp_path


def _config(folder, generator: str, extra: str = "") -> str:
    text = (
        '[source]\npath = "data.csv"\nholdout = 0.25\n\n'
        f"[generator]\n{generator}\n\n"
        '[evaluate]\nmetrics = ["correlation_similarity"]\n\n'
        '[gate]\ncorrelation_similarity = ">= 0.9"\n\n'
        f'[publish]\npath = "out/synthetic.parquet"\n\n{extra}'
    )
    path = folder / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_auto_keeps_the_best_generator_and_records_the_comparison(correlated):
    config = _config(
        correlated,
        'name = "auto"\ncandidates = ["independent", "gaussian_copula"]\ntime_budget = 60',
    )
    result = run(config)
    assert [s.step for s in result.steps][:4] == ["source", "schema", "select", "fit"]
    assert result.passed
    assert result.attempts[0]["generator"]["name"] == "gaussian_copula"
    html = result.report.read_text(encoding="utf-8")
    assert "Generators compared" in html and "independent" in html
    again = run(config)
    assert all(s.status == "cached" for s in again.steps)


def test_auto_with_a_spent_budget_tries_only_the_first(correlated):
    config = _config(
        correlated,
        'name = "auto"\ncandidates = ["gaussian_copula", "independent"]\ntime_budget = 1e-9',
    )
    result = run(config)
    assert result.attempts[0]["generator"]["name"] == "gaussian_copula"
    assert "budget spent" in result.report.read_text(encoding="utf-8")


def test_auto_params_are_a_table_per_candidate(correlated):
    config = _config(
        correlated,
        'name = "auto"\ncandidates = ["independent"]\nparams = { gaussian_copula = { seed = 1 } }',
    )
    with pytest.raises(PipelineConfigError, match=r"line 8: generator.params"):
        run(config)


def test_adapt_refits_with_another_generator_and_publishes_what_passes(correlated, capsys):
    config = _config(correlated, 'name = "independent"', "[adapt]\nmax_attempts = 3\n")
    assert cli(["pipeline", "run", str(config)]) == 0
    err = capsys.readouterr().err
    assert "attempt 1 independent" in err and "attempt 2 gaussian_copula" in err
    result = run(config)
    assert [a["passed"] for a in result.attempts] == [False, True]
    assert result.published.is_file()
    html = result.report.read_text(encoding="utf-8")
    assert "Attempts" in html
    assert all(s.status == "cached" for s in result.steps)
    publish = status(config)[-1]
    assert publish.status == "done" and "attempt 2: gaussian_copula" in publish.note


def test_adapt_that_never_passes_publishes_nothing(correlated):
    config = _config(
        correlated,
        'name = "independent"',
        "[adapt]\nmax_attempts = 2\n",
    )
    text = config.read_text().replace(">= 0.9", ">= 1.01")
    config.write_text(text)
    result = run(config)
    assert result.exit_code == 3 and len(result.attempts) == 2
    assert not (correlated / "out" / "synthetic.parquet").exists()


def test_adapt_corrects_the_sample_before_refitting(correlated, capsys):
    config = _config(
        correlated, 'name = "independent"', '[adapt]\nmax_attempts = 2\ncorrect = "importance:1"\n'
    )
    config.write_text(config.read_text().replace(">= 0.9", ">= 1.01"))
    result = run(config)
    states = {s.step: s.status for s in result.steps}
    assert states["fit#2"] == "cached" and states["sample#2"] == "ran"  # no refit
    assert [a["correction"] for a in result.attempts] == [None, "importance:1"]
    assert "importance:1" in result.report.read_text(encoding="utf-8")
    assert cli(["pipeline", "run", str(config)]) == 3
    assert "attempt 2 independent {}, sample corrected by importance:1" in capsys.readouterr().err


def test_adapt_refuses_a_corrector_that_would_publish_real_rows(correlated):
    config = _config(correlated, 'name = "independent"', '[adapt]\ncorrect = "real:1"\n')
    with pytest.raises(PipelineConfigError, match=r"line \d+: adapt.correct: must be a corrector"):
        run(config)


def test_adapt_gives_the_next_generator_its_auto_params():
    from ouroboros.pipeline.auto import corrections

    first = {"name": "gaussian_copula", "seed": 0, "params": {}}
    table = {"tvae": {"epochs": 20}}
    tries = list(corrections(first, ["gaussian_copula", "tvae"], ["gaussian_copula"], None, table))
    assert tries[0] == {"name": "tvae", "seed": 0, "params": {"epochs": 20}}
    assert list(corrections(first, ["gaussian_copula", "tvae"], [], None))[0]["params"] == {}
